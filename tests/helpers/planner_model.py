"""The model behind the planner property tests: random trees, operations on them and the invariants a plan must keep."""

from __future__ import annotations

import hashlib
import itertools
import unicodedata
from dataclasses import dataclass, field, replace

from hypothesis import strategies as st

from syncd.model import (DIR, FILE, BaseEntry, Compare, DeleteLocal, DeleteRemote, Download,
                         ForgetBase, LocalEntry, MakeLocalDir, MakeRemoteDir, MoveLocal, MoveRemote,
                         PlanOptions, RecordBase, RemoteEntry, Upload, is_under, join, key, name,
                         parent, rebase)
from syncd.reconcile.planner import plan

OPTIONS = PlanOptions(host="sim", timestamp="2024-05-06 070809")


# "é" is written NFD by the local user (as macOS does) and NFC by the remote one
NAMES = ["a", "b", "A", "c.txt", "d.txt", "é"]


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


init_strategy = st.lists(st.tuples(st.booleans(), st.integers(0, 40),
                                   st.integers(0, len(NAMES) - 1), st.booleans()),
                         max_size=10)
