"""Confirming what a paged listing did not show, before the snapshot drops it.

Listings are paged by offset over a live tree, so a change during the paging
can make a listing skip untouched items. A synced item (base and old snapshot) a
listing lacks is therefore confirmed before the snapshot drops it (``_confirm``):
a stat of each outermost missing path (a folder found is listed; one not found is
looked up by id, in case it was moved), or a second listing when that is cheaper.
A listing that lacks nothing costs nothing more (docs/sync.md has the prices).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from syncd import model
from syncd.model import RemoteEntry
from syncd.remote.backend import Backend, RemoteItem
from syncd.remote.errors import InvalidParameterError, NotFoundError
from syncd.remote.snapshot import (
    PAGE,
    Mirror,
    entries_of,
    is_inside,
    is_under,
    latest,
    outermost,
    relocated,
)
from syncd.state.index import Index


class ListingChecks:
    """The tracker's checks of what a listing lacks (mixed into ``RemoteTracker``,
    which provides the paid calls ``_stat``, ``_list`` and ``_call``)."""

    backend: Backend
    index: Index
    _stat: Callable[[str], RemoteItem]
    _list: Callable[[str], list[RemoteItem]]
    _call: Callable

    def _moved_in_full(self, m: Mirror, found: dict[str, list[RemoteEntry]],
                       listed: dict[str, str]) -> None:
        """Synced items under a path the feed says was moved away are expected where
        it went, which a subtree listing just read. One such item the listings do
        not show (by its id) may have been skipped by a change during that paging
        (or deleted since): the listed folders are read once more, and what neither
        read shows is gone."""
        new_ids = {e.id for rows in found.values() for e in rows if e.id}
        new_ids |= {e.id for p, e in m.rows.items() if e.id and not is_inside(p, found)}
        base = self.index.base(m.name)
        synced = set(base) | {model.key(b.remote_path) for b in base.values()}
        if not any(e.id and e.id not in new_ids and model.key(p) in synced
                   for p, e in m.rows.items() if is_inside(p, m.moved_out)):
            return
        for rel, abs_path in listed.items():
            try:
                again = entries_of(m, self._list(abs_path))
            except NotFoundError:
                continue  # gone meanwhile: the feed will say so
            found[rel] = found[rel][:1] + latest(found[rel][1:] + again)

    # --- confirming what a listing did not show --------------------------------------

    def _confirm(self, m: Mirror, under: str, listed: list[RemoteEntry],
                 relist: Callable[[], list[RemoteEntry]]) -> tuple[list[RemoteEntry], bool]:
        """Check a listing of ``under`` (relative; ``""`` = the whole mirror) read
        page by page, before the snapshot takes it.

        Offset paging reads a live tree: when someone deletes or moves an item on a
        page already read, every later item shifts back and one (or a whole folder)
        is never seen. So a synced item (in the base and in the old snapshot) that
        the listing lacks is not taken as deleted on its word alone. Each outermost
        such path gets one stat (a folder found there is listed again; a folder gone
        from there is looked up by id, to find it if it was moved) unless that would
        cost more than the listing itself; then the listing is read once more and
        what both listings lack is gone. An item the listing shows at another path
        (same id) was moved, which explains its absence. Nothing missing, or only
        moved items: no request at all.

        Returns the rows to store under ``under`` and whether every missing item was
        settled (``False``: some old rows were kept unconfirmed)."""
        rows = latest(listed)
        old = m.rows
        if not old and not under and self.index.base_count(m.name):
            old = {b.remote_path: RemoteEntry(b.remote_path, b.kind, b.remote_id,
                                              b.remote_size, b.remote_updated)
                   for b in self.index.base(m.name).values()}
        paths = {e.path for e in rows}
        lost = {p: e for p, e in old.items()
                if p not in paths and (not under or p.startswith(under + "/"))}
        if lost:  # compare by pairing key (NFC) only the few that differ
            seen = {model.key(e.path) for e in rows}
            lost = {p: e for p, e in lost.items() if model.key(p) not in seen}
        if not lost:
            return rows, True
        base = self.index.base(m.name)
        synced = set(base) | {model.key(b.remote_path) for b in base.values()}
        moved = {e.id for e in rows if e.id}  # seen elsewhere: its move explains it
        doubt = {p: e for p, e in lost.items()
                 if model.key(p) in synced and not (e.id and e.id in moved)}
        if not doubt:
            return rows, True
        # A folder the listing shows elsewhere (same id) was moved with what it
        # holds: what is missing under its old path is looked for under its new one.
        went = {e.id: e.path for e in rows if e.id}
        relocate = {q: went[e.id] for q, e in old.items()
                    if e.kind == model.DIR and e.id and went.get(e.id, q) != q}
        outer = outermost(doubt)
        inside = dict.fromkeys(outer, 0)  # rows lost under each outermost folder
        for p in lost:
            parts = p.split("/")
            for i in range(1, len(parts)):
                if (a := "/".join(parts[:i])) in inside:
                    inside[a] += 1
                    break
        stats = sum(1 + max(1, math.ceil(inside[p] / PAGE)) if doubt[p].kind == "dir" else 1
                    for p in outer)
        if stats > max(1, math.ceil(len(listed) / PAGE)):
            # Cheaper to read it all again: what neither listing shows is gone.
            try:
                again = relist()
            except NotFoundError:
                return rows + list(doubt.values()), False  # gone meanwhile: decide later
            return latest(rows + again), True
        settled = True
        kept: list[RemoteEntry] = []  # old rows nothing confirmed either way
        fresh: list[RemoteEntry] = []  # what the stats and listings found
        for p in outer:
            at = relocated(p, relocate)
            now = self._settle(m, at, doubt[p])
            if now is None:  # the server would not say: keep what we had
                kept += [e for q, e in doubt.items() if is_under(q, p)]
                settled = False
                continue
            fresh += now
            if now and now[0].path == at and now[0].kind == "dir":  # all of it there?
                have = {model.key(e.path) for e in now}
                unseen = [e for q, e in doubt.items()
                          if is_under(q, p) and model.key(relocated(q, relocate)) not in have]
                kept += unseen
                settled = settled and not unseen
        return latest(rows + kept + fresh), settled

    def _settle(self, m: Mirror, rel: str, was: RemoteEntry) -> list[RemoteEntry] | None:
        """What is now at ``rel`` (and under it), which a listing did not show: one
        stat, plus a subtree listing for a folder. A folder no longer there is
        looked up by its id (one more request): if it was moved within the mirror,
        it is returned at its new place. ``[]`` = gone; ``None`` = the server refused
        to say (a name it will not read back)."""
        try:
            item = self._stat(m.abs(rel))
        except NotFoundError:
            item = self._stat_id(was) if was.kind == "dir" else None
            if item is None or item.kind != "dir":
                return []
        except InvalidParameterError:
            return None
        now = entries_of(m, [item])
        if not now:
            return []  # moved out of the mirror
        if item.kind == "dir":
            try:
                now += entries_of(m, self._list(item.path))
            except NotFoundError:
                return []  # gone meanwhile
        return now

    def _stat_id(self, was: RemoteEntry) -> RemoteItem | None:
        """The item with ``was``'s id wherever it is now, if the backend can tell."""
        lookup = getattr(self.backend, "stat_id", None)
        if lookup is None or not was.id.isdigit():
            return None
        try:
            return self._call(lambda: lookup(was.id))
        except (NotFoundError, InvalidParameterError):
            return None
