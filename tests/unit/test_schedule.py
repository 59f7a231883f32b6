"""syncd.daemon.schedule: the poll interval as a pure function of the transaction budget."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.daemon.schedule import (
    DAY,
    MAX_INTERVAL,
    PollChoice,
    choose_poll_interval,
    listing_cost,
)


def choose(**kw) -> PollChoice:
    args = {"desired": 300.0, "limit": 10_000, "reserve": 0, "transfer_share": 0.5,
            "feed": True, "rows": [10], "full_scan_intervals": [86400.0]}
    args.update(kw)
    return choose_poll_interval(**args)


def expected_allowance(limit, reserve, share, rows, intervals) -> int:
    trueup = sum(listing_cost(n) * 86400 / iv for n, iv in zip(rows, intervals))
    # The module adds 1e-6 before flooring so 10000 * (1 - 0.9) is 1000, not 999.
    return math.floor((limit - reserve) * (1 - share) - trueup + 1e-6)


# --- listing_cost -----------------------------------------------------------------------

@pytest.mark.parametrize("rows, cost", [
    (0, 1), (1, 1), (98, 1), (99, 1), (100, 2), (101, 2), (199, 2), (200, 3),
    (999, 10), (1000, 11), (12_345, 124),
])
def test_listing_cost_pages_of_100_plus_the_folder_itself(rows, cost):
    assert listing_cost(rows) == cost
    assert listing_cost(rows) == math.ceil((rows + 1) / 100)


# --- feed mode --------------------------------------------------------------------------

def test_feed_poll_costs_one_request_and_keeps_poll_interval():
    c = choose(desired=300.0, limit=10_000, reserve=500, transfer_share=0.5, feed=True,
               rows=[5000, 20], full_scan_intervals=[86400.0, 86400.0])
    assert c.per_poll == 1
    assert c.interval == 300.0
    assert c.per_day == 288  # 86400 / 300
    # (10000 - 500) * 0.5 - (51 + 1) true-up listings a day
    assert c.allowance == 4750 - 52
    assert "(poll_interval)" in c.reason
    assert "every 5m" in c.reason
    assert "activity-feed" in c.reason
    assert "not 5m" not in c.reason


def test_feed_cost_does_not_depend_on_rows():
    small = choose(feed=True, rows=[0])
    big = choose(feed=True, rows=[1_000_000])
    assert small.per_poll == big.per_poll == 1


# --- fallback (no activity feed) --------------------------------------------------------

def test_fallback_prices_a_full_listing_of_every_mirror():
    c = choose(feed=False, rows=[0, 99, 100, 250], full_scan_intervals=[86400.0] * 4,
               limit=1_000_000, desired=60.0)
    assert c.per_poll == 1 + 1 + 2 + 3
    assert c.interval == 60.0
    assert c.per_day == math.ceil(86400 / 60 * 7)
    assert "449 remote items" in c.reason
    assert "7 requests" in c.reason


def test_unknown_feed_is_priced_as_a_listing():
    unknown = choose(feed=None, rows=[450, 50], full_scan_intervals=[86400.0] * 2)
    listing = choose(feed=False, rows=[450, 50], full_scan_intervals=[86400.0] * 2)
    assert unknown.per_poll == listing.per_poll == 5 + 1
    assert unknown == listing


def test_fallback_with_no_mirrors_still_costs_one():
    c = choose(feed=False, rows=[], full_scan_intervals=[])
    assert c.per_poll == 1


# --- stretching the interval ------------------------------------------------------------

def test_interval_is_stretched_to_fit_the_allowance():
    # limit 1000, reserve 100, 50% for transfers -> 450, minus one true-up listing a day
    # of 3 requests -> 447; a poll is 3 requests: 86400 * 3 / 447 = 579.87 -> 580 s.
    c = choose(desired=60.0, limit=1000, reserve=100, transfer_share=0.5, feed=False,
               rows=[250], full_scan_intervals=[86400.0])
    assert c.allowance == 447
    assert c.per_poll == 3
    assert c.interval == 580.0
    assert c.interval == max(60.0, math.ceil(86400 * 3 / 447))
    assert c.per_day == math.ceil(86400 / 580 * 3) <= 447
    assert c.reason.startswith("polling every 9m40s, not 1m:")
    assert "(poll_interval)" not in c.reason
    assert "447 of the 1000 daily transactions" in c.reason
    assert "100 reserve" in c.reason
    assert "50% kept for transfers" in c.reason


def test_trueup_listings_are_subtracted_per_their_period():
    # two mirrors: 1 000 rows every hour (11 * 24 = 264/day), 99 rows every 12 h (1 * 2)
    c = choose(desired=10.0, limit=2000, reserve=0, transfer_share=0.0, feed=True,
               rows=[1000, 99], full_scan_intervals=[3600.0, 43200.0])
    assert c.allowance == 2000 - 264 - 2
    assert c.interval == math.ceil(86400 / (2000 - 266))
    assert c.per_day <= c.allowance


def test_transfer_share_reduces_the_allowance():
    lo = choose(limit=10_000, reserve=0, transfer_share=0.25, rows=[], full_scan_intervals=[])
    hi = choose(limit=10_000, reserve=0, transfer_share=0.75, rows=[], full_scan_intervals=[])
    assert lo.allowance == 7500
    assert hi.allowance == 2500
    assert "25% kept for transfers" in lo.reason
    assert "75% kept for transfers" in hi.reason


def test_percentage_share_allowance_is_exact():
    c = choose(limit=10_000, reserve=0, transfer_share=0.9, rows=[], full_scan_intervals=[])
    assert c.allowance == 1000


def test_desired_longer_than_needed_is_kept():
    c = choose(desired=3600.0, limit=100_000, feed=True)
    assert c.interval == 3600.0
    assert c.per_day == 24
    assert "every 1h (poll_interval)" in c.reason


# --- too small an allowance -------------------------------------------------------------

@pytest.mark.parametrize("limit, reserve", [(10, 0), (100, 100), (100, 200)])
def test_allowance_below_one_poll_polls_once_a_day(limit, reserve):
    c = choose(desired=60.0, limit=limit, reserve=reserve, transfer_share=0.5, feed=False,
               rows=[1000], full_scan_intervals=[86400.0])
    assert c.allowance < c.per_poll == 11
    assert c.interval == 86400.0 == MAX_INTERVAL
    assert c.per_day == c.per_poll
    assert "once a day" in c.reason
    assert "raise account.budget" in c.reason
    assert "-" not in c.reason.split("more than the ")[1].split()[0]  # never "-42 transactions"


def test_allowance_exactly_one_poll_polls_once_a_day_within_it():
    # limit 2 * (1 poll + 1 true-up) with share 50%: allowance 2 - 1 = 1 == per_poll
    c = choose(desired=60.0, limit=4, reserve=0, transfer_share=0.5, feed=True, rows=[0],
               full_scan_intervals=[86400.0])
    assert c.allowance == 1 == c.per_poll
    assert c.interval == 86400.0
    assert c.per_day == 1


# --- webhook / unknown limit ------------------------------------------------------------

@pytest.mark.parametrize("limit", [None, 5, 100_000])
def test_webhook_means_no_periodic_poll(limit):
    c = choose(webhook=True, limit=limit, feed=True)
    assert c.interval is None
    assert c.per_day == 0
    assert c.per_poll == 1
    assert "webhook" in c.reason


def test_unknown_limit_keeps_desired():
    c = choose(desired=120.0, limit=None, feed=False, rows=[150], full_scan_intervals=[86400.0])
    assert c.interval == 120.0
    assert c.allowance is None
    assert c.per_poll == 2
    assert c.per_day == math.ceil(86400 / 120 * 2)
    assert "not known yet" in c.reason
    assert "every 2m" in c.reason


# --- the property -----------------------------------------------------------------------

mirrors = st.lists(st.tuples(st.integers(0, 200_000), st.floats(60.0, 7 * 86400.0)),
                   max_size=5)


@settings(max_examples=400, deadline=None)
@given(limit=st.integers(1, 2_000_000), reserve_frac=st.floats(0.0, 1.0),
       share=st.floats(0.0, 0.95), feed=st.sampled_from([True, False, None]),
       ms=mirrors, desired=st.floats(10.0, 86400.0))
def test_projected_day_never_exceeds_the_allowance(limit, reserve_frac, share, feed, ms,
                                                   desired):
    reserve = int(limit * reserve_frac)
    rows = [r for r, _ in ms]
    intervals = [iv for _, iv in ms]
    c = choose_poll_interval(desired=desired, limit=limit, reserve=reserve,
                             transfer_share=share, feed=feed, rows=rows,
                             full_scan_intervals=intervals)
    per_poll = 1 if feed else max(1, sum(listing_cost(n) for n in rows))
    allowance = expected_allowance(limit, reserve, share, rows, intervals)
    assert c.per_poll == per_poll
    assert c.allowance == allowance
    assert c.interval is not None
    assert c.interval <= DAY or c.interval == desired
    if allowance < per_poll:
        assert c.interval == DAY
        assert "raise account.budget" in c.reason
    else:
        assert c.interval == max(desired, math.ceil(DAY * per_poll / allowance))
        assert c.interval >= desired
        assert c.per_day <= allowance
        assert c.per_day == math.ceil(DAY / c.interval * per_poll)
        if c.interval > desired:
            assert "not " in c.reason and "(poll_interval)" not in c.reason
        else:
            assert "(poll_interval)" in c.reason
