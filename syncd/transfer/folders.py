"""Folder creation, on either side."""

from __future__ import annotations

import os
import stat as stat_mod

from syncd import crashpoints
from syncd.model import DIR, LocalEntry, MakeLocalDir, MakeRemoteDir
from syncd.transfer.core import WorkerCore, twin
from syncd.transfer.errors import Stale, UnsafePath


class Folders(WorkerCore):
    """Handlers of ``MakeLocalDir`` and ``MakeRemoteDir``."""

    def _make_local_dir(self, a: MakeLocalDir) -> None:
        path = self.local_abs(a.path, create_parents=True)
        st = self._lstat(path)
        if st is None:
            if twin(path):
                raise Stale(a.path)
            os.mkdir(path)
            st = os.lstat(path)
            crashpoints.hit("mkdir.local.done")
        elif not stat_mod.S_ISDIR(st.st_mode):
            if stat_mod.S_ISREG(st.st_mode):
                self._in_the_way(path, a.path)
                raise Stale(a.path)  # a file appeared: the next plan sees the conflict
            raise UnsafePath("a symbolic link or special file is in the way")
        self._record(LocalEntry(a.path, DIR, 0, st.st_mtime_ns, st.st_ino), a.remote)
        with self._lock:
            self.out.counts["folders"] += 1
        self._progress("created folder locally", a.path)

    def _make_remote_dir(self, a: MakeRemoteDir) -> None:
        st = self._lstat(self.local_abs(a.local.path))
        if st is None or not stat_mod.S_ISDIR(st.st_mode):
            raise Stale(a.local.path)
        item = self.r.backend.mkdir(self.remote_abs(a.remote_path))
        crashpoints.hit("mkdir.remote.done")
        entry = self._to_entry(item)
        self._note_parents(a.remote_path)
        with self._lock:
            self._remote_dirs.add(a.remote_path)
        self._put_remote(entry)
        self._record(LocalEntry(a.local.path, DIR, 0, st.st_mtime_ns, st.st_ino), entry)
        with self._lock:
            self.out.counts["folders"] += 1
        self._progress("created folder remotely", a.remote_path)
