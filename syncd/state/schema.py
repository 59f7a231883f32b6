"""The index's tables, as migrations: ``MIGRATIONS[i]`` takes the schema from
version ``i`` to ``i + 1`` (``PRAGMA user_version``). Never edit a released
migration; append a new one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


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
