"""The daemon under test: a real `python -m syncd run` process (DaemonProc), its setup and polling helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.sync import make_setup

SETTLE = 0.5


def wait_for(cond, timeout: float, step: float = 0.05):
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            return value
        time.sleep(step)


class DaemonProc:
    """A running `syncd run` and the systemd notify datagrams it sent."""

    def __init__(self, setup, tmp_path: Path, name: str = "daemon", env: dict | None = None):
        self.setup = setup
        sock_path = tmp_path / f"{name}.sock"
        if len(os.fsencode(sock_path)) > 100:  # AF_UNIX path limit
            import tempfile
            sock_path = Path(tempfile.mkdtemp(prefix="sd")) / "n.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(sock_path))
        self.sock.setblocking(False)
        self.messages: list[str] = []
        self.log_path = tmp_path / f"{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncd", "run", "--config", str(setup.config_path),
             "--log-level", "debug"],
            stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "NOTIFY_SOCKET": str(sock_path), **(env or {})})

    def poll_messages(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except BlockingIOError:
                return self.messages

    def statuses(self) -> list[str]:
        return [line[7:] for m in self.poll_messages() for line in m.split("\n")
                if line.startswith("STATUS=")]

    def wait_idle(self, after: int = 0, timeout: float = 30.0) -> int:
        """Wait for an ``idle`` status beyond the first ``after`` statuses; returns the
        number of statuses seen, to pass as ``after`` next time."""
        def idle():
            s = self.statuses()
            return any(x.startswith("idle") for x in s[after:]) and len(s)
        n = wait_for(idle, timeout)
        assert n, f"daemon never became idle; log:\n{self.log()}"
        return n

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> tuple[int, float]:
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"no exit within {timeout}s of SIGTERM; log:\n{self.log()}")
        return rc, time.monotonic() - t

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        self.sock.close()


@pytest.fixture
def start(tmp_path):
    procs: list[DaemonProc] = []

    def run(setup, name: str = "daemon", **kw) -> DaemonProc:
        d = DaemonProc(setup, tmp_path, name, **kw)
        procs.append(d)
        return d

    yield run
    for d in procs:
        d.close()


def daemon_setup(make_emulator, tmp_path, *, poll="10s", emu_opts=None, account_opts=None,
                 mirrors=("docs",)):
    setup = make_setup(make_emulator, tmp_path, mirrors=mirrors, emu_opts=emu_opts,
                       account_opts=account_opts)
    setup.daemon_opts = {"settle": f"{SETTLE}s"}
    for m in mirrors:
        setup._opts.setdefault(m, {})["poll_interval"] = poll
    setup.write_config()
    return setup


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
