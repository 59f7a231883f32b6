"""Local change watcher: watchdog events in, settled batches of dirty paths out.

One :class:`LocalWatcher` per mirror root. It records, per dirty path (relative
to the root, POSIX form), the time of its first and last event, and hands them to
``on_change(name, paths)`` from its own delivery thread once they are quiet:

* a path is released once it had no event for ``settle`` seconds; every path
  quiet that long goes out in the same call. A path that is *almost* quiet when
  a batch is due (its quiet period ends within ``settle / 5``) holds the batch
  until it is quiet too, so the millisecond tail of one save (vim deleting its
  ``f~`` backup right after closing ``f``) lands in the same call;
* a path is never held longer than ``max_delay`` after its first event, so a
  file written forever still syncs now and then;
* at most one settled batch goes out per ``settle`` period (``max_delay``
  releases excepted), so a long burst (a checkout, an unpacked archive) comes
  in a few large calls instead of one every few milliseconds; a path may then
  wait up to one extra ``settle``, never less than its own;
* ``None`` means "events were lost, rescan everything": sent after an event on
  the root itself, after an inotify queue overflow, after the observer was
  restarted, on :meth:`LocalWatcher.rescan`, and every ``fallback_interval``
  in polling mode. Settled paths are dropped when ``None`` goes out (the full
  scan covers them); paths still being written stay and are reported when they
  settle.

Nothing is reported for the state of the tree at :meth:`LocalWatcher.start`, in
either mode: the daemon's own initial scan covers it.

Event mapping: both paths of a move are reported (unless ``ignored``); directory
events report the directory's path; ``FileOpenedEvent`` and
``FileClosedNoWriteEvent`` are reads, not changes, and are dropped;
``DirModifiedEvent`` is dropped too: on every backend watchdog sends it as a
companion of an event on a child (the parent's listing changed), and that child
event is what gets reported. Reporting it would turn every change directly under
the root into a full rescan.

Notes on watchdog 7.1 (read in its source, ``watchdog/observers/inotify*.py``;
queue overflows and watch limits: see local/inotify.py):

* A dying emitter is noticed by checking the observer's threads every
  ``health_interval`` seconds (watchdog has no callback for it). A root that is
  deleted makes the emitter stop itself; the restart then fails (ENOENT) and the
  watcher polls.
* watchdog holds an ``IN_MOVED_FROM`` for up to 0.5 s while waiting for its
  ``IN_MOVED_TO``, and its queue is first-in first-out, so after a move *out
  of* the tree later events can reach the handler up to 0.5 s late. Keep
  ``settle`` well above that (the default 1.5 s is).
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import threading
import time
from collections.abc import Callable

from watchdog.events import (
    DirModifiedEvent,
    FileClosedNoWriteEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver

from syncd.config import schema
from syncd.local.inotify import OVERFLOW_TAP, watch_failure
from syncd.local.inotify import watches_exhausted as _inotify_watches_exhausted
from syncd.local.settle import Settler

__all__ = ["LocalWatcher"]

MODE_EVENTS = "events"
MODE_POLLING = "polling"
MODE_STOPPED = "stopped"

# Not changes: reads, and the parent-listing companion of a child's event.
_DROPPED_EVENTS = (FileOpenedEvent, FileClosedNoWriteEvent, DirModifiedEvent)

# A batch is held this fraction of `settle` for paths that are almost quiet.
_GROUP_FRACTION = 0.2
# More restarts than this within the window: give up on events, poll.
_MAX_RESTARTS = 5
_RESTART_WINDOW = 600.0
# How long stop() waits for an on_change call in progress.
_STOP_JOIN_TIMEOUT = 10.0



class LocalWatcher:
    """Watches one mirror root and reports settled batches of dirty relative paths.

    ``on_change(name, paths)`` is called from the watcher's single delivery
    thread, never concurrently with itself; ``paths`` is a set of POSIX paths
    relative to the root, or ``None`` for "rescan everything". ``mode`` is
    ``"events"``, ``"polling"`` (events unavailable: ``None`` every
    ``fallback_interval`` seconds) or ``"stopped"``.
    """

    #: Seconds between checks that the observer's threads are still alive.
    health_interval: float = 2.0

    def __init__(
        self,
        name: str,
        root: str | os.PathLike,
        on_change: Callable[[str, set[str] | None], None],
        *,
        ignored: Callable[[str, bool], bool] | None = None,
        settle: float = schema.default("daemon.settle"),
        max_delay: float = 60.0,
        fallback_interval: float = 300.0,
        observer_factory: Callable[[], BaseObserver] | None = None,
        log: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settle <= 0:
            raise ValueError("settle must be > 0")
        if max_delay < settle:
            raise ValueError("max_delay must be >= settle")
        if fallback_interval <= 0:
            raise ValueError("fallback_interval must be > 0")
        self.name = name
        self.root = os.path.abspath(os.fspath(root))
        self._prefix = self.root if self.root.endswith(os.sep) else self.root + os.sep
        self._on_change = on_change
        self._ignored = ignored
        self._fallback_interval = fallback_interval
        self._factory = observer_factory or _default_observer
        self._log = log or logging.getLogger(__name__)
        self._clock = clock

        self._cond = threading.Condition()
        self._mode = MODE_STOPPED
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._observer: BaseObserver | None = None
        self._pending = Settler(settle, max_delay, settle * _GROUP_FRACTION)
        self._rescan_due = False
        self._trouble: str | None = None  # set by the overflow tap
        self._probe_due = False
        self._next_health = 0.0
        self._next_poll = 0.0
        self._restarts: collections.deque[float] = collections.deque()

    # ------------------------------------------------------------------ public

    @property
    def mode(self) -> str:
        return self._mode

    def start(self) -> None:
        """Start watching. Never raises for watch problems: falls back to polling."""
        with self._cond:
            if self._thread is not None:
                raise RuntimeError(f"watcher for mirror {self.name} is already started")
            self._stopping = False
            self._pending.reset()
            self._rescan_due = self._probe_due = False
            self._trouble = None
            self._restarts.clear()
        OVERFLOW_TAP.add(self)
        failure = self._launch()
        now = self._clock()
        with self._cond:
            if failure is None:
                self._mode = MODE_EVENTS
                self._next_health = now + self.health_interval
            else:
                self._mode = MODE_POLLING
                self._next_poll = now + self._fallback_interval
            self._thread = threading.Thread(
                target=self._run, name=f"syncd-watch-{self.name}", daemon=True)
            self._thread.start()
        if failure is not None:
            self._log.error("%s", failure)

    def stop(self) -> None:
        """Stop the observer and the delivery thread; prompt and idempotent."""
        with self._cond:
            self._stopping = True
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        OVERFLOW_TAP.discard(self)
        if thread is not None and thread is not threading.current_thread():
            thread.join(_STOP_JOIN_TIMEOUT)
            if thread.is_alive():
                self._log.warning("mirror %s: on_change still running after %g s; not waiting "
                                  "for it", self.name, _STOP_JOIN_TIMEOUT)
        with self._cond:
            observer, self._observer = self._observer, None
            self._mode = MODE_STOPPED
        if observer is not None:
            self._shutdown(observer)

    def rescan(self) -> None:
        """Ask for a full rescan: ``on_change(name, None)`` soon."""
        with self._cond:
            self._rescan_due = True
            self._cond.notify_all()

    # ------------------------------------------------------------ event intake

    def _on_event(self, event: FileSystemEvent) -> None:
        """Called on the observer's thread for every watchdog event."""
        if isinstance(event, _DROPPED_EVENTS):
            return
        is_dir = event.is_directory
        paths = [event.src_path]
        if event.event_type == "moved":
            paths.append(event.dest_path)
        dirty: list[str] = []
        root_event = False
        for raw in paths:
            if not raw:  # the unmatched half of a move, with full events
                continue
            rel = self._relative(os.fsdecode(raw))
            if rel is None:
                continue
            if rel == "":
                root_event = True
            elif not self._is_ignored(rel, is_dir):
                dirty.append(rel)
        if not dirty and not root_event:
            return
        now = self._clock()
        with self._cond:
            if root_event:
                self._rescan_due = True
                self._cond.notify_all()
            if is_dir and event.event_type in ("created", "moved"):
                self._probe_due = True
            # A new event never brings the earliest deadline forward, except
            # the first one: only then does the delivery thread need waking.
            if self._pending.touch(dirty, now):
                self._cond.notify_all()

    def _relative(self, path: str) -> str | None:
        if path == self.root:
            return ""
        if not path.startswith(self._prefix):
            self._log.debug("mirror %s: event outside the root: %r", self.name, path)
            return None
        rel = path[len(self._prefix):]
        if os.sep != "/":
            rel = rel.replace(os.sep, "/")
        return rel.strip("/")

    def _is_ignored(self, rel: str, is_dir: bool) -> bool:
        if self._ignored is None:
            return False
        try:
            return bool(self._ignored(rel, is_dir))
        except Exception:  # noqa: BLE001 - a caller's bug must not lose the event
            self._log.exception("mirror %s: ignore check failed for %r; reporting it",
                                self.name, rel)
            return False

    def overflowed(self) -> None:
        """The inotify queue overflowed: restart the observer and rescan."""
        with self._cond:
            if self._mode == MODE_EVENTS and self._trouble is None:
                self._trouble = "the inotify event queue overflowed (events were lost)"
                self._cond.notify_all()

    def owns_thread(self, ident: int | None) -> bool:
        """Is thread ``ident`` one of this watcher's observer threads?"""
        observer = self._observer
        if observer is None or ident is None:
            return False
        try:
            threads = [observer, *list(observer.emitters),
                       getattr(observer, "_inotify_fd", None)]
        except RuntimeError:  # emitters changed while being copied
            return False
        return any(isinstance(t, threading.Thread) and t.ident == ident for t in threads)

    # ------------------------------------------------------------- delivery

    def _run(self) -> None:
        while True:
            with self._cond:
                job = self._next_job()
            if job is None:
                return
            kind, payload = job
            if kind == "restart":
                self._restart(payload)
            else:
                self._deliver(payload)
                if payload is not None and self._probe_due:
                    self._probe_limits()

    def _next_job(self) -> tuple[str, object] | None:
        """Wait (holding the condition) until there is something to do."""
        while not self._stopping:
            now = self._clock()
            wake: list[float] = []
            if self._mode == MODE_EVENTS:
                if self._trouble is not None:
                    reason, self._trouble = self._trouble, None
                    return "restart", reason
                if now >= self._next_health:
                    self._next_health = now + self.health_interval
                    reason = self._observer_failure()
                    if reason is not None:
                        return "restart", reason
                wake.append(self._next_health)
            elif self._mode == MODE_POLLING:
                if now >= self._next_poll:
                    self._next_poll = now + self._fallback_interval
                    self._rescan_due = True
                wake.append(self._next_poll)
            if self._rescan_due:
                self._rescan_due = False
                self._pending.drop_settled(now)
                return "deliver", None
            if self._pending:
                batch, next_due = self._pending.take_due(now)
                if batch:
                    return "deliver", batch
                wake.append(next_due)
            self._cond.wait(max(0.0, min(wake) - now) if wake else None)
        return None

    def _deliver(self, paths: set[str] | None) -> None:
        try:
            self._on_change(self.name, paths)
        except Exception:  # noqa: BLE001 - the delivery thread must survive
            self._log.exception("mirror %s: on_change failed", self.name)

    # ---------------------------------------------------------- observer life

    def _launch(self) -> str | None:
        """Start a new observer; return None, or the one-line reason for polling."""
        observer = None
        try:
            observer = self._factory()
            observer.schedule(_Handler(self), self.root, recursive=True)
            observer.start()
        except Exception as exc:  # noqa: BLE001 - whatever fails, poll instead
            if observer is not None:
                self._shutdown(observer)
            if isinstance(exc, OSError):
                return self._failure_message(exc)
            self._log.debug("mirror %s: observer start failed", self.name, exc_info=True)
            return (f"mirror {self.name}: cannot watch {self.root} for changes "
                    f"({type(exc).__name__}: {exc}); {self._polling_note()}")
        if _inotify_watches_exhausted(self.root):
            self._shutdown(observer)
            return self._failure_message(OSError(errno.ENOSPC, "inotify watch limit reached"))
        with self._cond:
            keep = not self._stopping
            if keep:
                self._observer = observer
        if not keep:
            self._shutdown(observer)
        return None

    def _shutdown(self, observer: BaseObserver) -> None:
        try:
            observer.stop()
        except Exception:  # noqa: BLE001 - best effort on the way out
            self._log.debug("mirror %s: stopping the observer failed", self.name, exc_info=True)
        if observer.is_alive() and observer is not threading.current_thread():
            observer.join(5.0)

    def _observer_failure(self) -> str | None:
        observer = self._observer
        if observer is None:
            return "the file watcher is gone"
        if not observer.is_alive():
            return "the file watcher's observer thread died"
        try:
            emitters = list(observer.emitters)
        except RuntimeError:
            return None
        if not emitters or not all(e.is_alive() for e in emitters):
            return "the file watcher's emitter thread died"
        # watchdog's inotify reader thread; private, so only if it is there.
        reader = getattr(observer, "_inotify_fd", None)
        if isinstance(reader, threading.Thread) and reader.ident is not None \
                and not reader.is_alive():
            return "the file watcher's inotify reader thread died"
        return None

    def _restart(self, reason: str) -> None:
        """On the delivery thread: replace the observer, then ask for a full rescan."""
        with self._cond:
            old, self._observer = self._observer, None
        if old is not None:
            self._shutdown(old)
        now = self._clock()
        while self._restarts and self._restarts[0] < now - _RESTART_WINDOW:
            self._restarts.popleft()
        if len(self._restarts) >= _MAX_RESTARTS:
            failure = (f"mirror {self.name}: {reason}, and the file watcher was restarted "
                       f"{len(self._restarts)} times in {_RESTART_WINDOW:g} s; giving up on "
                       f"change events: {self._polling_note()}")
        else:
            self._restarts.append(now)
            self._log.warning("mirror %s: %s; restarting the file watcher and rescanning",
                              self.name, reason)
            failure = self._launch()
        now = self._clock()
        with self._cond:
            if self._stopping:
                return
            if failure is None:
                self._next_health = now + self.health_interval
            else:
                self._mode = MODE_POLLING
                self._next_poll = now + self._fallback_interval
            self._rescan_due = True
        if failure is not None:
            self._log.error("%s", failure)

    def _probe_limits(self) -> None:
        """After new folders appeared: still room for their inotify watches?"""
        with self._cond:
            self._probe_due = False
            if self._mode != MODE_EVENTS:
                return
        if not _inotify_watches_exhausted(self.root):
            return
        with self._cond:
            if self._stopping or self._mode != MODE_EVENTS:
                return
            observer, self._observer = self._observer, None
            self._mode = MODE_POLLING
            self._next_poll = self._clock() + self._fallback_interval
            self._rescan_due = True
        if observer is not None:
            self._shutdown(observer)
        self._log.error("%s", self._failure_message(
            OSError(errno.ENOSPC, "inotify watch limit reached")))

    # -------------------------------------------------------------- messages

    def _polling_note(self) -> str:
        return f"scanning every {self._fallback_interval:g} s instead"

    def _failure_message(self, exc: OSError) -> str:
        return watch_failure(self.name, self.root, exc, self._polling_note())


class _Handler(FileSystemEventHandler):
    """Forwards every watchdog event to its watcher; never raises."""

    def __init__(self, watcher: LocalWatcher) -> None:
        self._watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._watcher._on_event(event)
        except Exception:  # noqa: BLE001 - must not kill watchdog's thread
            self._watcher._log.exception("mirror %s: cannot handle %r",
                                         self._watcher.name, event)


def _default_observer() -> BaseObserver:
    from watchdog.observers import Observer

    return Observer()
