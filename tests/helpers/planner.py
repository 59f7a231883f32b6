"""A planner world for rule tests: local, remote and base trees built by hand, and plan inspectors."""

from __future__ import annotations

import itertools

from syncd.model import (DIR, FILE, BaseEntry, LocalEntry, PlanOptions, RemoteEntry, is_under, key,
                         rebase)
from syncd.reconcile.planner import plan

HOST, STAMP = "box", "2024-01-02 030405"
CC = f"(conflicted copy {HOST} {STAMP})"


class World:
    """Three consistent trees built by hand; edits mimic what the scans report."""

    def __init__(self):
        self.local: dict[str, LocalEntry] = {}
        self.remote: dict[str, RemoteEntry] = {}
        self.base: dict[str, BaseEntry] = {}
        self.n = itertools.count(100)

    def tick(self) -> int:
        return next(self.n)

    # --- building
    def synced(self, path: str, kind: str = FILE, size: int = 10, *, rpath: str | None = None
               ) -> World:
        """``path`` in sync on both sides (``rpath``: the server's spelling)."""
        rpath = rpath or path
        ino, rid, t = self.tick(), f"id{self.tick()}", self.tick()
        size = size if kind == FILE else 0
        sha = f"h{ino}" if kind == FILE else None
        self.local[key(path)] = LocalEntry(path, kind, size, t if kind == FILE else 0, ino, sha)
        self.remote[rpath] = RemoteEntry(rpath, kind, rid, size, float(t) if kind == FILE else 0)
        self.base[key(path)] = BaseEntry(path, rpath, kind, size, t if kind == FILE else 0, ino,
                                         sha, rid, size, float(t) if kind == FILE else 0)
        return self

    def tree(self, *paths: str, size: int = 10) -> World:
        """Synced folders (``x/``) and files."""
        for p in paths:
            if p.endswith("/"):
                self.synced(p[:-1], DIR)
            else:
                self.synced(p, FILE, size)
        return self

    # --- local edits
    def lnew(self, path: str, kind: str = FILE, size: int = 10, ino: int | None = None
             ) -> World:
        self.local[key(path)] = LocalEntry(path, kind, size if kind == FILE else 0,
                                           self.tick(), ino or self.tick())
        return self

    def ledit(self, path: str, size: int | None = None) -> World:
        e = self.local[key(path)]
        self.local[key(path)] = LocalEntry(e.path, FILE, e.size + 1 if size is None else size,
                                           self.tick(), e.inode, None)
        return self

    def ldel(self, path: str) -> World:
        for k in [k for k in self.local if is_under(k, key(path))]:
            del self.local[k]
        return self

    def lmove(self, src: str, dst: str) -> World:
        moved = {}
        for k in [k for k in self.local if is_under(k, key(src))]:
            e = self.local.pop(k)
            p = rebase(e.path, src, dst)
            moved[key(p)] = LocalEntry(p, e.kind, e.size, e.mtime_ns, e.inode, e.sha256)
        self.local.update(moved)
        return self

    # --- remote edits
    def rnew(self, path: str, kind: str = FILE, size: int = 10) -> World:
        self.remote[path] = RemoteEntry(path, kind, f"id{self.tick()}",
                                        size if kind == FILE else 0,
                                        float(self.tick()) if kind == FILE else 0.0)
        return self

    def redit(self, path: str, size: int | None = None) -> World:
        e = self.remote[path]
        # (+2: a local and a remote edit made with the defaults differ in size,
        # a conflict; equal sizes are compared first, rule 6)
        self.remote[path] = RemoteEntry(path, FILE, e.id, e.size + 2 if size is None else size,
                                        float(self.tick()))
        return self

    def rdel(self, path: str) -> World:
        for p in [p for p in self.remote if is_under(p, path)]:
            del self.remote[p]
        return self

    def rmove(self, src: str, dst: str) -> World:
        moved = {}
        for p in [p for p in self.remote if is_under(p, src)]:
            e = self.remote.pop(p)
            q = rebase(p, src, dst)
            moved[q] = RemoteEntry(q, e.kind, e.id, e.size, e.updated)
        self.remote.update(moved)
        return self

    def plan(self, direction: str = "two-way"):
        return plan(self.local, self.remote, self.base,
                    PlanOptions(direction=direction, host=HOST, timestamp=STAMP))


def of(p, *types) -> list:
    return [a for a in p.actions if isinstance(a, types)]


def only(p, *types):
    found = of(p, *types)
    assert len(found) == 1, p.actions
    return found[0]
