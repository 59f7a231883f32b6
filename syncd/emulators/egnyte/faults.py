"""Seeded fault injection for the Egnyte emulator.

Kinds: ``500`` and ``503`` (answered instead of the operation, which is not
performed), ``reset`` (the connection is reset before the operation), ``lost``
(the operation is performed, then the connection is reset with no answer),
``truncate`` (performed; half the answer is sent, then the connection closes) and
``corrupt`` (a download whose bytes differ from its X-Sha512-Checksum: one byte
flipped; opt-in only, other answers pass unaltered).
"""

from __future__ import annotations

import random
import re
import threading
from typing import NamedTuple

DEFAULT_KINDS = ("500", "503", "reset", "lost", "truncate")
ALL_KINDS = DEFAULT_KINDS + ("corrupt",)
AFTER = frozenset({"lost", "truncate", "corrupt"})  # the operation happens first

_ENDPOINTS = [
    (None, r"/fs-content-chunked/.*", "chunk"),
    ("GET", r"/fs-content/.*", "download"),
    ("POST", r"/fs-content/.*", "upload"),
    ("GET", r"/fs(/.*)?", "info"),
    ("POST", r"/fs(/.*)?", "fs_action"),
    ("DELETE", r"/fs(/.*)?", "delete"),
    ("GET", r"/events/cursor/?", "cursor"),
    ("GET", r"/events/?", "events"),
    (None, r"/notes(/.*)?", "notes"),
    ("GET", r"/userinfo/?", "userinfo"),
]
_COMPILED = [(m, re.compile(p), n) for m, p, n in _ENDPOINTS]
ENDPOINTS = tuple(n for _, _, n in _ENDPOINTS)


def endpoint(method: str, path: str) -> str:
    """The endpoint name of a request (``path`` below /pubapi/vN); ``other`` if unknown."""
    for m, pattern, name in _COMPILED:
        if (m is None or m == method) and pattern.fullmatch(path):
            return name
    return "other"


class Fault(NamedTuple):
    kind: str
    where: float  # corrupt: the flipped byte's relative position

    @property
    def after(self) -> bool:
        return self.kind in AFTER


def kind_names(kinds) -> tuple[str, ...]:
    if kinds is None:
        return DEFAULT_KINDS
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    return tuple(kinds) or DEFAULT_KINDS


class Faults:
    """Each request (of the ``only`` endpoints, if given) faults with probability ``rate``."""

    def __init__(self, rate: float = 0.0, seed: int = 0, kinds=None):
        self._lock = threading.Lock()
        self.configure(rate, kinds, seed)

    def configure(self, rate: float, kinds=None, seed: int | None = 0, only=None) -> None:
        rate, kinds = float(rate), kind_names(kinds)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        unknown = set(kinds) - set(ALL_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(sorted(unknown))}; use "
                             f"{', '.join(ALL_KINDS)}")
        only = None if only is None else ({only} if isinstance(only, str) else set(only))
        if only and only - set(ENDPOINTS):
            raise ValueError(f"unknown endpoints {sorted(only - set(ENDPOINTS))}; use "
                             f"{', '.join(ENDPOINTS)}")
        with self._lock:
            self.rate, self.kinds, self.only = rate, kinds, only
            if seed is not None:
                self._rng = random.Random(seed)

    def decide(self, method: str, path: str) -> Fault | None:
        with self._lock:
            if self.rate <= 0.0:
                return None
            if self.only is not None and endpoint(method, path) not in self.only:
                return None
            if self._rng.random() >= self.rate:
                return None
            return Fault(self._rng.choice(self.kinds), self._rng.random())
