"""ExaVault's change-feed cursor: a server time, plus the entry ids seen near it.

A cursor is the JSON value ``{"at": ISO server time, "ids": [entry ids seen in the
last OVERLAP seconds before "at"]}`` (the index stores it as is; only this module
reads it). The activity log's timestamps have one-second resolution, so a query
starts ``OVERLAP`` seconds before the cursor and skips the ids already seen. After
an answer the cursor moves to the newest entry seen, or to the server time of the
answer minus ``SETTLE`` seconds if that is later (log entries may be written
late), so busy feeds of irrelevant entries (downloads) are not fetched again.

Reading on a budget (``read``). The activity API never says how many entries are
left (``totalResults`` is always 0), and a busy account can hold tens of thousands
of entries since the last pass: 40,000 entries are 401 requests, while listing the
mirrors may cost 30. The caller (the remote tracker) says what a full listing of
the mirrors would cost, ``budget`` requests, and the feed is read only if it fits:

1. page 1 (offset 0). A short page is the whole feed: a quiet pass costs 1.
2. A full page 1 and a budget B > 2: one request for page B (offset 100·(B-1)).
   A full page B means at least 100·B entries, B + 1 requests or more: too long.
   Otherwise pages 2 .. B-1 are read in order (until a short one), and page B,
   already fetched, completes them: the feed costs at most B requests.
3. (B = 2: page 2 is read in order; full means too long. B = 1: a full page 1 is
   too long.)

So reading the feed never costs more than the listing it replaces, and a feed
found too long has cost 1 or 2 requests before the listing. Pages are read out of
order, but a log grows at its end (and a late entry pushes later rows to higher
offsets): a row is read twice at worst, never missed. The answer's time
(``as_of``) is that of the page that showed the log's end, so a cursor made from
it does not skip entries written while the other pages were read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from syncd.remote.backend import Change
from syncd.remote.errors import ProtocolError

OVERLAP = 2.0  # seconds a feed query reaches back before the cursor (1 s resolution)
SETTLE = 5.0  # seconds a cursor stays behind the server clock (late log entries)

Cursor = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

E = TypeVar("E")
Fetch = Callable[[int], tuple[list[E], datetime | None]]  # offset -> (page, server time)


def read(fetch: Fetch[E], budget: int | None, page: int
         ) -> tuple[list[E], datetime | None] | None:
    """Every entry of the feed, oldest first, and the server time as of which the
    list is complete; ``None`` when reading it all would take more than ``budget``
    requests (no budget: read it all). ``fetch(offset)`` is one request of
    ``page`` entries at most. See the module docstring for the order of reads."""
    entries, as_of = fetch(0)
    if len(entries) < page:
        return entries, as_of
    if budget is not None and budget < 2:
        return None
    probe: tuple[list[E], datetime | None] | None = None
    if budget is not None and budget > 2:
        probe = fetch(page * (budget - 1))
        if len(probe[0]) >= page:
            return None
    out, n, first = list(entries), 1, entries[0]
    while True:
        if probe is not None and n == budget - 1:  # pages 1 .. B-1 read; B is the probe
            return out + probe[0], probe[1]
        if budget is not None and n == budget:
            return None  # (B = 2) page 2 was full too
        entries, as_of = fetch(page * n)
        n += 1
        if entries and entries[0] == first:  # would loop forever
            raise ProtocolError("the server ignores the paging offset")
        first = entries[0] if entries else first
        out += entries
        if len(entries) < page:
            return out, as_of



def _parse(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def at(cursor: Cursor | None) -> datetime:
    """The cursor's server time (the epoch for no cursor)."""
    return _parse(cursor["at"]) if cursor else _EPOCH


def _ids(cursor: Cursor | None) -> set[str]:
    return set(cursor.get("ids") or ()) if cursor else set()


def query_start(cursor: Cursor) -> datetime:
    """Where a feed query from ``cursor`` starts (``OVERLAP`` seconds before it)."""
    return at(cursor) - timedelta(seconds=OVERLAP)


def oldest(cursors: Sequence[Cursor]) -> Cursor:
    return min(cursors, key=at)


def seen(cursor: Cursor | None, change: Change) -> bool:
    """True if a reader at ``cursor`` has had ``change``: it lies before the
    cursor's overlap window, or its id is one the cursor remembers."""
    return change.at < at(cursor) - timedelta(seconds=OVERLAP) or bool(
        change.id and change.id in _ids(cursor))


def since(when: datetime) -> Cursor:
    """A cursor from which the feed reports every change after server time
    ``when`` (less ``SETTLE`` seconds, for late entries)."""
    return {"at": _iso(when - timedelta(seconds=SETTLE)), "ids": []}


def reached(changes: Iterable[Change], server_time: datetime | None,
            started: datetime) -> Cursor:
    """The position an answer reached: its newest entry, or the server time of the
    answer less ``SETTLE`` if later. With neither (an empty answer without a server
    clock), ``started`` (the local time the request was sent) less ``SETTLE``,
    marked as a guess, which ``advance`` uses only for a reader without a cursor."""
    changes = list(changes)
    times = [ch.at for ch in changes]
    if server_time is not None:
        times.append(server_time - timedelta(seconds=SETTLE))
    if not times:
        return {"at": _iso(started - timedelta(seconds=SETTLE)), "ids": [], "guess": True}
    return advance(None, changes, {"at": _iso(max(times)), "ids": []})


def advance(cursor: Cursor | None, changes: Sequence[Change], to: Cursor) -> Cursor:
    """The cursor of a reader at ``cursor`` after it read ``changes`` (an answer
    that reached ``to``): the later of the two times, with the ids of the entries
    within ``OVERLAP`` seconds before it (and the old ids if the time stayed)."""
    when = at(to)
    if cursor:
        when = at(cursor) if to.get("guess") else max(at(cursor), when)
    window = when - timedelta(seconds=OVERLAP)
    ids = {ch.id for ch in changes if ch.id and ch.at >= window}
    if cursor and at(cursor) == when:
        ids |= _ids(cursor)
    return {"at": _iso(when), "ids": sorted(ids)}
