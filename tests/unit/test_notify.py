"""syncd.daemon.notify against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from syncd.daemon.notify import MAX_DATAGRAM, Notifier

# sun_path holds 108 bytes including the terminating NUL.
_SUN_PATH_MAX = 107


@pytest.fixture
def sock_dir(tmp_path):
    """tmp_path, unless it is too long for an AF_UNIX address."""
    if len(os.fsencode(tmp_path / "notify.sock")) <= _SUN_PATH_MAX:
        yield tmp_path
        return
    short = Path(tempfile.mkdtemp(prefix="sdn-"))
    try:
        yield short
    finally:
        shutil.rmtree(short, ignore_errors=True)


def _bind(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


@pytest.fixture
def manager(sock_dir):
    """A bound receiver playing the service manager: (NOTIFY_SOCKET value, socket)."""
    path = str(sock_dir / "notify.sock")
    sock = _bind(path)
    yield path, sock
    sock.close()


def _nothing_pending(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(MAX_DATAGRAM)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(5)
    return False


def _notifier(path: str, **env: str) -> Notifier:
    return Notifier.from_env({"NOTIFY_SOCKET": path, **env})


# --- the messages, byte for byte ---------------------------------------------


def test_ready_with_status_is_one_exact_datagram(manager):
    path, rx = manager
    n = _notifier(path)
    assert n.enabled
    assert n.ready("Watching 2 mirrors") is True
    assert rx.recv(MAX_DATAGRAM) == b"READY=1\nSTATUS=Watching 2 mirrors\n"
    assert _nothing_pending(rx)
    n.close()


def test_each_helper_sends_its_assignment(manager):
    path, rx = manager
    with _notifier(path) as n:
        assert n.ready()
        assert n.status("Syncing docs: 3 of 10")
        assert n.watchdog()
        assert n.stopping()
    assert [rx.recv(MAX_DATAGRAM) for _ in range(4)] == [
        b"READY=1\n",
        b"STATUS=Syncing docs: 3 of 10\n",
        b"WATCHDOG=1\n",
        b"STOPPING=1\n",
    ]
    assert _nothing_pending(rx)


def test_reloading_carries_the_monotonic_clock(manager):
    path, rx = manager
    n = _notifier(path)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert n.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    lines = rx.recv(MAX_DATAGRAM).decode().splitlines()
    assert lines[0] == "RELOADING=1"
    key, _, value = lines[1].partition("=")
    assert key == "MONOTONIC_USEC" and len(lines) == 2
    assert before <= int(value) <= after
    n.close()


def test_send_keeps_field_order_and_stringifies(manager):
    path, rx = manager
    n = _notifier(path)
    assert n.send(STATUS="Backing off", ERRNO=11, READY=True)
    assert rx.recv(MAX_DATAGRAM) == b"STATUS=Backing off\nERRNO=11\nREADY=1\n"
    n.close()


def test_status_is_utf8(manager):
    path, rx = manager
    n = _notifier(path)
    assert n.status("Café ✓")
    assert rx.recv(MAX_DATAGRAM) == "STATUS=Café ✓\n".encode()
    n.close()


def test_newlines_cannot_inject_assignments(manager):
    path, rx = manager
    n = _notifier(path)
    assert n.status("bad\nREADY=1\r\nSTOPPING=1\rend\0!")
    data = rx.recv(MAX_DATAGRAM)
    assert data == b"STATUS=bad READY=1 STOPPING=1 end!\n"
    assert data.count(b"\n") == 1
    assert n.ready("one\ntwo")
    assert rx.recv(MAX_DATAGRAM) == b"READY=1\nSTATUS=one two\n"
    n.close()


def test_invalid_keys_are_refused_not_raised(manager):
    path, rx = manager
    n = _notifier(path)
    assert n.send(**{"STATUS=x\nREADY": "1"}) is False
    assert n.send(**{"": "1"}) is False
    assert n.send() is False

    class Unprintable:
        def __str__(self):
            raise RuntimeError("no")

    assert n.send(STATUS=Unprintable()) is False
    assert _nothing_pending(rx)
    n.close()


def test_long_status_is_cut_to_fit_one_datagram(manager):
    path, rx = manager
    n = _notifier(path)
    assert n.ready("é" * 5000)
    data = rx.recv(2 * MAX_DATAGRAM)
    assert len(data) <= MAX_DATAGRAM
    assert data.startswith(b"READY=1\nSTATUS=\xc3\xa9")
    assert data.endswith("…\n".encode())
    data.decode("utf-8")  # cut on a character boundary
    n.close()


def test_sender_credentials_are_our_pid(manager):
    """NotifyAccess=main: systemd trusts the kernel's SCM_CREDENTIALS."""
    path, rx = manager
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    n = _notifier(path)
    assert n.watchdog()
    data, ancdata, _flags, _addr = rx.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(12))
    assert data == b"WATCHDOG=1\n"
    creds = [d for level, kind, d in ancdata
             if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS]
    assert creds
    pid, uid, gid = struct.unpack("iII", creds[0][:12])
    assert (pid, uid, gid) == (os.getpid(), os.getuid(), os.getgid())
    n.close()


# --- addresses -----------------------------------------------------------------


def test_abstract_socket():
    name = f"syncd-test-{uuid.uuid4().hex}"
    rx = _bind("\0" + name)
    try:
        n = _notifier("@" + name)
        assert n.enabled
        assert n.ready("abstract")
        assert rx.recv(MAX_DATAGRAM) == b"READY=1\nSTATUS=abstract\n"
        n.close()
    finally:
        rx.close()


def test_from_env_defaults_to_os_environ(manager, monkeypatch):
    path, rx = manager
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    n = Notifier.from_env()
    assert n.enabled and n.watchdog_interval == 15.0
    assert n.watchdog()
    assert rx.recv(MAX_DATAGRAM) == b"WATCHDOG=1\n"
    n.close()


@pytest.mark.parametrize("value", ["", "relative/notify.sock", "@", "vsock:2:1234"])
def test_unusable_socket_value_disables(value):
    n = Notifier.from_env({"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "1000000"})
    assert not n.enabled
    assert n.watchdog_interval is None
    assert n.ready("x") is False


# --- disabled ------------------------------------------------------------------


def test_disabled_without_notify_socket_is_a_noop():
    n = Notifier.from_env({})
    assert n.enabled is False
    assert n.watchdog_interval is None
    assert n.send(READY=1) is False
    assert n.ready("x") is False
    assert n.status("x") is False
    assert n.reloading() is False
    assert n.stopping() is False
    assert n.watchdog() is False
    assert n._sock is None  # never even opened a socket
    n.close()
    n.close()
    assert repr(n) == "Notifier(disabled)"


# --- failures never raise ------------------------------------------------------


def test_socket_gone_returns_false(manager):
    path, rx = manager
    n = _notifier(path)
    assert n.ready()
    rx.close()
    os.unlink(path)
    assert n.watchdog() is False  # ENOENT
    assert n.status("still here") is False
    n.close()


def test_socket_file_left_behind_returns_false(manager):
    path, rx = manager
    n = _notifier(path)
    rx.close()  # the file stays; nobody is bound to it
    assert os.path.exists(path)
    assert n.watchdog() is False  # ECONNREFUSED
    n.close()


def test_manager_recreating_its_socket_is_found_again(manager):
    """systemctl daemon-reexec re-creates the socket at the same path."""
    path, rx = manager
    n = _notifier(path)
    assert n.ready()
    assert rx.recv(MAX_DATAGRAM) == b"READY=1\n"
    rx.close()
    os.unlink(path)
    assert n.watchdog() is False
    rx2 = _bind(path)
    try:
        assert n.watchdog() is True
        assert rx2.recv(MAX_DATAGRAM) == b"WATCHDOG=1\n"
    finally:
        rx2.close()
        n.close()


def test_abstract_socket_without_listener_returns_false():
    n = _notifier(f"@syncd-test-nobody-{uuid.uuid4().hex}")
    assert n.enabled
    assert n.ready() is False
    n.close()


def test_close_is_final_and_idempotent(manager):
    path, rx = manager
    n = _notifier(path)
    assert n.status("up")
    rx.recv(MAX_DATAGRAM)
    n.close()
    n.close()
    assert n.watchdog() is False
    assert _nothing_pending(rx)


# --- one socket, many threads ----------------------------------------------------


def test_one_socket_reused(manager):
    path, _rx = manager
    n = _notifier(path)
    n.watchdog()
    first = n._sock
    n.watchdog()
    n.status("x")
    assert n._sock is first and first is not None
    n.close()


def test_concurrent_senders_never_mix_datagrams(manager):
    path, rx = manager
    n = _notifier(path)
    threads_n, per_thread = 8, 40
    results: list[bool] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        ok = [n.status(f"thread {i} message {j}") for j in range(per_thread)]
        with lock:
            results.extend(ok)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    got = [rx.recv(MAX_DATAGRAM) for _ in range(threads_n * per_thread)]
    for t in threads:
        t.join()
    assert all(results) and len(results) == threads_n * per_thread
    expected = {f"STATUS=thread {i} message {j}\n".encode()
                for i in range(threads_n) for j in range(per_thread)}
    assert set(got) == expected
    n.close()


# --- watchdog interval -------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 60.0),
        ({"WATCHDOG_USEC": "1000"}, 0.0005),
        ({"WATCHDOG_USEC": " 3000000 "}, 1.5),
        ({}, None),
        ({"WATCHDOG_USEC": ""}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "2min"}, None),
        ({"WATCHDOG_PID": str(os.getpid())}, None),
    ],
)
def test_watchdog_interval(env, expected):
    n = Notifier.from_env({"NOTIFY_SOCKET": "/run/nonexistent/notify", **env})
    assert n.watchdog_interval == expected


def test_watchdog_pid_matching_us_is_honoured():
    n = Notifier.from_env({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "10000000",
                           "WATCHDOG_PID": str(os.getpid())})
    assert n.watchdog_interval == 5.0


@pytest.mark.parametrize("pid", [str(os.getpid() + 1), "1", "not-a-pid"])
def test_watchdog_pid_mismatch_means_no_watchdog(pid):
    n = Notifier.from_env({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "10000000",
                           "WATCHDOG_PID": pid})
    assert n.watchdog_interval is None
    assert n.enabled  # notifications still go out; only the watchdog is not ours
