"""ExaVault's feed cursor (``syncd.remote.exavault.feed``): the stored format and
the rules the tracker relies on without reading the cursor."""

from datetime import UTC, datetime, timedelta

from syncd.remote.backend import Change
from syncd.remote.exavault import feed

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def ch(id: str, seconds: float) -> Change:
    return Change(id=id, at=T0 + timedelta(seconds=seconds), op="upload", path="/a")


def test_stored_format_is_at_and_ids():
    cur = feed.advance(None, [ch("7", 0), ch("8", -1), ch("1", -10)],
                       feed.reached([ch("7", 0)], None, T0))
    assert cur == {"at": T0.isoformat(), "ids": ["7", "8"]}


def test_seen_uses_the_overlap_window_and_the_ids():
    cur = {"at": T0.isoformat(), "ids": ["5"]}
    assert feed.seen(cur, ch("1", -feed.OVERLAP - 1))
    assert feed.seen(cur, ch("5", 0))
    assert not feed.seen(cur, ch("6", -1))
    assert not feed.seen(None, ch("6", -1000))


def test_query_starts_overlap_before_the_oldest_cursor():
    a, b = {"at": T0.isoformat(), "ids": []}, {"at": (T0 - timedelta(1)).isoformat(), "ids": []}
    assert feed.oldest([a, b]) is b
    assert feed.query_start(a) == T0 - timedelta(seconds=feed.OVERLAP)


def test_advance_keeps_the_later_cursor_and_its_ids():
    cur = {"at": T0.isoformat(), "ids": ["5"]}
    assert feed.advance(cur, [], feed.since(T0)) == cur  # earlier: unchanged
    later = feed.since(T0 + timedelta(seconds=60))
    assert feed.advance(cur, [], later) == later
    server = T0 + timedelta(seconds=feed.SETTLE)  # reaches exactly the cursor: ids merge
    assert feed.advance(cur, [ch("6", -1)], feed.reached([ch("6", -1)], server, T0)) == {
        "at": T0.isoformat(), "ids": ["5", "6"]}


def test_a_guessed_position_never_moves_an_existing_cursor():
    guess = feed.reached([], None, T0 + timedelta(hours=1))
    cur = {"at": T0.isoformat(), "ids": ["5"]}
    assert feed.advance(cur, [], guess) == cur
    assert feed.advance(None, [], guess) == feed.since(T0 + timedelta(hours=1))
