"""ExaVault's change-feed cursor: a server time, plus the entry ids seen near it.

A cursor is the JSON value ``{"at": ISO server time, "ids": [entry ids seen in the
last OVERLAP seconds before "at"]}`` (the index stores it as is; only this module
reads it). The activity log's timestamps have one-second resolution, so a query
starts ``OVERLAP`` seconds before the cursor and skips the ids already seen. After
an answer the cursor moves to the newest entry seen, or to the server time of the
answer minus ``SETTLE`` seconds if that is later (log entries may be written
late), so busy feeds of irrelevant entries (downloads) are not fetched again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.remote.backend import Change

OVERLAP = 2.0  # seconds a feed query reaches back before the cursor (1 s resolution)
SETTLE = 5.0  # seconds a cursor stays behind the server clock (late log entries)

Cursor = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
