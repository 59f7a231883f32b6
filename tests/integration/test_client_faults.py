"""Injected faults (500, 503, reset, truncate; before or after the operation): repeatable
calls recover through bounded retries, non-repeatable calls surface the error after one
attempt so the caller can verify remote state."""

from __future__ import annotations

import hashlib
import io
import os
import random
import time
from datetime import datetime, timedelta, timezone

import pytest

from syncd.remote.errors import RemoteError, ServerError, TransportError
from syncd.remote.exavault.api import RetryPolicy
from tests.helpers.accounts import FAST_RETRY


def _seed() -> int:
    seed = int(os.environ.get("SYNCD_TEST_SEED") or random.randrange(1 << 30))
    print(f"fault seed: {seed} (re-run with SYNCD_TEST_SEED={seed})")
    return seed


def test_repeatable_calls_recover_from_random_faults(make_emulator, make_client):
    seed = _seed()
    emu = make_emulator()
    for i in range(130):
        emu.other.write(f"/r/f{i:03}.bin", bytes([i]) * (i + 1))
    emu.other.write("/r/sub/big.bin", os.urandom(1_500_000))
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    client = make_client(emu, retry=RetryPolicy(**{**FAST_RETRY, "attempts": 12}))
    emu.set_faults(0.3, seed=seed)
    for _ in range(3):
        assert client.account().transactions_limit
        assert len(client.list_folder("/r")) == 131
        assert len(client.search("/r")) == 132
        assert client.info("/r/f007.bin").size == 8
        out = io.BytesIO()
        assert client.download("/r/sub/big.bin", out) == 1_500_000
        assert out.getvalue() == emu.other.read("/r/sub/big.bin")
        client.session_activity(start)
    statuses = [row.status for row in emu.request_log]
    assert any(s >= 500 for s in statuses)  # faults did happen ...
    assert client.requests_sent > 3 * 9  # ... and were retried


@pytest.mark.parametrize("kind", ["500", "503", "reset", "truncate"])
def test_non_repeatable_calls_surface_the_error_after_one_attempt(emulator, client, kind):
    f = client.upload("/n/a.txt", io.BytesIO(b"a"))
    client.create_folder("/n/dst")
    emulator.set_faults(1.0, kinds=(kind,), seed=3)
    calls = [
        lambda: client.create_folder("/n/new"),
        lambda: client.upload("/n/b.txt", io.BytesIO(b"b"), allow_overwrite=False),
        lambda: client.rename(f.id, "renamed.txt"),
        lambda: client.move(["/n/a.txt"], "/n/dst"),
        lambda: client.copy(["/n/a.txt"], "/n/dst"),
        lambda: client.delete(["/n/a.txt", "/n/zzz"]),
        lambda: client.delete_by_id(f.id),
    ]
    for call in calls:
        emulator.clear_request_log()
        sent = client.requests_sent
        with pytest.raises((ServerError, TransportError)) as info:
            call()
        assert client.requests_sent == sent + 1 and len(emulator.request_log) <= 1
        assert info.value.method in ("POST", "PATCH", "DELETE")


def test_overwriting_upload_is_retried_and_lands_once(make_emulator, make_client):
    seed = _seed()
    emu = make_emulator(fault_rate=0.4, seed=seed)
    client = make_client(emu, retry=RetryPolicy(**{**FAST_RETRY, "attempts": 15}))
    payload = os.urandom(2_200_000)
    res = client.upload("/o/x.bin", io.BytesIO(payload), allow_overwrite=True)
    assert res.path == "/o/x.bin" and res.size == len(payload)
    emu.set_faults(0.0)
    assert hashlib.sha256(emu.other.read("/o/x.bin")).digest() == hashlib.sha256(payload).digest()
    assert [r.name for r in client.list_folder("/o")] == ["x.bin"]  # no "x (1).bin"


def test_retries_are_bounded_in_attempts_and_time(emulator, make_client):
    emulator.set_faults(1.0, kinds=("503",), seed=4)
    client = make_client(emulator, retry=RetryPolicy(attempts=4, total_seconds=10,
                                                     initial_backoff=0.001, max_backoff=0.01,
                                                     jitter=0.001))
    with pytest.raises(ServerError) as info:
        client.account()
    assert info.value.status == 503 and client.requests_sent == 4
    slow = make_client(emulator, retry=RetryPolicy(attempts=100, total_seconds=0.3,
                                                   initial_backoff=0.05, max_backoff=0.1,
                                                   jitter=0.0))
    began = time.monotonic()
    with pytest.raises(RemoteError):
        slow.list_folder("/")
    assert time.monotonic() - began < 1.5 and slow.requests_sent < 10
