"""Budget arithmetic, deletion guards and the worker's local path safety."""

from __future__ import annotations

import os

import pytest

from syncd.reconcile import guards
from syncd.state.budget import DAY, UTC_DAY, Budget, BudgetExhausted
from syncd.state.index import Index
from syncd.model import BaseEntry, DeleteLocal, DeleteRemote, LocalEntry, Plan, RemoteEntry, Upload
from syncd.remote.backend import RequestEvent
from syncd.transfer.worker import MirrorRun, UnsafePath, Worker


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def index(tmp_path):
    with Index(tmp_path / "index.sqlite3") as idx:
        yield idx


def spend(b: Budget, remaining=None, limit=None, status=200):
    b.gate("GET", "/x")
    b.observe(RequestEvent("GET", "/x", status, limit, remaining))


def test_own_budget_cap_and_reserve(index):
    clock = Clock()
    b = Budget(index, "acct", budget=10, reserve=2, now=clock)
    for _ in range(8):
        spend(b)
    with pytest.raises(BudgetExhausted) as err:
        b.gate("GET", "/x")
    assert err.value.resume_at == pytest.approx(clock.t + DAY)
    clock.t += DAY + 1  # the window rolls: all 8 expire
    assert b.available() == 8


def test_server_remaining_wins_and_reserve_fraction_uses_server_limit(index):
    b = Budget(index, "acct", budget=None, reserve=0.05, now=Clock())
    assert b.available() is None
    spend(b, remaining=110, limit=1000)  # 5% of 1000 = 50 reserved
    assert b.available() == 60
    spend(b, remaining=50, limit=1000)
    with pytest.raises(BudgetExhausted):
        b.gate("GET", "/x")


def test_ledger_survives_restarts(index):
    clock = Clock()
    b = Budget(index, "acct", budget=5, reserve=0, now=clock)
    for _ in range(3):
        spend(b)
    again = Budget(index, "acct", budget=5, reserve=0, now=clock)
    assert again.available() == 2


def test_a_429_stops_everything_for_the_run(index):
    b = Budget(index, "acct", reserve=0, now=Clock())
    spend(b, remaining=0, limit=100, status=429)
    with pytest.raises(BudgetExhausted, match="429"):
        b.gate("GET", "/x")


def _base(n):
    return {f"f{i}": BaseEntry(f"f{i}", f"f{i}", "file", 1) for i in range(n)}


def _deletes(n, local=True):
    if local:
        return Plan([DeleteLocal(f"f{i}", LocalEntry(f"f{i}", "file", 1)) for i in range(n)])
    return Plan([DeleteRemote(f"f{i}", RemoteEntry(f"f{i}", "file", "1", 1)) for i in range(n)])


def test_default_guard_needs_both_half_and_more_than_ten():
    base = _base(100)
    assert guards.check(_deletes(50), base, guards.GuardInput(100)) is None
    assert "51 of 100" in guards.check(_deletes(51), base, guards.GuardInput(100))
    small = _base(12)
    assert guards.check(_deletes(10, local=False), small, guards.GuardInput(12)) is None
    assert guards.check(_deletes(11, local=False), small, guards.GuardInput(12))


def test_configured_max_delete_count_and_fraction():
    base = _base(100)
    assert guards.check(_deletes(3), base, guards.GuardInput(100, max_delete=2))
    assert guards.check(_deletes(2), base, guards.GuardInput(100, max_delete=2)) is None
    assert guards.check(_deletes(11), base, guards.GuardInput(100, max_delete=0.1))


def test_folder_delete_counts_its_synced_contents():
    base = {k: BaseEntry(k, k, "file", 1) for k in ("d", "d/a", "d/b", "d/c", "e")}
    plan = Plan([DeleteRemote("d", RemoteEntry("d", "dir", "1"))])
    assert guards.deletion_count(plan, base) == 4


def test_empty_listing_and_unmounted_root_block_any_delete():
    base = _base(3)
    one = _deletes(1)
    assert guards.check(one, base, guards.GuardInput(3, empty_listing=True))
    assert guards.check(one, base, guards.GuardInput(3, local_device_changed=True))
    assert guards.check(one, base, guards.GuardInput(3, local_empty=True))
    # the snapshot behind an empty listing is the old one, so a plan without
    # deletions does not mean there are none: the user is told all the same
    assert guards.check(Plan([Upload("x", "x", LocalEntry("x", "file"))]), base,
                        guards.GuardInput(3, empty_listing=True))
    assert guards.check(Plan([Upload("x", "x", LocalEntry("x", "file"))]), base,
                        guards.GuardInput(3)) is None
    assert guards.without_deletes(one).actions == []


def test_worker_refuses_paths_that_leave_the_root(tmp_path, index):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "link")
    w = Worker(MirrorRun("m", str(root), "/r", backend=None, index=index, account="a",
                         host="h"))
    for bad in ("../x", "a/../../x", "", "a//b", "./a", "link/file.txt", "link/sub/f"):
        with pytest.raises(UnsafePath):
            w.local_abs(bad, create_parents=True)
    assert not list(outside.iterdir())
    assert w.local_abs("ok/file.txt", create_parents=True) == str(root / "ok" / "file.txt")


def test_a_utc_day_budget_counts_since_midnight_and_is_back_at_the_next(index):
    """Egnyte's quota (per token, reset at 00:00 UTC): requests of yesterday do not
    count today, and a refusal says midnight UTC, not 24 h after the oldest request."""
    midnight = 20_000 * DAY
    clock = Clock(midnight - 3600)  # 23:00 UTC
    b = Budget(index, "acct", budget=5, reserve=0, now=clock, window=UTC_DAY)
    for _ in range(5):
        spend(b)
    with pytest.raises(BudgetExhausted) as err:
        b.gate("GET", "/x")
    assert err.value.resume_at == midnight
    assert b.resume_at() == midnight
    clock.t = midnight + 1  # 00:00:01: all 5 are yesterday's
    assert b.available() == 5
    spend(b)
    again = Budget(index, "acct", budget=5, reserve=0, now=clock, window=UTC_DAY)
    assert again.available() == 4  # the ledger, read back: only today's request
    rolling = Budget(index, "acct", budget=5, reserve=0, now=clock)
    assert rolling.available() < 0  # (the same ledger over the last 24 h: all 6 count)


def test_an_unknown_budget_window_is_refused(index):
    with pytest.raises(ValueError):
        Budget(index, "acct", window="weekly")
