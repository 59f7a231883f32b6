"""Deletions: local items go to the local trash, remote ones in one batched
request (to the remote trash, or deleted); a folder holding ignored items is
kept with them, and an item changed while being deleted comes back."""

from __future__ import annotations

import os
import stat as stat_mod

from syncd import crashpoints, model
from syncd.local import kept as kept_mod
from syncd.local.ignore import is_temp_name
from syncd.local.scan import hash_file
from syncd.model import DIR, FILE, BaseEntry, DeleteLocal, DeleteRemote, RemoteEntry
from syncd.remote.backend import RemoteItem
from syncd.remote.errors import NotFoundError
from syncd.transfer.core import WorkerCore
from syncd.transfer.errors import Stale, describe, reaction, transient


class Deletes(WorkerCore):
    """Handlers of ``DeleteLocal`` and, in batches, ``DeleteRemote``."""

    def _delete_local(self, a: DeleteLocal) -> None:
        path = self.local_abs(a.path)
        st = self._lstat(path)
        if st is None or not (stat_mod.S_ISDIR(st.st_mode) or stat_mod.S_ISREG(st.st_mode)):
            # Already gone, or replaced by a link (not synced, never followed, and
            # left as it is): the synced item is gone on both sides.
            self.index.drop_base(self.mirror, model.key(a.path))
            return
        if not self._same_local(st, a.local) or (a.local.kind == DIR
                                                  and self._new_inside(path, a.path)):
            raise Stale(a.path)
        kept, doomed = self._split_ignored(path, a.path) if a.local.kind == DIR else ([], [])
        if not kept:
            self.r.local_trash.put(path, a.path)
        else:  # never an ignored item: only the synced ones go, the folders stay
            for rel in doomed:
                self.r.local_trash.put(self.local_abs(rel), rel)
        crashpoints.hit("delete.local.done")
        with self.index.batch():
            self.index.drop_base(self.mirror, model.key(a.path))
            if kept:
                self._keep(a.path, kept_mod.LOCAL, kept)
        with self._lock:
            self.out.counts["deleted locally"] += 1
        self._progress("deleted", a.path, 0)

    def _split_ignored(self, path: str, rel: str) -> tuple[list[str], list[str]]:
        """Local folder ``rel`` (at ``path``), about to be deleted: the folders that
        hold ignored items, at any depth (``rel`` first; none: delete it whole),
        and the items beside them to delete, each with its subtree (which holds
        nothing ignored)."""
        kept: list[str] = []
        doomed: list[str] = []

        def visit(folder: str, folder_rel: str) -> bool:
            holds, plain = False, []
            with os.scandir(folder) as it:
                children = sorted(it, key=lambda e: e.name)
            for entry in children:
                child = folder_rel + "/" + entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if self.r.ignored(child, is_dir) or (is_dir and visit(entry.path, child)):
                    holds = True
                else:
                    plain.append(child)
            if holds:
                kept.append(folder_rel)
                doomed.extend(plain)
            return holds

        visit(path, rel)
        kept.reverse()  # parents first
        return kept, doomed

    def _keep(self, rel: str, side: str, folders: list[str]) -> None:
        """``rel``'s deletion kept ``folders`` (``rel`` and folders inside it) for
        the ignored items they hold: they are no longer synced, and the report
        says why they remain."""
        kept_mod.add(self.index, self.mirror, side, folders)
        with self._lock:
            self._kept_roots.add(model.key(rel))
            self.out.kept.append((rel, kept_mod.WHY[side]))

    def _new_inside(self, path: str, rel: str) -> bool:
        """Did something the index does not know appear in local folder ``rel``
        since the scan (a file created or edited while the pass ran)? Then the
        folder is not deleted: the next plan sees the change (an edit beats a
        delete). Ignored names, temp files and symlinks (never synced) do not count."""
        for dirpath, dirnames, filenames in os.walk(path):
            for n in dirnames + filenames:
                full = os.path.join(dirpath, n)
                child = rel + "/" + os.path.relpath(full, path).replace(os.sep, "/")
                try:
                    st = os.lstat(full)
                except OSError:
                    continue
                is_dir = stat_mod.S_ISDIR(st.st_mode)
                if not (is_dir or stat_mod.S_ISREG(st.st_mode)) or is_temp_name(n) or \
                        self.r.ignored(child, is_dir):
                    if is_dir:
                        dirnames.remove(n)
                    continue
                b = self.index.base_entry(self.mirror, model.key(child))
                if b is None or (b.kind == DIR) != is_dir:
                    return True
                if not is_dir and (st.st_size, st.st_mtime_ns, st.st_ino) != (
                        b.size, b.mtime_ns, b.inode) and not self._same_bytes(full, st, b):
                    return True
        return False

    @staticmethod
    def _same_bytes(path: str, st: os.stat_result, b: BaseEntry) -> bool:
        """A touched file (new mtime, same bytes) is unchanged, as the planner sees it."""
        if st.st_size != b.size or not b.sha256:
            return False
        try:
            return hash_file(path) == b.sha256
        except OSError:
            return False

    def _delete_remotes(self, remote: list) -> None:
        """Delete remote items ((id, ``DeleteRemote``) pairs) in one request.
        A folder that holds ignored items on the server (the index's snapshot
        has them: only the plan leaves them out) is not deleted whole: the items
        beside them are, in the same batch, and the folder stays."""
        paths: dict[str, tuple[int, DeleteRemote]] = {}
        partial: dict[int, tuple[DeleteRemote, list[str], set[str]]] = {}
        for item_id, a in remote:
            kept, doomed = self._remote_split(a) if a.remote.kind == DIR else ([], [])
            if not kept:
                paths[self.remote_abs(a.remote_path)] = (item_id, a)
                continue
            partial[item_id] = (a, kept, {self.remote_abs(e.path) for e in doomed})
            for e in doomed:
                paths[self.remote_abs(e.path)] = (item_id, DeleteRemote(e.path, e))
        landed: dict[str, RemoteItem] = {}
        try:
            if not paths:
                results = {}
            elif self.r.remote_delete == "trash" and self.r.remote_trash is not None:
                results = self.r.remote_trash.put(list(paths), landed=landed)
            else:
                results = self.r.backend.delete(list(paths))
        except Exception as exc:
            if reaction(exc).stops_pass:
                self.out.stop = exc
            elif transient(exc):
                self._unsettled(remote, exc)
            else:
                raise
            return
        if paths:
            crashpoints.hit("delete.remote.done")
        for abs_path, (item_id, a) in paths.items():
            err = results.get(abs_path)
            self._attempted.add(item_id)
            if isinstance(err, NotFoundError):
                err = None  # already gone (someone else deleted it): what we wanted
            if err is None and abs_path in landed and self._changed_meanwhile(
                    a, abs_path, landed[abs_path]):
                continue
            if item_id in partial:  # one item beside ignored ones
                if err is None:
                    with self.index.batch():
                        self.index.drop_remote(self.mirror, a.remote_path)
                        self.index.drop_base(self.mirror, model.key(a.remote_path))
                    partial[item_id][2].discard(abs_path)
                else:
                    self._note_failure(a.remote_path, describe(err))
                continue
            if err is None:
                with self.index.batch():
                    self.index.drop_remote(self.mirror, a.remote_path)
                    self.index.drop_base(self.mirror, model.key(a.remote_path))
                    self.index.finish(self.mirror, item_id)
                self.out.done_items.append(item_id)
                self.out.counts["deleted remotely"] += 1
                self._progress("deleted remotely", a.remote_path, 0)
            else:
                self._note_failure(a.remote_path, describe(err))
        for item_id, (a, kept, left) in partial.items():
            self._attempted.add(item_id)
            if left:
                continue  # not all went (failed, or changed meanwhile): planned again
            with self.index.batch():
                self.index.drop_base(self.mirror, model.key(a.remote_path))
                self._keep(a.remote_path, kept_mod.REMOTE, kept)
                self.index.finish(self.mirror, item_id)
            self.out.done_items.append(item_id)
            self.out.counts["deleted remotely"] += 1
            self._progress("deleted remotely", a.remote_path, 0)

    def _remote_split(self, a: DeleteRemote) -> tuple[list[str], list[RemoteEntry]]:
        """Remote folder ``a`` as the index knows it: the folders that hold ignored
        items, at any depth (``a``'s first; none: delete it whole), and the items
        beside them to delete, each with its subtree (nothing ignored in it)."""
        rel = a.remote_path
        under = self.index.remote_under(self.mirror, rel)
        ignored = {p for p, e in under.items() if self.r.ignored(p, e.kind == DIR)}
        kept: set[str] = set()
        for p in ignored:
            q = model.parent(p)
            while q not in kept and q not in ignored:
                kept.add(q)
                if q == rel:
                    break
                q = model.parent(q)
        if not kept:
            return [], []
        doomed = [e for p, e in sorted(under.items()) if p not in kept and p not in ignored
                  and model.parent(p) in kept]
        return sorted(kept, key=len), doomed

    def _changed_meanwhile(self, a: DeleteRemote, abs_path: str, trashed: RemoteItem) -> bool:
        """A remote delete is a move into the trash, and the server's answer tells
        what was moved. If a file is not the version the plan deleted, or a folder
        holds anything the plan did not see (someone wrote it after our refresh),
        it goes back where it was and the pass plans again: their edit beats our
        delete. True if so (the delete is not done)."""
        if a.remote.kind == FILE:
            if (trashed.size, trashed.updated) == (a.remote.size, a.remote.updated):
                return False
        elif not self._folder_changed(a.remote_path, trashed.path):
            return False
        with self._lock:
            self.out.stale += 1
            self.out.refresh = True
        try:
            self.r.backend.move(trashed.path, abs_path, id=trashed.id or None)
        except Exception as exc:  # noqa: BLE001 - reported: the version is safe in the trash
            self._note_failure(a.remote_path, "changed on the server while being deleted; "
                               f"that version is kept in the remote trash at {trashed.path} "
                               f"({describe(exc)})")
        return True

    def _folder_changed(self, rel: str, trashed: str) -> bool:
        """Does the folder just moved to ``trashed`` hold an item the plan did not
        know, or another version of one it knew? One listing of the trashed copy
        tells (⌈items/100⌉ requests): a file written into the folder while we
        deleted it must not go unnoticed into the trash. When the
        listing fails we cannot tell, and the folder goes back."""
        known = {model.key(p[len(rel) + 1:]): e
                 for p, e in self.index.remote_under(self.mirror, rel).items()}
        try:
            for item in self.r.backend.list_tree(trashed):
                e = known.get(model.key(item.path[len(trashed) + 1:]))
                if e is None or e.kind != item.kind or (
                        item.kind == FILE and (e.size, e.updated) != (item.size, item.updated)):
                    return True
        except Exception:  # noqa: BLE001 - unknown contents: put the folder back
            return True
        return False


# Actions that reach the server, and those of them safe to send again after a
# transient failure (see Worker._transient).
