"""Moves and renames, on either side; independent remote moves into one folder go
in one request (``batchable_moves``, ``Moves._move_batch``)."""

from __future__ import annotations

import os
import stat as stat_mod

from syncd import crashpoints, model
from syncd.model import DIR, MoveLocal, MoveRemote
from syncd.remote.backend import RemoteItem
from syncd.transfer.core import WorkerCore, twin, with_ancestors
from syncd.transfer.errors import Stale, UnsafePath, reaction, transient
from syncd.transfer.streams import fsync_dir


class Moves(WorkerCore):
    """Handlers of ``MoveLocal`` and ``MoveRemote``."""

    def _move_local(self, a: MoveLocal) -> None:
        src = self.local_abs(a.src)
        dst = self.local_abs(a.dst, create_parents=True)
        src_st = self._lstat(src)
        if not self._same_local(src_st, a.local):
            if src_st is not None and not (stat_mod.S_ISDIR(src_st.st_mode)
                                           or stat_mod.S_ISREG(src_st.st_mode)):
                raise UnsafePath("a symbolic link or special file is in the way (it is never "
                                 "moved)")
            raise Stale(a.src)
        dst_st = self._lstat(dst)
        if dst_st is not None and (dst_st.st_ino, dst_st.st_dev) != (src_st.st_ino,
                                                                     src_st.st_dev):
            self._in_the_way(dst, a.dst, a.src)
            raise Stale(a.dst)  # never replace another file (only the same one, in
            # another case or Unicode spelling, on a case-insensitive file system)
        if dst_st is None and twin(dst, besides=src):
            raise Stale(a.dst)
        os.rename(src, dst)
        fsync_dir(os.path.dirname(dst), os.path.dirname(src))
        crashpoints.hit("move.local.done")
        self._move_base(a)
        if a.forget_base or a.keep_base:  # a conflict's copy (the planner's asides)
            self._conflict(a.src, a.dst, "local")
            return
        with self._lock:
            self.out.counts["moved"] += 1
        self._progress("moved", f"{a.src} -> {a.dst}")

    def _move_base(self, a: MoveLocal | MoveRemote) -> None:
        """The base rows follow a move. An aside of the base item drops its row
        (``forget_base``); the rows below stay, as in the planner's virtual base
        (they may still carry a deletion to propagate); ``keep_base``: all stay."""
        if a.keep_base:
            return
        if a.forget_base:
            self.index.drop_base(self.mirror, model.key(a.src), subtree=False)
        else:
            self.index.move_base(self.mirror, model.key(a.src), a.dst, a.dst)

    def _move_remote(self, a: MoveRemote) -> None:
        try:
            item = self.r.backend.move(self.remote_abs(a.src), self.remote_abs(a.dst),
                                         id=a.remote.id or None)
        except Exception as exc:
            if not transient(exc):
                raise
            item = self._moved_anyway(a)
            if item is None:
                raise
        crashpoints.hit("move.remote.done")
        new = self._to_entry(item)
        with self.index.batch():
            self.index.move_remote(self.mirror, a.src, a.dst)
            self._put_remote(new)
            self._move_base(a)
        with self._lock:
            if a.remote.kind == DIR:
                self._remote_dirs = {model.rebase(p, a.src, a.dst) if model.is_under(p, a.src)
                                     else p for p in self._remote_dirs}
            if not (a.forget_base or a.keep_base):
                self.out.counts["moved"] += 1
        if a.forget_base or a.keep_base:  # a conflict's copy (the planner's asides)
            self._conflict(a.src, a.dst, "remote")
            return
        self._progress("moved", f"{a.src} -> {a.dst}")

    def _moved_anyway(self, a: MoveRemote) -> RemoteItem | None:
        """A move failed with an outcome we cannot tell (5xx, a lost answer): did
        the server do it? One stat of the destination tells, as for uploads
        (``_landed_anyway``): the item there is ours when it has the id we moved.
        Recording it now matters: left at the old place in the index, the item
        would look moved by someone else next pass, and a local edit made to it
        meanwhile would be set aside as a conflicted copy. Without a known id
        (a folder the server created for an upload) nothing proves it: not
        settled, the pass stops as before and the next plan sorts it out."""
        if not a.remote.id:
            return None
        try:
            item = self.r.backend.stat(self.remote_abs(a.dst))
        except Exception:  # noqa: BLE001 - the original error is the one to report
            return None
        if item.kind != a.remote.kind or str(item.id) != a.remote.id:
            return None
        return item

    def _move_batch(self, parent: str, group: list) -> None:
        """Several items moving into the same folder under their own names: one
        server request (``move_many``) instead of one each. A lost answer is
        settled per item with one stat (``_moved_anyway``); an item that stays
        unknown is planned again after a refresh (``_unsettled``), never sent
        again blind."""
        srcs = {self.remote_abs(a.src): (i, a) for i, a in group}
        try:
            results = self.r.backend.move_many(list(srcs), self.remote_abs(parent))
        except Exception as exc:
            if reaction(exc).stops_pass:
                self.out.stop = exc
                return
            if not transient(exc):
                raise
            results = {s: None if self._moved_anyway(a) is not None else exc
                       for s, (_, a) in srcs.items()}
            unknown = [ia for s, ia in srcs.items() if results[s] is not None]
            if unknown:  # never sent again blind: planned again after a refresh
                self._unsettled(unknown, exc)
                srcs = {s: ia for s, ia in srcs.items() if results[s] is None}
        crashpoints.hit("move.remote.done")
        for abs_src, (item_id, a) in srcs.items():
            self._attempted.add(item_id)
            err = results.get(abs_src)
            if err is not None:
                self.out.stale += 1
                self.out.refresh = True
                self._troubled.update((a.src, a.dst))
                continue
            with self.index.batch():
                self.index.move_remote(self.mirror, a.src, a.dst)
                self.index.move_base(self.mirror, model.key(a.src), a.dst, a.dst)
                self.index.finish(self.mirror, item_id)
            self.out.done_items.append(item_id)
            self.out.counts["moved"] += 1
            self._progress("moved", f"{a.src} -> {a.dst}")


def batchable_moves(moves: list) -> tuple[dict[str, list], list]:
    """Split remote moves into batches (same destination folder, name kept, no
    other move inside or around them) and the rest, which run one by one in order."""
    remote = [(i, a) for i, a in moves if isinstance(a, MoveRemote)]
    paths = {p for _, a in remote for p in (a.src, a.dst)}
    above = with_ancestors(paths, strict=True)  # folders that hold some move's path
    groups: dict[str, list] = {}
    for item_id, a in remote:
        if model.name(a.src) != model.name(a.dst) or model.parent(a.src) == model.parent(a.dst):
            continue
        nested = (a.src in above or a.dst in above or
                  bool(with_ancestors((a.src, a.dst), strict=True) & paths))
        if not nested:
            groups.setdefault(model.parent(a.dst), []).append((item_id, a))
    batched = {k: v for k, v in groups.items() if len(v) > 1}
    taken = {i for v in batched.values() for i, _ in v}
    return batched, [(i, a) for i, a in moves if i not in taken]
