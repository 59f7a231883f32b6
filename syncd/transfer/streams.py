"""The bytes of one transfer: throttled, hashed streams, the download's temp file,
the permission bits a download gets, and fsyncs that make renames durable."""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
import threading
import time
from collections.abc import Callable

from syncd import crashpoints, heartbeat
from syncd.local.ignore import is_own_temp_name, new_temp_name
from syncd.transfer.errors import Cancelled, check_cancel


class Throttle:
    """A token bucket shared by all transfers of one direction (bytes per second)."""

    def __init__(self, rate: int):
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, n: int, cancel: threading.Event | None = None) -> None:
        """Wait until ``n`` more bytes may go; a set ``cancel`` ends the wait at once
        (raising ``Cancelled``): at 100 KB/s a 1 MiB chunk waits 10 s, a stop must not.
        Waiting here is on purpose, so it is progress for the watchdog, beaten every 0.2 s
        (at 10 KB/s one chunk is 100 s)."""
        if not self.rate or n <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + n / self.rate
        while (left := start - time.monotonic()) > 0:
            step = min(left, 0.2)
            if cancel is None:
                time.sleep(step)
            elif cancel.wait(step):
                raise Cancelled("stopping")
            heartbeat.beat()


class HashingReader:
    """A file wrapper for uploads: SHA-256 and byte count of what was actually read,
    throttled; seeking back to the start (a retry) restarts the hash. ``progress``
    is told each chunk's size once it may go (and minus the count on a rewind)."""

    def __init__(self, f, throttle: Throttle, cancel: threading.Event | None = None,
                 progress: Callable[[int], None] | None = None):
        self._f, self._throttle, self._cancel = f, throttle, cancel
        self._progress = progress
        self._start = f.tell()
        self.sha = hashlib.sha256()
        self.count = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._start + self.count

    def seek(self, pos: int, whence: int = 0):
        if whence == 0 and pos == self._start:
            if self.count and self._progress is not None:
                self._progress(-self.count)  # sent again from the start
            self.sha, self.count = hashlib.sha256(), 0
            return self._f.seek(pos)
        raise OSError("HashingReader only rewinds to its start")

    def read(self, n: int = -1) -> bytes:
        check_cancel(self._cancel)
        data = self._f.read(n)
        first = not self.count and data
        self.sha.update(data)
        self.count += len(data)
        heartbeat.beat()  # a long upload is progress, chunk by chunk (the watchdog)
        self._throttle.take(len(data), self._cancel)
        if data and self._progress is not None:
            self._progress(len(data))
        if first:
            crashpoints.hit("upload.body")
        return data


class HashingWriter:
    """A file wrapper for downloads: SHA-256 of what was written, throttled. Not
    seekable, so the client never retries a download after bytes were written
    (the worker restarts it cleanly instead). ``progress`` is told each chunk's size
    once written."""

    def __init__(self, f, throttle: Throttle, cancel: threading.Event | None = None,
                 progress: Callable[[int], None] | None = None):
        self._f, self._throttle, self._cancel = f, throttle, cancel
        self._progress = progress
        self.sha = hashlib.sha256()
        self.count = 0

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:
        check_cancel(self._cancel)
        heartbeat.beat()  # a long download is progress, chunk by chunk (the watchdog)
        self._throttle.take(len(data), self._cancel)
        self.sha.update(data)
        first = not self.count and data
        self.count += len(data)
        written = self._f.write(data)
        if data and self._progress is not None:
            self._progress(len(data))
        if first:
            crashpoints.hit("download.body")
        return written


def _proc_umask() -> int | None:
    """The process's umask from ``/proc/self/status`` (Linux 4.7 and later), read
    without changing it; None where that line is not there."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


# Where /proc cannot tell, the umask is read the only other way there is, by setting
# it (``os.umask`` returns the old value) and putting it back. That changes it for the
# whole process, and a file another thread creates in between would get mode 0666:
# so it is done once, here, when this module is imported, which the command line and
# the daemon do in the main thread before starting any thread. Nothing in syncd
# changes the umask afterwards. (If some thread does exist already, a umask cannot be
# read safely at all: the usual 022 is assumed.)
_START_UMASK = _proc_umask()
if _START_UMASK is None:
    if threading.active_count() == 1:
        _START_UMASK = os.umask(0o022)
        os.umask(_START_UMASK)
    else:
        _START_UMASK = 0o022


class Part:
    """A download's temp file, created under a name only syncd makes (the
    mirror's temp key signs it), kept open until it replaces its target or is
    discarded. :meth:`discard` removes it wherever it is by then: where it was
    made, or - when the user renamed its folder meanwhile - where its open
    descriptor says it is (Linux ``/proc/self/fd``); it unlinks only a file that
    is this very one (device and inode) and still has our temp name. Anything
    left (a crash, another system) is removed by the next full scan, which finds
    it by name anywhere in the tree (``clean_temp_files``)."""

    def __init__(self, folder: str, key: bytes, *, name: str | None = None):
        """A new temp file in ``folder``; with ``name``, the existing one of that
        name (a download resumed: the caller checked it is one of ours)."""
        self._key = key
        self.path = os.path.join(folder, name or new_temp_name(key))
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
        self.fd: int | None = os.open(self.path, flags | (
            os.O_NOFOLLOW if name else os.O_CREAT | os.O_EXCL), 0o600)
        st = os.fstat(self.fd)
        self._ident = (st.st_dev, st.st_ino)

    def close(self) -> None:
        """Done with the descriptor (after the rename into place: nothing to remove)."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def _places(self) -> list[str]:
        places = [self.path]
        try:
            now = os.readlink(f"/proc/self/fd/{self.fd}")
        except OSError:  # not Linux, or no /proc
            return places
        if os.path.isabs(now) and not now.endswith(" (deleted)") and now != self.path:
            places.append(now)
        return places

    def discard(self) -> None:
        """Remove the temp file (no-op after :meth:`close`); never raises."""
        if self.fd is None:
            return
        try:
            for path in self._places():
                try:
                    st = os.lstat(path)
                    if (st.st_dev, st.st_ino) == self._ident and \
                            is_own_temp_name(os.path.basename(path), self._key):
                        os.unlink(path)
                        return
                except OSError:
                    continue
        finally:
            self.close()


def file_mode(st: os.stat_result | None) -> int | None:
    """The permission bits a download replacing this file keeps (rwx only: never
    set-user-id, set-group-id or sticky bits on bytes from the server)."""
    if st is None or not stat_mod.S_ISREG(st.st_mode):
        return None
    return stat_mod.S_IMODE(st.st_mode) & 0o777


def umask() -> int:
    """The umask new files get, read without ever changing it (another thread may be
    creating a file right now)."""
    mask = _proc_umask()
    return _START_UMASK if mask is None else mask


def fsync_dir(*paths: str) -> None:
    """Make renames into these folders durable: after an ``os.replace`` into a
    folder, the new name is only on disk once the folder is fsynced. Without it a
    crash soon after a pass may bring back the old file (or none) while the index,
    committed since, says the new one is there: the next pass would take that for a
    local change, or a deletion, and send it to the server. Best effort: some file
    systems refuse to fsync a folder (EINVAL), and a folder we may not read cannot
    be opened; those are skipped."""
    for path in dict.fromkeys(paths):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
