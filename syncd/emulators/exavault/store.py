"""On-disk storage: SQLite metadata (WAL) plus one blob file per stored file id.

This is the only module that speaks SQL.  Layout under the emulator root::

    emulator.db (+ -wal/-shm)   metadata and activity log
    blobs/<id>                  file contents, named by resource id
    staging/                    uploads in flight and partial (resumable) uploads

Move and rename are metadata-only.  Blobs are immutable once published (an
overwrite publishes a new blob with ``os.replace``), so copies hard-link them.
Every mutation is one SQLite transaction under one lock; folder ``size`` and
``fileCount`` are maintained incrementally for every ancestor.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import sqlite3
import threading
import time
import uuid
from collections import namedtuple
from pathlib import Path
from typing import Callable

from . import paths as P

ROOT_ID = 1
COLUMNS = ("id", "parent_id", "path", "name", "type", "hash", "size", "file_count",
           "created_by", "created", "updated", "accessed", "uploaded")
Row = namedtuple("Row", COLUMNS)
ActivityRow = namedtuple("ActivityRow", ("id", "created", "operation", "file_name", "file_source",
                                         "username", "ip_address", "protocol", "session_id",
                                         "status", "bytes", "duration"))
# One committed change, as handed to a change listener (see Store.subscribe): the activity
# fields plus ``row``, the resource as it was right after the change (before it, for DELE).
Change = namedtuple("Change", ("operation", "path", "source", "username", "ip_address",
                               "created", "row"))
_SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM resources"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id INTEGER,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL DEFAULT 0,
    file_count INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL, updated INTEGER NOT NULL,
    accessed INTEGER NOT NULL, uploaded INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS resources_parent ON resources(parent_id, type, name);
CREATE TABLE IF NOT EXISTS activity(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created INTEGER NOT NULL, operation TEXT NOT NULL, file_name TEXT NOT NULL,
    file_source TEXT NOT NULL, username TEXT NOT NULL, ip_address TEXT NOT NULL,
    protocol TEXT NOT NULL, session_id TEXT NOT NULL, status TEXT NOT NULL,
    bytes INTEGER NOT NULL, duration INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS activity_created ON activity(created);
"""

# Sort keys accepted by the resource listing (API name -> column).
RESOURCE_SORT = {"name": "name", "size": "size", "type": "type", "createdAt": "created",
                 "updatedAt": "updated", "path": "path", "id": "id", "uploadDate": "uploaded",
                 "accessedAt": "accessed"}
ACTIVITY_SORT = {"date": "created", "created": "created", "ip": "ip_address",
                 "ipaddress": "ip_address", "username": "username", "file": "file_name",
                 "filename": "file_name", "filesource": "file_source", "source": "file_source",
                 "operation": "operation", "type": "operation", "duration": "duration",
                 "size": "bytes", "bytestransferred": "bytes", "protocol": "protocol",
                 "status": "status", "id": "id", "sessionid": "session_id"}


class StoreError(Exception):
    status = 400
    code = "ERROR_INVALID_PARAMETER"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotFound(StoreError):
    status = 404
    code = "ERROR_RESOURCE_NOT_FOUND"


class Invalid(StoreError):
    pass


def _subtree_clause(path: str) -> tuple[str, tuple]:
    """WHERE fragment selecting everything strictly below folder ``path`` (uses the path index)."""
    if path == "/":
        return "id != ?", (ROOT_ID,)
    return "(path > ? AND path < ?)", (path + "/", path + "0")


class Store:
    def __init__(self, root: str | os.PathLike, clock: Callable[[], float] = time.time,
                 root_owner: str = "syncd"):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.staging = self.root / "staging"
        for d in (self.root, self.blobs, self.staging):
            d.mkdir(parents=True, exist_ok=True)
        self._clean_staging()
        self.clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.root / "emulator.db"), check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.create_function("emu_match", 2, lambda pat, name: P.wildcard_match(pat, name),
                                 deterministic=True)
        self._db.executescript(_SCHEMA)
        self._listener: Callable[[list[Change]], None] | None = None
        self._listened_ops: frozenset[str] = frozenset()
        self._pending: list[Change] = []
        if self._one("SELECT id FROM resources WHERE id = ?", (ROOT_ID,)) is None:
            now = self.now()
            self._db.execute(
                "INSERT INTO resources(id, parent_id, path, name, type, hash, created_by, created,"
                " updated, accessed, uploaded) VALUES (?, NULL, '/', '', 'dir', ?, ?, ?, ?, ?, ?)",
                (ROOT_ID, secrets.token_hex(16), root_owner, now, now, now, now))
        self.closed = False

    # ------------------------------------------------------------------ basics
    def now(self) -> int:
        return int(self.clock())

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._db.close()

    def _clean_staging(self) -> None:
        """Drop uploads that were in flight when the emulator stopped; old partials expire."""
        cutoff = time.time() - 86400
        for entry in self.staging.iterdir():
            try:
                if entry.name.startswith("tmp-") or entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except OSError:
                pass

    def _one(self, sql: str, args: tuple = ()) -> tuple | None:
        return self._db.execute(sql, args).fetchone()

    def _row(self, where: str, args: tuple) -> Row | None:
        r = self._one(f"{_SELECT} WHERE {where}", args)
        return Row(*r) if r else None

    def _txn(self):
        return _Txn(self)

    def blob_path(self, rid: int) -> Path:
        return self.blobs / str(rid)

    def new_staging_file(self) -> Path:
        return self.staging / f"tmp-{uuid.uuid4().hex}"

    def partial_path(self, path: str) -> Path:
        return self.staging / ("partial-" + hashlib.sha256(path.encode("utf-8", "surrogatepass"))
                               .hexdigest())

    def subscribe(self, listener: Callable[[list[Change]], None] | None,
                  operations=()) -> None:
        """Call ``listener(changes)`` after each committed transaction that logged one of
        ``operations`` (activity codes), in commit order, with the store lock still held: it
        must be quick and must not call back into the store.  Its exceptions are ignored.
        Rolled-back transactions report nothing.  ``None`` unsubscribes."""
        with self._lock:
            self._listener = listener
            self._listened_ops = frozenset(operations) if listener is not None else frozenset()

    # ---------------------------------------------------------------- lookups
    def get(self, rid: int) -> Row | None:
        with self._lock:
            return self._row("id = ?", (rid,))

    def by_path(self, path: str) -> Row | None:
        with self._lock:
            return self._row("path = ?", (path,))

    def resolve(self, identifier: str) -> Row:
        """Find a resource by path / ``id:`` / ``hash:``; raises NotFound or Invalid."""
        try:
            kind, value = P.parse_identifier(identifier)
        except P.PathError as exc:
            raise Invalid(str(exc)) from None
        with self._lock:
            if kind == "id":
                row = self._row("id = ?", (value,))
            elif kind == "hash":
                row = self._row("hash = ?", (value,))
            else:
                row = self._row("path = ?", (value,))
        if row is None:
            raise NotFound(f"Resource {identifier} not found.")
        return row

    @staticmethod
    def _order_sql(order: list[tuple[str, bool]], default: str) -> str:
        parts = [f"{RESOURCE_SORT[f]} {'DESC' if desc else 'ASC'}" for f, desc in order]
        parts.append(default)
        return ", ".join(parts)

    def list_children(self, folder: Row, type_filter: str | None, order, offset: int,
                      limit: int) -> tuple[list[Row], int]:
        where, args = "parent_id = ?", (folder.id,)
        if type_filter is not None:
            where, args = where + " AND type = ?", args + (type_filter,)
        order_sql = self._order_sql(order, "type ASC, name ASC, id ASC" if not order else "id ASC")
        with self._lock:
            total = self._one(f"SELECT count(*) FROM resources WHERE {where}", args)[0]
            rows = self._db.execute(f"{_SELECT} WHERE {where} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                                    args + (limit, offset)).fetchall()
        return [Row(*r) for r in rows], total

    def search(self, folder: Row, pattern: str, order, offset: int,
               limit: int) -> tuple[list[Row], int]:
        where, args = _subtree_clause(folder.path)
        if pattern.strip("*") != "":
            where, args = where + " AND emu_match(?, name)", args + (pattern,)
        order_sql = self._order_sql(order, "path ASC, id ASC")
        with self._lock:
            total = self._one(f"SELECT count(*) FROM resources WHERE {where}", args)[0]
            rows = self._db.execute(f"{_SELECT} WHERE {where} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                                    args + (limit, offset)).fetchall()
        return [Row(*r) for r in rows], total

    def all_rows(self) -> list[Row]:
        with self._lock:
            return [Row(*r) for r in self._db.execute(f"{_SELECT} ORDER BY path").fetchall()]

    # -------------------------------------------------------------- mutations
    def _insert(self, parent: Row, name: str, rtype: str, user: str, size: int, now: int) -> Row:
        path = P.join_path(parent.path, name)
        cur = self._db.execute(
            "INSERT INTO resources(parent_id, path, name, type, hash, size, file_count, created_by,"
            " created, updated, accessed, uploaded) VALUES (?,?,?,?,?,?,0,?,?,?,?,?)",
            (parent.id, path, name, rtype, secrets.token_hex(16), size, user, now, now, now, now))
        self._bump(path, size, 1 if rtype == "file" else 0)
        self._touch(parent.id, now)
        return self._row("id = ?", (cur.lastrowid,))

    def _bump(self, path: str, dsize: int, dcount: int) -> None:
        """Add to the aggregate size / file count of every folder above ``path``."""
        if dsize == 0 and dcount == 0:
            return
        anc = P.ancestors(path)
        marks = ",".join("?" * len(anc))
        self._db.execute(f"UPDATE resources SET size = size + ?, file_count = file_count + ?"
                         f" WHERE path IN ({marks})", (dsize, dcount, *anc))

    def _touch(self, rid: int, now: int) -> None:
        """A folder's updatedAt follows changes to its direct children (documented choice)."""
        self._db.execute("UPDATE resources SET updated = ? WHERE id = ?", (now, rid))

    @staticmethod
    def _weight(row: Row) -> tuple[int, int]:
        return row.size, (1 if row.type == "file" else row.file_count)

    def _ensure_folder(self, path: str, user: str, ip: str, created: list[Row]) -> Row:
        """Return the folder at ``path``, creating missing levels (logged as MKD)."""
        row = self._row("path = ?", (path,))
        if row is not None:
            if row.type != "dir":
                raise Invalid(f"{path} is a file, not a folder.")
            return row
        parent_path, name = P.split_path(path)
        parent = self._ensure_folder(parent_path, user, ip, created)
        now = self.now()
        row = self._insert(parent, name, "dir", user, 0, now)
        self._log("MKD", row.path, "", user, ip, 0, 0, now)
        created.append(row)
        return row

    def mkdir(self, path: str, user: str, ip: str) -> Row:
        if path == "/":
            raise Invalid("The home folder already exists.")
        with self._txn():
            if self._row("path = ?", (path,)) is not None:
                raise Invalid("Destination path cannot be an existing folder."
                              if self._row("path = ? AND type = 'dir'", (path,))
                              else "A file with this name already exists.")
            created: list[Row] = []
            return self._ensure_folder(path, user, ip, created)

    def check_upload_target(self, path: str) -> None:
        """Refuse early (before reading the body) uploads that can never succeed."""
        if path == "/":
            raise Invalid("Upload path must include a file name.")
        with self._lock:
            row = self._row("path = ?", (path,))
            if row is not None and row.type == "dir":
                raise Invalid("Destination path cannot be an existing folder.")
            for anc in P.ancestors(path)[1:]:
                a = self._row("path = ?", (anc,))
                if a is None:
                    break
                if a.type != "dir":
                    raise Invalid(f"{anc} is a file, not a folder.")

    def publish(self, path: str, staged: Path, size: int, overwrite: bool, user: str, ip: str,
                duration: int = 0) -> Row:
        """Atomically make a fully received upload visible (one transaction + os.replace)."""
        parent_path, name = P.split_path(path)
        with self._txn():
            parent = self._ensure_folder(parent_path, user, ip, [])
            existing = self._row("path = ?", (path,))
            now = self.now()
            if existing is not None and existing.type == "dir":
                raise Invalid("Destination path cannot be an existing folder.")
            if existing is not None and overwrite:
                self._db.execute("UPDATE resources SET size = ?, updated = ? WHERE id = ?",
                                 (size, now, existing.id))
                self._bump(path, size - existing.size, 0)
                row = self._row("id = ?", (existing.id,))
            else:
                n = 0
                while existing is not None:
                    n += 1
                    name = P.numbered_name(P.split_path(path)[1], n)
                    existing = self._row("path = ?", (P.join_path(parent.path, name),))
                row = self._insert(parent, name, "file", user, size, now)
            os.replace(staged, self.blob_path(row.id))
            self._log("STOR", row.path, "", user, ip, size, duration, now)
            return row

    def insert_raw(self, parent: Row, path: str, name: str, rtype: str, data: bytes,
                   user: str, ip: str) -> Row:
        """Test-only backdoor: store an item with ``path`` and ``name`` exactly as given,
        unchecked (``..``, NUL, ``/`` inside a name, a path outside ``parent`` ...), as
        a child of ``parent``, with an upload (or MKD) activity entry, as a hostile or
        broken server would list it. Nothing the API offers can create such a row."""
        with self._txn():
            now = self.now()
            size = len(data) if rtype == "file" else 0
            cur = self._db.execute(
                "INSERT INTO resources(parent_id, path, name, type, hash, size, file_count,"
                " created_by, created, updated, accessed, uploaded)"
                " VALUES (?,?,?,?,?,?,0,?,?,?,?,?)",
                (parent.id, path, name, rtype, secrets.token_hex(16), size, user, now, now,
                 now, now))
            row = self._row("id = ?", (cur.lastrowid,))
            if rtype == "file":
                self.blob_path(row.id).write_bytes(data)
            self._log("STOR" if rtype == "file" else "MKD", path, "", user, ip, size, 0, now)
            return row

    def _check_destination(self, row: Row, dest: Row) -> str:
        if row.id == ROOT_ID:
            raise Invalid("The home folder cannot be moved or copied.")
        if dest.type != "dir":
            raise Invalid("Destination must be a folder.")
        if row.type == "dir" and (dest.path == row.path or dest.path.startswith(row.path + "/")):
            raise Invalid("A folder cannot be placed inside itself.")
        new_path = P.join_path(dest.path, row.name)
        if self._row("path = ?", (new_path,)) is not None:
            raise Invalid(f"Destination {new_path} already exists.")
        return new_path

    def _repath(self, row: Row, new_path: str, parent_id: int, name: str) -> None:
        if row.type == "dir":
            where, args = _subtree_clause(row.path)
            self._db.execute(f"UPDATE resources SET path = ? || substr(path, ?) WHERE {where}",
                             (new_path, len(row.path) + 1, *args))
        self._db.execute("UPDATE resources SET path = ?, parent_id = ?, name = ? WHERE id = ?",
                         (new_path, parent_id, name, row.id))

    def move(self, row: Row, dest: Row, user: str, ip: str) -> Row:
        with self._txn():
            row, dest = self._fresh(row), self._fresh(dest)
            new_path = self._check_destination(row, dest)
            now = self.now()
            dsize, dcount = self._weight(row)
            self._bump(row.path, -dsize, -dcount)
            self._repath(row, new_path, dest.id, row.name)
            self._bump(new_path, dsize, dcount)
            self._touch(row.parent_id, now)
            self._touch(dest.id, now)
            self._log("MOVE", new_path, row.path, user, ip, 0, 0, now)
            return self._row("id = ?", (row.id,))

    def rename(self, row: Row, new_name: str, user: str, ip: str) -> Row:
        try:
            P.check_name(new_name)
        except P.PathError as exc:
            raise Invalid(str(exc)) from None
        with self._txn():
            row = self._fresh(row)
            if row.id == ROOT_ID:
                raise Invalid("The home folder cannot be renamed.")
            parent_path = P.split_path(row.path)[0]
            new_path = P.join_path(parent_path, new_name)
            if self._row("path = ?", (new_path,)) is not None:
                raise Invalid(f"Destination {new_path} already exists.")
            now = self.now()
            self._repath(row, new_path, row.parent_id, new_name)
            self._touch(row.parent_id, now)
            self._log("RNTO", new_path, row.path, user, ip, 0, 0, now)
            return self._row("id = ?", (row.id,))

    def copy(self, row: Row, dest: Row, user: str, ip: str) -> Row:
        with self._txn():
            row, dest = self._fresh(row), self._fresh(dest)
            new_path = self._check_destination(row, dest)
            now = self.now()
            items = [row]
            if row.type == "dir":
                where, args = _subtree_clause(row.path)
                items += [Row(*r) for r in self._db.execute(
                    f"{_SELECT} WHERE {where} ORDER BY path", args).fetchall()]
            new_ids = {row.parent_id: dest}
            for item in items:
                parent = new_ids[item.parent_id]
                made = self._insert(parent, item.name, item.type, user,
                                    item.size if item.type == "file" else 0, now)
                new_ids[item.id] = made
                if item.type == "file":
                    self._link_blob(item.id, made.id)
            self._log("COPY", new_path, row.path, user, ip, 0, 0, now)
            return self._row("id = ?", (new_ids[row.id].id,))

    def _link_blob(self, src_id: int, dst_id: int) -> None:
        src, dst = self.blob_path(src_id), self.blob_path(dst_id)
        try:
            os.link(src, dst)
        except FileExistsError:
            os.unlink(dst)
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)

    def delete(self, row: Row, user: str, ip: str) -> None:
        with self._txn():
            row = self._fresh(row)
            if row.id == ROOT_ID:
                raise Invalid("The home folder cannot be deleted.")
            now = self.now()
            ids = [row.id]
            if row.type == "dir":
                where, args = _subtree_clause(row.path)
                ids += [r[0] for r in self._db.execute(
                    f"SELECT id FROM resources WHERE {where} AND type = 'file'", args)]
                self._db.execute(f"DELETE FROM resources WHERE {where}", args)
            self._db.execute("DELETE FROM resources WHERE id = ?", (row.id,))
            dsize, dcount = self._weight(row)
            self._bump(row.path, -dsize, -dcount)
            self._touch(row.parent_id, now)
            self._log("DELE", row.path, "", user, ip, 0, 0, now, row=row)
        for rid in ids:
            try:
                os.unlink(self.blob_path(rid))
            except FileNotFoundError:
                pass

    def _fresh(self, row: Row) -> Row:
        """Re-read a row inside a transaction (it may have changed since it was resolved)."""
        cur = self._row("id = ?", (row.id,))
        if cur is None:
            raise NotFound(f"Resource {row.path} not found.")
        return cur

    def record_download(self, rows: list[Row], user: str, ip: str, nbytes: int,
                        duration: int) -> None:
        with self._txn():
            now = self.now()
            for row in rows:
                self._db.execute("UPDATE resources SET accessed = ? WHERE id = ?", (now, row.id))
                self._log("RETR", row.path, "", user, ip,
                          nbytes if len(rows) == 1 else row.size, duration, now)

    # --------------------------------------------------------------- activity
    def _log(self, op, file_name, file_source, user, ip, nbytes, duration, now,
             row: Row | None = None) -> None:
        """Write one activity entry (inside the caller's transaction).  ``row``: the resource
        the entry is about when it can no longer be looked up by path (deleted)."""
        session = hashlib.sha1(f"{user}|{ip}".encode()).hexdigest()[:26]
        self._db.execute(
            "INSERT INTO activity(created, operation, file_name, file_source, username, ip_address,"
            " protocol, session_id, status, bytes, duration) VALUES (?,?,?,?,?,?,'web',?,'-',?,?)",
            (now, op, file_name, file_source, user, ip, session, nbytes, duration))
        if op in self._listened_ops:
            if row is None:
                row = self._row("path = ?", (file_name,))
            self._pending.append(Change(op, file_name, file_source, user, ip, now, row))

    def _notify(self, committed: bool) -> None:
        """End of a transaction (lock held): hand its changes to the listener if it committed."""
        changes, self._pending = self._pending, []
        if committed and changes and self._listener is not None:
            with contextlib.suppress(Exception):  # a listener never fails a change
                self._listener(changes)

    def query_activity(self, *, start=None, end=None, ops=None, username=None, ip=None,
                       path=None, order=(("created", True),), offset=0, limit=100):
        where, args = ["1=1"], []
        if start is not None:
            where.append("created >= ?"); args.append(start)  # noqa: E702
        if end is not None:
            where.append("created <= ?"); args.append(end)  # noqa: E702
        if ops:
            where.append(f"operation IN ({','.join('?' * len(ops))})"); args += list(ops)  # noqa: E702
        if username:
            where.append("lower(username) = lower(?)"); args.append(username)  # noqa: E702
        if ip:
            where.append("ip_address = ?"); args.append(ip)  # noqa: E702
        if path:
            where.append("(substr(file_name, 1, ?) = ? OR substr(file_source, 1, ?) = ?)")
            args += [len(path), path, len(path), path]
        order_sql = ", ".join(f"{c} {'DESC' if d else 'ASC'}" for c, d in order)
        order_sql += ", id " + ("DESC" if order and order[0][1] else "ASC")
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, created, operation, file_name, file_source, username, ip_address,"
                f" protocol, session_id, status, bytes, duration FROM activity"
                f" WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                (*args, limit, offset)).fetchall()
        return [ActivityRow(*r) for r in rows]


class _Txn:
    """``with store._txn():`` -> lock held, BEGIN IMMEDIATE ... COMMIT / ROLLBACK."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self):
        self.store._lock.acquire()
        if self.store.closed:
            self.store._lock.release()
            raise StoreClosed("The emulator is stopping.")
        self.store._db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type, exc, tb):
        committed = False
        try:
            self.store._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
            committed = exc_type is None
        finally:
            try:
                self.store._notify(committed)
            finally:
                self.store._lock.release()
        return False


class StoreClosed(StoreError):
    status = 503
    code = "ERROR_SERVICE_UNAVAILABLE"
