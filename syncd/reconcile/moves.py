"""Moves, detected first and then applied to the planner's virtual trees (the
rules: "Moves" in ``syncd.reconcile.planner``'s docstring): a local move by inode,
a remote one by id, the same move seen on one side only, both sides' moves
reconciled, in an order valid for sequential execution."""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable

from syncd.model import (
    DIR,
    FILE,
    Action,
    BaseEntry,
    ForgetBase,
    LocalEntry,
    MakeLocalDir,
    MakeRemoteDir,
    MoveLocal,
    MoveRemote,
    RemoteEntry,
    is_under,
    join,
    key,
    name,
    parent,
    rebase,
)
from syncd.reconcile.names import Names
from syncd.reconcile.tree import LOCAL, REMOTE


class Moves(Names):
    """The planner's move handling (a part of ``_Planner``: it uses its trees,
    ``master``, ``made``, ``moves`` and ``reroot_forgets``)."""

    master: str | None
    made: dict[str, set[str]]
    moves: list[Action]
    reroot_forgets: list[ForgetBase]

    def _detect_local_moves(self) -> dict[str, str]:
        """base key Q -> local key P."""
        vb, vl = self.vb.items, self.vl.items
        fresh = {(e.inode, e.kind) for p, e in vl.items() if e.inode and p not in vb}
        if not fresh:
            return {}
        base_by_ino: dict[tuple[int, str], list[str]] = {}
        for q, b in vb.items():
            if (b.inode, b.kind) in fresh:
                base_by_ino.setdefault((b.inode, b.kind), []).append(q)
        local_by_ino: dict[tuple[int, str], list[str]] = {}
        for p, entry in vl.items():
            if (entry.inode, entry.kind) in fresh:
                local_by_ino.setdefault((entry.inode, entry.kind), []).append(p)
        out: dict[str, str] = {}
        for ino, ps in local_by_ino.items():
            qs = base_by_ino.get(ino, [])
            if len(ps) != 1 or len(qs) != 1:  # hard links: only a unique match counts
                continue
            p, q = ps[0], qs[0]
            if p in vb or q in vl:
                continue
            # A rename keeps size and mtime; a new file that got a freed inode back
            # (the old one deleted) almost never has both.
            if ino[1] == FILE and (vl[p].size, vl[p].mtime_ns) != (vb[q].size, vb[q].mtime_ns):
                continue
            out[q] = p
        return out

    def _detect_remote_moves(self) -> dict[str, str]:
        """base key Q -> remote key P."""
        vb, vr = self.vb.items, self.vr.items
        fresh = {e.id: p for p, e in vr.items() if p not in vb}
        if not fresh:
            return {}
        by_id: dict[str, list[str]] = {}
        for q, b in vb.items():
            if b.remote_id in fresh:
                by_id.setdefault(b.remote_id, []).append(q)
        out: dict[str, str] = {}
        for rid, qs in by_id.items():
            if len(qs) != 1:
                continue
            p, q = fresh[rid], qs[0]
            entry, b, at_q = vr[p], vb[q], vr.get(q)
            if b.kind != entry.kind or (at_q is not None and at_q.id == entry.id):
                continue
            out[q] = p
        return out

    def _same_move_implied(self, moves: dict[str, str], side: str,
                           others: dict[str, str]) -> dict[str, str]:
        """Moves of ``side`` not detected by identity but implied by the other
        side's move Q->P (``moves``): ``side`` has nothing at Q and an item at P
        that the base does not know and no detected move of ``side`` brought
        there, of Q's kind -- the same rename, after which the item changed (an
        edit, an editor's atomic save, a server that gave the edited file a new
        id). A folder must keep its identity too (inode, or a remote id that is
        equal or not learned yet); a file need not, since the three-way
        comparison at P that follows never loses a version (the side whose file
        equals the base yields, otherwise both are kept as a conflict)."""
        t, vb = self.tree(side), self.vb.items
        taken = set(others.values())
        out: dict[str, str] = {}
        for q, p in moves.items():
            entry, b = t.items.get(p), vb[q]
            if (q in others or q in t.items or entry is None or p in vb or p in taken
                    or entry.kind != b.kind):
                continue
            if entry.kind == DIR and not self._same_folder(side, entry, q, p, others):
                continue
            out[q] = p
        return out

    def _same_folder(self, side: str, entry: LocalEntry | RemoteEntry, q: str, p: str,
                     others: dict[str, str]) -> bool:
        """Is ``side``'s folder at ``p`` the base's folder ``q``? Locally: the same
        inode. Remotely: the same id; when the base never learnt it, the folder
        must hold one of ``q``'s children (moved there by id) -- or ``q`` had
        none -- so that a folder someone made anew at ``p`` is not taken for it
        (its missing children would look deleted)."""
        b = self.vb.items[q]
        if side == LOCAL:
            assert isinstance(entry, LocalEntry)
            return entry.inode == b.inode
        assert isinstance(entry, RemoteEntry)
        if entry.id and b.remote_id:
            return entry.id == b.remote_id
        kids = self.vb.subtree(q, self_too=False)
        return not kids or any(c in others and is_under(others[c], p) for c in kids)

    def resolve_moves(self) -> None:
        lm, rm = self._detect_local_moves(), self._detect_remote_moves()
        implied_l = self._same_move_implied(rm, LOCAL, lm)
        rm.update(self._same_move_implied(lm, REMOTE, rm))
        lm.update(implied_l)
        winner = self.master or REMOTE

        def dst_of(q: str) -> str:
            if q in lm and q in rm:
                return lm[q] if winner == LOCAL else rm[q]
            return lm.get(q) or rm[q]

        for q in self._move_order(set(lm) | set(rm), dst_of, lm, rm):
            qv = self.vb.now.get(q)
            if qv is None:
                continue
            lp = self.vl.now.get(lm[q]) if q in lm else None
            rp = self.vr.now.get(rm[q]) if q in rm else None
            lp = None if lp == qv else lp
            rp = None if rp == qv else rp
            if lp and rp:
                if lp == rp:
                    self._rebase_base(qv, lp, flag=True)
                elif winner == REMOTE:
                    self._move(LOCAL, qv, lp, rp, both=True)
                else:
                    self._move(REMOTE, qv, rp, lp, both=True)
            elif lp and self.master != REMOTE:
                self._move(REMOTE, qv, qv, lp, both=False)
            elif rp and self.master != LOCAL:
                self._move(LOCAL, qv, qv, rp, both=False)

    @staticmethod
    def _move_order(qs: set[str], dst_of: Callable[[str], str], lm: dict[str, str],
                    rm: dict[str, str]) -> list[str]:
        """Shallow destinations first -- but a move whose destination lies in a
        folder that moves itself (the destination as either mover saw it, inside a
        folder that is at its base place or at either side's new place, e.g. a
        folder moved into ``a`` or ``A`` while the other side moved ``a`` to
        ``b/a``) waits for that folder's move, so that it follows the folder to
        its new place instead of landing in whatever now has one of its names.
        A cycle of such waits (a into b, b into a) is broken in the plain order."""
        def order(q: str) -> tuple[int, str, str]:
            return (dst_of(q).count("/"), dst_of(q), q)

        places: dict[str, set[str]] = {}
        for q in qs:
            for p in (q, lm.get(q), rm.get(q)):
                if p is not None:
                    places.setdefault(p, set()).add(q)
        waits: dict[str, set[str]] = {}
        waiters: dict[str, list[str]] = {}
        for q in qs:
            waits[q] = set()
            # either side's destination: the winner's move may turn out to be no
            # move at all on the other side (it moved with its folder there)
            for a in {parent(d) for d in (lm.get(q), rm.get(q)) if d is not None}:
                while a:
                    for w in places.get(a, ()):
                        if w != q and w not in waits[q]:
                            waits[q].add(w)
                            waiters.setdefault(w, []).append(q)
                    a = parent(a)
        ready = [order(q) for q in qs if not waits[q]]
        heapq.heapify(ready)
        left = {q: order(q) for q in qs}
        out: list[str] = []
        while left:
            q = heapq.heappop(ready)[2] if ready else min(left.values())[2]
            if q not in left:
                continue
            del left[q]
            out.append(q)
            for w in waiters.get(q, ()):
                waits[w].discard(q)
                if not waits[w] and w in left:
                    heapq.heappush(ready, left[w])
        return out

    def _move(self, side: str, qv: str, src: str, dst: str, *, both: bool) -> None:
        """Move ``side``'s item at ``src`` (the item of base row ``qv``) to ``dst``,
        where the other side already has it; re-root the base at ``dst``."""
        t, b = self.tree(side), self.vb.items[qv]
        entry = t.get(src)
        if entry is None or entry.kind != b.kind:
            return
        # An empty base id means "not learned yet" (a folder the server created
        # implicitly for an upload): the folder at that path is taken as the same.
        if side == REMOTE and b.remote_id and entry.id != b.remote_id:
            return
        if side == LOCAL and entry.inode != b.inode:
            return
        if (dst in t or dst in self.made[side] or dst in self.vb or is_under(dst, src)
                or is_under(src, dst) or is_under(dst, qv) or is_under(qv, dst)):
            return
        chain = self._missing_parents(side, dst)
        if chain is None:
            return
        self._make_parents(side, chain)
        if side == REMOTE:
            # a new server name is written NFC, as in rspell (the local leaf may be NFD)
            new = join(self.rspell(parent(dst)), key(name(self.vl.items[dst].path)))
            self.moves.append(MoveRemote(src=entry.path, dst=new, remote=entry))
        else:
            new = join(self.lspell(parent(dst)), name(self.vr.items[dst].path))
            self.moves.append(MoveLocal(src=entry.path, dst=new, local=entry))
        old = entry.path
        t.move(src, dst, lambda e, nk: dataclasses.replace(
            e, path=_respell(e.path, old, new, nk, dst)))
        self._rebase_base(qv, dst, flag=both)

    def _missing_parents(self, side: str, dst: str) -> list[str] | None:
        """Folders above ``dst`` missing on ``side`` (deepest first), or None when
        one of them cannot simply be created there (it has a base row, or a file
        is in the way)."""
        t, o = self.tree(side), self.tree(self.other(side))
        chain: list[str] = []
        a = parent(dst)
        while a and a not in t and a not in self.made[side]:
            there = o.get(a)
            if a in self.vb or there is None or there.kind != DIR:
                return None
            chain.append(a)
            a = parent(a)
        if a and a in t and t.items[a].kind != DIR:
            return None
        return chain

    def _make_parents(self, side: str, chain: list[str]) -> None:
        if not chain:
            return
        if side == REMOTE:
            self.moves.append(MakeRemoteDir(remote_path=self.rspell(chain[0]),
                                            local=self.vl.items[chain[0]]))
        else:
            for a in reversed(chain):
                self.moves.append(MakeLocalDir(path=self.lspell(a), remote=self.vr.items[a]))
        self.made[side].update(chain)

    def _rebase_base(self, qv: str, dst: str, *, flag: bool) -> None:
        if dst in self.vb or is_under(dst, qv) or is_under(qv, dst):
            return
        b = self.vb.items[qv]
        if flag and qv not in self.vb.flag:
            # Nothing the worker does moves these rows: forget them where they
            # are (see run()) and record them again at the new place.
            self.reroot_forgets.append(ForgetBase(b.local_path))
        new_l, new_r = self.lspell(dst), self.rspell(dst)
        moved = self.vb.move(qv, dst, lambda e, nk: dataclasses.replace(
            e, local_path=_respell(e.local_path, b.local_path, new_l, nk, dst),
            remote_path=_respell(e.remote_path, b.remote_path, new_r, nk, dst)),
            keep=lambda nk, there, moving: self._fit(nk, there) > self._fit(nk, moving))
        if flag:
            self.vb.flag.update(moved)

    def _fit(self, k: str, b: BaseEntry) -> int:
        """How well base row ``b`` describes the items at ``k`` now (0-4): when a
        re-rooted row lands where a row already is (one recorded at the new place
        by a pass cut short before it forgot the old rows), the row that knows
        the items there stays -- not an older one that would make them look
        changed on both sides (a false conflict)."""
        fit = 0
        entry, there = self.vl.get(k), self.vr.get(k)
        if entry is not None and entry.kind == b.kind and entry.inode == b.inode:
            fit += 1 + (entry.kind == DIR or (entry.size, entry.mtime_ns) == (b.size,
                                                                             b.mtime_ns))
        if there is not None and there.kind == b.kind and there.id == b.remote_id:
            fit += 1 + (there.kind == DIR or (there.size, there.updated) == (b.remote_size,
                                                                            b.remote_updated))
        return fit


def _respell(path: str, old: str, new: str, new_key: str, dst_key: str) -> str:
    """``path`` (spelled under ``old``) re-rooted under ``new``; keys as fallback
    when a row's spelling does not share its folder's prefix."""
    if is_under(path, old) and old:
        return rebase(path, old, new)
    return new + new_key[len(dst_key):]
