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
import hashlib
import itertools
import os
import unicodedata
from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from syncd.model import (
    DIR,
    FILE,
    BaseEntry,
    Compare,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetBase,
    LocalEntry,
    MakeLocalDir,
    MakeRemoteDir,
    MoveLocal,
    MoveRemote,
    PlanOptions,
    RecordBase,
    RemoteEntry,
    Upload,
    is_under,
    join,
    key,
    name,
    parent,
    rebase,
)
from syncd.reconcile.planner import plan

OPTIONS = PlanOptions(host="sim", timestamp="2024-05-06 070809")
# "é" is written NFD by the local user (as macOS does) and NFC by the remote one
NAMES = ["a", "b", "A", "c.txt", "d.txt", "é"]
# PLANNER_EXAMPLES=5000 runs a deeper search (the default keeps the suite fast).
SETTINGS = settings(print_blob=True, derandomize=False, deadline=None,
                    max_examples=int(os.environ.get("PLANNER_EXAMPLES", "1500")),
                    suppress_health_check=[HealthCheck.too_slow])


def spell(name: str, side: str) -> str:
    return unicodedata.normalize("NFD" if side == "local" else "NFC", name)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Node:
    kind: str
    content: bytes = b""
    ident: int = 0  # inode (local) / id (remote)
    stamp: int = 0  # mtime_ns (local) / updatedAt (remote)


Tree = dict[str, Node]


@dataclass
class Counter:
    it: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __call__(self) -> int:
        return next(self.it)

    def content(self, big: bool) -> bytes:
        return f"v{self()}".encode().ljust(9 if big else 6, b".")


# ------------------------------------------------------------------------ tree ops


def dirs(tree: Tree) -> list[str]:
    return [""] + sorted(p for p, n in tree.items() if n.kind == DIR)


def files(tree: Tree) -> list[str]:
    return sorted(p for p, n in tree.items() if n.kind == FILE)


def find(tree: Tree, path: str) -> str | None:
    """The spelled path in ``tree`` with the same key as ``path``."""
    return next((p for p in tree if key(p) == key(path)), None)


def subtree(tree: Tree, path: str) -> list[str]:
    return sorted(p for p in tree if is_under(p, path))


def drop(tree: Tree, path: str) -> None:
    for p in subtree(tree, path):
        del tree[p]


def move(tree: Tree, src: str, dst: str) -> None:
    moved = {rebase(p, src, dst): tree.pop(p) for p in subtree(tree, src)}
    tree.update(moved)


OPS = ["mkfile", "mkdir", "edit", "touch", "delete", "move", "rekind"]
op_strategy = st.tuples(st.sampled_from(OPS), st.integers(0, 40), st.integers(0, 40),
                        st.integers(0, len(NAMES) - 1), st.booleans())


def apply_op(tree: Tree, side: str, op: tuple, c: Counter) -> None:
    kind, i, j, n, flag = op
    everything = sorted(tree)
    if kind in ("mkfile", "mkdir"):
        ds = dirs(tree)
        p = join(ds[i % len(ds)], spell(NAMES[n], side))
        if find(tree, p) is None:
            tree[p] = (Node(FILE, c.content(flag), c(), c()) if kind == "mkfile"
                       else Node(DIR, b"", c(), 0))
    elif kind in ("edit", "touch") and files(tree):
        node = tree[files(tree)[i % len(files(tree))]]
        if kind == "edit":
            node.content = c.content(flag)
            if flag:  # local: atomic save (new inode); remote: deleted + re-uploaded (new id)
                node.ident = c()
        node.stamp = c()  # touch: same bytes, new mtime / re-uploaded (new updatedAt)
    elif kind == "delete" and everything:
        drop(tree, everything[i % len(everything)])
    elif kind == "move" and everything:
        src = everything[i % len(everything)]
        ds = dirs(tree)
        dst = join(ds[j % len(ds)], spell(NAMES[n], side))
        if find(tree, dst) is None and not is_under(key(dst), key(src)):
            move(tree, src, dst)
    elif kind == "rekind" and everything:
        p = everything[i % len(everything)]
        was = tree[p].kind
        drop(tree, p)
        tree[p] = (Node(DIR, b"", c(), 0) if was == FILE
                   else Node(FILE, c.content(flag), c(), c()))


def build(ops: list, c: Counter) -> Tree:
    tree: Tree = {}
    for make_dir, i, n, big in ops:
        apply_op(tree, "local", ("mkdir" if make_dir else "mkfile", i, 0, n, big), c)
    return tree


def clone(tree: Tree, c: Counter, remote: bool) -> Tree:
    """Same contents, fresh identities (inodes / ids), that side's spelling."""
    return {spell(p, "remote" if remote else "local"):
            Node(n.kind, n.content, c(), c() if n.kind == FILE else 0)
            for p, n in tree.items()}


# ------------------------------------------------------------------------ scanning


def local_entries(tree: Tree, rows: dict[str, BaseEntry]) -> dict[str, LocalEntry]:
    out = {}
    for p, n in tree.items():
        if n.kind == DIR:
            out[key(p)] = LocalEntry(p, DIR, 0, 0, n.ident)
            continue
        size, h = len(n.content), None
        b = rows.get(key(p))
        if b is not None and b.kind == FILE:
            if (size, n.stamp, n.ident) == (b.size, b.mtime_ns, b.inode):
                h = b.sha256
            elif size == b.size:
                h = sha(n.content)  # the scanner hashes when only mtime/inode changed
        out[key(p)] = LocalEntry(p, FILE, size, n.stamp, n.ident, h)
    return out


def remote_entries(tree: Tree) -> dict[str, RemoteEntry]:
    return {p: RemoteEntry(p, n.kind, f"id{n.ident}", len(n.content) if n.kind == FILE else 0,
                           float(n.stamp) if n.kind == FILE else 0.0)
            for p, n in tree.items()}


def row(lp: str, ln: Node, rp: str, rn: Node) -> BaseEntry:
    f = ln.kind == FILE
    return BaseEntry(local_path=lp, remote_path=rp, kind=ln.kind,
                     size=len(ln.content) if f else 0, mtime_ns=ln.stamp if f else 0,
                     inode=ln.ident, sha256=sha(ln.content) if f else None,
                     remote_id=f"id{rn.ident}", remote_size=len(rn.content) if f else 0,
                     remote_updated=float(rn.stamp) if f else 0.0)


def derive_base(local: Tree, remote: Tree) -> dict[str, BaseEntry]:
    rpath = {key(p): p for p in remote}
    out = {}
    for p, ln in local.items():
        rp = rpath.get(key(p))
        if rp is not None and remote[rp].kind == ln.kind and remote[rp].content == ln.content:
            out[key(p)] = row(p, ln, rp, remote[rp])
    return out


def shape(tree: Tree) -> dict[str, tuple[str, bytes]]:
    return {key(p): (n.kind, n.content) for p, n in tree.items()}


def versions(tree: Tree) -> set[bytes]:
    return {n.content for n in tree.values() if n.kind == FILE}


# ------------------------------------------------------------------------ executor


class Violation(AssertionError):
    pass


@dataclass
class World:
    local: Tree
    remote: Tree
    rows: dict[str, BaseEntry]
    c: Counter
    direction: str = "two-way"
    # for the deletion property: the agreed state and the trees the users left
    base0: dict[str, BaseEntry] | None = None
    local_pre: Tree | None = None
    remote_pre: Tree | None = None
    no_deletes: bool = False

    def plan(self):
        opts = PlanOptions(direction=self.direction, host=OPTIONS.host,
                           timestamp=OPTIONS.timestamp)
        return plan(local_entries(self.local, self.rows), remote_entries(self.remote),
                    self.rows, opts)

    # --- expectations
    def expect_local(self, e: LocalEntry) -> Node:
        n = self.local.get(e.path)
        ok = n is not None and n.kind == e.kind and n.ident == e.inode and (
            e.kind == DIR or (len(n.content) == e.size and n.stamp == e.mtime_ns))
        if not ok:
            raise Violation(f"local {e.path!r} is not as planned: {n} vs {e}")
        return n

    def expect_remote(self, e: RemoteEntry) -> Node:
        n = self.remote.get(e.path)
        ok = n is not None and n.kind == e.kind and f"id{n.ident}" == e.id and (
            e.kind == DIR or (len(n.content) == e.size and float(n.stamp) == e.updated))
        if not ok:
            raise Violation(f"remote {e.path!r} is not as planned: {n} vs {e}")
        return n

    def free(self, tree: Tree, path: str, side: str) -> None:
        if find(tree, path) is not None:
            raise Violation(f"{side} {path!r} is occupied")

    def parent_dir(self, tree: Tree, path: str, side: str) -> None:
        p = parent(path)
        if p and (p not in tree or tree[p].kind != DIR):
            raise Violation(f"{side} parent of {path!r} missing")

    def mkparents(self, path: str) -> None:
        p = parent(path)
        chain = []
        while p and p not in self.remote:
            if find(self.remote, p) is not None:
                raise Violation(f"remote {p!r} exists under another spelling")
            chain.append(p)
            p = parent(p)
        if p and self.remote[p].kind != DIR:
            raise Violation(f"remote {p!r} is a file, cannot hold {path!r}")
        for a in reversed(chain):
            self.remote[a] = Node(DIR, b"", self.c(), 0)
            # as the worker's _note_parents: a row for each created folder that
            # exists locally, its remote id unknown until the next listing
            lp = find(self.local, a)
            if lp is not None and self.local[lp].kind == DIR:
                self.rows[key(a)] = BaseEntry(local_path=lp, remote_path=a, kind=DIR,
                                              inode=self.local[lp].ident)

    def record(self, lp: str, rp: str) -> None:
        self.rows[key(lp)] = row(lp, self.local[lp], rp, self.remote[rp])

    def drop_rows(self, path: str) -> None:
        for k in [k for k in self.rows if is_under(k, key(path))]:
            del self.rows[k]

    def move_rows(self, a, *, by_remote: bool) -> None:
        """As the worker does: an aside drops the row at its source (``forget_base``,
        the rows below stay) or keeps them all (``keep_base``); a move re-roots them."""
        if a.keep_base:
            return
        if a.forget_base:
            self.rows.pop(key(a.src), None)
        else:
            self.reroot_rows(a.src, a.dst, by_remote=by_remote)

    def reroot_rows(self, src: str, dst: str, by_remote: bool) -> None:
        """After a move on one side, rows under ``src`` go to ``dst``; as the
        index's ``move_base`` does, rows are selected by KEY (a row may spell a
        folder otherwise than the tree does now); rows already under ``dst``
        are replaced where a moved row lands and kept elsewhere. Each side's
        spelling is what that side has at the new place (else the mover's)."""
        ks, kd = key(src), key(dst)
        moving = [k for k in self.rows if is_under(k, ks)]
        if not moving:
            return
        rows = {k: self.rows.pop(k) for k in moving}
        for k, b in rows.items():
            nk = rebase(k, ks, kd)
            spelled = dst + nk[len(kd):]
            lp = find(self.local, nk) or (spelled if not by_remote else nk)
            rp = find(self.remote, nk) or (spelled if by_remote else nk)
            nb = replace(b, local_path=lp, remote_path=rp)
            self.rows[key(nb.local_path)] = nb

    def check_delete(self, tree: Tree, path: str, side: str) -> None:
        if self.no_deletes:
            raise Violation(f"first sync deleted {side} {path!r}")
        if self.base0 is None:
            return
        mine, theirs = ((self.local_pre, self.remote_pre) if side == "local"
                        else (self.remote_pre, self.local_pre))
        for p in subtree(tree, path):
            n = tree[p]
            if side == "local":
                q = next((b for b in self.base0.values() if b.inode == n.ident), None)
            else:
                q = next((b for b in self.base0.values() if b.remote_id == f"id{n.ident}"),
                         None)
            if q is None:
                raise Violation(f"{side} delete of {p!r}: never synced")
            other_id = q.remote_id if side == "local" else str(q.inode)
            # the item is the synced one, unedited by its own user (it may have
            # been moved, alone or with its folder)
            if n.kind == FILE and sha(n.content) != q.sha256:
                raise Violation(f"{side} delete of {p!r}: the user changed it")
            if not any(m.ident == n.ident for m in mine.values()):
                raise Violation(f"{side} delete of {p!r}: not the user's item")
            op = q.remote_path if side == "local" else q.local_path
            found = find(theirs, op)
            there = theirs[found] if found is not None else None
            there_id = (f"id{there.ident}" if side == "local" else str(there.ident)
                        ) if there is not None else None
            if there_id == other_id:
                raise Violation(f"{side} delete of {p!r}: the other side still has it")

    # --- actions
    def run(self, p) -> None:
        for a in p.actions:
            self.do(a)

    def do(self, a) -> None:
        L, R = self.local, self.remote
        if isinstance(a, Upload):
            n = self.expect_local(a.local)
            if a.replace is None:
                self.free(R, a.remote_path, "remote")
                ident = self.c()
            else:
                ident = self.expect_remote(a.replace).ident
            self.mkparents(a.remote_path)
            R[a.remote_path] = Node(FILE, n.content, ident, self.c())
            self.record(a.path, a.remote_path)
        elif isinstance(a, Download):
            n = self.expect_remote(a.remote)
            if a.replace is None:
                self.free(L, a.path, "local")
            else:
                self.expect_local(a.replace)
            self.parent_dir(L, a.path, "local")
            L[a.path] = Node(FILE, n.content, self.c(), self.c())
            self.record(a.path, a.remote_path)
        elif isinstance(a, Compare):
            ln, rn = self.expect_local(a.local), self.expect_remote(a.remote)
            if ln.content == rn.content:
                self.record(a.path, a.remote_path)
                return
            # conflict_path is local; the server name goes in the server's folder
            remote_cc = join(parent(a.remote_path), name(a.conflict_path))
            if self.direction == "two-way":
                self.do(MoveLocal(a.path, a.conflict_path, a.local, forget_base=True))
                moved = LocalEntry(a.conflict_path, FILE, a.local.size, a.local.mtime_ns,
                                   a.local.inode, a.local.sha256)
                self.do(Upload(a.conflict_path, remote_cc, moved))
                self.do(Download(a.remote_path, a.path, a.remote))
            elif self.direction == "upload-only":
                self.do(MoveRemote(a.remote_path, remote_cc, a.remote))
                self.do(ForgetBase(a.conflict_path))
                self.do(Upload(a.path, a.remote_path, a.local))
            else:
                self.do(MoveLocal(a.path, a.conflict_path, a.local, forget_base=True))
                self.do(Download(a.remote_path, a.path, a.remote))
        elif isinstance(a, MakeRemoteDir):
            self.expect_local(a.local)
            self.free(R, a.remote_path, "remote")
            self.mkparents(a.remote_path)
            R[a.remote_path] = Node(DIR, b"", self.c(), 0)
            self.record(a.local.path, a.remote_path)
        elif isinstance(a, MakeLocalDir):
            self.expect_remote(a.remote)
            self.free(L, a.path, "local")
            self.parent_dir(L, a.path, "local")
            L[a.path] = Node(DIR, b"", self.c(), 0)
            self.record(a.path, a.remote.path)
        elif isinstance(a, MoveRemote):
            self.expect_remote(a.remote)
            self.free(R, a.dst, "remote")
            self.parent_dir(R, a.dst, "remote")
            if is_under(a.dst, a.src):
                raise Violation(f"remote move into itself {a}")
            move(R, a.src, a.dst)
            self.move_rows(a, by_remote=True)
        elif isinstance(a, MoveLocal):
            self.expect_local(a.local)
            self.free(L, a.dst, "local")
            self.parent_dir(L, a.dst, "local")
            if is_under(a.dst, a.src):
                raise Violation(f"local move into itself {a}")
            move(L, a.src, a.dst)
            self.move_rows(a, by_remote=False)
        elif isinstance(a, DeleteRemote):
            self.expect_remote(a.remote)
            self.check_delete(R, a.remote_path, "remote")
            drop(R, a.remote_path)
            self.drop_rows(a.remote_path)
        elif isinstance(a, DeleteLocal):
            self.expect_local(a.local)
            self.check_delete(L, a.path, "local")
            drop(L, a.path)
            self.drop_rows(a.path)
        elif isinstance(a, RecordBase):
            self.rows[a.base.key] = a.base
        elif isinstance(a, ForgetBase):
            self.drop_rows(a.path)
        else:  # pragma: no cover
            raise Violation(f"unknown action {a}")


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


init_strategy = st.lists(st.tuples(st.booleans(), st.integers(0, 40),
                                   st.integers(0, len(NAMES) - 1), st.booleans()),
                         max_size=10)
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
