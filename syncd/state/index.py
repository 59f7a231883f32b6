"""The persistent index: every mirror's sync state in one SQLite file per state dir.

Only the modules of syncd/state/ speak SQL. ``<state_dir>/index.sqlite3``
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

One module per concern: state/schema.py (the tables), state/connection.py
(opening, transactions), state/trees.py (base, remote), state/values.py
(state, with state/keys.py naming its values), state/queue.py (queue,
failure), state/ledger.py (ledger, echo). ``Index`` is all of them. No clock
is read here: callers pass times in.
"""

from __future__ import annotations

from collections.abc import Iterable

from syncd.state.codec import decode_action, encode_action
from syncd.state.connection import BUSY_TIMEOUT_MS, FILENAME, create_private_file, make_private_dirs
from syncd.state.errors import (
    IndexCorruptError,
    IndexError_,
    IndexVersionError,
    as_corrupt,
    corrupt_message,
    is_corrupt,
)
from syncd.state.keys import mirror_scope
from syncd.state.ledger import ECHO_OPS, Echoes, Ledger
from syncd.state.queue import Failures, Queue
from syncd.state.schema import MIGRATIONS, SCHEMA_VERSION
from syncd.state.values import Values

__all__ = [
    "BUSY_TIMEOUT_MS", "ECHO_OPS", "FILENAME", "MIGRATIONS", "SCHEMA_VERSION", "Index",
    "IndexCorruptError", "IndexError_", "IndexVersionError", "as_corrupt", "corrupt_message",
    "create_private_file", "decode_action", "encode_action", "is_corrupt", "make_private_dirs",
]


class Index(Values, Queue, Failures, Ledger, Echoes):
    """One SQLite index file with all its tables. Thread-safe; usable as a context
    manager."""

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
