"""Egnyte clients and backends bound to a ``make_egnyte`` emulator, with fast
retries and no client-side pause (tests that need the limiter set ``qps``)."""

from __future__ import annotations

import io
import os

from syncd.remote.egnyte.api import EgnyteClient, RetryPolicy
from syncd.remote.egnyte.backend import EgnyteBackend

FAST = RetryPolicy(attempts=4, total_seconds=20.0, initial_backoff=0.01, max_backoff=0.05,
                   jitter=0.0, throttle_attempts=8, max_retry_after=5.0)


def client_for(emu, *, token: str | None = None, qps: float = 1000.0, **kw) -> EgnyteClient:
    kw.setdefault("retry", FAST)
    kw.setdefault("timeout", (5.0, 20.0))
    return EgnyteClient(emu.base_url, emu.token if token is None else token, qps=qps, **kw)


def backend_for(emu, *, echo=None, **kw) -> EgnyteBackend:
    opts = {k: kw.pop(k) for k in ("threshold", "chunk_size", "parallel") if k in kw}
    return EgnyteBackend(client_for(emu, **kw), echo=echo, **opts)


def blob(size: int, seed: int = 1) -> bytes:
    """``size`` reproducible, incompressible-looking bytes."""
    out = bytearray()
    x = seed
    while len(out) < size:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out += x.to_bytes(8, "little")
    return bytes(out[:size])


def as_file(data: bytes) -> io.BytesIO:
    f = io.BytesIO(data)
    f.seek(0, os.SEEK_SET)
    return f


class FailsOnce(io.BytesIO):
    """A local source whose read fails once, at the first read from byte ``at`` on."""

    def __init__(self, data: bytes, at: int):
        super().__init__(data)
        self.at, self.failed = at, False

    def read(self, n=-1):
        if not self.failed and self.tell() >= self.at:
            self.failed = True
            raise OSError("read error")
        return super().read(n)
