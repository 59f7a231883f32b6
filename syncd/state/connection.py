"""The index's connection: opening (and migrating) the file, closing, and
transactions.

One connection (``check_same_thread=False``) guarded by one ``threading.RLock``;
every public method of the tables holds the lock and every write method is one
transaction. ``with index.batch():`` groups several writes into one transaction
(nested batches become savepoints). Writes whose loss in a crash costs nothing
that matters are deferred to the next transaction (see ``_defer``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import typing
from collections.abc import Iterator
from pathlib import Path

from syncd import crashpoints
from syncd.state.errors import IndexCorruptError, IndexError_, IndexVersionError, corrupt_message
from syncd.state.schema import MIGRATIONS, SCHEMA_VERSION

FILENAME = "index.sqlite3"
BUSY_TIMEOUT_MS = 10_000


class Connection:
    """One SQLite index file, opened. Thread-safe; usable as a context manager.
    The tables (state/trees.py, state/queue.py, ...) are mixins of it."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0  # transaction nesting (0 = none open)
        self._owner: int | None = None  # the thread whose transaction is open
        # Deferred writes (see _defer): run at the start of the next transaction.
        self._deferred: list[tuple[str, tuple]] = []
        self._deferred_lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        make_private_dirs(self.path.parent)
        create_private_file(self.path)
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

    def copy_to(self, path: Path | str) -> typing.Self:
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
        return type(self)(target)

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


def make_private_dirs(folder: Path) -> None:
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


def create_private_file(path: Path) -> None:
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
