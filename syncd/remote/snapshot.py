"""What the remote tracker works on during a refresh: one mirror's view of the
snapshot (``Mirror``), the result it reports (``RefreshResult``), and pure
helpers over snapshot paths (relative to the mirror root, ``""`` = the root)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from syncd.model import RemoteEntry
from syncd.remote.backend import Cursor, RemoteItem

PAGE = 100  # items per listing request


@dataclass
class RefreshResult:
    """What a refresh did for one mirror."""

    mode: str = "unchanged"  # "listing", "feed" or "unchanged"
    root_missing: bool = False  # the mirror's remote root does not exist
    empty_listing: bool = False  # a full listing was empty although base rows exist
    requests: int = 0  # requests spent for this mirror (a shared feed call: first mirror)
    changed: int = 0  # remote rows added, changed or removed
    paths: set[str] = field(default_factory=set)  # those rows' relative paths


@dataclass
class Mirror:
    """One mirror during a refresh: its snapshot rows as they were, its cursor,
    whether it is listed in full, and what the feed marked dirty."""

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


def listing_cost(rows: int) -> int:
    """Requests a full listing of a folder of ``rows`` items costs: exactly ⌈rows/100⌉
    (the search reports its total, so a full last page needs no extra request), at
    least 1."""
    return max(1, math.ceil(rows / PAGE))


def norm_root(root: str) -> str:
    return "/" + root.strip("/") if root.strip("/") else ""


def diff(old: dict[str, RemoteEntry], new: dict[str, RemoteEntry]) -> set[str]:
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


def outermost(paths: Iterable[str]) -> list[str]:
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


def latest(entries: Iterable[RemoteEntry]) -> list[RemoteEntry]:
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


def is_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def is_inside(path: str, folders: set[str] | dict) -> bool:
    """True if ``path`` or one of its ancestors is in ``folders``."""
    parts = path.split("/")
    return any("/".join(parts[:i]) in folders for i in range(1, len(parts) + 1))


def relocated(path: str, moved: dict[str, str]) -> str:
    """``path`` under the new place of its innermost ancestor in ``moved`` (old
    folder path -> new path), or ``path`` itself."""
    if moved:
        parts = path.split("/")
        for i in range(len(parts) - 1, 0, -1):
            new = moved.get("/".join(parts[:i]))
            if new is not None:
                return new + "/" + "/".join(parts[i:])
    return path


def known_dir(mirrors: list[Mirror], path: str) -> bool:
    """True if some mirror's snapshot has a folder at absolute ``path``."""
    for m in mirrors:
        rel = m.rel(path)
        if rel and rel in m.rows and m.rows[rel].kind == "dir":
            return True
    return False


def entries_of(m: Mirror, items: Iterable[RemoteItem]) -> list[RemoteEntry]:
    out = []
    for it in items:
        rel = m.rel(it.path)
        if rel:  # skip the root itself and anything outside it
            out.append(RemoteEntry(rel, it.kind, it.id, it.size, it.updated))
    return out
