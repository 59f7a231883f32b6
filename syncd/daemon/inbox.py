"""The inbox: work waiting for the sync thread. Producers (watchers, scheduler
jobs, the webhook receiver, the main thread) put work in; the sync thread takes
it all at once, so many events make one pass."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from syncd.remote.backend import Change


@dataclass
class Work:
    local: dict[str, set[str] | None] = field(default_factory=dict)  # mirror -> paths / all
    poll: bool = False
    timer: bool = False   # a poll asked for by the clock (not only by webhook pushes)
    force_full: bool = False
    hints: list[Change] | None = None
    reload: bool = False
    purge: bool = False

    def empty(self) -> bool:
        return not (self.local or self.poll or self.reload or self.purge)


class Inbox:
    """Work waiting for the sync thread, merged: many events make one pass."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._work = Work()

    def put_local(self, mirror: str, paths: set[str] | None) -> None:
        with self._cond:
            have = self._work.local.get(mirror, set())
            if paths is None or have is None:
                self._work.local[mirror] = None
            else:
                self._work.local[mirror] = have | paths
            self._cond.notify()

    def put_poll(self, *, force_full: bool = False, hints: list[Change] | None = None) -> None:
        with self._cond:
            w = self._work
            w.poll = True
            w.force_full |= force_full
            if hints is not None:
                w.hints = (w.hints or []) + hints
            else:
                w.timer = True
            self._cond.notify()

    def put_purge(self) -> None:
        with self._cond:
            self._work.purge = True
            self._cond.notify()

    def put_reload(self) -> None:
        with self._cond:
            self._work.reload = True
            self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def take(self, timeout: float) -> Work | None:
        with self._cond:
            if self._work.empty():
                self._cond.wait(timeout)
            if self._work.empty():
                return None
            work, self._work = self._work, Work()
            return work
