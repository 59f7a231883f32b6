"""Folders kept because they hold ignored items.

syncd never deletes, moves to a trash or otherwise removes an item its ignore
rules leave out (``ignore:`` in the config, ``.syncdignore``). So when one side
deletes a folder and the other side's copy of it holds ignored items (a
``.env``, a ``cache/``, a colleague's ``*.tmp``), the worker deletes only the
synced items in it and keeps the folder, with every folder on the way to an
ignored item. Such a folder is no longer synced: its base rows are dropped and
it is remembered here (index state ``mirror:<name>`` → ``kept``, a list of
``[side, path]``), so that the next plans neither re-create it on the side that
deleted it nor delete it again. It is shown in the pass's report and in
`syncd status` ("kept: holds ignored items").

A kept folder stops being special, and is planned like any other item, as soon
as the other side has an item at its path or under it, or a synced (not
ignored) item appears in it on its own side; when it is gone, it is forgotten.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

from syncd.model import key, under_any

LOCAL, REMOTE = "local", "remote"
WHY = {
    LOCAL: "kept: holds ignored items (deleted on the server; its synced items went to "
           "the local trash)",
    REMOTE: "kept on the server: holds ignored items (deleted locally; its synced items "
            "were deleted on the server)",
}


def load(index, mirror: str) -> list[tuple[str, str]]:
    """The kept folders of ``mirror`` as ``(side, path)``."""
    return [(side, path) for side, path in index.mirror_state(mirror).kept or []]


def add(index, mirror: str, side: str, paths: Iterable[str]) -> None:
    """Remember ``paths`` (folders on ``side``) as kept for their ignored items."""
    entries = load(index, mirror)
    known = {(s, key(p)) for s, p in entries}
    entries += [(side, p) for p in paths if (side, key(p)) not in known]
    index.mirror_state(mirror).kept = [list(e) for e in sorted(set(entries))]


def tops(side: str, paths: Iterable[str]) -> list[str]:
    """The top-most of ``paths`` (what a report names)."""
    out: list[str] = []
    for p in sorted(paths, key=key):
        if not any(key(p).startswith(key(t) + "/") for t in out):
            out.append(p)
    return out


def hide(index, mirror: str, local: Mapping, remote: Mapping, base: Mapping, *,
         complete: bool, save: bool = True) -> tuple[dict, dict, list[tuple[str, str]]]:
    """The planner's ``local`` (keyed by key) and ``remote`` (keyed by the server's
    spelling) trees without the kept folders that still are kept, and a note per
    top-most one. Kept folders that are kept no longer (see module doc) are
    forgotten (``save``: in the index). ``complete``: the trees are whole (not a
    focused pass), so a kept folder missing from its side is gone."""
    entries = load(index, mirror)
    if not entries:
        return dict(local), dict(remote), []
    keys = {LOCAL: sorted(local), REMOTE: sorted(key(p) for p in remote)}
    kept = {(side, key(p)) for side, p in entries}
    still: list[tuple[str, str]] = []
    for side, path in entries:
        k = key(path)
        mine, other = keys[side], keys[REMOTE if side == LOCAL else LOCAL]
        if k in base or _has(other, k, at=True) or _other_inside(mine, k, side, kept):
            continue  # synced again, or now holds something that syncs: plan it
        if complete and not _has(mine, k, at=True, inside=False):
            continue  # gone
        still.append((side, path))
    if save and len(still) != len(entries):
        index.mirror_state(mirror).kept = [list(e) for e in still]
    hidden = {side: {key(p) for s, p in still if s == side} for side in (LOCAL, REMOTE)}
    local_out = {k: e for k, e in local.items() if not under_any(k, hidden[LOCAL])}
    remote_out = {p: e for p, e in remote.items() if not under_any(key(p), hidden[REMOTE])}
    notes = []
    for side in (LOCAL, REMOTE):
        present = [p for s, p in still if s == side and
                   _has(keys[side], key(p), at=True, inside=False)]
        notes += [(p, WHY[side]) for p in tops(side, present)]
    return local_out, remote_out, notes


def _has(sorted_keys: list[str], k: str, *, at: bool, inside: bool = True) -> bool:
    """Is ``k`` (``at``) or anything under it (``inside``) in ``sorted_keys``?"""
    i = bisect.bisect_left(sorted_keys, k)
    if at and i < len(sorted_keys) and sorted_keys[i] == k:
        return True
    if not inside:
        return False
    j = bisect.bisect_left(sorted_keys, k + "/")
    return j < len(sorted_keys) and sorted_keys[j].startswith(k + "/")


def _other_inside(sorted_keys: list[str], k: str, side: str, kept: set) -> bool:
    """Does ``side`` hold, under ``k``, an item that is not a kept folder itself?"""
    j = bisect.bisect_left(sorted_keys, k + "/")
    while j < len(sorted_keys) and sorted_keys[j].startswith(k + "/"):
        if (side, sorted_keys[j]) not in kept:
            return True
        j += 1
    return False
