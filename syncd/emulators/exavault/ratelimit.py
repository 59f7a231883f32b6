"""Account-wide transaction budget over a rolling 24 hour window."""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable

WINDOW_SECONDS = 24 * 3600


class TransactionWindow:
    """Counts transactions in the last 24 h of the emulator clock.

    ``spend()`` is atomic: it either records one transaction and returns True,
    or returns False (limit reached) without recording anything.
    """

    def __init__(self, limit: int, clock: Callable[[], float]):
        self.limit = int(limit)
        self.clock = clock
        self._events: deque[list] = deque()  # [timestamp, count], oldest first
        self._used = 0
        self._lock = threading.Lock()

    def _expire(self) -> None:
        cutoff = self.clock() - WINDOW_SECONDS
        while self._events and self._events[0][0] <= cutoff:
            self._used -= self._events.popleft()[1]

    def _add(self, n: int) -> None:
        now = self.clock()
        if self._events and self._events[-1][0] == now:
            self._events[-1][1] += n
        else:
            self._events.append([now, n])
        self._used += n

    def spend(self) -> bool:
        with self._lock:
            self._expire()
            if self._used >= self.limit:
                return False
            self._add(1)
            return True

    def force(self, n: int) -> None:
        """Record ``n`` transactions regardless of the limit (other clients of the account)."""
        if n > 0:
            with self._lock:
                self._expire()
                self._add(int(n))

    @property
    def used(self) -> int:
        with self._lock:
            self._expire()
            return self._used

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def set_limit(self, n: int) -> None:
        with self._lock:
            self.limit = int(n)
