"""The state directory's lock: one syncd at a time works on a state directory.

``<state_dir>/lock`` is ``flock``-ed for as long as a one-shot sync or the
daemon works on the directory, and holds the owner's pid (so `syncd status`
tells a running daemon from a one-shot sync).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILENAME = "lock"


def _pid(fd: int) -> int | None:
    """The pid the holder wrote into the lock file, if it reads as one."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


class Busy(Exception):
    """Another syncd process holds the state directory; ``pid``: its pid, if known."""

    def __init__(self, state_dir: Path, pid: int | None = None):
        super().__init__(f"another syncd is working on {state_dir}")
        self.state_dir = state_dir
        self.pid = pid


def acquire(state_dir: Path) -> int:
    """Take the lock (creating the directory, 0700); the open descriptor, whose
    closing releases it. ``Busy`` if another process holds it; ``OSError`` if the
    directory cannot be used."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state_dir / FILENAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(state_dir, _pid(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def held(state_dir: Path) -> Iterator[None]:
    """The lock, for the ``with`` block."""
    fd = acquire(state_dir)
    try:
        yield
    finally:
        os.close(fd)


def holder(state_dir: Path) -> int | None:
    """The pid holding the lock (a daemon or a sync; -1 if it wrote none we can
    read), else None. Only looks: never creates the file or takes the lock for long."""
    try:
        fd = os.open(state_dir / FILENAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _pid(fd)
            return -1 if pid is None else pid
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
