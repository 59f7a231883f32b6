"""The daily transaction budget: every request costs one, account-wide, over the
service's day: a rolling 24 h (ExaVault, ``ROLLING``) or the calendar day in UTC
(Egnyte's per-token quota resets at 00:00 UTC, ``UTC_DAY``).

Two limits apply and the tighter one wins:

* syncd's own ledger (``index.record_request``) against ``account.budget``
  (default: the server's ``X-RateLimit-Limit``) - our spending over the last 24 h;
* the server's ``X-RateLimit-Remaining`` from the latest answer, minus what was
  sent since - other users and programs share the account, so the server's
  count is the truth.

``reserve`` transactions are never spent: they stay free for the user's other
tools and for a human in the web UI. The gate runs before each request (the
client's ``gate`` hook) and raises ``BudgetExhausted`` instead of sending; a
429 from the server has the same effect for the rest of the run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from syncd.config import schema
from syncd.remote.backend import RequestEvent
from syncd.remote.errors import Disposition

DAY = 86400.0
ROLLING = "rolling"  # the last 24 h (ExaVault)
UTC_DAY = "utc-day"  # since 00:00 UTC; all back at the next midnight (Egnyte)


class BudgetExhausted(Exception):
    """No transaction may be spent now. ``resume_at`` (UNIX seconds) estimates when
    enough of the 24 h window will have rolled off; ``None`` if unknown."""

    disposition = Disposition.DEFER

    def __init__(self, message: str, resume_at: float | None = None):
        super().__init__(message)
        self.resume_at = resume_at


class Budget:
    def __init__(self, index, account: str, *, budget: int | None = None,
                 reserve: float = schema.default("account.reserve"), now: Callable[[], float] = time.time,
                 window: str = ROLLING):
        if window not in (ROLLING, UTC_DAY):
            raise ValueError(f"unknown budget window {window!r}")
        self.window = window
        self.index = index
        self.account = account
        self.budget = budget
        self.reserve = reserve
        self.now = now
        self._lock = threading.Lock()
        t = now()
        index.prune_ledger(account, t - DAY)
        self._times = index.spent_times(account, self._start(t))  # our requests in the window
        self._server_limit: int | None = None
        self._server_remaining: int | None = None
        self._in_flight = 0  # sent, not yet answered
        self._refused = False
        self.spent = 0  # requests this process sent

    # --- what the limits say ----------------------------------------------------

    @property
    def limit(self) -> int | None:
        """The daily allowance syncd plans with."""
        if self.budget is not None and self._server_limit is not None:
            return min(self.budget, self._server_limit)
        return self.budget if self.budget is not None else self._server_limit

    @property
    def server_limit(self) -> int | None:
        """The server's ``X-RateLimit-Limit`` from the latest answer."""
        return self._server_limit

    @property
    def server_remaining(self) -> int | None:
        """The server's ``X-RateLimit-Remaining`` from the latest answer."""
        return self._server_remaining

    def clear_refusal(self) -> None:
        """Forget a 429 seen earlier (the daemon tries again once time has passed)."""
        with self._lock:
            self._refused = False

    def reserve_count(self) -> int:
        if isinstance(self.reserve, float):
            base = self._server_limit or self.budget
            return math.ceil(self.reserve * base) if base else 0
        return int(self.reserve)

    def available(self) -> int | None:
        """Requests that may still be sent now; ``None`` when no limit is known yet."""
        with self._lock:
            return self._available_locked()

    def _available_locked(self) -> int | None:
        self._expire()
        options = []
        if self.budget is not None:  # our own 24 h spending cap
            options.append(self.budget - len(self._times) - self._in_flight)
        if self._server_remaining is not None:  # the account's truth, reserve kept
            options.append(self._server_remaining - self._in_flight - self.reserve_count())
        elif self.budget is not None:  # no answer seen yet: keep the reserve off our cap
            options[-1] -= self.reserve_count()
        return min(options) if options else None

    def _start(self, t: float) -> float:
        """When the window that holds ``t`` began."""
        return t - DAY if self.window == ROLLING else (t // DAY) * DAY

    def _back_at(self, sent: float) -> float:
        """When a request sent at ``sent`` stops counting."""
        return sent + DAY if self.window == ROLLING else (sent // DAY + 1) * DAY

    def _expire(self) -> None:
        cutoff = self._start(self.now())
        drop = 0
        while drop < len(self._times) and self._times[drop] < cutoff:
            drop += 1
        if drop:
            del self._times[:drop]

    def resume_at(self, needed: int = 1) -> float | None:
        """When at least ``needed`` transactions should be free again: our own
        oldest requests in the window roll off 24 h after they were sent (at the
        next midnight UTC for ``UTC_DAY``). With other
        users on the account this is a lower bound, hence the "~" in messages."""
        with self._lock:
            self._expire()
            if not self._times:
                return None
            return self._back_at(self._times[min(len(self._times) - 1, max(0, needed - 1))])

    # --- client hooks -------------------------------------------------------------

    def gate(self, method: str, path: str) -> None:
        """Called before every request: refuse (raise) instead of overspending."""
        with self._lock:
            if self._refused:
                raise BudgetExhausted("the server refused further requests (429)",
                                      self._resume_locked())
            left = self._available_locked()
            if left is not None and left <= 0:
                raise BudgetExhausted("daily transaction budget used up (reserve kept)",
                                      self._resume_locked())
            self._in_flight += 1

    def _resume_locked(self) -> float | None:
        return self._back_at(self._times[0]) if self._times else None

    def observe(self, event: RequestEvent) -> None:
        """Called after every request: write the ledger, learn the server's count."""
        t = self.now()
        with self._lock:
            self._times.append(t)
            self.spent += 1
            self._in_flight = max(0, self._in_flight - 1)
            if event.limit is not None:
                self._server_limit = event.limit
            if event.remaining is not None:
                self._server_remaining = event.remaining
            if event.status == 429:
                self._refused = True
        self.index.record_request(self.account, t, event.method, event.path, event.status)
