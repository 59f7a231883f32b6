"""The `Emulator` object: configuration, lifecycle, clock and runtime switches."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import namedtuple
from pathlib import Path

from .faults import FaultInjector
from .other import OtherUser
from .ratelimit import TransactionWindow
from .server import EmulatorHTTPServer
from .store import Store

RequestRecord = namedtuple("RequestRecord", ("method", "path", "query", "status"))
# The request log keeps the most recent records only, so a long-running emulator
# (a daemon polling it for days, a soak test) does not grow without bound.
REQUEST_LOG_LIMIT = 100_000


def loopback_address(host: str) -> tuple[str, int]:
    """Return (literal address, address family) for a loopback host; ValueError otherwise."""
    if host == "localhost":
        return "127.0.0.1", socket.AF_INET
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        addr = None
    if addr is None or not addr.is_loopback:
        raise ValueError(f"refusing to bind to {host!r}: the emulator only listens on loopback "
                         "(127.0.0.1, ::1 or localhost)")
    return str(addr), (socket.AF_INET6 if addr.version == 6 else socket.AF_INET)


class Emulator:
    """An ExaVault API v2 emulator on a loopback port, storing everything under ``root``."""

    def __init__(self, root, *, api_key="emulator-key", access_token="emulator-token",
                 host="127.0.0.1", port=0, transactions=120000, files_com=False,
                 fault_rate=0.0, seed=0, latency_ms=0, bandwidth=None,
                 username="syncd", account_name="emulated", verbose=False):
        self.root = Path(root)
        self.host, self._family = loopback_address(host)
        self._requested_port = int(port)
        self.api_key, self.access_token = str(api_key), str(access_token)
        self.files_com = bool(files_com)
        self.username, self.account_name = username, account_name
        self.verbose = verbose
        self.latency_ms = int(latency_ms or 0)
        self.bandwidth = int(bandwidth) if bandwidth else None
        self._clock_offset = 0.0
        self.window = TransactionWindow(transactions, self.now)
        self.faults = FaultInjector(fault_rate, seed)
        self.notice_settings = {"noticeEnabled": False, "noticeThreshold": 90,
                                "transactionsNoticeEnabled": False,
                                "transactionsNoticeThreshold": 90}
        self.request_log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self.store: Store | None = None
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.other = OtherUser(self)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "Emulator":
        if self._server is not None:
            return self
        self.store = Store(self.root, clock=self.now, root_owner=self.username)
        try:
            server = EmulatorHTTPServer((self.host, self._requested_port), self, self._family)
        except BaseException:
            self.store.close()
            raise
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"emulator-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_all_connections()
            if self._thread is not None:
                self._thread.join(timeout=5)
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/api/v2"

    # ------------------------------------------------------------ clock
    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator clock forward: timestamps, activity dates, the 24 h window."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._clock_offset += float(seconds)

    # ------------------------------------------------------------ requests
    def _log_request(self, method: str, path: str, query: dict, status: int) -> None:
        with self._log_lock:
            self.request_log.append(RequestRecord(method, path, query, status))
            if len(self.request_log) > REQUEST_LOG_LIMIT:  # trim in batches: amortised O(1)
                del self.request_log[:REQUEST_LOG_LIMIT // 10]

    def clear_request_log(self) -> None:
        with self._log_lock:
            self.request_log.clear()

    # ------------------------------------------------------------ switches
    @property
    def transactions_used(self) -> int:
        return self.window.used

    def set_faults(self, rate: float, kinds=None, seed=None) -> None:
        self.faults.configure(rate, kinds, seed)

    def set_latency(self, ms: int) -> None:
        self.latency_ms = max(0, int(ms))

    def set_bandwidth(self, bytes_per_s) -> None:
        self.bandwidth = int(bytes_per_s) if bytes_per_s else None

    def set_transaction_limit(self, n: int) -> None:
        self.window.set_limit(n)

    def spend_transactions(self, n: int) -> None:
        self.window.force(n)
