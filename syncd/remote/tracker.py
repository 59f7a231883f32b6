"""Keep the index's remote snapshot fresh while spending as few transactions as possible.

Every request is a paid transaction (docs/exavault-api.md §4), so the tracker picks the cheapest
way to learn what changed on the server (docs/exavault-api.md §9):

* **Activity feed.** One ``changes(cursor)`` call serves every mirror of the account.
  Changes we made ourselves were announced by the backend's echo callback
  (``index.expect_echo``) and are skipped; every other change marks paths dirty in
  the mirrors whose root holds them. A dirty path is re-read with one ``stat`` (a
  folder also gets one subtree listing), unless that would cost as much as a full
  listing, which is then done instead. With nothing changed a refresh of any
  number of mirrors costs exactly one request.
* **Cost-aware choice.** The feed is account-wide: on a busy account it holds the
  whole account's activity since the last pass (40,000 entries are 401 requests),
  however little of it concerns the mirrors. So the feed is read with a budget:
  what listing the mirrors that use it would cost (``listing_cost`` of each
  snapshot's rows, summed). A feed that would cost more is abandoned after the
  request or two that tell (``Backend.changes`` raises ``FeedTooLong``), and those
  mirrors are listed in full instead; their cursors move to the time of the
  refresh's first request, as after any listing. Our own echoes under them that
  the skipped part of the feed held can no longer come back, and are forgotten.
  The choice and both prices are kept in the account state (``detection``) and
  shown by ``syncd status``.
* **Full listing** (``list_tree``, about one request per 100 items): the first
  time, every ``full_scan_interval`` as a safety net, and always on servers
  without a feed (Files.com-migrated accounts). Whether the feed exists is probed
  once and remembered in the account state (``feed``: ``"yes"``/``"no"``).

Cursors. Each mirror keeps its own feed position in ``mirror:<name>`` state
``cursor``, a value only the backend reads (``Backend.changes``; ExaVault's is
described in ``syncd.remote.exavault.feed``). The feed call is still shared: it
starts at the oldest cursor of the mirrors being refreshed, and each mirror skips
the changes its own cursor has seen. Per-mirror cursors let the engine refresh a
subset of the account's mirrors (e.g. one mirror again mid-run) without losing
the others' changes. A cursor moves only after the mirror's dirty paths were
resolved and stored, in the same index transaction, so a crash replays
(harmlessly) instead of losing changes. After listings alone (no feed call) it
moves to the server time of the refresh's first request.

Cheap shortcuts. A ``mkdir`` entry never needs a subtree listing of anything it
did not create: creating the root or an ancestor of it (e.g. implicitly, by an
upload into a new mirror) or a folder the snapshot already has costs nothing.
Re-reading is priced from hints (a delete or a move source is one stat; a
folder, known or moved in, is a stat plus a subtree listing) and compared with
``ceil((rows + 1) / 100)`` for a full listing.

Listings are paged by offset over a live tree: what a listing lacks is confirmed
before the snapshot drops it (``syncd.remote.confirm``).

Guards. A missing remote root is reported (``root_missing``); the snapshot is
kept and the mirror is listed again next time, unless the mirror has no base
rows (never synced), where a missing root is just an empty tree the engine will
create. An empty listing of a mirror with base rows is reported
(``empty_listing``), the old snapshot is kept and the mirror is listed again
next time: the engine refuses to propagate deletions from it, unless the user
confirmed them (``syncd sync --force``: ``accept_empty``), when the empty
listing is stored like any other.

Index rows are relative to the mirror root. Backend errors (auth, rate limit,
transport, budget, ...) propagate unchanged; the index stays consistent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from syncd import model
from syncd.model import RemoteEntry
from syncd.remote.backend import (
    Backend,
    Change,
    Cursor,
    FeedTooLong,
    FeedUnavailable,
    RemoteItem,
)
from syncd.remote.confirm import ListingChecks
from syncd.remote.errors import InvalidParameterError, NotFoundError
from syncd.remote.snapshot import (
    PAGE,
    Mirror,
    RefreshResult,
    diff,
    entries_of,
    known_dir,
    listing_cost,
    norm_root,
    outermost,
)
from syncd.state.index import Index
from syncd.state.keys import AccountState

ECHO_TTL = 2 * 86400.0  # expected echoes not seen after this are forgotten
ECHO_OPS = frozenset({"upload", "delete", "mkdir", "move", "rename"})
# Echoes expected this long before a refresh whose feed was skipped are forgotten:
# their entries lie before the next feed read (far more than the cursor's few seconds).
SKIPPED_ECHO_AGE = 60.0

T = TypeVar("T")


class RemoteTracker(ListingChecks):
    def __init__(self, backend: Backend, index: Index, account: str, *,
                 now: Callable[[], float] = time.time):
        self.backend = backend
        self.index = index
        self.account = account
        self.now = now
        self._estimate = 0  # requests, when the backend does not count them itself
        self._first: datetime | None = None  # server time of this refresh's first request
        self._accept_empty = False  # this refresh may store an empty listing (--force)

    @property
    def _state(self) -> AccountState:
        return self.index.account_state(self.account)

    # --- request accounting ---------------------------------------------------------

    def _count(self) -> int:
        sent = getattr(self.backend, "requests_sent", None)
        return sent if isinstance(sent, int) else self._estimate

    def _call(self, fn: Callable[[], T], cost: Callable[[T], int] = lambda r: 1) -> T:
        """Run one backend call; note the server time of the refresh's first request
        (the server clock after it, minus the time the call took)."""
        started = time.monotonic()
        ok = False
        try:
            out = fn()
            ok = True
            self._estimate += cost(out)
            return out
        finally:
            if not ok:
                self._estimate += 1
            if self._first is None:
                server = self.backend.server_time() or datetime.now(UTC)
                self._first = server - timedelta(seconds=time.monotonic() - started)

    def _list(self, path: str) -> list[RemoteItem]:
        return self._call(lambda: list(self.backend.list_tree(path)),
                          lambda items: max(1, math.ceil(len(items) / PAGE)))

    def _stat(self, path: str) -> RemoteItem:
        return self._call(lambda: self.backend.stat(path))

    # --- the refresh ------------------------------------------------------------------

    def refresh(self, mirrors: Sequence[tuple[str, str, float]], *,
                force_full: bool = False,
                hints: Sequence[Change] | None = None,
                accept_empty: bool = False) -> dict[str, RefreshResult]:
        """Bring the remote snapshot of ``mirrors`` ((name, absolute remote root,
        full_scan_interval seconds)) up to date; one result per mirror name.

        ``hints`` are changes pushed to us (webhooks). On a server with a feed they
        are not needed (the feed call covers them); on one without, they replace
        the full listing of mirrors listed within their ``full_scan_interval``:
        only the hinted paths are re-read."""
        self._first = None
        self._accept_empty = accept_empty
        index = self.index
        feed = self._state.feed
        t = self.now()
        ms: list[Mirror] = []
        use_hints = feed == "no" and hints is not None and not force_full
        for name, root, interval in mirrors:
            state = index.mirror_state(name)
            listed_at = state.listed_at
            cursor = state.cursor
            full = (force_full or listed_at is None or t - float(listed_at) > interval
                    or (feed == "no" and not use_hints)
                    or (feed != "no" and cursor is None))
            ms.append(Mirror(name, norm_root(root), interval, index.remote(name), cursor, full))

        mark = self._count()
        changes: list[Change] | None = None
        reached: Cursor | None = None
        feeders = [m for m in ms if not m.full]
        budget = sum(listing_cost(len(m.rows)) for m in feeders)
        too_long = False
        if feed != "no" and (feed is None or feeders):
            # Feed state unknown: this call is the probe (its entries are not needed:
            # every mirror without a cursor is listed in full below).
            since = self.backend.oldest([m.cursor for m in feeders]) if feeders else None
            try:
                changes, reached = self._call(
                    lambda: self.backend.changes(since, budget if feeders else None),
                    lambda out: math.ceil((len(out[0]) + 1) / PAGE))
            except FeedUnavailable:
                self._state.feed = "no"
                feed = "no"
                for m in ms:
                    m.full = True
                feeders = []
            except FeedTooLong:
                too_long = True
                for m in feeders:
                    m.full = True
                self.index.prune_echoes(self.account, t - SKIPPED_ECHO_AGE,
                                        under=[m.root for m in feeders])
                feeders = []
            else:
                if feed != "yes":
                    self._state.feed = "yes"
                    feed = "yes"
        shared = self._count() - mark
        self._note_choice(ms, feed, feeders, shared, budget, too_long, t)
        if changes is not None and feeders:
            self._mark_dirty(feeders, ms, changes)
        elif use_hints and feeders:
            for m in feeders:
                m.cursor = None  # a hint applies whenever it came
            self._mark_dirty(feeders, ms, list(hints or ()))

        for i, m in enumerate(ms):
            mark = self._count()
            if m.full or "" in m.dirty or self._listing_is_cheaper(m):
                self._full(m, feed, changes, reached)
            else:
                self._resolve(m, changes, reached)
            m.result.requests = self._count() - mark + (shared if i == 0 else 0)
        index.prune_echoes(self.account, self.now() - ECHO_TTL)
        return {m.name: m.result for m in ms}

    def _note_choice(self, ms: list[Mirror], feed: str | None, feeders: list[Mirror],
                     spent: int, budget: int, too_long: bool, t: float) -> None:
        """Keep how this refresh learns the changes, and both prices (``syncd status``)."""
        listing = sum(listing_cost(len(m.rows)) for m in ms)
        if feed == "no":
            way, why = ("hints", "webhook pushes: only the pushed paths are read") if feeders \
                else ("listing", "full listing: the account has no activity feed")
        elif feeders:
            way, why = "feed", (f"activity feed: {spent} request(s); listing those mirrors "
                                f"would cost {budget}")
        elif too_long:
            way, why = "listing", (
                f"full listing: the activity feed held at least {budget * PAGE} entries "
                f"since the last pass; listing the mirrors ({budget}) was cheaper")
        else:
            way, why = "listing", "full listing: first pass or full_scan_interval true-up"
        self._state.detection = {"at": t, "way": way, "why": why,
                                 "feed_requests": spent if feed != "no" else None,
                                 "listing_requests": listing}

    # --- the feed -----------------------------------------------------------------------

    def _mark_dirty(self, feeders: list[Mirror], every: list[Mirror],
                    changes: list[Change]) -> None:
        for ch in changes:
            hits: list[tuple[Mirror, set[str]]] = []
            for m in feeders:
                if self.backend.seen(m.cursor, ch):
                    continue  # this mirror has handled it before
                if ch.op == "mkdir":
                    # A new folder is empty (what goes into it has entries of its own).
                    # Creating the root or an ancestor of it changes nothing inside,
                    # nor does creating a folder the snapshot already has (a replay,
                    # or created by us as a parent of an upload). Such entries are
                    # still "hits", so an echo of ours is consumed, not left behind.
                    rel = m.rel(ch.path)
                    if rel is not None or m.holds_root(ch.path):
                        known = rel in m.rows and m.rows[rel].kind == "dir"
                        hits.append((m, {rel} if rel and not known else set()))
                    continue
                paths = {ch.path} if ch.op == "copy" or not ch.source else {ch.path, ch.source}
                rels = {r for r in (m.rel(p) for p in paths) if r is not None}
                rels |= {"" for p in paths if p and m.holds_root(p)}
                if rels:
                    hits.append((m, rels))
            if not hits:
                continue
            if ch.op in ECHO_OPS and self.index.take_echo(self.account, ch.op, ch.path):
                continue  # our own change: the engine already recorded its result
            for m, rels in hits:
                m.dirty |= rels
                self._hint(m, ch, every)

    @staticmethod
    def _hint(m: Mirror, ch: Change, every: list[Mirror]) -> None:
        """Guess what each dirty path is now (the latest change wins), to price its
        re-read: a folder costs a stat plus a subtree listing, anything else a stat."""
        source = m.rel(ch.source) if ch.source and ch.op in ("move", "rename") else None
        if source:
            m.hints[source] = "gone"
            m.moved_out.add(source)
        target = m.rel(ch.path)
        if not target:
            return
        if ch.op == "delete":
            m.hints[target] = "gone"
        elif ch.op == "mkdir" or (ch.source and known_dir(every, ch.source)):
            m.hints[target] = "dir"
        elif ch.op in ("upload", "move", "rename", "copy"):
            m.hints[target] = "file"
        else:
            m.hints.pop(target, None)

    def _listing_is_cheaper(self, m: Mirror) -> bool:
        """True when re-reading the dirty paths would cost at least as much as one
        full listing (a stat each, plus a subtree listing for each folder)."""
        if not m.dirty:
            return False
        def price(p: str) -> int:
            hint = m.hints.get(p) or (m.rows[p].kind if p in m.rows else "file")
            return 2 if hint == "dir" else 1
        cost = sum(price(p) for p in outermost(m.dirty))
        return cost >= math.ceil((len(m.rows) + 1) / PAGE)

    def _resolve(self, m: Mirror, changes: list[Change] | None,
                 reached: Cursor | None) -> None:
        """Re-read each outermost dirty path (a stat; for a folder also its subtree)
        and store the answers together with the mirror's new cursor."""
        found: dict[str, list[RemoteEntry]] = {}  # rel path -> rows now there ([] = gone)
        listed: dict[str, str] = {}  # rel -> absolute path of each folder listed
        for rel in outermost(m.dirty):
            if rel and model.unsafe(rel):  # ("" is the mirror root itself)
                continue  # a hostile name in the feed: nothing to read back (and the
                # engine would never sync it); the cursor still moves past it
            abs_path = m.abs(rel)
            try:
                item = self._stat(abs_path)
                items = [item]
                if item.kind == "dir":
                    items += self._list(abs_path)
            except NotFoundError:
                found[rel] = []
                continue
            except InvalidParameterError:
                continue  # the server refuses to read that name back: skip it
            entries = entries_of(m, items[:1])
            if item.kind == "dir" and entries:
                # A subtree listing is paged too: confirm what it misses.
                sub, _ = self._confirm(m, entries[0].path, entries_of(m, items[1:]),
                                       lambda: entries_of(m, self._list(abs_path)))
                entries += sub
                listed[rel] = abs_path
            found[rel] = entries
            if entries and entries[0].path != rel:  # the server spells it differently
                found.setdefault(entries[0].path, [])
        if listed and m.moved_out:
            self._moved_in_full(m, found, listed)
        with self.index.batch():
            for rel in found:
                self.index.drop_remote(m.name, rel)
            for entries in found.values():
                self.index.put_remote(m.name, entries)
            self._advance(m, changes, reached)
        if found:
            m.result.mode = "feed"
            m.result.paths = diff(m.rows, self.index.remote(m.name))
            m.result.changed = len(m.result.paths)

    # --- full listing --------------------------------------------------------------------

    def _full(self, m: Mirror, feed: str | None, changes: list[Change] | None,
              reached: Cursor | None) -> None:
        m.result.mode = "listing"
        root = m.abs("")
        missing = False
        try:
            listed = entries_of(m, self._list(root))
            entries = listed
        except NotFoundError:
            missing, entries = True, []
        except InvalidParameterError:  # e.g. the root is a file
            if self._root_is_folder(root):
                raise
            missing, entries = True, []
        base_rows = self.index.base_count(m.name)
        if not entries and not missing and m.root and (base_rows or m.rows):
            # Some servers may list a missing folder as empty: check before concluding.
            missing = not self._root_is_folder(root)
        if missing:
            m.result.root_missing = True
            if base_rows:
                return  # synced before: keep everything, the engine decides; re-list next time
        elif not entries and base_rows and not self._accept_empty:
            # Keep the old snapshot and do not mark the mirror as listed: the
            # engine refuses deletions and the next refresh looks again.
            m.result.empty_listing = True
            return
        settled = True
        if not missing:
            entries, settled = self._confirm(
                m, "", listed, lambda: entries_of(m, self._list(root)))
        # A missing root of a mirror never synced is simply an empty tree (the
        # engine creates it): remembered as listed, so the next refresh uses the feed.
        # A listing that left an item unconfirmed (kept as it was) is not
        # remembered as done: the next refresh lists again.
        with self.index.batch():
            self.index.put_remote(m.name, entries, replace_all=True)
            if settled:
                self.index.mirror_state(m.name).listed_at = self.now()
            if feed == "yes":
                self._advance(m, changes, reached)
        m.result.paths = diff(m.rows, {e.path: e for e in entries})
        m.result.changed = len(m.result.paths)

    def _root_is_folder(self, root: str) -> bool:
        try:
            return self._stat(root).kind == "dir"
        except NotFoundError:
            return False

    # --- cursors -------------------------------------------------------------------------

    def _advance(self, m: Mirror, changes: list[Change] | None,
                 reached: Cursor | None) -> None:
        """Store the mirror's new cursor (inside the caller's batch)."""
        if changes is None or reached is None:
            # No feed call this time (every mirror was listed): the listings are
            # complete as of the first request of this refresh.
            changes = []
            reached = self.backend.cursor_at(self._first or datetime.now(UTC))
        value = self.backend.advance(m.cursor, changes, reached)
        if value != m.cursor:
            self.index.mirror_state(m.name).cursor = value
