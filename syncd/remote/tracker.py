"""Keep the index's remote snapshot fresh while spending as few transactions as possible.

Every request is a paid transaction (digest §5), so the tracker picks the cheapest
way to learn what changed on the server (digest §4.4):

* **Activity feed.** One ``changes(since)`` call serves every mirror of the account.
  Changes we made ourselves were announced by the backend's echo callback
  (``index.expect_echo``) and are skipped; every other change marks paths dirty in
  the mirrors whose root holds them. A dirty path is re-read with one ``stat`` (a
  folder also gets one subtree listing), unless that would cost as much as a full
  listing, which is then done instead. With nothing changed a refresh of any
  number of mirrors costs exactly one request.
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

Listings are paged by offset over a live tree, so a change during the paging
can make a listing skip untouched items. A synced item (base and old snapshot) a
listing lacks is therefore confirmed before the snapshot drops it (``_confirm``):
a stat of each outermost missing path (a folder found is listed; one not found is
looked up by id, in case it was moved), or a second listing when that is cheaper.
A listing that lacks nothing costs nothing more (docs/sync.md has the prices).

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from syncd.remote.backend import Backend, Change, Cursor, FeedUnavailable, RemoteItem
from syncd.state.index import Index
from syncd import model
from syncd.model import RemoteEntry
from syncd.remote.errors import InvalidParameterError, NotFoundError

ECHO_TTL = 2 * 86400.0  # expected echoes not seen after this are forgotten
PAGE = 100  # items per listing request
ECHO_OPS = frozenset({"upload", "delete", "mkdir", "move", "rename"})

T = TypeVar("T")


@dataclass
class RefreshResult:
    mode: str = "unchanged"  # "listing", "feed" or "unchanged"
    root_missing: bool = False  # the mirror's remote root does not exist
    empty_listing: bool = False  # a full listing was empty although base rows exist
    requests: int = 0  # requests spent for this mirror (a shared feed call: first mirror)
    changed: int = 0  # remote rows added, changed or removed
    paths: set[str] = field(default_factory=set)  # those rows' relative paths


@dataclass
class _Mirror:
    name: str
    root: str  # absolute, no trailing slash; "" for the home folder "/"
    interval: float
    rows: dict[str, RemoteEntry]
    cursor: Cursor | None
    full: bool
    result: RefreshResult = field(default_factory=RefreshResult)
    dirty: set[str] = field(default_factory=set)
    hints: dict[str, str] = field(default_factory=dict)  # rel -> "dir" / "file" / "gone"
    moved_out: set[str] = field(default_factory=set)  # rel sources of moves and renames

    @property
    def scope(self) -> str:
        return "mirror:" + self.name

    def abs(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else (self.root or "/")

    def rel(self, path: str) -> str | None:
        """``path`` relative to the root (``""`` = the root), or None if outside."""
        if not path:
            return None
        if path == self.root or (not self.root and path == "/"):
            return ""
        if path.startswith(self.root + "/"):
            return path[len(self.root) + 1:].rstrip("/") or None
        return None

    def holds_root(self, path: str) -> bool:
        """True if ``path`` is an ancestor of the root (a change there moves or
        removes the whole mirror)."""
        path = path.rstrip("/")
        return bool(self.root) and self.root.startswith(path + "/")


def _norm_root(root: str) -> str:
    return "/" + root.strip("/") if root.strip("/") else ""


def _diff(old: dict[str, RemoteEntry], new: dict[str, RemoteEntry]) -> set[str]:
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


def _outermost(paths: Iterable[str]) -> list[str]:
    """The paths not inside another of them (parents first)."""
    kept: list[str] = []
    inside: set[str] = set()  # kept paths: p is inside one if p or an ancestor is here
    for p in sorted(set(paths), key=lambda p: (p.count("/"), p)):
        if "" in inside:
            break  # the root is kept: everything else is inside it
        parts = p.split("/")
        if not any("/".join(parts[:i]) in inside for i in range(1, len(parts) + 1)):
            kept.append(p)
            inside.add(p)
    return kept


def _latest(entries: Iterable[RemoteEntry]) -> list[RemoteEntry]:
    """The rows of a listing, in the order its pages were read, reduced to each item's
    latest place. Offset paging reads a live tree: an item moved meanwhile can show
    at its old path (an earlier page) and at its new one (a later page: the newer
    view), and an insertion pushes a row read already into the next page. An id seen
    again at another path drops the earlier path and what was read under it; a path
    read twice keeps its later row."""
    rows: dict[str, RemoteEntry] = {}
    at: dict[str, str] = {}  # id -> path it was last seen at
    for e in entries:
        old = at.get(e.id) if e.id else None
        if old is not None and old != e.path and old in rows:
            inside = old + "/"
            for p in [p for p in rows if p == old or p.startswith(inside)]:
                del rows[p]
        rows[e.path] = e
        if e.id:
            at[e.id] = e.path
    return list(rows.values())


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def _inside(path: str, folders: set[str] | dict) -> bool:
    """True if ``path`` or one of its ancestors is in ``folders``."""
    parts = path.split("/")
    return any("/".join(parts[:i]) in folders for i in range(1, len(parts) + 1))


class RemoteTracker:
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
    def _scope(self) -> str:
        return "account:" + self.account

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
        feed = index.get_state(self._scope, "feed")
        t = self.now()
        ms: list[_Mirror] = []
        use_hints = feed == "no" and hints is not None and not force_full
        for name, root, interval in mirrors:
            scope = "mirror:" + name
            listed_at = index.get_state(scope, "listed_at")
            cursor = index.get_state(scope, "cursor")
            full = (force_full or listed_at is None or t - float(listed_at) > interval
                    or (feed == "no" and not use_hints)
                    or (feed != "no" and cursor is None))
            ms.append(_Mirror(name, _norm_root(root), interval, index.remote(name), cursor, full))

        mark = self._count()
        changes: list[Change] | None = None
        reached: Cursor | None = None
        feeders = [m for m in ms if not m.full]
        if feed != "no" and (feed is None or feeders):
            # Feed state unknown: this call is the probe (its entries are not needed:
            # every mirror without a cursor is listed in full below).
            since = self.backend.oldest([m.cursor for m in feeders]) if feeders else None
            try:
                changes, reached = self._call(
                    lambda: self.backend.changes(since),
                    lambda out: math.ceil((len(out[0]) + 1) / PAGE))
            except FeedUnavailable:
                index.set_state(self._scope, "feed", "no")
                feed = "no"
                for m in ms:
                    m.full = True
                feeders = []
            else:
                if feed != "yes":
                    index.set_state(self._scope, "feed", "yes")
                    feed = "yes"
        shared = self._count() - mark
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

    # --- the feed -----------------------------------------------------------------------

    def _mark_dirty(self, feeders: list[_Mirror], every: list[_Mirror],
                    changes: list[Change]) -> None:
        for ch in changes:
            hits: list[tuple[_Mirror, set[str]]] = []
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
    def _hint(m: _Mirror, ch: Change, every: list[_Mirror]) -> None:
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
        elif ch.op == "mkdir" or (ch.source and _known_dir(every, ch.source)):
            m.hints[target] = "dir"
        elif ch.op in ("upload", "move", "rename", "copy"):
            m.hints[target] = "file"
        else:
            m.hints.pop(target, None)

    def _listing_is_cheaper(self, m: _Mirror) -> bool:
        """True when re-reading the dirty paths would cost at least as much as one
        full listing (a stat each, plus a subtree listing for each folder)."""
        if not m.dirty:
            return False
        def price(p: str) -> int:
            hint = m.hints.get(p) or (m.rows[p].kind if p in m.rows else "file")
            return 2 if hint == "dir" else 1
        cost = sum(price(p) for p in _outermost(m.dirty))
        return cost >= math.ceil((len(m.rows) + 1) / PAGE)

    def _resolve(self, m: _Mirror, changes: list[Change] | None,
                 reached: Cursor | None) -> None:
        """Re-read each outermost dirty path (a stat; for a folder also its subtree)
        and store the answers together with the mirror's new cursor."""
        found: dict[str, list[RemoteEntry]] = {}  # rel path -> rows now there ([] = gone)
        listed: dict[str, str] = {}  # rel -> absolute path of each folder listed
        for rel in _outermost(m.dirty):
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
            entries = self._entries(m, items[:1])
            if item.kind == "dir" and entries:
                # A subtree listing is paged too: confirm what it misses.
                sub, _ = self._confirm(m, entries[0].path, self._entries(m, items[1:]),
                                       lambda: self._entries(m, self._list(abs_path)))
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
            m.result.paths = _diff(m.rows, self.index.remote(m.name))
            m.result.changed = len(m.result.paths)

    def _moved_in_full(self, m: _Mirror, found: dict[str, list[RemoteEntry]],
                       listed: dict[str, str]) -> None:
        """Synced items under a path the feed says was moved away are expected where
        it went, which a subtree listing just read. One such item the listings do
        not show (by its id) may have been skipped by a change during that paging
        (or deleted since): the listed folders are read once more, and what neither
        read shows is gone."""
        new_ids = {e.id for rows in found.values() for e in rows if e.id}
        new_ids |= {e.id for p, e in m.rows.items() if e.id and not _inside(p, found)}
        base = self.index.base(m.name)
        synced = set(base) | {model.key(b.remote_path) for b in base.values()}
        if not any(e.id and e.id not in new_ids and model.key(p) in synced
                   for p, e in m.rows.items() if _inside(p, m.moved_out)):
            return
        for rel, abs_path in listed.items():
            try:
                again = self._entries(m, self._list(abs_path))
            except NotFoundError:
                continue  # gone meanwhile: the feed will say so
            found[rel] = found[rel][:1] + _latest(found[rel][1:] + again)

    # --- full listing --------------------------------------------------------------------

    def _full(self, m: _Mirror, feed: str | None, changes: list[Change] | None,
              reached: Cursor | None) -> None:
        m.result.mode = "listing"
        root = m.abs("")
        missing = False
        try:
            listed = self._entries(m, self._list(root))
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
                m, "", listed, lambda: self._entries(m, self._list(root)))
        # A missing root of a mirror never synced is simply an empty tree (the
        # engine creates it): remembered as listed, so the next refresh uses the feed.
        # A listing that left an item unconfirmed (kept as it was) is not
        # remembered as done: the next refresh lists again.
        with self.index.batch():
            self.index.put_remote(m.name, entries, replace_all=True)
            if settled:
                self.index.set_state(m.scope, "listed_at", self.now())
            if feed == "yes":
                self._advance(m, changes, reached)
        m.result.paths = _diff(m.rows, {e.path: e for e in entries})
        m.result.changed = len(m.result.paths)

    # --- confirming what a listing did not show --------------------------------------

    def _confirm(self, m: _Mirror, under: str, listed: list[RemoteEntry],
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
        rows = _latest(listed)
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
        outer = _outermost(doubt)
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
            return _latest(rows + again), True
        settled = True
        kept: list[RemoteEntry] = []  # old rows nothing confirmed either way
        fresh: list[RemoteEntry] = []  # what the stats and listings found
        for p in outer:
            at = _relocated(p, relocate)
            now = self._settle(m, at, doubt[p])
            if now is None:  # the server would not say: keep what we had
                kept += [e for q, e in doubt.items() if _under(q, p)]
                settled = False
                continue
            fresh += now
            if now and now[0].path == at and now[0].kind == "dir":  # all of it there?
                have = {model.key(e.path) for e in now}
                unseen = [e for q, e in doubt.items()
                          if _under(q, p) and model.key(_relocated(q, relocate)) not in have]
                kept += unseen
                settled = settled and not unseen
        return _latest(rows + kept + fresh), settled

    def _settle(self, m: _Mirror, rel: str, was: RemoteEntry) -> list[RemoteEntry] | None:
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
        now = self._entries(m, [item])
        if not now:
            return []  # moved out of the mirror
        if item.kind == "dir":
            try:
                now += self._entries(m, self._list(item.path))
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

    def _root_is_folder(self, root: str) -> bool:
        try:
            return self._stat(root).kind == "dir"
        except NotFoundError:
            return False

    @staticmethod
    def _entries(m: _Mirror, items: Iterable[RemoteItem]) -> list[RemoteEntry]:
        out = []
        for it in items:
            rel = m.rel(it.path)
            if rel:  # skip the root itself and anything outside it
                out.append(RemoteEntry(rel, it.kind, it.id, it.size, it.updated))
        return out

    # --- cursors -------------------------------------------------------------------------

    def _advance(self, m: _Mirror, changes: list[Change] | None,
                 reached: Cursor | None) -> None:
        """Store the mirror's new cursor (inside the caller's batch)."""
        if changes is None or reached is None:
            # No feed call this time (every mirror was listed): the listings are
            # complete as of the first request of this refresh.
            changes = []
            reached = self.backend.cursor_at(self._first or datetime.now(UTC))
        value = self.backend.advance(m.cursor, changes, reached)
        if value != m.cursor:
            self.index.set_state(m.scope, "cursor", value)


def _relocated(path: str, moved: dict[str, str]) -> str:
    """``path`` under the new place of its innermost ancestor in ``moved`` (old
    folder path -> new path), or ``path`` itself."""
    if moved:
        parts = path.split("/")
        for i in range(len(parts) - 1, 0, -1):
            new = moved.get("/".join(parts[:i]))
            if new is not None:
                return new + "/" + "/".join(parts[i:])
    return path


def _known_dir(mirrors: list[_Mirror], path: str) -> bool:
    """True if some mirror's snapshot has a folder at absolute ``path``."""
    for m in mirrors:
        rel = m.rel(path)
        if rel and rel in m.rows and m.rows[rel].kind == "dir":
            return True
    return False
