"""What Linux's inotify and watchdog's inotify observer do not tell the watcher
(local/watcher.py), found out here: queue overflows, exhausted watch limits,
and the one-line message for each failure to watch.

Notes on watchdog 7.1 (read in its source, ``watchdog/observers/inotify*.py``):

* **Queue overflow is not surfaced to event handlers.** ``InotifyFD.handle_event``
  sees ``IN_Q_OVERFLOW``, logs the warning "Inotify queue overflowed; filesystem
  events were lost" on the ``watchdog.observers.inotify_c`` logger and lets each
  watch group discard its half-paired moves and re-add its recursive watches;
  no event reaches the handler. The only observable trace is that log record, so
  this module attaches a :class:`logging.Handler` to that logger and treats the
  record as an overflow (full rescan, then observer restart). If that logger's
  effective level is raised above WARNING, overflows go unnoticed here.
* **Watch limits are only partly surfaced.** ``InotifyObserver()`` itself calls
  ``inotify_init`` and raises ``OSError(EMFILE, "inotify instance limit
  reached")``; ``observer.start()`` (the emitter's ``on_thread_start``) raises
  ``OSError(ENOSPC, "inotify watch limit reached")``, but only when the watch on
  the *root* cannot be added: ``InotifyWatchGroup._add_callback`` silently
  swallows the same error for every sub-folder (at start and for folders created
  later), leaving part of the tree unwatched without a word. To catch that, the
  watcher probes after a successful start and after a batch that contained new
  folders: it adds one inotify watch on a fresh instance of its own; ENOSPC
  there means the user's watch budget is used up, so some folders (now or
  soon) cannot be watched, and the watcher goes to polling with the same
  message as for a start-time ENOSPC.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import sys
import threading
import weakref
from typing import Protocol

_INOTIFY_LOGGER = "watchdog.observers.inotify_c"
_OVERFLOW_MESSAGE = "Inotify queue overflowed"
_SYSCTL_DIR = "/proc/sys/fs/inotify"
_SYSCTL_FILE = "/etc/sysctl.d/90-syncd.conf"


class _Watcher(Protocol):
    def owns_thread(self, ident: int | None) -> bool: ...
    def overflowed(self) -> None: ...


class _OverflowTap(logging.Handler):
    """Sees watchdog's queue-overflow warning, the only trace an overflow leaves."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._watchers: weakref.WeakSet[_Watcher] = weakref.WeakSet()
        self._installed = False
        self._guard = threading.Lock()

    def add(self, watcher: _Watcher) -> None:
        with self._guard:
            self._watchers.add(watcher)
            if not self._installed:
                logging.getLogger(_INOTIFY_LOGGER).addHandler(self)
                self._installed = True

    def discard(self, watcher: _Watcher) -> None:
        with self._guard:
            self._watchers.discard(watcher)

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith(_OVERFLOW_MESSAGE):
            return
        with self._guard:
            watchers = list(self._watchers)
        # The overflow is logged on the reader thread of the observer that lost
        # events; when that cannot be told, every watcher rescans.
        owners = [w for w in watchers if w.owns_thread(record.thread)]
        for w in owners or watchers:
            w.overflowed()


OVERFLOW_TAP = _OverflowTap()


_IN_ATTRIB = 0x00000004
_IN_ONLYDIR = 0x01000000
_libc: ctypes.CDLL | None = None


def watches_exhausted(path: str) -> bool:
    """True if this user cannot add one more inotify watch (Linux; else False).

    Adds a watch on ``path`` to a fresh inotify instance of its own and closes
    it again. watchdog 7.1 swallows ENOSPC for sub-folders, so this is how a
    tree that did not fit in ``fs.inotify.max_user_watches`` is noticed.
    """
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    try:
        if _libc is None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            _libc = libc
        fd = _libc.inotify_init1(os.O_CLOEXEC)
    except (OSError, AttributeError):
        return False
    if fd < 0:  # out of instances: not what is asked here (ours exists)
        return False
    try:
        wd = _libc.inotify_add_watch(fd, os.fsencode(path), _IN_ATTRIB | _IN_ONLYDIR)
        return wd < 0 and ctypes.get_errno() == errno.ENOSPC
    finally:
        os.close(fd)


def watch_failure(name: str, root: str, exc: OSError, note: str) -> str:
    """The one line for an observer that cannot watch ``root`` (``note``: what the
    watcher does instead): for a kernel limit, which one and how to raise it."""
    head = f"mirror {name}:"
    if exc.errno == errno.ENOSPC:
        return _limit_message(head, "watches", "max_user_watches", 524288,
                              note)
    if exc.errno == errno.EMFILE:
        if _near_open_file_limit():
            return (f"{head} out of file descriptors (the process's open-file limit, "
                    f"ulimit -n / LimitNOFILE=, is reached); {note}")
        return _limit_message(head, "instances", "max_user_instances", 1024,
                              note)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        what = "it does not exist or is not a folder"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        what = "permission denied"
    else:
        what = exc.strerror or str(exc)
    return f"{head} cannot watch {root} for changes ({what}); {note}"


def _read_sysctl(name: str) -> int | None:
    try:
        with open(os.path.join(_SYSCTL_DIR, name), encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _limit_message(head: str, what: str, knob: str, suggested: int, note: str) -> str:
    current = _read_sysctl(knob)
    shown = "unknown" if current is None else str(current)
    if current is not None:
        suggested = max(suggested, current * 2)
    return (f"{head} out of inotify {what} (fs.inotify.{knob}={shown}; this tree needs more): "
            f"raise it with 'sudo sysctl fs.inotify.{knob}={suggested}' and persist it in "
            f"{_SYSCTL_FILE}; {note}")


def _near_open_file_limit() -> bool:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return False
        return len(os.listdir("/proc/self/fd")) >= soft - 2
    except (ImportError, OSError, ValueError):
        return False
