"""On-disk storage: SQLite metadata (WAL) plus one blob file per stored file id.

The store modules (this one, store_schema.py, store_mutations.py) are the only
ones that speak SQL.  Layout under the emulator root::

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
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from . import paths as P
from .store_mutations import Mutations
from .store_schema import (
    ACTIVITY_SORT,
    COLUMNS,
    RESOURCE_SORT,
    ROOT_ID,
    SCHEMA,
    SELECT,
    ActivityRow,
    Change,
    Invalid,
    NotFound,
    Row,
    StoreClosed,
    StoreError,
    subtree_clause,
)

__all__ = ["ACTIVITY_SORT", "COLUMNS", "RESOURCE_SORT", "ROOT_ID", "ActivityRow", "Change",
           "Invalid", "NotFound", "Row", "Store", "StoreClosed", "StoreError"]


class Store(Mutations):
    """The emulator's storage (see module doc); the write methods are in
    store_mutations.py."""

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
        self._db.executescript(SCHEMA)
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
        r = self._one(f"{SELECT} WHERE {where}", args)
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
            rows = self._db.execute(f"{SELECT} WHERE {where} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                                    args + (limit, offset)).fetchall()
        return [Row(*r) for r in rows], total

    def search(self, folder: Row, pattern: str, order, offset: int,
               limit: int) -> tuple[list[Row], int]:
        where, args = subtree_clause(folder.path)
        if pattern.strip("*") != "":
            where, args = where + " AND emu_match(?, name)", args + (pattern,)
        order_sql = self._order_sql(order, "path ASC, id ASC")
        with self._lock:
            total = self._one(f"SELECT count(*) FROM resources WHERE {where}", args)[0]
            rows = self._db.execute(f"{SELECT} WHERE {where} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                                    args + (limit, offset)).fetchall()
        return [Row(*r) for r in rows], total

    def all_rows(self) -> list[Row]:
        with self._lock:
            return [Row(*r) for r in self._db.execute(f"{SELECT} ORDER BY path").fetchall()]

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

