"""A focused pass: which paths of a mirror it looks at. The daemon's watcher
and the remote feed say what changed; a pass looks at those paths, the folders
on the way to them, and what is under them, not at the whole tree."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from syncd import model

if TYPE_CHECKING:  # a type only: reconcile/ imports nothing but the model
    from syncd.remote.snapshot import RefreshResult


def focus_paths(name: str, local: Mapping[str, set[str] | None] | None,
           refreshed: RefreshResult, refreshed_now: bool) -> set[str] | None:
    """The paths (keys) of a mirror to look at in this pass; None means all."""
    if local is None:
        return None
    mine = local.get(name, set())
    if mine is None:
        return None
    focus = {model.key(p) for p in mine}
    if refreshed_now:
        if refreshed.root_missing:
            return None
        focus |= {model.key(p) for p in refreshed.paths}
    return None if "" in focus else focus


def selector(focus: set[str] | None) -> Callable[[str], bool]:
    """``wanted(key)``: at or under a focus path, or a folder on the way to one."""
    if focus is None:
        return lambda k: True
    on_the_way = model.ancestors(focus)

    def wanted(k: str) -> bool:
        return k in on_the_way or model.under_any(k, focus)
    return wanted
