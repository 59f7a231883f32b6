"""The Egnyte client under Egnyte's limits and the emulator's faults, over real
HTTP: per-second refusals (403 and 429 forms) waited out and sent again, the
limiter that avoids them, the daily refusal turned into the budget's refusal,
lost answers settled by a stat, broken downloads continued with Range, a corrupt
download caught, and locks held by another user."""

from __future__ import annotations

import hashlib
import io
import threading
import time

import pytest

from syncd.remote.egnyte import transfer
from syncd.remote.errors import (
    LockedError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    ThrottledError,
)
from syncd.state.budget import DAY, UTC_DAY, Budget, BudgetExhausted
from tests.helpers.egnyte_client import FAST, as_file, backend_for, blob, client_for


def _run_parallel(n: int, fn) -> list:
    out, errors = [], []

    def one(i):
        try:
            out.append(fn(i))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return out


@pytest.mark.parametrize("status", [403, 429])
def test_per_second_refusals_are_waited_out_and_sent_again(make_egnyte, status):
    emu = make_egnyte(qps=2, throttle_status=status)
    client = client_for(emu)  # no client-side limiter: the server must refuse
    got = _run_parallel(5, lambda i: client.userinfo())
    assert len(got) == 5
    refused = [r for r in emu.requests() if r.status == status]
    assert refused and client.requests_sent == 5 + len(refused)


def test_the_shared_limiter_keeps_clear_of_the_per_second_limit(make_egnyte):
    emu = make_egnyte(qps=2)
    client = client_for(emu, qps=2.0)
    _run_parallel(5, lambda i: client.userinfo())
    assert [r.status for r in emu.requests()] == [200] * 5


def test_a_throttle_that_lasts_ends_as_throttled(make_egnyte):
    emu = make_egnyte(qps=1)
    from dataclasses import replace
    client = client_for(emu, retry=replace(FAST, throttle_attempts=1))
    client.userinfo()
    with pytest.raises(ThrottledError) as err:
        client.userinfo()
    assert err.value.retry_after is not None


class Ledger:
    """The few index calls ``Budget`` makes, in memory."""

    def __init__(self):
        self.rows = []

    def prune_ledger(self, account, before):
        pass

    def spent_times(self, account, since):
        return []

    def record_request(self, account, t, method, path, status):
        self.rows.append((method, path, status))


def test_the_usage_headers_keep_the_budget_inside_the_daily_quota(make_egnyte):
    emu = make_egnyte(daily_limit=3)
    budget = Budget(Ledger(), "egnyte", reserve=0)
    client = client_for(emu, gate=budget.gate, on_request=budget.observe)
    for _ in range(3):
        client.userinfo()
    assert (budget.server_limit, budget.server_remaining) == (3, 0)
    with pytest.raises(BudgetExhausted):
        client.userinfo()
    assert client.requests_sent == 3 and emu.calls_today() == 3


def test_a_utc_day_budget_expects_the_quota_back_when_the_server_does(make_egnyte):
    """With Egnyte's window (UTC_DAY) the budget's "back at" is the server's: the
    daily refusal's Retry-After counts to the same midnight UTC."""
    emu = make_egnyte(daily_limit=2)
    budget = Budget(Ledger(), "egnyte", reserve=0, window=UTC_DAY)
    client = client_for(emu, gate=budget.gate, on_request=budget.observe)
    client.userinfo()
    client.userinfo()
    with pytest.raises(BudgetExhausted) as err:
        client.userinfo()
    other = client_for(emu)  # (asks anyway: the server's own answer)
    with pytest.raises(RateLimitedError) as refused:
        other.userinfo()
    assert err.value.resume_at == (time.time() // DAY + 1) * DAY
    assert abs(err.value.resume_at - refused.value.resume_at) <= 2


def test_the_daily_refusal_becomes_the_budgets_refusal(make_egnyte):
    emu = make_egnyte(daily_limit=3)
    other = client_for(emu)  # another program on the same token spends the day
    for _ in range(3):
        other.userinfo()
    ledger = Ledger()
    budget = Budget(ledger, "egnyte", reserve=0)
    client = client_for(emu, gate=budget.gate, on_request=budget.observe)
    with pytest.raises(RateLimitedError) as err:
        client.userinfo()
    assert not isinstance(err.value, ThrottledError)
    assert err.value.code == "ERR_403_DEVELOPER_OVER_RATE"
    with pytest.raises(BudgetExhausted):
        client.userinfo()
    assert client.requests_sent == 1  # the second was refused before sending
    assert [s for _, _, s in ledger.rows] == [403]


def test_a_lost_upload_answer_is_settled_by_one_stat(make_egnyte):
    emu = make_egnyte()
    b = backend_for(emu)
    b.mkdir("/Shared/l")
    emu.set_faults(1.0, ["lost"], only=["upload"])
    item = b.upload("/Shared/l/f.txt", as_file(b"hello"), 5, replace=False)
    emu.set_faults(0.0)
    assert item.path == "/Shared/l/f.txt"
    assert item.hash.hex == hashlib.sha512(b"hello").hexdigest()
    uploads = [r for r in emu.requests("POST") if r.path.startswith("/fs-content/")]
    assert len(uploads) == 1  # never sent again blind


def test_a_lost_mkdir_answer_is_settled_by_one_stat(make_egnyte):
    emu = make_egnyte()
    b = backend_for(emu)
    emu.set_faults(1.0, ["lost"], only=["fs_action"])
    made = b.mkdir("/Shared/lost")
    emu.set_faults(0.0)
    assert made.kind == "dir" and made.path == "/Shared/lost"


def test_server_errors_on_reads_are_retried(make_egnyte):
    emu = make_egnyte()
    client = client_for(emu, retry=FAST.__class__(attempts=10, total_seconds=20.0,
                                                  initial_backoff=0.0, max_backoff=0.0,
                                                  jitter=0.0))
    client.add_folder("/Shared/r")
    emu.set_faults(0.5, ["500", "503", "reset"], seed=3, only=["info"])
    for _ in range(5):
        assert client.info("/Shared/r").is_folder
    emu.set_faults(0.0)
    assert client.requests_sent > 1 + 5


def test_a_broken_download_continues_with_range(make_egnyte):
    emu = make_egnyte()
    client = client_for(emu, retry=FAST.__class__(attempts=12, total_seconds=30.0,
                                                  initial_backoff=0.0, max_backoff=0.0,
                                                  jitter=0.0))
    data = blob(400_000, seed=9)
    client.add_folder("/Shared/d")
    transfer.upload(client, "/Shared/d/f.bin", as_file(data), len(data))
    emu.set_faults(0.6, ["truncate"], seed=1, only=["download"])
    out = io.BytesIO()
    assert transfer.download(client, "/Shared/d/f.bin", out) == len(data)
    emu.set_faults(0.0)
    assert out.getvalue() == data
    downloads = [r for r in emu.requests("GET") if r.path.startswith("/fs-content/")]
    assert len(downloads) > 1


def test_a_corrupt_download_is_caught_and_left_empty(make_egnyte):
    emu = make_egnyte()
    client = client_for(emu)
    data = blob(20_000, seed=10)
    client.add_folder("/Shared/c")
    transfer.upload(client, "/Shared/c/f.bin", as_file(data), len(data))
    emu.set_faults(1.0, ["corrupt"], only=["download"])
    out = io.BytesIO()
    with pytest.raises(ProtocolError, match="X-Sha512-Checksum"):
        transfer.download(client, "/Shared/c/f.bin", out)
    assert out.getvalue() == b""


def test_a_file_locked_by_another_user_is_refused_as_locked(make_egnyte):
    emu = make_egnyte()
    b = backend_for(emu)
    b.upload("/Shared/k/f.txt", as_file(b"v1"), 2, replace=False)
    token = emu.other.lock("/Shared/k/f.txt")
    with pytest.raises(LockedError):
        b.upload("/Shared/k/f.txt", as_file(b"v2"), 2, replace=True)
    assert isinstance(b.delete(["/Shared/k/f.txt"])["/Shared/k/f.txt"], LockedError)
    with pytest.raises(LockedError):
        b.move("/Shared/k/f.txt", "/Shared/k/g.txt")
    emu.other.unlock("/Shared/k/f.txt", token)
    assert b.move("/Shared/k/f.txt", "/Shared/k/g.txt").path == "/Shared/k/g.txt"


def test_changes_by_another_user_carry_that_actor(make_egnyte):
    emu = make_egnyte()
    b = backend_for(emu)
    _, cursor = b.changes(None)
    emu.other.mkdir("/Shared/o")
    b.mkdir("/Shared/o/mine")
    got, _ = b.changes(cursor)
    assert [c.path for c in got] == ["/Shared/o", "/Shared/o/mine"]
    assert got[0].user and got[0].user != got[1].user


class WriteOnly:
    """A download target that can only be appended to (as the worker's writer)."""

    def __init__(self):
        self.data = bytearray()

    def seekable(self):
        return False

    def write(self, b):
        self.data += b
        return len(b)


def test_a_broken_download_into_an_append_only_target_continues_and_is_verified(make_egnyte):
    emu = make_egnyte()
    b = backend_for(emu, retry=FAST.__class__(attempts=12, total_seconds=30.0,
                                              initial_backoff=0.0, max_backoff=0.0, jitter=0.0))
    data = blob(300_000, seed=11)
    b.upload("/Shared/w/f.bin", as_file(data), len(data), replace=False)
    emu.set_faults(0.6, ["truncate"], seed=2, only=["download"])
    out = WriteOnly()
    assert b.download("/Shared/w/f.bin", out) == len(data)
    emu.set_faults(0.0)
    assert bytes(out.data) == data
    emu.set_faults(1.0, ["corrupt"], only=["download"])
    with pytest.raises(ProtocolError):
        b.download("/Shared/w/f.bin", WriteOnly())


def test_a_lost_move_answer_is_settled_by_one_stat(make_egnyte):
    emu = make_egnyte()
    b = backend_for(emu)
    up = b.upload("/Shared/mv/a.txt", as_file(b"a"), 1, replace=False)
    emu.set_faults(1.0, ["lost"], only=["fs_action"])
    moved = b.move("/Shared/mv/a.txt", "/Shared/mv/b.txt", id=up.id)
    emu.set_faults(0.0)
    assert (moved.path, moved.id) == ("/Shared/mv/b.txt", up.id)
    emu.set_faults(1.0, ["500"], only=["fs_action"])
    with pytest.raises(ServerError):  # not done: the stat finds nothing, the error stands
        b.move("/Shared/mv/b.txt", "/Shared/mv/c.txt")
