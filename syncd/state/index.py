"""The persistent index: every mirror's sync state in one SQLite file per state dir.

This is the only module of syncd that speaks SQL. ``<state_dir>/index.sqlite3``
holds, keyed by mirror name (or account URL for account-wide data):

* ``base``    - the last synced state of each path (``BaseEntry``), keyed by ``key()``.
* ``remote``  - the latest known snapshot of the server (``RemoteEntry``), keyed by
  the path exactly as the server spells it.
* ``state``   - small JSON values (cursors, timestamps) per ``account:<url>`` /
  ``mirror:<name>`` scope.
* ``queue``   - the persistent action queue (actions as JSON, see ``encode_action``).
* ``ledger``  - the account's API requests of the rolling 24 h budget window.
* ``echo``    - our own changes, expected to come back through the activity feed.
* ``failure`` - per-item error backoff.

One connection (``check_same_thread=False``) guarded by one ``threading.RLock``;
every public method holds the lock and every write method is one transaction.
``with index.batch():`` groups several writes into one transaction (nested
batches become savepoints). No clock is read here: callers pass times in.

Subtree selections (``drop_base``, ``move_remote`` ...) compare strings, never
``LIKE``: ``col = p OR (col >= p || '/' AND col < p || '0')``. With SQLite's BINARY
collation (UTF-8 byte order) that range is exactly the strings starting with
``p + '/'`` (``'0'`` is the byte after ``'/'``), it is immune to ``%``/``_`` in
names, and it uses the primary-key index.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from syncd import crashpoints, model
from syncd.state.keys import INTENT_PREFIX as _INTENT
from syncd.state.keys import (ACCOUNT_PREFIX, MIRROR_PREFIX, AccountState, MirrorState,
                              mirror_scope)
from syncd.model import Action, BaseEntry, LocalEntry, RemoteEntry

FILENAME = "index.sqlite3"
BUSY_TIMEOUT_MS = 10_000
ECHO_OPS = frozenset({"upload", "delete", "mkdir", "move", "rename"})

_U64 = 1 << 64
_I63 = 1 << 63


class IndexError_(Exception):  # trailing underscore: the builtin IndexError is taken
    """Base class of the index's own errors."""


class IndexVersionError(IndexError_):
    """The index file was written by a newer syncd (schema version unknown here)."""


class IndexCorruptError(IndexError_):
    """The index file is not a (readable) SQLite database, or holds undecodable data."""


def corrupt_message(path: Path | str, error: BaseException | str) -> str:
    """The one line for an unusable index file (docs/operations.md, "Recovering
    from a lost or corrupt index"): which file, and what to do."""
    return (f"{path} is not a usable syncd index (SQLite: {error}); move it aside "
            f"to start from an empty index")


def as_corrupt(path: Path | str, exc: BaseException) -> IndexCorruptError | None:
    """``exc`` as the documented error naming index file ``path``, when it says
    the file is damaged (see :func:`is_corrupt`); None for any other error."""
    if isinstance(exc, IndexCorruptError):
        return exc
    if not is_corrupt(exc):
        return None
    return IndexCorruptError(corrupt_message(path, " ".join(str(exc).split())))


def is_corrupt(exc: BaseException) -> bool:
    """Does ``exc`` say the index file is damaged or not a database? SQLite may
    notice a damaged page only at the first query that reads it ("database disk
    image is malformed"), long after the file was opened."""
    if isinstance(exc, IndexCorruptError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        # Python's own error for a text cell that is not UTF-8: damaged bytes
        return str(exc).startswith("Could not decode to UTF-8")
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.InterfaceError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    text = str(exc)
    return "malformed" in text or "not a database" in text


# ----------------------------------------------------------------------------- schema


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements one by one (``executescript`` would COMMIT the
    migration's transaction first)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _migration_1(db: sqlite3.Connection) -> None:
    _run_script(db, """
        CREATE TABLE base(
            mirror TEXT NOT NULL,
            key TEXT NOT NULL,
            local_path TEXT NOT NULL,
            remote_path TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('file', 'dir')),
            size INTEGER NOT NULL DEFAULT 0,
            mtime_ns INTEGER NOT NULL DEFAULT 0,
            inode INTEGER NOT NULL DEFAULT 0,
            sha256 TEXT,
            remote_id TEXT NOT NULL DEFAULT '',
            remote_size INTEGER NOT NULL DEFAULT 0,
            remote_updated REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (mirror, key)
        ) WITHOUT ROWID;

        CREATE TABLE remote(
            mirror TEXT NOT NULL,
            path TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('file', 'dir')),
            id TEXT NOT NULL,
            size INTEGER NOT NULL DEFAULT 0,
            updated REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (mirror, path)
        ) WITHOUT ROWID;
        CREATE INDEX remote_mirror_id ON remote(mirror, id);

        CREATE TABLE state(
            scope TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (scope, name)
        ) WITHOUT ROWID;

        CREATE TABLE queue(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            mirror TEXT NOT NULL,
            action TEXT NOT NULL
        );
        CREATE INDEX queue_mirror ON queue(mirror, id);

        CREATE TABLE ledger(
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            at REAL NOT NULL,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            status INTEGER
        );
        CREATE INDEX ledger_account_at ON ledger(account, at);

        CREATE TABLE echo(
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            at REAL NOT NULL,
            op TEXT NOT NULL,
            path TEXT NOT NULL
        );
        CREATE INDEX echo_match ON echo(account, op, path, at);
        CREATE INDEX echo_account_at ON echo(account, at);

        CREATE TABLE failure(
            mirror TEXT NOT NULL,
            path TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_try REAL NOT NULL,
            last_error TEXT NOT NULL,
            PRIMARY KEY (mirror, path)
        ) WITHOUT ROWID;
    """)


# Ordered: MIGRATIONS[i] takes the schema from version i to i + 1. Never edit a
# released migration; append a new one.
def _migration_2(db: sqlite3.Connection) -> None:
    """Echoes come back twice when webhooks are on: through the activity feed and
    as a push. Each way consumes its own half; the row goes when both are used
    (or when it is pruned)."""
    _run_script(db, """
        ALTER TABLE echo ADD COLUMN feed_taken INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE echo ADD COLUMN push_taken INTEGER NOT NULL DEFAULT 0;
    """)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1, _migration_2]
SCHEMA_VERSION = len(MIGRATIONS)


# ----------------------------------------------------------------------------- actions as JSON

_ACTION_TYPES: dict[str, type] = {cls.__name__: cls for cls in typing.get_args(Action)}
_ENTRY_TYPES: dict[str, type] = {cls.__name__: cls for cls in (LocalEntry, RemoteEntry, BaseEntry)}
_TYPES = {**_ACTION_TYPES, **_ENTRY_TYPES}


def _to_json(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__name__
        if _TYPES.get(name) is not type(obj):
            raise TypeError(f"cannot encode {type(obj).__qualname__} in an action")
        out: dict[str, Any] = {"type": name}
        for f in dataclasses.fields(obj):
            out[f.name] = _to_json(getattr(obj, f.name))
        return out
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot encode {type(obj).__qualname__} in an action")


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        tag = value.get("type")
        cls = _TYPES.get(tag) if isinstance(tag, str) else None
        if cls is None:
            raise ValueError(f"unknown type tag {tag!r} in stored action")
        kwargs = {k: _from_json(v) for k, v in value.items() if k != "type"}
        try:
            return cls(**kwargs)
        except TypeError as e:
            raise ValueError(f"stored {tag} does not match this syncd: {e}") from None
    return value


def encode_action(action: Action) -> str:
    """An action as JSON: ``{"type": "Upload", ...fields}``; nested entries are
    dicts tagged the same way. Strings survive byte-exactly (ASCII JSON escapes,
    so even lone surrogates round-trip)."""
    if type(action) not in _ACTION_TYPES.values():
        raise TypeError(f"not an action: {type(action).__qualname__}")
    return json.dumps(_to_json(action), separators=(",", ":"))


def decode_action(text: str) -> Action:
    """Inverse of ``encode_action``. Raises ``ValueError`` for text that is not an action."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"stored action is not JSON: {e}") from None
    if not isinstance(data, dict) or data.get("type") not in _ACTION_TYPES:
        raise ValueError(f"stored value is not an action: {text[:80]!r}")
    return _from_json(data)


# ----------------------------------------------------------------------------- helpers


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


# ----------------------------------------------------------------------------- the index


class Index:
    """One SQLite index file. Thread-safe; usable as a context manager."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0  # transaction nesting (0 = none open)
        self._owner: int | None = None  # the thread whose transaction is open
        # Deferred writes (see _defer): run at the start of the next transaction.
        self._deferred: list[tuple[str, tuple]] = []
        self._deferred_lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        _make_private_dirs(self.path.parent)
        _create_private_file(self.path)
        try:
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                 timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as e:
            raise IndexError_(f"cannot open index {self.path}: {e}") from e
        try:
            self._open(db)
        except BaseException:
            db.close()
            raise
        self._db = db

    def _open(self, db: sqlite3.Connection) -> None:
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise IndexVersionError(
                    f"index {self.path} has schema version {version}, but this syncd only "
                    f"knows versions up to {SCHEMA_VERSION}: it was written by a newer "
                    f"syncd. Upgrade syncd, or use a different state directory.")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise IndexError_(f"index {self.path}: cannot enable WAL mode (got {mode!r})")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            self._migrate(db, version)
        except sqlite3.OperationalError as e:
            raise IndexError_(f"cannot open index {self.path}: {e}") from e
        except sqlite3.DatabaseError as e:
            raise IndexCorruptError(corrupt_message(self.path, e)) from e
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            with contextlib.suppress(OSError):
                os.chmod(side, 0o600)

    def _migrate(self, db: sqlite3.Connection, version: int) -> None:
        while version < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            try:
                # Re-read under the write lock: another process may have migrated.
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version < SCHEMA_VERSION:
                    MIGRATIONS[version](db)
                    version += 1
                    db.execute(f"PRAGMA user_version = {version}")
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    # -- lifecycle

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self.flush()
                self._db.close()
                self._db = None

    def __enter__(self) -> typing.Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def copy_to(self, path: Path | str) -> Index:
        """A consistent copy of the whole index at ``path``, opened. ``--dry-run``
        works on such a scratch copy so that nothing it learns or spends is written
        to the real index."""
        target = Path(path)
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        with self._lock:
            self.flush()
            dest = sqlite3.connect(target)
            try:
                self._conn.backup(dest)
            finally:
                dest.close()
        return Index(target)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._conn.execute("PRAGMA user_version").fetchone()[0]

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise IndexError_(f"index {self.path} is closed")
        return self._db

    # -- transactions

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group writes into one transaction: all or nothing. Nesting-safe: an inner
        batch (or write method) is a savepoint, rolled back alone if it raises.
        Holds the lock throughout, so other threads' calls wait until it ends."""
        with self._lock:
            db = self._conn
            depth = self._depth
            deferred: list[tuple[str, tuple]] = []
            if depth == 0:
                db.execute("BEGIN IMMEDIATE")
                self._owner = threading.get_ident()
            else:
                db.execute(f"SAVEPOINT sp{depth}")
            self._depth = depth + 1
            try:
                if depth == 0:
                    with self._deferred_lock:
                        deferred, self._deferred = self._deferred, []
                    for sql, params in deferred:
                        db.execute(sql, params)
                yield
            except BaseException:
                self._depth = depth
                if depth == 0:
                    self._owner = None
                    self._restore(deferred)
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                else:
                    db.execute(f"ROLLBACK TO sp{depth}")
                    db.execute(f"RELEASE sp{depth}")
                raise
            self._depth = depth
            if depth == 0:
                self._owner = None
                try:
                    crashpoints.hit("index.commit")
                    db.execute("COMMIT")
                except BaseException:
                    self._restore(deferred)
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            else:
                db.execute(f"RELEASE sp{depth}")

    _write = batch

    def _defer(self, sql: str, params: tuple) -> None:
        """A write whose loss in a crash costs nothing that matters (a ledger row:
        the server's X-RateLimit-Remaining stays the truth; an expected echo: one
        extra stat; a finished queue item or a cleared failure: the queue is
        planned again at every start, a failure is cleared again): it waits for the
        next transaction, on any thread, instead of paying a commit of its own.
        A transfer's requests, its echo and its bookkeeping so share one commit
        (1,000 small uploads: five commits each before). Reads of those tables
        run what is waiting first, so every caller still sees its own writes."""
        if self._depth and self._owner == threading.get_ident():
            self._conn.execute(sql, params)  # inside our own open transaction
            return
        with self._deferred_lock:
            self._deferred.append((sql, params))

    def _restore(self, deferred: list[tuple[str, tuple]]) -> None:
        """A transaction that ran deferred writes rolled back: they wait again."""
        if deferred:
            with self._deferred_lock:
                self._deferred[:0] = deferred

    def flush(self) -> None:
        """Write what is deferred now (the engine calls this at the end of a pass,
        so ``syncd status`` in another process sees every request counted)."""
        with self._lock:
            if self._db is not None:
                self._flushed()

    def _flushed(self) -> None:
        """Before reading a table that deferred writes touch (lock held)."""
        if self._deferred and self._depth == 0:
            with self.batch():
                pass

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

    # -- small key/value state

    @staticmethod
    def _check_scope(scope: str) -> None:
        if not scope.startswith((ACCOUNT_PREFIX, MIRROR_PREFIX)):
            raise ValueError(f"state scope must be 'account:<url>' or 'mirror:<name>', "
                             f"got {scope!r}")

    def mirror_state(self, mirror: str) -> MirrorState:
        """The ``mirror:<name>`` values, as attributes (see state/keys.py)."""
        return MirrorState(self, mirror)

    def account_state(self, url: str) -> AccountState:
        """The ``account:<url>`` values, as attributes (see state/keys.py)."""
        return AccountState(self, url)

    def get_state(self, scope: str, name: str, default: Any = None) -> Any:
        self._check_scope(scope)
        with self._lock:
            row = self._conn.execute("SELECT value FROM state WHERE scope = ? AND name = ?",
                                     (scope, name)).fetchone()
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except ValueError as e:  # damaged bytes that still decode as text
            raise IndexCorruptError(corrupt_message(
                self.path, f"state {scope} {name}: undecodable value")) from e

    def set_state(self, scope: str, name: str, value: Any) -> None:
        """Store a JSON-serialisable value (tuples come back as lists)."""
        self._check_scope(scope)
        text = json.dumps(value)
        with self._write():
            self._conn.execute("INSERT OR REPLACE INTO state(scope, name, value) VALUES (?, ?, ?)",
                               (scope, name, text))

    # -- persistent action queue

    def set_queue(self, mirror: str, actions: Sequence[Action]) -> None:
        """Replace the mirror's queue. Item ids are never reused (AUTOINCREMENT), so a
        stale id from an earlier queue cannot finish an item of this one."""
        rows = [(mirror, encode_action(a)) for a in actions]
        with self._write():
            self._conn.execute("DELETE FROM queue WHERE mirror = ?", (mirror,))
            self._conn.executemany("INSERT INTO queue(mirror, action) VALUES (?, ?)", rows)

    def queue(self, mirror: str) -> list[tuple[int, Action]]:
        with self._lock:
            self._flushed()
            rows = self._conn.execute("SELECT id, action FROM queue WHERE mirror = ? ORDER BY id",
                                      (mirror,)).fetchall()
        out = []
        for item_id, text in rows:
            try:
                out.append((item_id, decode_action(text)))
            except ValueError as e:
                raise IndexCorruptError(corrupt_message(
                    self.path, f"queue item {item_id} of mirror {mirror!r}: {e}")) from None
        return out

    def finish(self, mirror: str, item_id: int) -> None:
        self._defer("DELETE FROM queue WHERE mirror = ? AND id = ?", (mirror, item_id))

    def queue_count(self, mirror: str) -> int:
        with self._lock:
            self._flushed()
            return self._conn.execute("SELECT COUNT(*) FROM queue WHERE mirror = ?",
                                      (mirror,)).fetchone()[0]

    # -- transaction ledger

    def record_request(self, account: str, at: float, method: str, path: str,
                       status: int | None) -> None:
        self._defer("INSERT INTO ledger(account, at, method, path, status) VALUES (?, ?, ?, ?, ?)",
                    (account, float(at), method, path, status))

    def spent(self, account: str, since: float) -> int:
        """Requests recorded at or after ``since``."""
        with self._lock:
            self._flushed()
            return self._conn.execute("SELECT COUNT(*) FROM ledger WHERE account = ? AND at >= ?",
                                      (account, float(since))).fetchone()[0]

    def spent_times(self, account: str, since: float) -> list[float]:
        """Times of the requests at or after ``since``, ascending."""
        with self._lock:
            self._flushed()
            rows = self._conn.execute(
                "SELECT at FROM ledger WHERE account = ? AND at >= ? ORDER BY at",
                (account, float(since))).fetchall()
        return [r[0] for r in rows]

    def prune_ledger(self, account: str, before: float) -> None:
        with self._write():
            self._conn.execute("DELETE FROM ledger WHERE account = ? AND at < ?",
                               (account, float(before)))

    # -- expected activity echoes

    def expect_echo(self, account: str, at: float, op: str, path: str) -> None:
        if op not in ECHO_OPS:
            raise ValueError(f"echo op must be one of {sorted(ECHO_OPS)}, got {op!r}")
        self._defer("INSERT INTO echo(account, at, op, path) VALUES (?, ?, ?, ?)",
                    (account, float(at), op, path))

    def take_echo(self, account: str, op: str, path: str, *, push: bool = False) -> bool:
        """Consume the oldest expected echo of (``op``, ``path``) seen through the
        activity feed (``push``: through a webhook push); False if none. Each way
        consumes its own half, so the feed and a push may both report one change."""
        mine, other = ("push_taken", "feed_taken") if push else ("feed_taken", "push_taken")
        with self._write():
            row = self._conn.execute(
                f"SELECT id, {other} FROM echo WHERE account = ? AND op = ? AND path = ? "
                f"AND {mine} = 0 ORDER BY at, id LIMIT 1", (account, op, path)).fetchone()
            if row is None:
                return False
            if row[1]:
                self._conn.execute("DELETE FROM echo WHERE id = ?", (row[0],))
            else:
                self._conn.execute(f"UPDATE echo SET {mine} = 1 WHERE id = ?", (row[0],))
            return True

    def prune_echoes(self, account: str, before: float) -> None:
        with self._write():
            self._conn.execute("DELETE FROM echo WHERE account = ? AND at < ?",
                               (account, float(before)))

    # -- per-item error backoff

    def note_failure(self, mirror: str, path: str, error: str, now: float, *,
                     base_delay: float = 30.0, max_delay: float = 86400.0) -> float:
        """Count one more failure of ``path``; returns (and stores) the next try time:
        ``now + min(max_delay, base_delay * 2 ** (attempts - 1))``."""
        with self._write():
            row = self._conn.execute("SELECT attempts FROM failure WHERE mirror = ? AND path = ?",
                                     (mirror, path)).fetchone()
            attempts = (row[0] if row else 0) + 1
            # 2.0 ** 1024 overflows; anything near that is far past any max_delay anyway.
            delay = min(max_delay, base_delay * 2.0 ** min(attempts - 1, 1000))
            next_try = float(now) + delay
            self._conn.execute(
                "INSERT OR REPLACE INTO failure(mirror, path, attempts, next_try, last_error) "
                "VALUES (?, ?, ?, ?, ?)", (mirror, path, attempts, next_try, error))
        return next_try

    def clear_failure(self, mirror: str, path: str) -> None:
        self._defer("DELETE FROM failure WHERE mirror = ? AND path = ?", (mirror, path))

    def failures(self, mirror: str) -> dict[str, tuple[int, float, str]]:
        with self._lock:
            self._flushed()
            rows = self._conn.execute(
                "SELECT path, attempts, next_try, last_error FROM failure WHERE mirror = ?",
                (mirror,)).fetchall()
        return {p: (a, n, e) for p, a, n, e in rows}

    # -- housekeeping

    def forget_mirror(self, mirror: str) -> None:
        """Drop everything stored for one mirror: base, remote, queue, failures and its
        ``mirror:<name>`` state. Account-wide data (ledger, echoes) stays."""
        with self._write():
            for table in ("base", "remote", "queue", "failure"):
                self._conn.execute(f"DELETE FROM {table} WHERE mirror = ?", (mirror,))
            self._conn.execute("DELETE FROM state WHERE scope = ?", (mirror_scope(mirror),))

    def forget_trees(self, mirror: str, state_names: Iterable[str] = ()) -> None:
        """Drop what one mirror knows about its two trees - base, remote snapshot,
        queue, failures - and the named values of its ``mirror:<name>`` state (a
        feed cursor, ...), in one transaction; the rest of its state (status, trash
        bookkeeping) stays. A mirror whose root changed so starts over as a first
        meeting. Account-wide data (ledger, echoes) stays."""
        with self._write():
            for table in ("base", "remote", "queue", "failure"):
                self._conn.execute(f"DELETE FROM {table} WHERE mirror = ?", (mirror,))
            self._conn.executemany("DELETE FROM state WHERE scope = ? AND name = ?",
                                   [(mirror_scope(mirror), n) for n in state_names])

    # -- intents: a download put in place but maybe not recorded (killed in between)

    def put_intent(self, mirror: str, entry: BaseEntry) -> None:
        """Before a downloaded file is put in place: the base row its record will
        be, with the stat the file will have there. Committed at once."""
        with self._write():
            self._conn.execute(
                "INSERT OR REPLACE INTO state(scope, name, value) VALUES (?, ?, ?)",
                (mirror_scope(mirror), _INTENT + entry.key,
                 json.dumps(dataclasses.asdict(entry))))

    def record_intent(self, mirror: str, entry: BaseEntry) -> None:
        """The file is in place: its base row, and the intent gone, in one commit."""
        with self._write():
            self.put_base(mirror, entry)
            self.drop_intent(mirror, entry.key)

    def drop_intent(self, mirror: str, key: str) -> None:
        with self._write():
            self._conn.execute("DELETE FROM state WHERE scope = ? AND name = ?",
                               (mirror_scope(mirror), _INTENT + key))

    def intents(self, mirror: str) -> list[BaseEntry]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT value FROM state WHERE scope = ? AND substr(name, 1, ?) = ?",
                (mirror_scope(mirror), len(_INTENT), _INTENT)).fetchall()
        try:
            return [BaseEntry(**json.loads(v)) for (v,) in rows]
        except (ValueError, TypeError) as e:
            raise IndexCorruptError(corrupt_message(
                self.path, f"state mirror:{mirror}: undecodable download intent")) from e



# ----------------------------------------------------------------------------- files


def _make_private_dirs(folder: Path) -> None:
    """Create ``folder`` (and missing ancestors) as 0700; existing folders are left alone."""
    missing = []
    d = folder
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)  # mkdir's mode is filtered by the umask


def _create_private_file(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (SQLite then gives the
    -wal and -shm files the same mode). An existing file is left as it is."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
