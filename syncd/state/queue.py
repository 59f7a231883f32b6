"""The persistent action queue (actions as JSON, see state/codec.py) and the
per-item error backoff of the ``failure`` table."""

from __future__ import annotations

from collections.abc import Sequence

from syncd.model import Action
from syncd.state.codec import decode_action, encode_action
from syncd.state.connection import Connection
from syncd.state.errors import IndexCorruptError, corrupt_message


class Queue(Connection):
    """The ``queue`` table."""

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


class Failures(Connection):
    """The ``failure`` table: per-item error backoff."""

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
