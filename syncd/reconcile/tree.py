"""The planner's virtual trees: keyed trees (local, remote, base) that moves and
drops change as the plan is made, remembering where each original key went."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from syncd.model import parent, rebase

LOCAL, REMOTE = "local", "remote"  # the two sides

E = TypeVar("E")


class Tree(Generic[E]):
    """A keyed tree that can move and drop subtrees, remembering where each
    original key went (``now``) and which are flagged (base rows re-rooted with
    no worker action doing it)."""

    def __init__(self, items: Mapping[str, E]):
        self.items: dict[str, E] = dict(items)
        self.kids: dict[str, set[str]] = {}
        for k in self.items:
            self._link(k)
        self.now: dict[str, str | None] = {k: k for k in self.items}
        self.was: dict[str, str] = {k: k for k in self.items}
        self.flag: set[str] = set()

    def _link(self, k: str) -> None:
        """Make ``k`` reachable from the root, through keys that have no item
        (base rows can sit below a folder that has none)."""
        while k:
            up = self.kids.setdefault(parent(k), set())
            if k in up:
                return
            up.add(k)
            k = parent(k)

    def get(self, k: str) -> E | None:
        return self.items.get(k)

    def __contains__(self, k: str) -> bool:
        return k in self.items

    def subtree(self, k: str, *, self_too: bool = True) -> list[str]:
        out: list[str] = []
        stack = [k] if self_too else list(self.kids.get(k, ()))
        while stack:
            x = stack.pop()
            if x in self.items:
                out.append(x)
            stack.extend(self.kids.get(x, ()))
        return out

    def has_below(self, k: str) -> bool:
        return bool(self.subtree(k, self_too=False))

    def _take(self, keys: Iterable[str]) -> list[tuple[str, E, str, bool]]:
        taken = []
        for k in keys:
            taken.append((k, self.items.pop(k), self.was.pop(k), k in self.flag))
            self.kids.get(parent(k), set()).discard(k)
            self.flag.discard(k)
        return taken

    def move(self, src: str, dst: str, respell: Callable[[E, str], E],
             keep: Callable[[str, E, E], bool] | None = None) -> list[str]:
        """Move the subtree at ``src`` to ``dst``. An item already at a key the
        move lands on is replaced -- unless ``keep(key, there, moving)`` says it
        stays (then the moving item is dropped)."""
        moved = []
        for k, entry, orig, flagged in self._take(self.subtree(src)):
            nk = rebase(k, src, dst)
            entry = respell(entry, nk)
            if nk in self.items:
                if keep is not None and keep(nk, self.items[nk], entry):
                    self.now[orig] = None
                    continue
                for _, _, there, _ in self._take([nk]):
                    self.now[there] = None
            self.items[nk] = entry
            self._link(nk)
            self.was[nk], self.now[orig] = orig, nk
            if flagged:
                self.flag.add(nk)
            moved.append(nk)
        return moved

    def drop(self, k: str, *, self_too: bool = True) -> None:
        for _, _, orig, _ in self._take(self.subtree(k, self_too=self_too)):
            self.now[orig] = None


class Sides:
    """The planner's three trees (``vl``, ``vr``, ``vb``: set by the planner) and
    the way from a side's name to its tree."""

    vl: Tree
    vr: Tree
    vb: Tree

    def tree(self, side: str) -> Tree:
        return self.vl if side == LOCAL else self.vr

    @staticmethod
    def other(side: str) -> str:
        return REMOTE if side == LOCAL else LOCAL
