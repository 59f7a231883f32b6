"""Shared benchmark harness: work folders, emulators, configs, data, counting, processes.

Everything runs on this machine: the ExaVault emulator on 127.0.0.1 (in this
process when a row needs its request log or its "other user" helpers, in a
subprocess when a row times the client and must not share its interpreter lock
with the server), real folders (in /dev/shm when it has room), and the real
engine or the real `syncd run` daemon.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import yaml

from syncd.config.loader import load_config
from syncd.emulators.exavault import Emulator
from syncd.emulators.exavault.faults import endpoint
from syncd.engine import SyncEngine, SyncResult
from syncd.report import Reporter

KEY, TOKEN = "bench-api-key", "bench-access-token"
HOST = "benchhost"
UNLIMITED = 10**9  # the emulator's daily transaction limit in benchmarks: never the limit
UNITS = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30,
         "gib": 1 << 30}


class BenchError(Exception):
    """A benchmark could not run (a setup step failed); one line for the user."""


def parse_size(text: str) -> int:
    import argparse

    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 200MiB, 4096)")
    return int(m.group(1)) * UNITS[m.group(2).lower()]


# ----------------------------------------------------------------------------- work folders

def default_workdir(need: int) -> Path | None:
    """/dev/shm when it has ``need`` bytes free (plus a margin), else the system default:
    tmpfs measures the software and the kernel, not a disk's writeback."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > need + (256 << 20):
        return shm
    return None


@contextmanager
def workdir(parent: Path | None, prefix: str = "syncd-bench-") -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=parent, prefix=prefix) as tmp:
        yield Path(tmp)


# ----------------------------------------------------------------------------- processes

def proc_status(pid: int | str, field_name: str) -> int:
    """A ``kB`` field of /proc/PID/status (``VmRSS``, ``VmHWM``) in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field_name} for pid {pid}")


def rss_bytes(pid: int | str = "self") -> int:
    return proc_status(pid, "VmRSS")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakSampler:
    """Samples VmRSS of several processes in a background thread; keeps the peaks."""

    def __init__(self, pids: dict[str, int | str], interval: float = 0.02):
        self.pids, self.interval = pids, interval
        self.peak = {name: 0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            self.peak[name] = max(self.peak[name], rss_bytes(pid))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


@contextmanager
def emulator_process(root: Path, *extra: str) -> Iterator[tuple[int, str]]:
    """The emulator in its own process (its own interpreter lock and resident set);
    yields ``(pid, url)``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd.emulators.exavault", "--root", str(root), "--port", "0",
         "--api-key", KEY, "--access-token", TOKEN, "--transactions", str(UNLIMITED), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/api/v2)", line)
        if not m:
            raise BenchError(f"emulator did not start: {line!r} {proc.stderr.read()}")
        yield proc.pid, m.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def emulator(root: Path, **options) -> Iterator[Emulator]:
    """The emulator in this process: its request log and ``other`` helpers are at hand."""
    options.setdefault("transactions", UNLIMITED)
    with Emulator(root, api_key=KEY, access_token=TOKEN, **options) as emu:
        yield emu


# ----------------------------------------------------------------------------- data

def make_tree(root: Path, files: int, folders: int, size: int = 64, *,
              prefix: str = "f") -> list[str]:
    """``files`` files of ``size`` bytes spread evenly over ``folders`` folders two
    levels deep (``dNN/sNNN/``); returns the files' relative paths."""
    folders = max(1, folders)
    top = max(1, round(folders ** 0.5))
    dirs = [f"d{i % top:03d}/s{i:04d}" for i in range(folders)]
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        rel = f"{dirs[i % folders]}/{prefix}{i:06d}.txt"
        data = f"{rel}\n".encode()
        (root / rel).write_bytes((data * (size // len(data) + 1))[:size])
        paths.append(rel)
    return paths


def split_evenly(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# ----------------------------------------------------------------------------- syncd setups

@dataclass
class Setup:
    """A state folder, a config file and local folders for some mirrors of one account."""

    url: str
    base: Path
    mirrors: dict[str, dict] = field(default_factory=dict)  # name -> mirror options
    daemon: dict = field(default_factory=dict)
    account: dict = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.base / "config.yaml"

    @property
    def state(self) -> Path:
        return self.base / "state"

    def local(self, mirror: str) -> Path:
        return Path(self.mirrors[mirror]["local"])

    def remote(self, mirror: str) -> str:
        return self.mirrors[mirror]["remote"]

    def add_mirror(self, name: str, **options) -> Path:
        local = self.base / "local" / name
        local.mkdir(parents=True, exist_ok=True)
        self.mirrors[name] = {"name": name, "local": str(local), "remote": f"/{name}", **options}
        self.write()
        return local

    def write(self) -> None:
        doc = {"account": {"url": self.url, "api_key": KEY, "access_token": TOKEN,
                           **self.account},
               "state_dir": str(self.state),
               "mirrors": list(self.mirrors.values())}
        if self.daemon:
            doc["daemon"] = dict(self.daemon)
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        os.chmod(self.config_path, 0o600)

    def sync(self, *, force: bool = False, clock_offset: float = 0.0) -> SyncResult:
        """One `syncd sync` pass in this process; raises if it did not converge."""
        result = self.engine(clock_offset=clock_offset).run(force=force)
        if result.exit_code != 0:
            raise BenchError(f"sync failed ({result.exit_code}): {result.message}")
        return result

    def engine(self, *, clock_offset: float = 0.0) -> SyncEngine:
        """The engine, its clock ``clock_offset`` seconds ahead (a day later: the
        daily true-up is due)."""
        return SyncEngine(load_config(self.config_path), host=HOST,
                          reporter=Reporter(io.StringIO(), fancy=False),
                          now=lambda: time.time() + clock_offset)


def new_setup(url: str, base: Path) -> Setup:
    base.mkdir(parents=True, exist_ok=True)
    return Setup(url, base)


# ----------------------------------------------------------------------------- counting

def endpoints(records: Iterable) -> Counter:
    """Requests by endpoint name (``activity``, ``list``, ``info``, ``upload``, ...)."""
    return Counter(endpoint(r.method, r.path.removeprefix("/api/v2")) for r in records)


POLL_ENDPOINTS = frozenset({"activity", "list"})  # learning what changed on the server


@dataclass
class PassCost:
    """What one pass sent: ``total``; ``poll`` (feed pages and listings: learning
    about the server); ``change`` (everything else: making the change, and any
    stat it needs); ``by`` endpoint."""

    total: int
    poll: int
    change: int
    by: dict[str, int]

    def describe(self) -> str:
        return ", ".join(f"{n} {e}" for e, n in sorted(self.by.items())) or "nothing"


def measure_pass(emu: Emulator, fn: Callable[[], SyncResult]) -> tuple[SyncResult, PassCost]:
    """Run one pass against the in-process ``emu``; the requests it sent, by kind.
    The engine's own count (the client's ``on_request`` hook) must agree with the
    emulator's log: a mismatch is an error, not a number."""
    emu.clear_request_log()
    result = fn()
    by = endpoints(emu.request_log)
    total = sum(by.values())
    if result.transactions != total:
        raise BenchError(f"the engine counted {result.transactions} transactions, the "
                         f"emulator served {total} requests ({dict(by)})")
    poll = sum(n for e, n in by.items() if e in POLL_ENDPOINTS)
    return result, PassCost(total, poll, total - poll, dict(by))


# ----------------------------------------------------------------------------- timing

def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# ----------------------------------------------------------------------------- the daemon

class Daemon:
    """A `syncd run` subprocess with a NOTIFY_SOCKET we listen on, so we know when a
    pass has ended (it sends ``STATUS=idle: ...``)."""

    def __init__(self, setup: Setup, log_path: Path, *, log_level: str = "info"):
        sock_dir = Path(tempfile.mkdtemp(prefix="sdb"))  # AF_UNIX paths are short
        self._sock_dir = sock_dir
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(sock_dir / "n.sock"))
        self.sock.setblocking(False)
        self.messages: list[str] = []
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncd", "run", "--config", str(setup.config_path),
             "--log-level", log_level],
            stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "NOTIFY_SOCKET": str(sock_dir / "n.sock")})

    @property
    def pid(self) -> int:
        return self.proc.pid

    def statuses(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except BlockingIOError:
                break
        return [line[7:] for m in self.messages for line in m.split("\n")
                if line.startswith("STATUS=")]

    def wait_idle(self, after: int = 0, timeout: float = 60.0) -> int:
        """Wait for an ``idle`` status beyond the first ``after`` statuses; returns the
        number of statuses seen (pass it as ``after`` next time)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            seen = self.statuses()
            if any(s.startswith("idle") for s in seen[after:]):
                return len(seen)
            if self.proc.poll() is not None:
                raise BenchError(f"syncd run exited with {self.proc.returncode}:\n"
                                 f"{self.log()[-2000:]}")
            time.sleep(0.02)
        raise BenchError(f"syncd run never became idle in {timeout:.0f}s:\n{self.log()[-2000:]}")

    def wait_quiet(self, cpu_share: float = 0.02, window: float = 2.0,
                   timeout: float = 120.0) -> None:
        """Wait until the process used less than ``cpu_share`` of one core for ``window`` s."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            before = cpu_seconds(self.pid)
            time.sleep(window)
            if cpu_seconds(self.pid) - before < cpu_share * window:
                return
        raise BenchError(f"syncd run still busy after {timeout:.0f}s")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.sock.close()
        shutil.rmtree(self._sock_dir, ignore_errors=True)
        return self.proc.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ----------------------------------------------------------------------------- results

@dataclass
class Result:
    """One line of the results table. ``value`` is the number compared with the
    target (a count, a ratio, seconds or MiB); ``met`` is None when there is no
    target (an extra line for context)."""

    row: str                # the row this belongs to
    what: str               # what exactly was measured
    value: float
    shown: str              # the value as printed in the table
    target: str
    met: bool | None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Sizes:
    """Data sizes of a run: the issue's (full) or CI-sized (quick)."""

    idle_files: int = 10_000       # idle-poll / true-up: files over all mirrors
    idle_folders: int = 1_000
    idle_mirrors: int = 3
    idle_polls: int = 5
    busy_changes: int = 40_000     # busy account: changes elsewhere before a quiet pass
    change_files: int = 600        # transactions per change: a mirror of this many files
    scan_files: int = 100_000      # local scan, re-scan, planner, RSS
    scan_folders: int = 1_000
    scan_repeat: int = 5
    planner_repeat: int = 5
    rss_files: int = 100_000
    rss_folders: int = 1_000
    large_size: int = 1 << 30      # large transfer
    large_repeat: int = 7           # (tmpfs throughput varies 5x from run to run)
    small_files: int = 1_000       # many small files
    small_size: int = 10 * 1024
    small_repeat: int = 3
    transfers: int = 4             # the mirror default; the baseline uses as many threads
    latency_samples: int = 20
    settle: float = 0.5            # daemon.settle for the latency row


QUICK = Sizes(idle_files=120, idle_folders=12, idle_polls=2, busy_changes=600,
              scan_files=2_000, scan_folders=20, scan_repeat=2, planner_repeat=2,
              rss_files=2_000, rss_folders=20, large_size=8 << 20, large_repeat=1,
              small_files=40, small_repeat=1, latency_samples=3)


@dataclass
class Context:
    sizes: Sizes
    parent: Path | None   # where work folders are made
    quick: bool
    say: Callable[[str], None] = print
