"""The `Emulator` object: configuration, lifecycle, clock and the test hooks."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import namedtuple
from pathlib import Path

from syncd.emulators.exavault.app import loopback_address

from .events import DEFAULT_RETENTION
from .faults import Faults, kind_names
from .limits import Limits
from .names import split
from .server import EgnyteHTTPServer
from .store import Store
from .transfer import MIN_CHUNK

RequestRecord = namedtuple("RequestRecord", ("method", "path", "status"))
REQUEST_LOG_LIMIT = 100_000
USER, OTHER = 1, 2


class Emulator:
    """An Egnyte Public API emulator on a loopback port, storing everything under ``root``.

    ``qps`` and ``daily_limit`` are per access token (0: no limit); ``min_chunk`` is the
    smallest chunk (but the last) a chunked upload may use; ``auto_parents``: an upload
    into a missing folder creates it (else 404)."""

    def __init__(self, root, *, access_token="emulator-token", other_token=None,
                 host="127.0.0.1", port=0, username="syncd", other_username="other",
                 qps=2, daily_limit=1000, throttle_status=403, event_retention=DEFAULT_RETENTION,
                 min_chunk=MIN_CHUNK, fault_rate=0.0, seed=0, fault_kinds=None, latency_ms=0,
                 bandwidth=None, ranges=True, auto_parents=False, verbose=False):
        self.root = Path(root)
        self.host, self._family = loopback_address(host)
        self._requested_port = int(port)
        self.access_token = str(access_token)
        self.other_token = str(other_token or f"{access_token}-other")
        self.users = {USER: username, OTHER: other_username}
        self.app = "emulator-app"  # every token belongs to one API key
        self.revoked: set[str] = set()
        self.limits = Limits(qps, daily_limit, self.now)
        if throttle_status not in (403, 429):
            raise ValueError("throttle_status must be 403 or 429")
        self.throttle_status = throttle_status
        self.event_retention = int(event_retention)
        self.min_chunk = int(min_chunk)
        self.faults = Faults(fault_rate, seed, fault_kinds)
        self.latency_ms = int(latency_ms or 0)
        self.bandwidth = int(bandwidth) if bandwidth else None
        self.ranges = bool(ranges)
        self.auto_parents = bool(auto_parents)
        self.verbose = verbose
        self.download_bytes = 0
        self.lock = threading.Lock()
        self.request_log: list[RequestRecord] = []
        self._clock_offset = 0.0
        self.store: Store | None = None
        self._server = None
        self._thread = None
        self.port = 0
        self.other = OtherUser(self)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "Emulator":
        if self._server is not None:
            return self
        self.store = Store(self.root, self.now, self.users, self.event_retention,
                           self.auto_parents)
        try:
            server = EgnyteHTTPServer((self.host, self._requested_port), self, self._family)
        except BaseException:
            self.store.close()
            raise
        self._server = server
        self.port = server.server_address[1]
        self._thread = server.serve_in_thread(f"egnyte-emulator-{self.port}")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop_serving(self._thread)
        self._thread = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    url = base_url

    @property
    def token(self) -> str:
        return self.access_token

    # ----------------------------------------------------------- identity
    def user_for(self, token: str) -> int | None:
        if not token or token in self.revoked:
            return None
        if token == self.access_token:
            return USER
        if token == self.other_token:
            return OTHER
        return None

    def revoke(self, token: str | None = None) -> None:
        """Test hook: the token stops working (401), as after a password change."""
        self.revoked.add(token or self.access_token)

    # --------------------------------------------------------------- clock
    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Test hook: move the emulator's clock (daily window, locks, sessions, retention)."""
        self._clock_offset += float(seconds)

    # ---------------------------------------------------------- test hooks
    def set_limits(self, *, qps: int | None = None, daily: int | None = None,
                   status: int | None = None, reset: bool = False) -> None:
        """Change the per-token limits (0: none) or the throttle status (403 or 429)."""
        if qps is not None:
            self.limits.qps = int(qps)
        if daily is not None:
            self.limits.daily = int(daily)
        if status is not None:
            if status not in (403, 429):
                raise ValueError("status must be 403 or 429")
            self.throttle_status = status
        if reset:
            self.limits.reset()

    def calls_today(self, token: str | None = None) -> int:
        return self.limits.calls_today(token or self.access_token)

    def set_event_retention(self, count: int) -> None:
        """Keep only the newest ``count`` events: older cursors get 404."""
        self.event_retention = int(count)
        if self.store is not None:
            self.store.events.set_retention(count)

    def set_faults(self, rate: float, kinds=None, *, seed: int | None = 0, only=None) -> None:
        """Fault ``rate`` of the requests (of the ``only`` endpoints, see faults.ENDPOINTS)."""
        self.faults.configure(rate, kind_names(kinds), seed, only)

    def record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.request_log.append(RequestRecord(method, path, status))
            if len(self.request_log) > REQUEST_LOG_LIMIT:
                del self.request_log[: len(self.request_log) - REQUEST_LOG_LIMIT]

    def requests(self, method: str | None = None) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.request_log if method is None or r.method == method]

    def reset_log(self) -> None:
        with self.lock:
            self.request_log.clear()


class OtherUser:
    """Test hooks: change the tree as another user (events show that actor, source WebUI)."""

    def __init__(self, emu: Emulator, user: int = OTHER):
        self.emu, self.user = emu, user

    @property
    def who(self) -> tuple:
        return (self.user, "WebUI", None)

    @property
    def name(self) -> str:
        return self.emu.users[self.user]

    def mkdir(self, path: str):
        return self.emu.store.add_folder(split(path), self.who)

    def upload(self, path: str, data: bytes, *, last_modified: int | None = None):
        store = self.emu.store
        tmp = store.tmp_path()
        with open(tmp, "wb") as f:
            f.write(data)
        node, version = store.commit_file(split(path), tmp, len(data),
                                          hashlib.sha512(data).hexdigest(), last_modified,
                                          self.who)
        return version

    def move(self, src: str, dst: str):
        store = self.emu.store
        return store.move(store.need(split(src)), dst, self.who)

    def copy(self, src: str, dst: str):
        store = self.emu.store
        return store.copy(store.need(split(src)), dst, self.who)

    def delete(self, path: str) -> None:
        store = self.emu.store
        store.delete(store.need(split(path)), self.who)

    def lock(self, path: str, timeout: int = 3600, token: str | None = None) -> str:
        """Lock a file as this user; return the lock token."""
        store = self.emu.store
        return store.lock_file(store.need(split(path)), self.user, token, timeout)["token"]

    def unlock(self, path: str, token: str) -> None:
        store = self.emu.store
        store.unlock_file(store.need(split(path)), self.user, token)

    def note(self, path: str, text: str) -> dict:
        store = self.emu.store
        return store.add_note(store.need(split(path)), text, self.who)


def read_blob(emu: Emulator, path: str) -> bytes:
    """Test helper: the current bytes of the file at ``path``."""
    node = emu.store.need(split(path))
    with open(emu.store.blob(node.current["entry_id"]), "rb") as f:
        return f.read()


__all__ = ["Emulator", "OtherUser", "read_blob"]
