"""Ctrl-C and SIGTERM during `syncd sync` (a real process, a real terminal for
Ctrl-C): the pass stops at once, says "stopping" once, exits 130 (143 for
SIGTERM), leaves nothing partial under a user's name, and the next run finishes
the job, a download going on from the bytes already fetched.

"At once" is measured in bytes, never in seconds: what a transfer moved after the
signal, read from the download's temp file or the emulator's staging files. A
pass that ignored the signal would move the whole file (16 MiB); one that stops
within a second at 1 MiB/s moves about 1 MiB (a chunk in flight, a socket buffer).
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys

import pytest

from tests.helpers.daemon import wait_for
from tests.helpers.stopping import MiB, downloaded, settled, temp_files, uploaded, \
    wait_until_moved
from tests.helpers.sync import make_setup

SIZE = 16 * MiB
RATE = MiB           # bytes per second: 16 s for the whole file
AFTER = 3 * MiB      # what may still move after the signal (1 s at RATE, a chunk, buffers)


def _setup(make_emulator, tmp_path, *, limit: str):
    """One mirror; ``limit`` "syncd": syncd's own bandwidth limit (a token bucket),
    "network": the server sends and reads at RATE (a slow link: syncd's requests
    block on the socket)."""
    emu_opts = {"bandwidth": RATE} if limit == "network" else {}
    s = make_setup(make_emulator, tmp_path, emu_opts=emu_opts)
    if limit == "syncd":
        s.set_options(bandwidth={"up": RATE, "down": RATE})
    return s


def _unlimit(s) -> None:
    """No limit for the run after the signal: what it fetches is counted in bytes,
    so it need not be slow (this keeps each test a few seconds)."""
    s.emu.set_bandwidth(None)
    s.set_options(bandwidth={"up": 0, "down": 0})


def _start(s, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "syncd", "sync", "--config",
                             str(s.config_path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen, sig: int) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


@pytest.mark.parametrize("limit", ["syncd", "network"])
def test_ctrl_c_mid_download_stops_at_once_and_the_next_run_resumes(make_emulator, tmp_path,
                                                                     limit):
    s = _setup(make_emulator, tmp_path, limit=limit)
    data = os.urandom(SIZE)
    s.emu.other.write("/docs/video.bin", data)
    proc = _start(s)
    at_signal = wait_until_moved(lambda: downloaded(s.local()), 2 * MiB)
    rc, out, err = _stop(proc, signal.SIGINT)

    assert rc == 130, (out, err)
    assert err.count("stopping") == 1, err
    assert "interrupted" in err and "Traceback" not in err
    kept = settled(lambda: downloaded(s.local()))
    assert at_signal <= kept <= at_signal + AFTER  # stopped within about a second
    assert not (s.local() / "video.bin").exists()  # nothing under the user's name
    assert len(temp_files(s.local())) == 1  # the bytes fetched, kept to go on from

    _unlimit(s)
    sent = s.emu.download_bytes
    r = s.cli("sync", "--config", str(s.config_path))
    assert r.returncode == 0, r.stderr
    assert (s.local() / "video.bin").read_bytes() == data
    assert temp_files(s.local()) == []
    assert s.emu.download_bytes - sent == SIZE - kept  # only the rest came (Range)


def test_sigterm_mid_upload_stops_at_once_and_the_server_keeps_nothing(make_emulator, tmp_path):
    s = _setup(make_emulator, tmp_path, limit="syncd")
    data = os.urandom(SIZE)
    (s.local() / "big.bin").write_bytes(data)
    proc = _start(s)
    at_signal = wait_until_moved(lambda: uploaded(s.emu), 2 * MiB)
    rc, out, err = _stop(proc, signal.SIGTERM)

    assert rc == 143, (out, err)
    assert err.count("stopping") == 1, err
    assert settled(lambda: uploaded(s.emu)) <= at_signal + AFTER
    assert "big.bin" not in s.remote_tree()  # the server stored nothing partial

    _unlimit(s)
    r = s.cli("sync", "--config", str(s.config_path))
    assert r.returncode == 0, r.stderr
    assert s.remote_tree()["big.bin"] == data


def test_upload_on_a_slow_network_is_cut_within_a_second(make_emulator, tmp_path):
    # No bandwidth limit of syncd's: the request blocks sending on the socket, and
    # only cutting it (after half a second) stops the pass.
    s = _setup(make_emulator, tmp_path, limit="network")
    (s.local() / "big.bin").write_bytes(os.urandom(SIZE))
    proc = _start(s)
    at_signal = wait_until_moved(lambda: uploaded(s.emu), 2 * MiB)
    rc, out, err = _stop(proc, signal.SIGINT)
    assert rc == 130, (out, err)
    assert settled(lambda: uploaded(s.emu)) <= at_signal + AFTER
    assert "big.bin" not in s.remote_tree()


def test_a_server_that_ignores_range_gets_the_download_started_over(make_emulator, tmp_path):
    s = _setup(make_emulator, tmp_path, limit="syncd")
    data = os.urandom(SIZE)
    s.emu.other.write("/docs/video.bin", data)
    proc = _start(s)
    wait_until_moved(lambda: downloaded(s.local()), 2 * MiB)
    assert _stop(proc, signal.SIGINT)[0] == 130

    s.emu.set_ranges(False)
    _unlimit(s)
    sent = s.emu.download_bytes
    r = s.cli("sync", "--config", str(s.config_path))
    assert r.returncode == 0, r.stderr
    assert (s.local() / "video.bin").read_bytes() == data
    assert s.emu.download_bytes - sent == SIZE  # all of it again: correct, only slower
    assert temp_files(s.local()) == []


def test_a_second_ctrl_c_quits_at_once_leaving_nothing_under_a_users_name(make_emulator,
                                                                          tmp_path):
    s = _setup(make_emulator, tmp_path, limit="syncd")
    data = os.urandom(SIZE)
    s.emu.other.write("/docs/video.bin", data)
    proc = _start(s)
    wait_until_moved(lambda: downloaded(s.local()), 2 * MiB)
    proc.send_signal(signal.SIGINT)
    rc, out, err = _stop(proc, signal.SIGINT)
    assert rc == 130, (out, err)
    assert err.count("stopping") == 1
    assert "Traceback" not in err
    assert not (s.local() / "video.bin").exists()
    _unlimit(s)
    r = s.cli("sync", "--config", str(s.config_path))
    assert r.returncode == 0, r.stderr
    assert (s.local() / "video.bin").read_bytes() == data
    assert temp_files(s.local()) == []


def test_ctrl_c_on_a_terminal(make_emulator, tmp_path):
    """The real thing: Ctrl-C typed on a terminal (the pty's line discipline sends
    SIGINT to the foreground process group)."""
    s = _setup(make_emulator, tmp_path, limit="syncd")
    s.emu.other.write("/docs/video.bin", os.urandom(SIZE))
    pid, master = pty.fork()
    if pid == 0:  # the child: syncd on the terminal
        os.execv(sys.executable, [sys.executable, "-m", "syncd", "sync", "--config",
                                  str(s.config_path)])
    try:
        at_signal = wait_until_moved(lambda: downloaded(s.local()), 2 * MiB)
        os.write(master, b"\x03")
        output = _read_all(master)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(master)
    assert os.waitstatus_to_exitcode(status) == 130, output
    assert output.count("stopping") == 1, output
    assert settled(lambda: downloaded(s.local())) <= at_signal + AFTER
    assert not (s.local() / "video.bin").exists()


def _read_all(fd: int, timeout: float = 60.0) -> str:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            break
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def test_ctrl_c_during_the_listing_stops_the_pass_too(make_emulator, tmp_path):
    """A signal before any transfer (a request of the listing in flight) stops too."""
    s = _setup(make_emulator, tmp_path, limit="network")
    s.emu.set_latency(3000)  # every request waits 3 s before its answer
    proc = _start(s)
    # The index exists once the pass has begun (the signal handler is in place).
    assert wait_for(lambda: (s.state / "index.sqlite3").exists(), 30)
    rc, out, err = _stop(proc, signal.SIGINT)
    assert rc == 130, (out, err)
    assert err.count("stopping") == 1
    assert "Traceback" not in err
