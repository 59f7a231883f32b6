"""Safety guards: pure checks before a mirror acts.

Two kinds, both lifted by ``--force``:

* **A distrusted view** (``distrust``): one side's picture of the mirror cannot be
  believed, so nothing that relies on it may run - the engine stops the WHOLE
  mirror (no download, upload, move, delete, record or queue) and says why:

  - the remote listing came back empty (or the remote root is missing) while
    the index knows synced entries: a failed or partial listing must never read
    as "everything was deleted";
  - the local root looks unmounted or replaced: it is on a different device
    than last time, it is another folder than last time (another inode on the
    same device: deleted and re-created, or another folder moved in), or it is
    empty while the index knows synced entries.

  Holding back only the deletions is not enough: a colleague's edit downloaded
  into a bare mount point is recorded as synced, and after the remount the
  stale local file goes up over it and the new files are "deleted" remotely.

* **Too many deletions** (``check``): more than ``max_delete`` entries (default:
  more than 50% of the mirror's synced entries AND more than 10 entries; an
  int is a count, a float a fraction of the mirror). Only the deletions are
  held back; everything else runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from syncd import model
from syncd.model import Plan

DEFAULT_FRACTION = 0.5
DEFAULT_MIN = 10


@dataclass(frozen=True)
class GuardInput:
    base_count: int
    empty_listing: bool = False
    local_device_changed: bool = False
    local_empty: bool = False
    local_replaced: bool = False
    unmounted: str = ""  # a folder in the mirror that was a mount point and is not now
    max_delete: int | float | None = None


def deletion_count(plan: Plan, base: Mapping[str, model.BaseEntry]) -> int:
    """Entries the plan deletes, counting every synced entry inside a deleted folder."""
    total = 0
    for action in plan.actions:
        if action.deletes:
            path = model.key(action.subject)
            total += max(1, sum(1 for k in base if model.is_under(k, path)))
    return total


def distrust(g: GuardInput) -> str | None:
    """Why one side's view of a mirror that synced before cannot be trusted (the
    mirror must then do nothing at all), or ``None``. A mirror without synced
    entries has nothing a wrong view could undo: it is never distrusted."""
    if not g.base_count:
        return None
    if g.empty_listing:
        # The snapshot behind an empty listing is the old one (kept on purpose).
        return f"the remote listing is empty but the index knows {g.base_count} synced entries"
    if g.local_device_changed:
        return "the local folder is on a different device than last time (unmounted?)"
    if g.local_replaced:
        return ("the local folder is not the folder synced last time (deleted and "
                "re-created, or replaced?)")
    if g.unmounted:
        return (f"{g.unmounted} in the local folder is no longer mounted (it was a mount "
                "point at the last sync)")
    if g.local_empty:
        return (f"the local folder is empty but the index knows {g.base_count} synced "
                "entries (unmounted?)")
    return None


def check(plan: Plan, base: Mapping[str, model.BaseEntry], g: GuardInput) -> str | None:
    """The reason deletions must be held back, or ``None`` if they may proceed
    (a distrusted view counts too, even for a plan without deletions: the engine
    checks ``distrust`` first and then runs nothing at all)."""
    reason = distrust(g)
    if reason:
        return reason
    if not any(a.deletes for a in plan.actions):
        return None
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
    return Plan([a for a in plan.actions if not a.deletes],
                plan.conflicts, plan.notes)
