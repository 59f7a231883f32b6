"""The per-second limiter one Egnyte account's threads share: Egnyte allows 2 calls
per second per token and refuses the third with a 403 (§7), so requests are spaced
``1/rate`` seconds apart and the normal case never sees a refusal. A refusal's
``Retry-After`` holds every thread back (``hold``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces the start of requests at least ``1/rate + margin`` seconds apart, across
    every thread that shares it (the margin absorbs the network's jitter: two
    requests sent exactly 0.5 s apart may arrive closer). ``clock``/``sleep`` are
    injectable for tests."""

    def __init__(self, rate: float = 2.0, *, margin: float = 0.05,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate + max(0.0, margin)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = 0.0  # the earliest start of the next request (clock time)

    def acquire(self) -> float:
        """Wait for this request's turn; return the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return max(0.0, wait)

    def hold(self, seconds: float) -> None:
        """The server refused for ``seconds``: no thread starts a request before then."""
        with self._lock:
            self._next = max(self._next, self._clock() + max(0.0, seconds))
