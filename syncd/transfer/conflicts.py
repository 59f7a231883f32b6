"""Comparisons: both sides have a file at one path; equal contents are recorded,
different ones become a conflict (both versions kept, see the planner's rule C
and the directions)."""

from __future__ import annotations

import os

from syncd import crashpoints, model
from syncd.local.scan import hash_file
from syncd.model import Compare, Upload
from syncd.transfer.core import WorkerCore
from syncd.transfer.errors import Stale
from syncd.transfer.streams import file_mode, fsync_dir


class Conflicts(WorkerCore):
    """The handler of ``Compare`` (it uses the download's fetch and the upload)."""

    def _compare(self, a: Compare) -> None:
        target = self.local_abs(a.path)
        if not self._same_local(self._lstat(target), a.local):
            raise Stale(a.path)
        part, remote_sha = self._fetch(a.remote_path, a.remote, target)
        try:
            local_sha = hash_file(target)
            st = os.lstat(target)
            if not self._same_local(st, a.local):
                raise Stale(a.path)
            if local_sha == remote_sha:
                self._record(self._local_entry(a.path, st, local_sha), a.remote)
                with self._lock:
                    self.out.counts["identical"] += 1
                self._progress("identical", a.path)
                return
            if a.base is not None and remote_sha == a.base.sha256:
                self._resent(a.base, a.remote, a.path)
            if self.r.direction == "upload-only":
                # Local wins, local is never touched: the server's version steps
                # aside under the conflict name (and stays there), ours takes the name.
                cc_remote = _sibling(a.remote_path, a.conflict_path)
                item = self.r.backend.move(self.remote_abs(a.remote_path),
                                           self.remote_abs(cc_remote), id=a.remote.id or None)
                self.index.move_remote(self.mirror, a.remote_path, cc_remote)
                self._put_remote(self._to_entry(item))
                self._upload(Upload(a.path, a.remote_path, a.local, None))
                self._conflict(a.path, cc_remote, "remote")
                return
            # Different content: keep both. Two-way: on both sides. Download-only:
            # the local version steps aside locally (never uploaded).
            cc = self.local_abs(a.conflict_path)
            if os.path.lexists(cc):
                raise Stale(a.conflict_path)
            self._keep_mode(part, file_mode(st))  # the name keeps its mode; the copy is the
            os.rename(target, cc)             # old file itself and keeps its own
            crashpoints.hit("conflict.aside")
            os.replace(part.path, target)
            part.close()
            fsync_dir(os.path.dirname(target), os.path.dirname(cc))
        finally:
            part.discard()
        if self.r.direction == "download-only":
            st = os.lstat(target)
            self._record(self._local_entry(a.path, st, remote_sha), a.remote)
            self._conflict(a.path, a.conflict_path, "local")
            return
        st = os.lstat(target)
        self._record(self._local_entry(a.path, st, remote_sha), a.remote)
        crashpoints.hit("conflict.replaced")
        cc_st = os.lstat(cc)
        self._upload(Upload(a.conflict_path, _sibling(a.remote_path, a.conflict_path),
                            self._local_entry(a.conflict_path, cc_st, None), None))
        self._conflict(a.path, a.conflict_path, "local")


def _sibling(remote_path: str, local_rel: str) -> str:
    """The remote path for ``local_rel``'s name in ``remote_path``'s folder."""
    return model.join(model.parent(remote_path), model.name(local_rel))
