"""Daemon robustness (issue 16, item 9): the systemd watchdog is pinged only while
the sync loop makes progress; the bandwidth throttle wakes on a stop; the umask is
read without changing it; a download's or a move's rename is made durable.

The watchdog tests run the real daemon (`python -m syncd run`) against the emulator
on 127.0.0.1 with a real unix datagram socket as ``NOTIFY_SOCKET`` and
``WATCHDOG_USEC=1000000`` (ping interval 0.5 s), and look at when the ``WATCHDOG=1``
datagrams arrive.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from syncd.transfer import streams
from syncd.transfer.errors import Cancelled
from syncd.transfer.streams import HashingReader, HashingWriter, Throttle
from tests.helpers.daemon import DaemonProc, daemon_setup, wait_for

WATCHDOG_USEC = "1000000"  # WatchdogSec=1s: a ping is due every 0.5 s


class Pings:
    """Receives the daemon's datagrams on a thread, stamping each ``WATCHDOG=1``."""

    def __init__(self, proc: DaemonProc):
        self.proc = proc
        self.at: list[float] = []
        self._stop = threading.Event()
        proc.sock.setblocking(True)
        proc.sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                text = self.proc.sock.recv(65536).decode()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.proc.messages.append(text)
            if "WATCHDOG=1" in text:
                self.at.append(time.monotonic())

    def statuses(self) -> list[str]:
        return [line[7:] for m in list(self.proc.messages) for line in m.split("\n")
                if line.startswith("STATUS=")]

    def wait_idle(self, after: int = 0, timeout: float = 30.0) -> int:
        def idle():
            s = self.statuses()
            return any(x.startswith("idle") for x in s[after:]) and len(s)
        n = wait_for(idle, timeout)
        assert n, f"daemon never became idle; log:\n{self.proc.log()}"
        return n

    def between(self, start: float, end: float) -> list[float]:
        return [t for t in self.at if start <= t <= end]

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time without a ping within [start, end]."""
        marks = [start, *self.between(start, end), end]
        return max(b - a for a, b in zip(marks, marks[1:]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def daemon(tmp_path):
    started: list[tuple[DaemonProc, Pings]] = []

    def run(setup) -> tuple[DaemonProc, Pings]:
        d = DaemonProc(setup, tmp_path, env={"WATCHDOG_USEC": WATCHDOG_USEC})
        p = Pings(d)
        started.append((d, p))
        return d, p

    yield run
    for d, p in started:
        p.close()
        d.close()


# ----------------------------------------------------------------------------- (a) watchdog

def test_watchdog_pings_stop_while_a_pass_hangs_and_resume_after(make_emulator, tmp_path,
                                                                  daemon):
    setup = daemon_setup(make_emulator, tmp_path, poll="1h")
    d, pings = daemon(setup)
    n = pings.wait_idle()

    # Idle: waiting for the next poll on purpose is alive; pings keep coming.
    t0 = time.monotonic()
    time.sleep(2.0)
    assert pings.longest_gap(t0, time.monotonic()) < 1.5, d.log()

    # A normal pass (an upload) keeps them coming too.
    t0 = time.monotonic()
    (setup.local() / "normal.txt").write_bytes(b"quick")
    assert wait_for(lambda: setup.remote_tree().get("normal.txt") == b"quick", 10), d.log()
    n = pings.wait_idle(after=n)
    assert pings.longest_gap(t0, time.monotonic()) < 1.5, d.log()

    # A pass stuck in one request (the server answers after 6 s, well within the
    # HTTP timeouts) shows no progress: the pings stop, systemd would restart syncd.
    setup.emu.set_latency(6000)
    hang = time.monotonic()
    (setup.local() / "stuck.txt").write_bytes(b"slow server")
    assert wait_for(lambda: setup.remote_tree().get("stuck.txt") == b"slow server", 20), d.log()
    answered = time.monotonic()
    setup.emu.set_latency(0)
    assert pings.longest_gap(hang, answered) >= 3.5, (pings.between(hang, answered), d.log())
    assert "made no progress" in d.log()

    # Once the request is answered the loop moves again and so do the pings.
    pings.wait_idle(after=n)
    t0 = time.monotonic()
    time.sleep(2.0)
    assert len(pings.between(t0, time.monotonic())) >= 2, d.log()
    assert d.proc.poll() is None
    assert d.stop()[0] == 0


def test_throttled_upload_keeps_pinging_and_a_stop_does_not_wait_for_the_chunk(
        make_emulator, tmp_path, daemon):
    """At 100 KB/s a 1 MiB chunk is 10 s of waiting on purpose: progress for the
    watchdog, and a stop ends it at once (not after STOP_GRACE, 8 s, with the
    "still running" warning)."""
    setup = daemon_setup(make_emulator, tmp_path, poll="1h")
    setup.set_options(bandwidth={"up": 100_000})
    d, pings = daemon(setup)
    pings.wait_idle()
    n = len(pings.statuses())
    (setup.local() / "big.bin").write_bytes(os.urandom(3 << 20))
    assert wait_for(lambda: any(s.startswith("syncing") for s in pings.statuses()[n:]), 10)
    time.sleep(2.5)  # the first chunk went at once; the second waits ~10 s
    t0 = time.monotonic()
    time.sleep(2.0)
    assert pings.longest_gap(t0, time.monotonic()) < 1.5, d.log()
    assert "made no progress" not in d.log()
    assert "big.bin" not in setup.remote_tree()  # still sending
    rc, took = d.stop()
    assert rc == 0
    assert took < 4.0, f"stop took {took:.1f}s; log:\n{d.log()}"
    assert "still running" not in d.log()
    assert "big.bin" not in setup.remote_tree()  # the server keeps no partial file


# ----------------------------------------------------------------------------- (b) throttle

@pytest.mark.parametrize("wrapper", ["reader", "writer"])
def test_throttle_wait_wakes_on_cancel(tmp_path, wrapper):
    chunk = 1 << 20  # at 100 KB/s: 10.5 s per chunk
    cancel = threading.Event()
    throttle = Throttle(100_000)
    path = tmp_path / "f"
    if wrapper == "reader":
        path.write_bytes(os.urandom(2 * chunk))
        f = open(path, "rb")
        w = HashingReader(f, throttle, cancel)
        step = lambda: w.read(chunk)  # noqa: E731
    else:
        f = open(path, "wb")
        w = HashingWriter(f, throttle, cancel)
        step = lambda: w.write(b"x" * chunk)  # noqa: E731
    with f:
        step()  # the first chunk goes at once, the next one has to wait
        threading.Timer(0.3, cancel.set).start()
        t0 = time.monotonic()
        with pytest.raises(Cancelled):
            step()
        took = time.monotonic() - t0
    assert took < 2.0, f"a stop waited {took:.1f}s for the throttle"


def test_throttle_still_paces_without_cancel():
    throttle = Throttle(1_000_000)
    t0 = time.monotonic()
    for _ in range(4):
        throttle.take(100_000, threading.Event())
    assert 0.25 <= time.monotonic() - t0 < 2.0  # 0.4 s of tokens, the first 0.1 s free


# ----------------------------------------------------------------------------- (c) umask

@pytest.fixture
def umask_027():
    real = os.umask  # (tests replace os.umask with a spy; torn down before this)
    old = real(0o027)
    yield
    real(old)


def _no_umask_calls(monkeypatch) -> list:
    calls: list = []

    def spy(mask):
        calls.append(mask)
        raise AssertionError("os.umask() changes the umask of every thread")
    monkeypatch.setattr(os, "umask", spy)
    return calls


def test_umask_is_read_without_changing_it(monkeypatch, umask_027):
    calls = _no_umask_calls(monkeypatch)
    assert streams.umask() == 0o027
    assert calls == []


def test_umask_without_proc_uses_the_value_read_at_start(monkeypatch, umask_027):
    """Where /proc/self/status has no Umask: line, the value read once at import
    (in the main thread, before any thread) is used; the umask is not touched."""
    monkeypatch.setattr(streams, "_proc_umask", lambda: None)
    monkeypatch.setattr(streams, "_START_UMASK", 0o077)
    calls = _no_umask_calls(monkeypatch)
    assert streams.umask() == 0o077
    assert calls == []


def test_proc_umask_matches_the_real_umask(umask_027):
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc")
    assert streams._proc_umask() == 0o027


def test_download_file_mode_follows_the_umask(make_emulator, tmp_path, umask_027,
                                              monkeypatch):
    """A whole pass with downloads never calls os.umask (it runs beside other
    threads: transfers, and in the daemon the watchers and the scheduler)."""
    from tests.helpers.sync import make_setup

    setup = make_setup(make_emulator, tmp_path)
    setup.emu.other.write("/docs/new.txt", b"from a colleague")
    calls = _no_umask_calls(monkeypatch)
    setup.sync()
    assert calls == []
    assert (setup.local() / "new.txt").read_bytes() == b"from a colleague"
    assert (setup.local() / "new.txt").stat().st_mode & 0o777 == 0o640


# ----------------------------------------------------------------------------- (d) durability

class DiskLog:
    """Records renames and fsyncs (by the path the fd names) in order."""

    def __init__(self, monkeypatch):
        self.events: list[tuple[str, str, str | None]] = []
        real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

        def fsync(fd):
            self.events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"), None))
            return real_fsync(fd)

        def replace(src, dst, **kw):
            real_replace(src, dst, **kw)
            self.events.append(("rename", os.fspath(src), os.fspath(dst)))

        def rename(src, dst, **kw):
            real_rename(src, dst, **kw)
            self.events.append(("rename", os.fspath(src), os.fspath(dst)))
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "rename", rename)

    def rename_into(self, target: Path) -> int:
        found = [i for i, (op, _, dst) in enumerate(self.events)
                 if op == "rename" and dst == str(target)]
        assert found, f"no rename into {target}: {self.events}"
        return found[-1]

    def fsynced(self, path: Path, after: int) -> bool:
        return any(op == "fsync" and p == str(path) for op, p, _ in self.events[after + 1:])


def test_download_is_fsynced_and_its_folder_after_the_replace(make_emulator, tmp_path,
                                                               monkeypatch):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("no /proc")
    from tests.helpers.sync import make_setup

    setup = make_setup(make_emulator, tmp_path)
    setup.emu.other.mkdir("/docs/sub")
    setup.emu.other.write("/docs/sub/report.txt", b"v1")
    disk = DiskLog(monkeypatch)
    setup.sync()
    target = setup.local() / "sub" / "report.txt"
    assert target.read_bytes() == b"v1"
    i = disk.rename_into(target)
    tmp = disk.events[i][1]
    assert any(op == "fsync" and p == tmp for op, p, _ in disk.events[:i]), \
        "the file's bytes must be on disk before it takes the name"
    assert disk.fsynced(target.parent, i), "the folder holding the new name is not fsynced"

    # Replacing an existing file: the same.
    setup.emu.other.write("/docs/sub/report.txt", b"v2, longer")
    disk.events.clear()
    setup.sync()
    assert target.read_bytes() == b"v2, longer"
    assert disk.fsynced(target.parent, disk.rename_into(target))


def test_local_move_fsyncs_both_folders(make_emulator, tmp_path, monkeypatch):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("no /proc")
    from tests.helpers.sync import make_setup

    setup = make_setup(make_emulator, tmp_path)
    (setup.local() / "a").mkdir()
    (setup.local() / "b").mkdir()
    (setup.local() / "a" / "notes.txt").write_bytes(b"mine")
    setup.sync()
    assert setup.remote_tree().get("a/notes.txt") == b"mine"
    setup.emu.other.move("/docs/a/notes.txt", "/docs/b")  # a colleague moves it
    disk = DiskLog(monkeypatch)
    setup.sync()
    moved = setup.local() / "b" / "notes.txt"
    assert moved.read_bytes() == b"mine"
    i = disk.rename_into(moved)
    assert disk.events[i][1] == str(setup.local() / "a" / "notes.txt")
    assert disk.fsynced(setup.local() / "b", i)
    assert disk.fsynced(setup.local() / "a", i)
