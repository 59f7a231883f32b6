"""Deletion safety guards: pure checks on a plan before anything is deleted.

A cycle deletes nothing, and says why, when:

* it would delete more than ``max_delete`` entries (default: more than 50% of
  the mirror's synced entries AND more than 10 entries; an int is a count, a
  float a fraction of the mirror);
* the remote listing came back empty (or the remote root is missing) while the
  index knows synced files - a failed or partial listing must never read as
  "everything was deleted";
* the local root looks unmounted: it is on a different device than last time,
  or it is empty while the index knows synced files.

``--force`` lifts these guards. Everything that is not a deletion still runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from syncd import model
from syncd.model import DeleteLocal, DeleteRemote, Plan

DEFAULT_FRACTION = 0.5
DEFAULT_MIN = 10


@dataclass(frozen=True)
class GuardInput:
    base_count: int
    empty_listing: bool = False
    remote_root_missing: bool = False
    local_device_changed: bool = False
    local_empty: bool = False
    max_delete: int | float | None = None


def deletion_count(plan: Plan, base: Mapping[str, model.BaseEntry]) -> int:
    """Entries the plan deletes, counting every synced entry inside a deleted folder."""
    total = 0
    for action in plan.actions:
        if isinstance(action, (DeleteLocal, DeleteRemote)):
            path = model.key(action.path if isinstance(action, DeleteLocal)
                             else action.remote_path)
            total += max(1, sum(1 for k in base if model.is_under(k, path)))
    return total


def check(plan: Plan, base: Mapping[str, model.BaseEntry], g: GuardInput) -> str | None:
    """The reason deletions must be held back, or ``None`` if they may proceed."""
    empty = ("the remote listing is empty but the index knows "
             f"{g.base_count} synced entries")
    if g.base_count and g.empty_listing:
        # Told even when this plan deletes nothing: the snapshot behind it is the
        # old one (kept on purpose), so the deletions are hidden, not absent.
        return empty
    if not any(isinstance(a, (DeleteLocal, DeleteRemote)) for a in plan.actions):
        return None
    if g.base_count and g.remote_root_missing:
        return empty
    if g.base_count and g.local_device_changed:
        return "the local folder is on a different device than last time (unmounted?)"
    if g.base_count and g.local_empty:
        return (f"the local folder is empty but the index knows {g.base_count} synced "
                "entries (unmounted?)")
    n = deletion_count(plan, base)
    if g.max_delete is None:
        if n > DEFAULT_MIN and n > DEFAULT_FRACTION * max(1, g.base_count):
            return (f"{n} of {g.base_count} synced entries would be deleted "
                    f"(more than {DEFAULT_FRACTION:.0%} and more than {DEFAULT_MIN})")
        return None
    limit = g.max_delete if isinstance(g.max_delete, int) else g.max_delete * g.base_count
    if n > limit:
        shown = g.max_delete if isinstance(g.max_delete, int) else f"{g.max_delete:.0%}"
        return f"{n} entries would be deleted (max_delete: {shown})"
    return None


def without_deletes(plan: Plan) -> Plan:
    return Plan([a for a in plan.actions if not isinstance(a, (DeleteLocal, DeleteRemote))],
                plan.conflicts, plan.notes)
