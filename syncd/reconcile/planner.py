"""The planner: three trees in, an ordered list of actions out.

``plan(local, remote, base, options)`` is a PURE function: no I/O, no clock, no
randomness; the same input always gives the same ``Plan`` (every free choice is
made in sorted path order). ``local`` is keyed by ``key(path)``, ``base`` by
``key(local_path)``, ``remote`` by the server's own spelling (re-keyed here; two
remote names with one key: the first in sorted order is synced, the other is
noted ``same name as X after Unicode normalisation: not synced`` and left alone
together with its subtree).

Status of one side at a key (``l``/``r`` the entry, ``b`` the base row)
-----------------------------------------------------------------------
=====  =================================================================
``A``  absent, no base
``N``  new: present, no base
``S``  same as base
``M``  modified file. Local: ``l.size != b.size``; or both hashes known and
       different; or the stat ``(mtime_ns, inode)`` changed and no pair of
       hashes proves the content equal (a touched file whose hash equals the
       base's is ``S`` and gets a ``RecordBase`` with the new stat; a hash on
       one side only proves nothing, so that counts as ``M``). Remote:
       ``(id, size, updated)`` differs from the base. Folders are never ``M``
       (their ``updatedAt`` moves with their children): a folder whose id
       (or local inode) changed is ``S`` and its new identity is recorded when
       nothing else is planned for it -- but see "renewed" below.
``D``  deleted: base, no entry
``K``  kind changed (file <-> folder): the base item was deleted and a new
       item of the other kind created in its place
=====  =================================================================

"Dirty" folder: something strictly inside it on that side is N, M or K, or is
a renewed folder. "Renewed" folder: same name as the base's, another identity
(a remote folder with a new id, a local one with a new inode: re-created, or
another folder moved onto the name). A renewed or dirty folder is never
deleted because the other side deleted the base's folder (rules 7, 8, 10).
"Create X on Y" means Upload/Download with ``replace=None`` for a file,
MakeLocalDir / MakeRemoteDir for a folder (its contents follow by the rules).

Moves (detected first, then applied to a virtual copy of the trees)
-------------------------------------------------------------------
* Local move Q->P: a local entry at P with no base at P whose ``(inode,
  kind)`` is that of exactly one base row Q, Q absent locally, files also of
  equal size (hard links: only a unique match on both ends counts).
* Remote move Q->P: a remote entry at P with no base at P whose id is the
  ``remote_id`` of base row Q, and the remote has no entry with that id at Q.
* Children that moved with their folder are implied and not moved one by one;
  a child moved elsewhere as well is a move of its own, after its folder.
* A local move becomes ``MoveRemote`` when the remote still has Q with the same
  id and P is free remotely; a remote move becomes ``MoveLocal`` when Q still
  exists locally with the same inode and P is free locally. The destination's
  parent must exist on that side, or be a folder that is new on the mover's side
  (then it is created first, see Ordering). Otherwise the move is dropped and
  the rules below see a delete at Q and a creation at P (never a loss).
* After a move, the base row (subtree) is re-rooted at P (where a re-rooted
  row lands on a row already there, the one that matches the items there
  stays) and the three-way
  comparison continues there: an edit made on the other side before the move
  is kept (one move plus one transfer, no delete, no re-upload). The same
  holds for a deletion made on the other side inside a moved folder.
* Both sides moved the item: same destination -> only the base is re-rooted
  (``ForgetBase`` of the old place, ``RecordBase`` of every row at the new one);
  different destinations -> the REMOTE move wins (two-way and download-only: a
  ``MoveLocal`` to the remote's place) and in upload-only the local one wins
  (a ``MoveRemote``). Case-only renames are ordinary moves (``key`` is
  case-sensitive); a name that differs only in Unicode normalisation is the
  same key, hence the same item: never a move.
* The same move, seen on one side only: a move Q->P detected on one side, and
  on the other side no entry at Q and an entry at P that has no base row, is of
  Q's kind and is no detected move's destination, counts as that side's move
  Q->P too (then "same destination" above). That side's item changed on the way
  (an edit after the rename, an editor's atomic save with a new inode, a server
  that gives an edited file a new id, a folder whose server id the base never
  learnt), so identity could not show it; the three-way comparison at P then
  transfers the edit (one side ``S``, the other ``M``) or keeps both versions
  (rule C): never the old bytes back under P with the edit as a conflicted
  copy. A folder must still be the same folder: locally the same inode;
  remotely the same id or, when the base never learnt it, a folder holding one
  of Q's children (moved there by id), or Q had none -- a folder made anew at P
  is not Q, whose children would look deleted there.
* Those re-recorded rows must lead the next plan to the decisions this one
  made. A local file that moved (alone or with its folder) was scanned without
  its base row (the scan finds rows by path), so when its stat changed its hash
  is unknown and it counts as ``M`` here -- although the next scan, finding the
  row at the new place, would hash it and might prove it ``S``. That matters in
  one case only: the master (remote, download-only) deleted the file, so this
  plan leaves it alone (noted), while ``S`` would have it deleted one run later.
  There the row is recorded without its hash: the file keeps counting as ``M``
  (it may have been edited: never deleted unproven), and the plan is final.
  Elsewhere an unproven ``M`` is acted on now (a transfer or a conflict
  rename, which write or forget its row) or, in download-only against an
  unchanged remote, noted now and proven ``S`` next time, which only records
  its new stat.

Rules per key, two-way (after moves; walked top-down, in sorted order)
---------------------------------------------------------------------
====  ===========  ============  =============================================
 #    local        remote        actions
====  ===========  ============  =============================================
 1    N            A             create remote: ``Upload``; a new folder gets a
                                 ``MakeRemoteDir`` only when nothing else is
                                 created remotely inside it in this plan
                                 (uploads and mkdir create their parents on the
                                 server); a non-leaf folder's base row is
                                 recorded on a later run (rule 3, dir+dir)
 2    A            N             create local: ``Download``; ``MakeLocalDir``
                                 for every new folder
 3    N            N             dir+dir: ``RecordBase``. file+file, equal
                                 size: ``Compare`` (the worker downloads and
                                 compares; different -> conflict using
                                 ``conflict_path``). file+file, different
                                 size: rule C. file vs folder: the FILE side
                                 is renamed to the conflict name on its own
                                 side and copied to the other side under that
                                 name; the folder propagates under the name
 4    S            S             nothing; ``RecordBase`` for a touched file
                                 proven equal by hash, a folder's new remote
                                 id (or local inode), or a re-rooted row
 5    M            S             ``Upload(replace=r)``
 5    S            M             ``Download(replace=l)``
 6    M            M             equal size, or the remote file of the base's
                                 size: ``Compare`` (the same edit on both
                                 sides converges without a copy; the base's
                                 bytes sent again -> the local edit goes up;
                                 different content -> conflict, as in rule 3);
                                 otherwise rule C
 7    D            S             ``DeleteRemote`` -- for a folder only when the
                                 remote folder is neither dirty nor renewed;
                                 one delete for the top-most folder only
 7    S            D             ``DeleteLocal``, same folder rule
 8    D            M             edit beats delete: ``Download`` (restore); a
                                 remote file of the synced size is compared
                                 with the synced bytes first (the same bytes:
                                 no edit, the deletion goes on)
 8    M            D             edit beats delete: ``Upload(replace=None)``
 8    D            S, dirty dir  the folder is kept: restored locally
                                 (``MakeLocalDir``), then its children follow
                                 these rules: changed/new ones are restored,
                                 unchanged ones ARE deleted one by one
 8    S, dirty     D             the same mirrored (remote parents are created
                                 by the uploads/mkdirs inside)
 9    D            D             ``ForgetBase`` (top-most only)
 10   K            S             the old remote item is deleted (early, see
                                 Ordering), then the new local item created.
                                 If the remote item is a dirty folder (local
                                 replaced a folder by a file while the remote
                                 changed inside it): the local file is renamed
                                 to the conflict name and copied up, the folder
                                 is restored locally (rule 8)
 10   S            K             mirror image
 10   K            M             the remote (modified) file is renamed to the
                                 conflict name and copied down; the local
                                 folder propagates (file side renamed)
 10   M            K             mirror image
 10   K            D             create the new local item remotely
 10   D            K             create the new remote item locally
 10   K            K             both replaced the item by the same kind:
                                 as rule 3
 11   S (NFD)      S (NFC)       same key, same item: nothing
 C    file         file          cc = ``conflict_name(local path, host,
                                 timestamp, taken=every key on either side and
                                 every name planned so far)``:
                                 ``MoveLocal(path, cc, forget_base=True)``,
                                 ``Upload(cc, replace=None)``,
                                 ``Download(path, replace=None)``; the key goes
                                 into ``Plan.conflicts``. Both versions end up
                                 on both sides.
====  ===========  ============  =============================================

Directions
----------
``upload-only`` (local is the master, the remote its mirror) never emits
``Download``, ``MakeLocalDir``, ``MoveLocal`` or ``DeleteLocal``:

* local changes propagate as in two-way (creations, edits, deletions of items
  the remote did not change, local moves);
* remote-only changes (new, modified, kind-changed items, remote moves) are left
  alone with the note ``remote change ignored (upload-only)``; a local deletion
  of an item the remote changed is not propagated (noted);
* a remote deletion of a locally unchanged item is undone by re-uploading it;
* a conflict (both changed, or a first sync with different files, or file vs
  folder) renames the REMOTE item aside to the conflict name with a server-side
  move (no transfer) and uploads the local version under the original name:
  local is untouched, both versions are on the server, and the remote mirrors
  local. (Uploading the local version under the conflict name instead would
  leave the index unable to ever agree on the original name: the same conflict
  would be re-created, with a new timestamp, on every run.) The same applies
  when the master changed things inside a folder the mirror replaced by a file;
* a lone remote move is a remote change: ignored, so the old place is
  re-uploaded and the new one left alone; when both sides moved an item to
  different places the local move wins (a ``MoveRemote``);
* ``Compare`` (first sync, or both sides modified, equal sizes) is still
  emitted: it only reads the local file; on different content the worker must
  resolve it as a one-way conflict (remote copy renamed aside, local uploaded).

``download-only`` is the exact mirror image: remote is the master; a local
deletion of a remotely unchanged item is re-downloaded; a conflict renames the
LOCAL item aside (``MoveLocal``, kept locally, never uploaded) and downloads the
remote version under the original name -- nothing is downloaded over a local
change.

``Compare.conflict_path`` is a LOCAL path; the server name of the copy is
``join(parent(remote_path), name(conflict_path))`` (the server's folder
spelling).

Ordering of ``Plan.actions`` (the worker runs them in list order)
-----------------------------------------------------------------
1. Moves: first the detected moves in an order valid for sequential execution
   (shallow destinations first, except that a move into a folder that moves
   itself comes after that folder's move, so it follows the folder; each ``src``
   is where the item is after the moves before it). When a move's destination folder is new on the mover's
   side, the ``MakeRemoteDir``/``MakeLocalDir`` creating it comes right before
   that move (the only mkdirs in this phase). Then the conflict renames (sorted),
   then the deletes that free a path for a kind change (sorted).
2. ``MakeLocalDir`` / ``MakeRemoteDir``, sorted by path (parents first).
3. ``Upload`` / ``Download`` / ``Compare``, ascending size, ties by path.
4. ``ForgetBase`` (sorted), then ``RecordBase`` (sorted): a row recorded under a
   forgotten folder survives. (The old rows of an item both sides moved are
   forgotten here -- unless phases 1-3 write a row under that old path, which a
   phase-4 forget would erase: then the stale rows stay for the next run, which
   sees them as deleted on both sides and forgets them, rule 9.)
5. ``DeleteRemote`` / ``DeleteLocal``, sorted by path (only top-most ones).

Assumed worker behaviour: uploads and remote mkdirs create missing parents;
``MoveRemote``/``MoveLocal`` re-root the base rows under ``src``; a delete drops
the base rows of its subtree; each transfer/mkdir records the base row of its
path.

Why this module is long: this docstring is the specification (``docs/architecture.md``
summarises it and ``tests/test_docs.py`` reads the rule table from it) and
``_Planner`` is the rule table as code, one method per rule or outcome, which
reads best in one place. What is not the table lives beside it: the virtual
trees (``syncd.reconcile.tree``), names and conflict names
(``syncd.reconcile.names``), move detection and ordering (``syncd.reconcile.moves``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from syncd.model import (
    DIR,
    FILE,
    Action,
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
    Plan,
    PlanOptions,
    RecordBase,
    RemoteEntry,
    Upload,
    join,
    key,
    name,
    parent,
)
from syncd.reconcile.moves import Moves
from syncd.reconcile.tree import LOCAL, REMOTE, Tree

__all__ = ["plan"]

ABSENT, NEW, SAME, MOD, DELETED, KIND = "A", "N", "S", "M", "D", "K"
_CHANGED = (NEW, MOD, KIND)

DEFAULT_OPTIONS = PlanOptions()  # frozen, so one shared default is safe


def plan(local: Mapping[str, LocalEntry], remote: Mapping[str, RemoteEntry],
         base: Mapping[str, BaseEntry], options: PlanOptions = DEFAULT_OPTIONS) -> Plan:
    """The actions that bring ``local`` and ``remote`` back in sync given ``base``
    (the module docstring has the rules)."""
    return _Planner(local, remote, base, options).run()


# ------------------------------------------------------------------------- statuses


def local_status(entry: LocalEntry | None, b: BaseEntry | None) -> str:
    """One of A N S M D K for the local side (see the module docstring)."""
    if b is None:
        return NEW if entry is not None else ABSENT
    if entry is None:
        return DELETED
    if entry.kind != b.kind:
        return KIND
    if entry.kind == DIR:
        return SAME
    return MOD if local_modified(entry, b) else SAME


def local_modified(entry: LocalEntry, b: BaseEntry) -> bool:
    if entry.size != b.size:
        return True
    if entry.sha256 is not None and b.sha256 is not None:
        return entry.sha256 != b.sha256
    # No pair of hashes: equal only when the stat says nothing happened.
    return (entry.mtime_ns, entry.inode) != (b.mtime_ns, b.inode)


def remote_status(entry: RemoteEntry | None, b: BaseEntry | None) -> str:
    """One of A N S M D K for the remote side."""
    if b is None:
        return NEW if entry is not None else ABSENT
    if entry is None:
        return DELETED
    if entry.kind != b.kind:
        return KIND
    if entry.kind == DIR:
        return SAME
    changed = (entry.id, entry.size, entry.updated) != (b.remote_id, b.remote_size,
                                                          b.remote_updated)
    return MOD if changed else SAME


def base_of(local: LocalEntry, remote: RemoteEntry) -> BaseEntry:
    """The base row saying ``local`` and ``remote`` agree."""
    return BaseEntry(local_path=local.path, remote_path=remote.path, kind=local.kind,
                     size=local.size if local.kind == FILE else 0,
                     mtime_ns=local.mtime_ns, inode=local.inode,
                     sha256=local.sha256 if local.kind == FILE else None,
                     remote_id=remote.id, remote_size=remote.size if remote.kind == FILE else 0,
                     remote_updated=remote.updated)


# --------------------------------------------------------------------------- planner


class _Planner(Moves):
    """One plan in the making: the virtual trees, the walk over every key with
    the rules, and the action buckets that ``run`` puts in order. Names
    (``syncd.reconcile.names``) and moves (``syncd.reconcile.moves``) are its
    parts in their own modules."""

    def __init__(self, local: Mapping[str, LocalEntry], remote: Mapping[str, RemoteEntry],
                 base: Mapping[str, BaseEntry], options: PlanOptions):
        self.opt = options
        self.master = {"upload-only": LOCAL, "download-only": REMOTE}.get(options.direction)
        self.notes: list[tuple[str, str]] = []
        self.conflicts: list[str] = []
        self.vl: Tree[LocalEntry] = Tree(local)
        self.vr: Tree[RemoteEntry] = Tree(self._rekey_remote(remote))
        self.vb: Tree[BaseEntry] = Tree(base)
        self.made: dict[str, set[str]] = {LOCAL: set(), REMOTE: set()}
        self.taken: set[str] = set(self.vl.items) | set(self.vr.items)
        # action buckets (see "Ordering")
        self.moves: list[Action] = []
        self.asides: list[Action] = []
        self.frees: list[Action] = []
        self.mkdirs: list[Action] = []
        self.rdir_cands: list[str] = []
        self.xfers: list[Action] = []
        self.forgets: list[ForgetBase] = []
        self.reroot_forgets: list[ForgetBase] = []
        self.records: dict[str, RecordBase] = {}
        self.deletes: list[Action] = []

    # ---------------------------------------------------------------- helpers

    def status(self, side: str, k: str) -> str:
        if side == LOCAL:
            return local_status(self.vl.get(k), self.vb.get(k))
        return remote_status(self.vr.get(k), self.vb.get(k))

    def note(self, side: str, k: str) -> None:
        entry = self.tree(side).get(k)
        self.notes.append((entry.path if entry is not None else k,
                           f"{side} change ignored ({self.opt.direction})"))

    # ------------------------------------------------------------------ walk

    def walk(self) -> None:
        keys = set(self.vl.items) | set(self.vr.items) | set(self.vb.items)
        # Base rows can sit below a key that no tree and no row has (a folder made
        # without a row, or re-rooted rows, then the folder deleted on both
        # sides): the walk goes through such keys too, to forget those rows.
        self.rows_below: set[str] = set()
        for k in list(self.vb.items):
            a = parent(k)
            while a and a not in self.rows_below:
                self.rows_below.add(a)
                a = parent(a)
        keys |= self.rows_below
        kids: dict[str, list[str]] = {}
        for k in keys:
            kids.setdefault(parent(k), []).append(k)
        self.dirty = {LOCAL: self._dirty(LOCAL), REMOTE: self._dirty(REMOTE)}
        stack = sorted(kids.get("", ()), reverse=True)
        while stack:
            k = stack.pop()
            if self.visit(k):
                stack.extend(sorted(kids.get(k, ()), reverse=True))

    def renewed(self, side: str, k: str) -> bool:
        """A folder that is not the base's folder any more although it has its name
        (deleted and re-created, or another folder moved onto the name): a remote
        folder with a new id, a local one with a new inode. Not a change by itself
        (rule 4 records the new identity), but it is not the folder the other side
        deleted, so that deletion is not propagated to it (rules 7/8)."""
        entry, b = self.tree(side).get(k), self.vb.get(k)
        if entry is None or b is None or entry.kind != DIR or b.kind != DIR:
            return False
        if side == REMOTE:
            return bool(entry.id and b.remote_id) and entry.id != b.remote_id
        return bool(entry.inode and b.inode) and entry.inode != b.inode

    def keeps(self, side: str, k: str) -> bool:
        """``side``'s folder at ``k`` must not be deleted for the other side's sake:
        something in it changed, or it is another folder than the base's."""
        return (self.tree(side).items[k].kind == DIR
                and (k in self.dirty[side] or self.renewed(side, k)))

    def _dirty(self, side: str) -> set[str]:
        out: set[str] = set()
        for k in self.tree(side).items:
            if self.status(side, k) in _CHANGED or self.renewed(side, k):
                a = parent(k)
                while a and a not in out:
                    out.add(a)
                    a = parent(a)
        return out

    def _emitted(self) -> int:
        return (len(self.moves) + len(self.asides) + len(self.frees) + len(self.mkdirs)
                + len(self.xfers) + len(self.forgets) + len(self.records) + len(self.deletes))

    def visit(self, k: str) -> bool:
        before = self._emitted()
        recurse = self.decide(k) if self.master is None else self.decide_one_way(k)
        if k in self.vb.flag and self._emitted() == before and k in self.vb:
            self.records[k] = RecordBase(self._kept_row(k))  # keep the re-rooted row
        return recurse

    def _kept_row(self, k: str) -> BaseEntry:
        """The re-rooted base row at ``k``, to be recorded there as it is -- except
        for a local file this plan judged ``M`` only because it was scanned without
        that row (same size, new stat, no hash), left alone because the remote
        deleted it (download-only): without its hash, the next scan cannot prove
        it unchanged and the next plan cannot delete what this one kept."""
        b = self.vb.items[k]
        entry = self.vl.get(k)
        if (entry is not None and self.vr.get(k) is None and entry.kind == FILE == b.kind
                and entry.size == b.size and entry.sha256 is None and b.sha256 is not None
                and (entry.mtime_ns, entry.inode) != (b.mtime_ns, b.inode)):
            return dataclasses.replace(b, sha256=None)
        return b

    def decide(self, k: str) -> bool:
        ls, rs = self.status(LOCAL, k), self.status(REMOTE, k)
        if ls == ABSENT and rs == ABSENT:
            return k in self.rows_below  # nothing here; rows below are visited
        if ABSENT in (ls, rs) or (ls, rs) == (NEW, NEW):
            if rs == ABSENT:
                return self.create(LOCAL, k)
            if ls == ABSENT:
                return self.create(REMOTE, k)
            return self.first_sync(k)
        if (ls, rs) == (DELETED, DELETED):
            return self.forget(k)
        if (ls, rs) == (SAME, SAME):
            self.same(k)
            return True
        if (ls, rs) == (MOD, MOD):
            self.both_changed(k)
            return True
        if (ls, rs) == (KIND, KIND):
            return self.first_sync(k)
        for x, xs, ys in ((LOCAL, ls, rs), (REMOTE, rs, ls)):
            y = self.other(x)
            if (xs, ys) == (MOD, SAME):
                self.copy(x, k, replace=True)
                return True
            if (xs, ys) == (DELETED, SAME):
                return self.deleted_vs_kept(x, k)
            if (xs, ys) == (DELETED, MOD):
                self.copy(y, k, replace=False, check=self.resent(y, k))
                return True
            if (xs, ys) == (KIND, SAME):
                return self.kind_vs_same(x, k)
            if (xs, ys) == (KIND, MOD):
                self.aside(y, k)
                return self.create(x, k)
            if (xs, ys) == (KIND, DELETED):
                return self.create(x, k)
        raise AssertionError(f"unhandled statuses {ls}{rs} at {k!r}")  # pragma: no cover

    def decide_one_way(self, k: str) -> bool:
        ms = self.master
        assert ms is not None
        mi = self.other(ms)
        a, b = self.status(ms, k), self.status(mi, k)
        if a == ABSENT and b == ABSENT:
            return False
        if a == ABSENT:
            self.note(mi, k)
            return False
        if b == ABSENT:
            return self.create(ms, k)
        if (a, b) in ((NEW, NEW), (KIND, KIND)):
            return self.first_sync(k)
        if (a, b) == (MOD, MOD) and self.compare(k):
            return True
        if (a, b) == (DELETED, DELETED):
            return self.forget(k)
        if (a, b) == (SAME, SAME):
            self.same(k)
            return True
        if (a, b) == (MOD, SAME):
            self.copy(ms, k, replace=True)
            return True
        if (a, b) == (SAME, KIND) and k in self.dirty[ms]:
            # the master changed things inside a folder the mirror replaced by a file
            self.aside(mi, k)
            return self.create(ms, k)
        if (a, b) in ((SAME, MOD), (DELETED, MOD), (SAME, KIND), (DELETED, KIND)):
            self.note(mi, k)
            return False
        if (a, b) == (DELETED, SAME):
            if self.keeps(mi, k):
                return True  # keep the mirror's folder: its changes are not ours to drop
            self.delete(mi, k)
            return False
        if b == DELETED:  # SAME / MOD / KIND vs DELETED: the mirror must have it
            return self.create(ms, k)
        if (a, b) == (KIND, SAME):
            if self.keeps(mi, k):
                self.aside(mi, k)
            else:
                self.delete(mi, k, early=True)
            return self.create(ms, k)
        # MOD/MOD, KIND/MOD, MOD/KIND: the mirror's version goes aside
        self.aside(mi, k)
        return self.create(ms, k)

    # --------------------------------------------------------------- outcomes

    def create(self, side: str, k: str) -> bool:
        """``side``'s item at ``k`` is new to the other side: create it there."""
        entry = self.tree(side).items[k]
        if entry.kind == FILE:
            self.copy(side, k, replace=False)
        else:
            self.mkdir(self.other(side), k)
        return True

    def resent(self, side: str, k: str) -> BaseEntry | None:
        """The base of ``k`` when the server's "edit" there may be the synced bytes
        (a file of the synced size, the synced SHA-256 known): the download it costs
        is compared with them before the edit beats a local change (rules 6, 8)."""
        b = self.vb.items.get(k)
        there = self.vr.items.get(k)
        if side != REMOTE or b is None or there is None or b.kind != FILE or \
                there.kind != FILE or b.sha256 is None or there.size != b.size:
            return None
        return b

    def copy(self, side: str, k: str, *, replace: bool, check: BaseEntry | None = None
             ) -> None:
        """Transfer ``side``'s file at ``k`` to the other side (``check``: see
        ``Download.base``)."""
        if side == LOCAL:
            entry = self.vl.items[k]
            there = self.vr.items[k] if replace else None
            dst = there.path if there is not None else self.rspell(k)
            self.xfers.append(Upload(path=entry.path, remote_path=dst, local=entry,
                                     replace=there))
        else:
            entry = self.vr.items[k]
            here = self.vl.items[k] if replace else None
            dst = here.path if here is not None else self.lspell(k)
            self.xfers.append(Download(remote_path=entry.path, path=dst, remote=entry,
                                       replace=here, base=check))

    def mkdir(self, side: str, k: str) -> None:
        """Create folder ``k`` on ``side`` (it exists on the other side)."""
        if k in self.made[side]:
            return
        if side == LOCAL:
            self.mkdirs.append(MakeLocalDir(path=self.lspell(k), remote=self.vr.items[k]))
        else:
            self.rdir_cands.append(k)

    def delete(self, side: str, k: str, *, early: bool = False) -> None:
        entry = self.tree(side).items[k]
        if side == LOCAL:
            act: Action = DeleteLocal(path=entry.path, local=entry)
        else:
            act = DeleteRemote(remote_path=entry.path, remote=entry)
        (self.frees if early else self.deletes).append(act)
        self.tree(side).drop(k)
        if early:
            self.vb.drop(k, self_too=False)

    def forget(self, k: str) -> bool:
        if self.vl.has_below(k) or self.vr.has_below(k):
            return True  # (inconsistent input) something below still exists
        self.forgets.append(ForgetBase(self.vb.items[k].local_path))
        return False

    def same(self, k: str) -> None:
        entry, there, b = self.vl.items[k], self.vr.items[k], self.vb.items[k]
        nb = b
        if entry.kind == FILE:
            if (entry.size, entry.mtime_ns, entry.inode) != (b.size, b.mtime_ns, b.inode):
                nb = dataclasses.replace(nb, size=entry.size, mtime_ns=entry.mtime_ns,
                                         inode=entry.inode, sha256=entry.sha256)
        else:
            if there.id != b.remote_id:
                nb = dataclasses.replace(nb, remote_id=there.id)
            if entry.inode and entry.inode != b.inode:
                nb = dataclasses.replace(nb, inode=entry.inode)
        # A name that only changed its Unicode spelling is not worth a row by
        # itself (rule 11); when writing anyway, take each side's spelling.
        if nb is not b or k in self.vb.flag:
            nb = dataclasses.replace(nb, local_path=entry.path, remote_path=there.path)
            self.records[k] = RecordBase(nb)

    def compare(self, k: str, base: BaseEntry | None = None) -> bool:
        """Two files at ``k`` that may hold the same bytes: the worker downloads the
        server's one and compares (equal -> recorded, different -> a conflict).
        Equal sizes may be equal bytes; with ``base`` (its SHA-256 known and the
        server's file of its size) the server's file may also be the base's bytes
        sent again. True if planned."""
        entry, there = self.vl.items[k], self.vr.items[k]
        if not (entry.kind == FILE and there.kind == FILE):
            return False
        resent = self.resent(REMOTE, k) if base is not None else None
        if entry.size != there.size and resent is None:
            return False
        self.xfers.append(Compare(path=entry.path, remote_path=there.path, local=entry,
                                  remote=there, conflict_path=self.cc(entry.path),
                                  base=resent))
        return True

    def both_changed(self, k: str) -> None:
        """Rule 6: both sides edited the file since the base. The same edit (equal
        size: maybe the same bytes), or a server file of the base's size (maybe the
        base's bytes sent again by another client), is compared first; otherwise
        rule C."""
        if not self.compare(k, self.vb.items.get(k)):
            self.conflict(k)

    def first_sync(self, k: str) -> bool:
        """Both sides have an item at ``k`` and no usable base."""
        entry, there = self.vl.items[k], self.vr.items[k]
        if entry.kind == DIR and there.kind == DIR:
            self.records[k] = RecordBase(base_of(entry, there))
            return True
        if self.compare(k):
            return True
        if self.master is not None:
            self.aside(self.other(self.master), k)
            return self.create(self.master, k)
        if entry.kind == FILE and there.kind == FILE:
            self.conflict(k)
            return True
        side = LOCAL if entry.kind == FILE else REMOTE
        self.aside(side, k)
        return self.create(self.other(side), k)

    def deleted_vs_kept(self, side: str, k: str) -> bool:
        """``side`` deleted ``k``; the other side still has it unchanged."""
        keeper = self.other(side)
        if not self.keeps(keeper, k):
            self.delete(keeper, k)
            return False
        self.mkdir(side, k)  # edit beats delete: keep the folder, sort out its children
        return True

    def kind_vs_same(self, side: str, k: str) -> bool:
        """``side`` replaced the item at ``k`` by one of the other kind; the other
        side still has the base item."""
        keeper = self.other(side)
        if self.keeps(keeper, k):
            self.aside(side, k)  # the new item yields; the base rows stay for the folder
            self.mkdir(side, k)
            return True
        self.delete(keeper, k, early=True)
        return self.create(side, k)

    def conflict(self, k: str) -> None:
        """Rule C: both versions kept on both sides."""
        entry, there = self.vl.items[k], self.vr.items[k]
        cc = self.cc(entry.path)
        self.asides.append(MoveLocal(src=entry.path, dst=cc, local=entry, forget_base=True))
        self.xfers.append(Upload(path=cc, remote_path=join(self.rspell(parent(k)), name(cc)),
                                 local=dataclasses.replace(entry, path=cc), replace=None))
        self.xfers.append(Download(remote_path=there.path, path=entry.path, remote=there,
                                   replace=None))
        self.conflicts.append(k)
        self.vl.drop(k)

    def aside(self, side: str, k: str) -> None:
        """Rename ``side``'s item at ``k`` to its conflict name on that side. Two-way:
        copy it to the other side under that name. One-way (``side`` is the
        mirror): keep it there only, and forget its base rows.

        The copy is a new item: no base rows go with it. If it is the base item
        (same kind) its rows are dropped; if it replaced the base item (another
        kind, or no row), the rows stay where they are, for the item this plan
        keeps or re-creates at ``k`` (a crash right after the rename must not
        make that item's deleted children look new)."""
        entry = self.tree(side).items[k]
        b = self.vb.get(k)
        cc = self.cc(entry.path)
        two_way = self.master is None
        same = b is not None and b.kind == entry.kind
        if side == LOCAL:
            self.asides.append(MoveLocal(src=entry.path, dst=cc, local=entry,
                                         forget_base=same, keep_base=not same))
            if two_way:
                self.xfers.append(Upload(path=cc, remote_path=join(self.rspell(parent(k)),
                                                                   name(cc)),
                                         local=dataclasses.replace(entry, path=cc),
                                         replace=None))
            local_cc = cc
        else:
            self.asides.append(MoveRemote(src=entry.path, dst=cc, remote=entry,
                                          forget_base=same, keep_base=not same))
            local_cc = join(self.lspell(parent(k)), name(cc))
            if two_way:
                self.xfers.append(Download(remote_path=cc, path=local_cc,
                                           remote=dataclasses.replace(entry, path=cc),
                                           replace=None))
        if not two_way:
            if b is not None or self.vb.has_below(k):
                self.forgets.append(ForgetBase(local_cc))
            self.vb.drop(k, self_too=False)
        self.conflicts.append(k)
        self.tree(side).drop(k)

    # ---------------------------------------------------------------- output

    def run(self) -> Plan:
        self.resolve_moves()
        self.walk()
        created: set[str] = {key(a.remote_path) for a in self.xfers if isinstance(a, Upload)}
        created.update(self.rdir_cands)
        created.update(self.made[REMOTE])
        inside: set[str] = set()
        for c in created:
            a = parent(c)
            while a and a not in inside:
                inside.add(a)
                a = parent(a)
        mkdirs = list(self.mkdirs)
        for k in self.rdir_cands:
            if k not in inside:
                mkdirs.append(MakeRemoteDir(remote_path=self.rspell(k), local=self.vl.items[k]))

        # A re-rooted subtree's old rows are forgotten in phase 4 -- unless this
        # plan writes rows under that old path in phases 1-3 (a new item took the
        # old name): then the stale rows are left to the next run, which sees
        # them as "deleted on both sides" and forgets them (rule 9).
        written = {key(p) for a in [*self.moves, *self.asides, *mkdirs, *self.xfers]
                   for p in a.writes}
        written_in = set(written)
        for w in written:
            a = parent(w)
            while a and a not in written_in:
                written_in.add(a)
                a = parent(a)
        self.forgets += [f for f in self.reroot_forgets if key(f.path) not in written_in]

        actions: list[Action] = list(self.moves)
        actions += sorted(self.asides, key=lambda a: (a.src, type(a).__name__))
        actions += sorted(self.frees, key=_path_key)
        actions += sorted(mkdirs, key=_path_key)
        actions += sorted(self.xfers, key=lambda a: (a.size, _path_key(a)))
        actions += sorted(self.forgets, key=lambda a: a.path)
        actions += sorted(self.records.values(), key=lambda a: (a.base.local_path,))
        actions += sorted(self.deletes, key=_path_key)
        actions = self._direction_filter(actions)
        return Plan(actions=actions, conflicts=sorted(set(self.conflicts)),
                    notes=self.notes)

    def _direction_filter(self, actions: list[Action]) -> list[Action]:
        """A last safety net: the rules never produce these in one-way modes."""
        if self.master == LOCAL:
            banned: tuple[type, ...] = (Download, MakeLocalDir, MoveLocal, DeleteLocal)
        elif self.master == REMOTE:
            banned = (Upload, MakeRemoteDir, MoveRemote, DeleteRemote)
        else:
            return actions
        kept = [a for a in actions if not isinstance(a, banned)]
        for a in actions:
            if isinstance(a, banned):  # pragma: no cover - defensive
                why = f"{type(a).__name__} dropped ({self.opt.direction})"
                self.notes.append((a.subject, why))
        return kept


def _path_key(a: Action) -> tuple[str, str]:
    return (a.subject, type(a).__name__)
