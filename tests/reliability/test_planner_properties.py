"""Property tests for ``syncd.reconcile.planner.plan`` against a tiny in-memory world.

The simulator holds a local tree and a remote tree (path -> Node) and executes a
Plan the way the worker is specified to: every action's expected state is
checked STRICTLY (a stale expectation is a planner bug here, since nothing
changes between planning and executing), moves need an existing destination
folder (as ExaVault's move does), uploads and remote mkdirs create parents,
local mkdirs and downloads do not. It maintains the base the way the worker
does (transfers and mkdirs record their row, moves re-root rows, deletes and
``ForgetBase`` drop subtrees, ``RecordBase`` writes).

Every generated content is a unique "version" (``v17...``), in two sizes only,
so equal-size collisions (``Compare``, size-equal edits) are frequent.

Failures are reproducible: hypothesis prints the ``@reproduce_failure`` blob
(``print_blob=True``) and the example database keeps the failing case; the
scenario (edits on each side) is shown with ``note``.
"""

from __future__ import annotations

import copy
import os

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from syncd.model import (FILE, Compare, DeleteLocal, DeleteRemote, Download, MakeLocalDir,
                         MakeRemoteDir, MoveLocal, MoveRemote, Upload)
from syncd.reconcile.planner import plan
from tests.helpers.planner_model import (OPTIONS, Counter, World, apply_op, build, clone,
                                         derive_base, init_strategy, local_entries, op_strategy,
                                         remote_entries, shape, versions)

# PLANNER_EXAMPLES=5000 runs a deeper search (the default keeps the suite fast).
SETTINGS = settings(print_blob=True, derandomize=False, deadline=None,
                    max_examples=int(os.environ.get("PLANNER_EXAMPLES", "1500")),
                    suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------ tree ops


# ------------------------------------------------------------------------ scanning


# ------------------------------------------------------------------------ executor


WORK = (Upload, Download, Compare, MakeLocalDir, MakeRemoteDir, MoveLocal, MoveRemote,
        DeleteLocal, DeleteRemote)


def synced_world(init_ops: list, direction: str = "two-way") -> World:
    c = Counter()
    tree = build(init_ops, c)
    local, remote = clone(tree, c, False), clone(tree, c, True)
    return World(local, remote, derive_base(local, remote), c, direction)


def edit(world: World, local_ops: list, remote_ops: list) -> None:
    world.base0 = dict(world.rows)
    note(f"synced: {sorted(shape(world.local).items())}")
    for op in local_ops:
        apply_op(world.local, "local", op, world.c)
    for op in remote_ops:
        apply_op(world.remote, "remote", op, world.c)
    world.local_pre = copy.deepcopy(world.local)
    world.remote_pre = copy.deepcopy(world.remote)
    note(f"local after edits: {sorted(shape(world.local).items())}")
    note(f"remote after edits: {sorted(shape(world.remote).items())}")


def check_no_loss(world: World, base_versions: set[bytes]) -> None:
    lv, rv = versions(world.local_pre), versions(world.remote_pre)
    for v in lv | rv:
        legit_gone = v in base_versions and (v not in lv or v not in rv)
        if legit_gone:
            continue
        assert v in versions(world.local), f"version {v!r} lost locally"
        assert v in versions(world.remote), f"version {v!r} lost remotely"


def settle(world: World) -> None:
    """Planning again must only touch the index; once that is applied, nothing."""
    again = world.plan()
    assert not [a for a in again.actions if isinstance(a, WORK)], again.actions
    world.run(again)
    assert world.plan().actions == []
    # and from a base re-derived from the result (what a lost index would rebuild)
    rederived = plan(local_entries(world.local, derive_base(world.local, world.remote)),
                     remote_entries(world.remote), derive_base(world.local, world.remote),
                     OPTIONS)
    assert rederived.actions == [], rederived.actions


edits_strategy = st.lists(op_strategy, max_size=6)


# --------------------------------------------------------------------- properties


@SETTINGS
@given(init=init_strategy, local_ops=edits_strategy, remote_ops=edits_strategy)
def test_two_way_converges_loses_nothing_deletes_only_user_deletes(init, local_ops, remote_ops):
    world = synced_world(init)
    base_versions = versions(world.local)
    edit(world, local_ops, remote_ops)
    p = world.plan()
    note(f"plan: {p.actions}")
    world.run(p)  # (c) is checked on every delete as it executes
    assert shape(world.local) == shape(world.remote)  # (a) convergence
    check_no_loss(world, base_versions)  # (b)
    settle(world)  # (a) idempotence


@SETTINGS
@given(local_init=init_strategy, remote_init=init_strategy, shared=init_strategy)
def test_first_sync_never_deletes_and_unites_both_trees(local_init, remote_init, shared):
    c = Counter()
    common = build(shared, c)
    local, remote = clone(common, c, False), clone(common, c, True)
    for make_dir, i, n, big in local_init:
        apply_op(local, "local", ("mkdir" if make_dir else "mkfile", i, 0, n, big), c)
    for make_dir, i, n, big in remote_init:
        apply_op(remote, "remote", ("mkdir" if make_dir else "mkfile", i, 0, n, big), c)
    world = World(local, remote, {}, c, no_deletes=True)
    world.local_pre, world.remote_pre = copy.deepcopy(local), copy.deepcopy(remote)
    p = world.plan()
    note(f"plan: {p.actions}")
    world.run(p)
    assert shape(world.local) == shape(world.remote)
    check_no_loss(world, set())
    settle(world)


@SETTINGS
@given(init=init_strategy, local_ops=edits_strategy, remote_ops=edits_strategy,
       direction=st.sampled_from(["upload-only", "download-only"]))
def test_one_way_never_touches_the_master_and_mirrors_its_changes(init, local_ops, remote_ops,
                                                                  direction):
    world = synced_world(init, direction)
    base_versions = versions(world.local)
    edit(world, local_ops, remote_ops)
    upload = direction == "upload-only"
    master_pre = shape(world.local_pre if upload else world.remote_pre)
    mirror_pre = world.remote_pre if upload else world.local_pre
    p = world.plan()
    note(f"plan: {p.actions}")
    world.run(p)
    master, mirror = (world.local, world.remote) if upload else (world.remote, world.local)
    assert shape(master) == master_pre  # the master side is never changed
    # everything the master changed (new, edited, moved) is on the mirror, same path
    for path, (kind, content) in master_pre.items():
        if kind == FILE and content not in base_versions:
            assert shape(mirror).get(path) == (kind, content), path
    # nothing the mirror's user made is lost (renamed aside at worst)
    for v in versions(mirror_pre) - base_versions:
        assert v in versions(mirror), f"mirror version {v!r} lost"
    # and it is stable: the next plan does no work
    again = world.plan()
    assert not [a for a in again.actions if isinstance(a, WORK)], again.actions
