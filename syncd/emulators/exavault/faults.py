"""Fault injection, latency and bandwidth throttling.

The four default kinds (``500``, ``503``, ``reset``, ``truncate``) are what a
flaky network or server does. The other kinds are opt-in only (name them in
``kinds``): they model a server or proxy that answers *wrongly* rather than not
at all, for corruption and hostile-input tests:

* ``flip``: a download body of the right length with one byte altered (JSON
  answers and empty files are sent unaltered: there is nothing to flip).
* ``badlength``: the real body, under a ``Content-Length`` larger than it, then
  the connection is closed.
* ``badjson``: a 200 whose ``application/json`` body is not JSON (an HTML error page).
* ``errorbody``: a 200 whose JSON body is the error envelope instead of data.

``flip`` and ``badlength`` alter a real answer, so they always act *after* the
operation; the others pick the phase at random like the default kinds.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

FAULT_KINDS = ("500", "503", "reset", "truncate")  # the default set
EXTRA_KINDS = ("flip", "badlength", "badjson", "errorbody")  # opt-in only
ALL_KINDS = FAULT_KINDS + EXTRA_KINDS
PHASES = ("before", "after")
AFTER_ONLY = frozenset({"flip", "badlength"})

# Endpoint names for ``only=`` (method, API path below /api/v2).
_ENDPOINTS = [
    ("GET", r"/account/?", "account"),
    ("PATCH", r"/account/?", "account"),
    ("GET", r"/resources/list(/\d+)?/?", "list"),
    ("GET", r"/resources/download/?", "download"),
    ("GET", r"/resources(/\d+)?/?", "info"),
    ("POST", r"/resources/?", "mkdir"),
    ("POST", r"/resources/upload/?", "upload"),
    ("POST", r"/resources/move/?", "move"),
    ("POST", r"/resources/copy/?", "copy"),
    ("PATCH", r"/resources/\d+/?", "rename"),
    ("DELETE", r"/resources(/\d+)?/?", "delete"),
    ("GET", r"/activity/.*", "activity"),
]
_ENDPOINTS_RE = [(m, re.compile(p), name) for m, p, name in _ENDPOINTS]
ENDPOINTS = tuple(dict.fromkeys(name for _, _, name in _ENDPOINTS))


def endpoint(method: str, path: str) -> str:
    """The endpoint name of a request (``path`` below ``/api/v2``); ``other`` if unknown."""
    for m, pattern, name in _ENDPOINTS_RE:
        if m == method and pattern.fullmatch(path):
            return name
    return "other"


class Fault(NamedTuple):
    kind: str   # one of ALL_KINDS
    phase: str  # "before": operation not performed; "after": performed, response lost
    where: float = 0.5  # flip: the altered byte's relative position in the body


class FaultInjector:
    """Seeded, thread-safe decisions: each request independently faults with probability rate.

    ``only`` limits faults to some requests: a collection of endpoint names from
    ``ENDPOINTS`` (e.g. ``{"download", "upload"}``) or a predicate ``(method, path,
    query) -> bool`` (``path`` below ``/api/v2``, ``query`` the parsed query string:
    ``{"resources[]": ["/docs/a.txt"]}``); the other requests are never faulted and
    draw nothing from the generator."""

    def __init__(self, rate: float = 0.0, seed: int = 0, kinds=None, only=None):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.rate = 0.0
        self.kinds: tuple[str, ...] = FAULT_KINDS
        self._only: Callable[[str, str, dict], bool] | None = None
        self.configure(rate, kinds, only=only)

    def configure(self, rate: float, kinds=None, seed: int | None = None, only=None) -> None:
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        kinds = tuple(kinds) if kinds else FAULT_KINDS
        unknown = set(kinds) - set(ALL_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}; use {ALL_KINDS}")
        match = _matcher(only)
        with self._lock:
            self.rate, self.kinds, self._only = rate, kinds, match
            if seed is not None:
                self._rng = random.Random(seed)

    def decide(self, method: str | None = None, path: str | None = None,
               query: dict | None = None) -> Fault | None:
        with self._lock:
            if self.rate <= 0.0:
                return None
            if self._only is not None and not self._only(method or "", path or "",
                                                         query or {}):
                return None
            if self._rng.random() >= self.rate:
                return None
            kind, phase = self._rng.choice(self.kinds), self._rng.choice(PHASES)
            if kind in AFTER_ONLY:
                return Fault(kind, "after", self._rng.random())
            return Fault(kind, phase)


def _matcher(only) -> Callable[[str, str, dict], bool] | None:
    if only is None:
        return None
    if callable(only):
        return only
    names = {only} if isinstance(only, str) else set(only)
    unknown = names - set(ENDPOINTS) - {"other"}
    if unknown:
        raise ValueError(f"unknown endpoints: {sorted(unknown)}; use {ENDPOINTS}")
    return lambda method, path, query: endpoint(method, path) in names


class Throttle:
    """Paces one transfer to ``rate`` bytes per second (``None`` = unlimited)."""

    def __init__(self, rate: int | None):
        self.rate = rate if rate and rate > 0 else None
        self._start = time.monotonic()
        self._bytes = 0

    @property
    def chunk_size(self) -> int:
        if self.rate is None:
            return 1 << 20
        return max(4096, min(1 << 20, self.rate // 20))

    def consume(self, n: int) -> None:
        if self.rate is None or n <= 0:
            return
        self._bytes += n
        ahead = self._bytes / self.rate - (time.monotonic() - self._start)
        if ahead > 0:
            time.sleep(ahead)


def names(kinds: Iterable[str] | None) -> tuple[str, ...]:
    """Kinds from a comma-separated option value or an iterable (empty: the defaults)."""
    if kinds is None:
        return FAULT_KINDS
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    return tuple(kinds) or FAULT_KINDS
