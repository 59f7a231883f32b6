"""syncd.remote.exavault.feed.read: the activity feed is read only if it costs no
more than the listing it would replace (issue 18, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncd.remote.errors import ProtocolError
from syncd.remote.exavault import feed

PAGE = 100
T0 = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


class Log:
    """A feed of ``n`` entries; each fetch is one request, logged by offset. ``grow``
    entries are appended after each request (a live log)."""

    def __init__(self, n: int, grow: int = 0):
        self.entries = list(range(n))
        self.grow = grow
        self.offsets: list[int] = []

    def fetch(self, offset: int) -> tuple[list[int], datetime]:
        self.offsets.append(offset)
        page = self.entries[offset:offset + PAGE]
        at = T0 + timedelta(seconds=len(self.offsets))
        start = len(self.entries)
        self.entries += range(start, start + self.grow)
        return page, at


@pytest.mark.parametrize("n", [0, 1, 99])
def test_a_short_first_page_is_the_whole_feed_one_request(n):
    log = Log(n)
    entries, as_of = feed.read(log.fetch, 35, PAGE)
    assert entries == list(range(n)) and log.offsets == [0] and as_of == T0 + timedelta(seconds=1)


@pytest.mark.parametrize("budget", [2, 3, 5, 35])
@pytest.mark.parametrize("n", [100, 150, 199, 200, 250, 399, 400, 499, 3399, 3400, 3499])
def test_a_feed_that_fits_the_budget_is_read_whole_within_it(n, budget):
    log = Log(n)
    got = feed.read(log.fetch, budget, PAGE)
    pages = n // PAGE + 1  # a full last page needs one more (empty) request to tell
    if pages <= budget:
        entries, _ = got
        assert entries == list(range(n))  # every entry once, in order
        assert len(log.offsets) <= budget
    else:
        assert got is None  # too long: the listing is cheaper
        assert len(log.offsets) <= 2  # and telling it cost at most 2 requests


def test_forty_thousand_entries_against_a_listing_of_111():
    log = Log(40_000)
    assert feed.read(log.fetch, 111, PAGE) is None
    assert log.offsets == [0, 11_000]  # page 1, then page 111: full


def test_a_budget_of_one_gives_up_after_a_full_first_page():
    log = Log(100)
    assert feed.read(log.fetch, 1, PAGE) is None
    assert log.offsets == [0]


def test_no_budget_reads_it_all():
    log = Log(1234)
    entries, _ = feed.read(log.fetch, None, PAGE)
    assert entries == list(range(1234)) and len(log.offsets) == 13


def test_the_probe_page_completes_the_read_and_gives_the_time():
    log = Log(250)
    entries, as_of = feed.read(log.fetch, 3, PAGE)
    assert log.offsets == [0, 200, 100]  # page 1, the probe (page 3), page 2
    assert entries == list(range(250))
    assert as_of == T0 + timedelta(seconds=2)  # the probe's answer showed the end


def test_a_growing_log_loses_nothing_read_before_the_end_was_seen():
    log = Log(250, grow=7)  # 7 new entries after every request
    entries, _ = feed.read(log.fetch, 4, PAGE)
    assert set(range(250)) <= set(entries)  # nothing there at the start is missed


def test_a_server_ignoring_the_offset_is_an_error_not_a_loop():
    first = list(range(100))
    assert feed.read(lambda offset: (first, T0), 5, PAGE) is None  # the probe looks full
    with pytest.raises(ProtocolError):
        feed.read(lambda offset: (first, T0), None, PAGE)
