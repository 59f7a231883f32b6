"""The account's requests (``ledger``: the rolling 24 h budget window) and our
own changes expected back through the activity feed or a webhook push (``echo``)."""

from __future__ import annotations

from collections.abc import Sequence

from syncd.state.connection import Connection

ECHO_OPS = frozenset({"upload", "delete", "mkdir", "move", "rename"})


class Ledger(Connection):
    """The ``ledger`` table."""

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

    def spent_by(self, account: str, since: float) -> dict[tuple[str, str], int]:
        """Requests recorded at or after ``since``, counted by (method, API path)."""
        with self._lock:
            self._flushed()
            rows = self._conn.execute(
                "SELECT method, path, COUNT(*) FROM ledger WHERE account = ? AND at >= ? "
                "GROUP BY method, path", (account, float(since))).fetchall()
        return {(m, p): n for m, p, n in rows}

    def prune_ledger(self, account: str, before: float) -> None:
        with self._write():
            self._conn.execute("DELETE FROM ledger WHERE account = ? AND at < ?",
                               (account, float(before)))


class Echoes(Connection):
    """The ``echo`` table."""

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

    def prune_echoes(self, account: str, before: float,
                     under: Sequence[str] | None = None) -> None:
        """Forget the echoes expected before ``before``; with ``under`` (absolute
        folder paths, "" for the whole account) only those of paths inside them."""
        where, args = "account = ? AND at < ?", [account, float(before)]
        if under is not None:
            if "" not in under:
                if not under:
                    return
                where += " AND (" + " OR ".join(
                    "path = ? OR substr(path, 1, ?) = ?" for _ in under) + ")"
                for root in under:
                    args += [root, len(root) + 1, root + "/"]
        with self._write():
            self._conn.execute(f"DELETE FROM echo WHERE {where}", args)
