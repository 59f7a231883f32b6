"""Progress marks for the watchdog: the one process-wide :data:`HEARTBEAT`.

The transfer code beats it chunk by chunk without knowing about the daemon; the
daemon (``syncd.daemon``) reads its age before each watchdog ping (sd_notify's
``WATCHDOG=1``, ``syncd.daemon.notify``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Heartbeat:
    """When the sync loop last made progress, for the watchdog: a hung pass must
    stop the pings (systemd then kills and restarts the daemon), not be kept alive
    by the thread that sends them.

    Progress is anything that shows work moving: an HTTP request answered (or
    failed), a chunk of a transfer read or written (a 1 GiB upload at 100 KB/s is
    hours of progress without an answer), an item finished, a turn of the sync
    loop. Waiting for work inside :meth:`idle` counts as alive the whole time: the
    loop is asleep on purpose, not stuck. One request is bounded by the HTTP
    timeouts (connect + read), so a pass shows no progress for longer than that
    only when something hangs.

    :meth:`beat` is a single assignment (cheap enough for every chunk) and safe
    from any thread. One per process (:data:`HEARTBEAT`): the transfer code marks
    it without knowing about the daemon; a process runs one daemon.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = clock()
        self._idle = 0

    def beat(self) -> None:
        self._at = self._clock()

    @contextmanager
    def idle(self) -> Iterator[None]:
        """Waiting for work on purpose: alive throughout, and a beat when it ends."""
        self._idle += 1
        try:
            yield
        finally:
            self._idle -= 1
            self.beat()

    def age(self) -> float:
        """Seconds since the last progress; 0 while idle."""
        if self._idle:
            return 0.0
        return max(0.0, self._clock() - self._at)


HEARTBEAT = Heartbeat()


def beat() -> None:
    """Mark progress on the process's :data:`HEARTBEAT`."""
    HEARTBEAT.beat()
