"""Fault injection (500 / 503 / reset / truncate), latency and bandwidth throttling."""

from __future__ import annotations

import random
import threading
import time
from typing import NamedTuple

FAULT_KINDS = ("500", "503", "reset", "truncate")
PHASES = ("before", "after")


class Fault(NamedTuple):
    kind: str   # one of FAULT_KINDS
    phase: str  # "before": operation not performed; "after": performed, response lost


class FaultInjector:
    """Seeded, thread-safe decisions: each request independently faults with probability rate."""

    def __init__(self, rate: float = 0.0, seed: int = 0, kinds=None):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.rate = 0.0
        self.kinds: tuple[str, ...] = FAULT_KINDS
        self.configure(rate, kinds)

    def configure(self, rate: float, kinds=None, seed: int | None = None) -> None:
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        kinds = tuple(kinds) if kinds else FAULT_KINDS
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}; use {FAULT_KINDS}")
        with self._lock:
            self.rate, self.kinds = rate, kinds
            if seed is not None:
                self._rng = random.Random(seed)

    def decide(self) -> Fault | None:
        with self._lock:
            if self.rate <= 0.0 or self._rng.random() >= self.rate:
                return None
            return Fault(self._rng.choice(self.kinds), self._rng.choice(PHASES))


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
