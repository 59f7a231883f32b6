"""The `Emulator` object: configuration, lifecycle, clock and runtime switches."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import traceback
from collections import namedtuple
from pathlib import Path
from urllib.parse import urlsplit

from .faults import FaultInjector
from .other import OtherUser
from .ratelimit import TransactionWindow
from .server import EmulatorHTTPServer
from .store import Store
from .webhooks import DEFAULT_RETRY_DELAYS, FORMATS, WebhookSender, event_codes

RequestRecord = namedtuple("RequestRecord", ("method", "path", "query", "status"))
# One page of a folder listing or search, as handed to the on_list_page callback.
ListPage = namedtuple("ListPage", ("folder", "offset", "limit", "returned", "total", "name"))
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


def webhook_target(url: str) -> tuple[str, int, str]:
    """(literal loopback address, port, request path) for a webhook URL; ValueError otherwise.

    Only ``http://`` to a loopback address: the emulator never talks to anything else."""
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid webhook URL {url!r}: {exc}") from None
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ValueError(f"webhook URL must be http://<loopback address>[:port]/path, not {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"webhook URL must not carry credentials: {url!r}")
    try:
        host, _ = loopback_address(parts.hostname)
    except ValueError:
        raise ValueError(f"refusing to send webhooks to {parts.hostname!r}: the emulator only "
                         "talks to loopback (127.0.0.1, ::1 or localhost)") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, port or 80, path


class Emulator:
    """An ExaVault API v2 emulator on a loopback port, storing everything under ``root``."""

    def __init__(self, root, *, api_key="emulator-key", access_token="emulator-token",
                 host="127.0.0.1", port=0, transactions=120000, files_com=False,
                 fault_rate=0.0, seed=0, latency_ms=0, bandwidth=None, fault_kinds=None,
                 username="syncd", account_name="emulated", verbose=False,
                 webhook_url=None, webhook_token=None, webhook_format="v1",
                 webhook_events=None, webhook_retry_delays=DEFAULT_RETRY_DELAYS,
                 ranges=True):
        self.root = Path(root)
        self.host, self._family = loopback_address(host)
        self._requested_port = int(port)
        self.api_key, self.access_token = str(api_key), str(access_token)
        self.files_com = bool(files_com)
        self.username, self.account_name = username, account_name
        self.verbose = verbose
        self.latency_ms = int(latency_ms or 0)
        self.bandwidth = int(bandwidth) if bandwidth else None
        self.ranges = bool(ranges)  # honour a download's Range (False: always 200, whole)
        self.download_bytes = 0  # file and zip body bytes sent by downloads (tests)
        self._clock_offset = 0.0
        self.window = TransactionWindow(transactions, self.now)
        self.faults = FaultInjector(fault_rate, seed, fault_kinds)
        # Test-only: rewrite(endpoint, records) -> records, applied to the ``data`` of
        # every JSON answer that is not faulted (see set_rewrite).
        self.rewrite = None
        # Test-only: called with a ListPage after each listing page was read (see on_list_page).
        self._list_page_hook = None
        self.list_page_errors: list[BaseException] = []
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
        # Webhooks (see webhooks.py): validated here so a bad option fails at construction.
        self.webhook_url = str(webhook_url) if webhook_url else None
        self._webhook_target = webhook_target(webhook_url) if webhook_url else None
        if self.webhook_url and not webhook_token:
            raise ValueError("a webhook URL needs a verification token (webhook_token)")
        self.webhook_token = str(webhook_token) if webhook_token else None
        if webhook_format not in FORMATS:
            raise ValueError(f"webhook_format must be 'v1' or 'v2', not {webhook_format!r}")
        self.webhook_format = webhook_format
        self._webhook_codes = event_codes(webhook_events)
        self.webhook_retry_delays = tuple(float(d) for d in webhook_retry_delays)
        if any(d < 0 for d in self.webhook_retry_delays):
            raise ValueError("webhook_retry_delays must be >= 0")
        self._webhook_deliveries: list[dict] = []
        self._webhook_lock = threading.Lock()
        self._webhooks: WebhookSender | None = None

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
        if self._webhook_target is not None:
            self._webhooks = WebhookSender(
                self._webhook_target, self.webhook_token, fmt=self.webhook_format,
                account_name=self.account_name, retry_delays=self.webhook_retry_delays,
                deliveries=self._webhook_deliveries, lock=self._webhook_lock,
                clock=self.now).start()
            self.store.subscribe(self._webhooks.enqueue, self._webhook_codes)
        self._thread = server.serve_in_thread(f"emulator-{self.port}")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop_serving(self._thread)
        sender, self._webhooks = self._webhooks, None
        if sender is not None:
            sender.stop()
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

    # ------------------------------------------------------------ webhooks
    @property
    def webhook_deliveries(self) -> list[dict]:
        """A snapshot of every webhook POST attempted so far, oldest first: dicts with
        ``event`` ("resources.upload"), ``operation`` ("Upload"), ``path``, ``sourcepath``,
        ``attempt`` (from 1), ``status`` (int, or None when no answer), ``error``, ``body``
        (the raw bytes sent) and ``sent`` (emulator clock)."""
        with self._webhook_lock:
            return [dict(d) for d in self._webhook_deliveries]

    def clear_webhook_deliveries(self) -> None:
        with self._webhook_lock:
            self._webhook_deliveries.clear()

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until every change so far has been delivered (or given up); False on timeout.
        True at once when webhooks are off or the emulator is stopped."""
        sender = self._webhooks
        return True if sender is None else sender.wait_idle(timeout)

    # ------------------------------------------------------------ switches
    @property
    def transactions_used(self) -> int:
        return self.window.used

    def set_faults(self, rate: float, kinds=None, seed=None, only=None) -> None:
        """Fault each request with probability ``rate``: ``kinds`` from
        ``faults.ALL_KINDS`` (default: the four in ``faults.FAULT_KINDS``), ``only`` a
        collection of endpoint names (``faults.ENDPOINTS``, e.g. ``{"download"}``) or a
        predicate ``(method, api_path, query) -> bool`` (default: every request)."""
        self.faults.configure(rate, kinds, seed, only)

    def set_rewrite(self, fn=None) -> None:
        """Test-only hostile server: ``fn(endpoint, records) -> records`` sees the
        rendered ``data`` records of every JSON answer (a list; one record for a
        single-resource answer) and returns what to send instead. ``endpoint`` is a
        name from ``faults.ENDPOINTS`` (``list``, ``info``, ``activity``, ``upload``,
        ...). Records may be changed, dropped or added (a single-resource answer sends
        the first). ``None`` switches it off."""
        self.rewrite = fn

    def on_list_page(self, callback=None) -> None:
        """Test-only: call ``callback(page)`` after each page of ``GET /resources/list``
        (plain or search) was read from the store and before it is sent, so the
        client's next page request sees whatever the callback changed (e.g. through
        ``emu.other``): a "remote user" acting while a listing is paged. ``page`` is a
        ``ListPage(folder, offset, limit, returned, total, name)`` (``name`` the search
        pattern, ``None`` for a plain listing). The callback runs on the request's
        thread; an exception it raises is kept in ``emu.list_page_errors`` and the page
        is still sent. ``None`` switches it off."""
        self._list_page_hook = callback

    def _list_page_served(self, folder: str, offset: int, limit: int, returned: int,
                          total: int, name: str | None) -> None:
        hook = self._list_page_hook
        if hook is None:
            return
        try:
            hook(ListPage(folder, offset, limit, returned, total, name))
        except Exception as exc:  # a test's callback: record it, keep serving
            self.list_page_errors.append(exc)
            if self.verbose:
                traceback.print_exc()

    def set_latency(self, ms: int) -> None:
        self.latency_ms = max(0, int(ms))

    def set_bandwidth(self, bytes_per_s) -> None:
        self.bandwidth = int(bytes_per_s) if bytes_per_s else None

    def set_ranges(self, honour: bool) -> None:
        """Honour ``Range`` on downloads (206), or ignore it (200, the whole file)."""
        self.ranges = bool(honour)

    def set_transaction_limit(self, n: int) -> None:
        self.window.set_limit(n)

    def spend_transactions(self, n: int) -> None:
        self.window.force(n)
