"""Per-token call limits: calls per second and per UTC day, answered as Egnyte does."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

QPS_CODE = "ERR_403_DEVELOPER_OVER_QPS"
RATE_CODE = "ERR_403_DEVELOPER_OVER_RATE"


class Refusal(Exception):
    def __init__(self, code: str, retry_after: int):
        super().__init__(code)
        self.code, self.retry_after = code, retry_after

    @property
    def body(self) -> bytes:
        what = "Qps" if self.code == QPS_CODE else "Rate"
        return f"<h1>Developer Over {what}</h1>".encode()


#: Seconds the one-second window is shortened by, for the network's jitter: a client
#: that spaces its calls 1/qps s apart (the official SDK's ``requests_per_second``,
#: syncd's limiter) is never refused because one answer reached it late; a burst is.
JITTER = 0.1


class Limits:
    """``qps`` calls in any one-second window (less ``JITTER``) and ``daily`` calls per
    UTC calendar day, counted per access token (0 = no limit). Refused calls are not
    counted."""

    def __init__(self, qps: int, daily: int, clock):
        self.qps, self.daily = int(qps), int(daily)
        self.clock = clock  # the emulator's clock (days); seconds use the real monotonic clock
        self._lock = threading.Lock()
        self._recent: dict[str, deque] = {}
        self._days: dict[str, tuple[int, int]] = {}  # token -> (day number, calls that day)

    def spend(self, token: str) -> list[tuple[str, str]]:
        """Count one call; return the usage headers. Raises Refusal when over a limit."""
        with self._lock:
            now, day = time.monotonic(), int(self.clock() // 86400)
            recent = self._recent.setdefault(token, deque())
            while recent and recent[0] <= now - (1.0 - JITTER):
                recent.popleft()
            d, used = self._days.get(token, (day, 0))
            if d != day:
                used = 0
            if self.daily and used >= self.daily:
                raise Refusal(RATE_CODE, max(1, math.ceil((day + 1) * 86400 - self.clock())))
            if self.qps and len(recent) >= self.qps:
                raise Refusal(QPS_CODE, 1)
            recent.append(now)
            self._days[token] = (day, used + 1)
            return self._headers(len(recent), used + 1)

    def usage(self, token: str) -> list[tuple[str, str]]:
        with self._lock:
            day = int(self.clock() // 86400)
            d, used = self._days.get(token, (day, 0))
            return self._headers(len(self._recent.get(token, ())), used if d == day else 0)

    def calls_today(self, token: str) -> int:
        with self._lock:
            d, used = self._days.get(token, (0, 0))
            return used if d == int(self.clock() // 86400) else 0

    def _headers(self, qps_now: int, used: int) -> list[tuple[str, str]]:
        out = []
        if self.qps:
            out += [("X-AccessToken-QPS-Allotted", str(self.qps)),
                    ("X-AccessToken-QPS-Current", str(qps_now))]
        if self.daily:
            out += [("X-AccessToken-Quota-Allotted", str(self.daily)),
                    ("X-AccessToken-Quota-Current", str(used))]
        return out

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
            self._days.clear()
