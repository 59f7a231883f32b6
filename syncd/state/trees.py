"""What the index knows of a mirror's two trees: ``base`` (the last synced state
of each path, keyed by ``model.key``) and ``remote`` (the latest known snapshot
of the server, keyed by the path exactly as the server spells it).

Subtree selections (``drop_base``, ``move_remote`` ...) compare strings, never
``LIKE``: ``col = p OR (col >= p || '/' AND col < p || '0')``. With SQLite's BINARY
collation (UTF-8 byte order) that range is exactly the strings starting with
``p + '/'`` (``'0'`` is the byte after ``'/'``), it is immune to ``%``/``_`` in
names, and it uses the primary-key index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from syncd import model
from syncd.model import BaseEntry, RemoteEntry
from syncd.state.connection import Connection

_U64 = 1 << 64
_I63 = 1 << 63


def _subtree(col: str) -> str:
    """SQL for "``col`` is the folder ``?`` or inside it"; params from ``_subtree_args``."""
    return f"({col} = ? OR ({col} >= ? AND {col} < ?))"


def _subtree_args(folder: str) -> tuple[str, str, str]:
    return folder, folder + "/", folder + "0"


def _reroot(path: str, depth: int, new_root: str) -> str:
    """``path`` with its first ``depth`` components replaced by ``new_root``.

    Used for base rows, which are selected by key (NFC) while each spelling
    (local, remote) may differ from the key in length but never in the number of
    components: NFC never composes across ``/``."""
    parts = path.split("/", depth)
    return f"{new_root}/{parts[depth]}" if len(parts) > depth else new_root


def _check_folder(path: str, what: str) -> None:
    if not path or path.startswith("/") or path.endswith("/"):
        raise ValueError(f"{what} must be a non-empty relative path, got {path!r}")


def _inode_in(inode: int) -> int:
    """st_ino is unsigned 64-bit; SQLite integers are signed. Store the same bits."""
    return inode - _U64 if inode >= _I63 else inode


def _inode_out(inode: int) -> int:
    return inode + _U64 if inode < 0 else inode


_BASE_COLS = ("local_path, remote_path, kind, size, mtime_ns, inode, sha256, remote_id, "
              "remote_size, remote_updated")
_REMOTE_COLS = "path, kind, id, size, updated"


def _base_row(mirror: str, e: BaseEntry) -> tuple:
    return (mirror, model.key(e.local_path), e.local_path, e.remote_path, e.kind, e.size,
            e.mtime_ns, _inode_in(e.inode), e.sha256, e.remote_id, e.remote_size,
            float(e.remote_updated))


# Reading 100k-row tables is a hot path (every full pass reads the base and the
# remote snapshot), and its memory is the daemon's peak: each row's strings that
# are equal (key, local and remote spelling: the same unless Unicode
# normalisation differs) become one object, and kinds are the model's constants.
_KINDS = {model.FILE: model.FILE, model.DIR: model.DIR}


def _base_entry(row: tuple) -> BaseEntry:
    lp, rp, kind, size, mtime_ns, inode, sha, rid, rsize, rupd = row
    if rp == lp:
        rp = lp
    return BaseEntry(lp, rp, _KINDS.get(kind, kind), size, mtime_ns, _inode_out(inode), sha,
                     rid, rsize, rupd)


def _keyed_base_entry(row: tuple) -> tuple[str, BaseEntry]:
    """(key, entry) from a ``SELECT key, {_BASE_COLS}`` row, one string for equal spellings."""
    key, lp, rp, kind, size, mtime_ns, inode, sha, rid, rsize, rupd = row
    if lp == key:
        lp = key
    if rp == lp:
        rp = lp
    return key, BaseEntry(lp, rp, _KINDS.get(kind, kind), size, mtime_ns, _inode_out(inode),
                          sha, rid, rsize, rupd)


def _remote_entry(row: tuple) -> RemoteEntry:
    path, kind, rid, size, updated = row
    return RemoteEntry(path, _KINDS.get(kind, kind), rid, size, updated)


def _remote_row(mirror: str, e: RemoteEntry) -> tuple:
    return (mirror, e.path, e.kind, e.id, e.size, float(e.updated))


class Trees(Connection):
    """The ``base`` and ``remote`` tables."""

    # -- base

    def base(self, mirror: str) -> dict[str, BaseEntry]:
        # Rows are decoded as they are read: no list of all raw rows beside the result.
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT key, {_BASE_COLS} FROM base WHERE mirror = ?", (mirror,))
            return dict(map(_keyed_base_entry, cursor))

    def base_entry(self, mirror: str, key: str) -> BaseEntry | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_BASE_COLS} FROM base WHERE mirror = ? AND "
                                     "key = ?", (mirror, key)).fetchone()
        return _base_entry(row) if row else None

    def put_base(self, mirror: str, entry: BaseEntry) -> None:
        self.put_bases(mirror, (entry,))

    def put_bases(self, mirror: str, entries: Iterable[BaseEntry]) -> None:
        rows = [_base_row(mirror, e) for e in entries]
        with self._write():
            self._conn.executemany(
                f"INSERT OR REPLACE INTO base(mirror, key, {_BASE_COLS}) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def drop_base(self, mirror: str, key: str, *, subtree: bool = True) -> None:
        """Drop the row at ``key`` and every row under it (``key == ""``: all rows);
        only the row at ``key`` when ``subtree`` is false."""
        key = model.key(key)
        with self._write():
            if not key:
                self._conn.execute("DELETE FROM base WHERE mirror = ?", (mirror,))
            elif not subtree:
                self._conn.execute("DELETE FROM base WHERE mirror = ? AND key = ?",
                                   (mirror, key))
            else:
                self._conn.execute(f"DELETE FROM base WHERE mirror = ? AND {_subtree('key')}",
                                   (mirror, *_subtree_args(key)))

    def move_base(self, mirror: str, src_key: str, dst_local: str, dst_remote: str) -> None:
        """Re-root the row at ``src_key`` and its subtree at ``dst_local``/``dst_remote``
        (each row's local and remote spelling rebased separately, keys recomputed).

        A row the destination subtree held at a key the moved rows do not take is
        kept, as the planner's virtual base keeps it: it describes an item synced
        there before (say, moved in by an earlier, interrupted pass), and the plan
        that made this move may rely on it to propagate that item's deletion."""
        src_key = model.key(src_key)
        _check_folder(src_key, "move_base source")
        _check_folder(dst_local, "move_base local destination")
        _check_folder(dst_remote, "move_base remote destination")
        dst_key = model.key(dst_local)
        if dst_key != src_key and (model.is_under(dst_key, src_key)
                                   or model.is_under(src_key, dst_key)):
            raise ValueError(f"cannot move {src_key!r} to {dst_key!r}: one contains the other")
        depth = src_key.count("/") + 1
        with self._write():
            db = self._conn
            where = f"mirror = ? AND {_subtree('key')}"
            rows = db.execute(f"SELECT {_BASE_COLS} FROM base WHERE {where}",
                              (mirror, *_subtree_args(src_key))).fetchall()
            if not rows:
                return
            db.execute(f"DELETE FROM base WHERE {where}", (mirror, *_subtree_args(src_key)))
            moved = []
            for row in rows:
                e = _base_entry(row)
                moved.append(_base_row(mirror, dataclasses.replace(
                    e, local_path=_reroot(e.local_path, depth, dst_local),
                    remote_path=_reroot(e.remote_path, depth, dst_remote))))
            db.executemany(
                f"INSERT OR REPLACE INTO base(mirror, key, {_BASE_COLS}) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", moved)

    def base_count(self, mirror: str) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM base WHERE mirror = ?",
                                      (mirror,)).fetchone()[0]

    # -- remote snapshot

    def remote_count(self, mirror: str) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM remote WHERE mirror = ?",
                                      (mirror,)).fetchone()[0]

    def remote(self, mirror: str) -> dict[str, RemoteEntry]:
        with self._lock:
            cursor = self._conn.execute(f"SELECT {_REMOTE_COLS} FROM remote WHERE mirror = ?",
                                        (mirror,))
            return {e.path: e for e in map(_remote_entry, cursor)}

    def paths_holding(self, mirror: str, text: str) -> tuple[dict[str, str], set[str]]:
        """The synced (remote path -> local path) and the snapshot's paths whose path
        holds ``text`` (`syncd status`: conflicted copies), without reading every row."""
        with self._lock:
            base = dict(self._conn.execute(
                "SELECT remote_path, local_path FROM base WHERE mirror = ? AND "
                "instr(remote_path, ?) > 0", (mirror, text)))
            remote = {r[0] for r in self._conn.execute(
                "SELECT path FROM remote WHERE mirror = ? AND instr(path, ?) > 0",
                (mirror, text))}
        return base, remote

    def put_remote(self, mirror: str, entries: Iterable[RemoteEntry], *,
                   replace_all: bool = False) -> None:
        """Upsert entries by path. ``replace_all``: they are a complete listing, so
        every other row of the mirror goes (all in one transaction)."""
        rows = [_remote_row(mirror, e) for e in entries]
        with self._write():
            if replace_all:
                self._conn.execute("DELETE FROM remote WHERE mirror = ?", (mirror,))
            self._conn.executemany(
                f"INSERT OR REPLACE INTO remote(mirror, {_REMOTE_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                rows)

    def drop_remote(self, mirror: str, path: str) -> None:
        """Drop the row at ``path`` and every row under it (``path == ""``: all rows)."""
        with self._write():
            if not path:
                self._conn.execute("DELETE FROM remote WHERE mirror = ?", (mirror,))
            else:
                self._conn.execute(
                    f"DELETE FROM remote WHERE mirror = ? AND {_subtree('path')}",
                    (mirror, *_subtree_args(path)))

    def move_remote(self, mirror: str, src: str, dst: str) -> None:
        """Re-root the row at ``src`` and its subtree at ``dst`` (rows previously at or
        under ``dst`` are dropped: the destination is now the moved tree)."""
        _check_folder(src, "move_remote source")
        _check_folder(dst, "move_remote destination")
        if src != dst and (model.is_under(dst, src) or model.is_under(src, dst)):
            raise ValueError(f"cannot move {src!r} to {dst!r}: one contains the other")
        with self._write():
            db = self._conn
            where = f"mirror = ? AND {_subtree('path')}"
            rows = db.execute(f"SELECT {_REMOTE_COLS} FROM remote WHERE {where}",
                              (mirror, *_subtree_args(src))).fetchall()
            if not rows:
                return
            db.execute(f"DELETE FROM remote WHERE {where}", (mirror, *_subtree_args(src)))
            db.execute(f"DELETE FROM remote WHERE {where}", (mirror, *_subtree_args(dst)))
            db.executemany(
                f"INSERT OR REPLACE INTO remote(mirror, {_REMOTE_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                [(mirror, model.rebase(p, src, dst), *rest) for p, *rest in rows])

    def remote_under(self, mirror: str, folder: str) -> dict[str, RemoteEntry]:
        """The remote rows strictly inside ``folder`` (a non-empty path), by path."""
        _check_folder(folder, "remote_under folder")
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_REMOTE_COLS} FROM remote WHERE mirror = ? AND {_subtree('path')} "
                f"AND path != ?", (mirror, *_subtree_args(folder), folder)).fetchall()
        return {e.path: e for e in map(_remote_entry, rows)}

    def remote_by_id(self, mirror: str, id: str) -> RemoteEntry | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_REMOTE_COLS} FROM remote WHERE mirror = ? AND id = ? "
                f"ORDER BY path LIMIT 1", (mirror, id)).fetchone()
        return _remote_entry(row) if row else None
