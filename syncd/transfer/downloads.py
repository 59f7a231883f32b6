"""Downloads: fetched into a temp file beside the target, checked, fsynced, and
put in place only over the version the plan saw; ``complete_downloads`` records,
at the next start, one killed between putting its file in place and recording it."""

from __future__ import annotations

import os
import stat as stat_mod
import time
from dataclasses import replace as dc_replace

from syncd import crashpoints, model
from syncd.model import BaseEntry, Download, RemoteEntry
from syncd.transfer.core import WorkerCore, base_row, twin
from syncd.transfer.errors import CorruptDownload, Stale, UnsafePath
from syncd.transfer.streams import HashingWriter, Part, file_mode, fsync_dir


class Downloads(WorkerCore):
    """The handler of ``Download``, and the fetch that ``Compare`` shares."""

    def _fetch(self, remote_path: str, remote: RemoteEntry, target: str) -> tuple[Part, str]:
        """Download into a temp file beside ``target``; returns (temp file, sha256).
        The caller puts it in place (then ``close()``s it) or ``discard()``s it."""
        part = Part(os.path.dirname(target), self._temp_key)
        try:
            with open(part.fd, "wb", closefd=False) as f:
                writer = HashingWriter(f, self.r.down, self.r.cancel, self._meter(target))
                self.r.backend.download(self.remote_abs(remote_path), writer)
                f.flush()
                os.fsync(f.fileno())
            if writer.count != remote.size:
                raise Stale(f"{remote_path}: got {writer.count} bytes, expected {remote.size}")
            os.fchmod(part.fd, 0o666 & ~self._umask)
            if remote.updated:
                os.utime(part.fd if os.utime in os.supports_fd else part.path,
                         (time.time(), remote.updated))
            crashpoints.hit("download.fetched")
            with self._lock:
                self.out.bytes_down += writer.count
            return part, writer.sha.hexdigest()
        except BaseException:
            part.discard()
            raise

    def _keep_mode(self, part: Part, mode: int | None) -> None:
        """The download takes the permission bits of the file it replaces (a
        private file stays private, a script stays executable)."""
        if mode is not None:
            os.fchmod(part.fd, mode)

    def _mode_before(self, a: Download, target: str) -> int | None:
        """The permission bits the download at ``target`` keeps: the replaced
        file's, or, for a name this plan freed by renaming the old version aside
        as a conflicted copy, that copy's; None (the umask) for a new file."""
        if a.replace is not None:
            return file_mode(self._lstat(target))
        aside = self._aside.get(model.key(a.path))
        if aside is None:
            return None
        try:
            st = self._lstat(self.local_abs(aside.dst))
        except UnsafePath:
            return None
        return file_mode(st) if st is not None and st.st_ino == aside.local.inode else None

    def _target_as_planned(self, target: str, a: Download) -> bool:
        """The download's target is as the plan saw it: the same file, or free (no
        other Unicode spelling of its name beside it either)."""
        return self._same_local(self._lstat(target), a.replace) and not (
            a.replace is None and twin(target))

    def _download(self, a: Download) -> None:
        target = self.local_abs(a.path, create_parents=True)
        if not self._target_as_planned(target, a):
            self._in_the_way(target, a.path)
            raise Stale(a.path)
        known = (self.index.remote_by_id(self.mirror, a.remote.id)
                 if a.remote.id and a.remote.id in self._learnt else None)
        if known is not None and (known.size, known.updated) != (a.remote.size,
                                                                 a.remote.updated):
            # This pass learnt of a newer version (say, from the answer to the move
            # that renamed it aside): what we would fetch is not what the plan
            # recorded. Planned again with the version we know now.
            raise Stale(a.path)
        part, sha = self._fetch(a.remote_path, a.remote, target)
        try:
            known = self.index.base_entry(self.mirror, model.key(a.path))
            if known is not None and known.sha256 and (known.remote_id, known.remote_size,
                                                       known.remote_updated) == \
                    (a.remote.id, a.remote.size, a.remote.updated) and known.sha256 != sha:
                # The one case the API lets us check (it has no checksums): the
                # version we synced before, whose SHA-256 we recorded.
                raise CorruptDownload(f"{a.remote_path}: the downloaded bytes do not match "
                                      "the SHA-256 recorded for this version; not saved")
            if a.base is not None and a.replace is None and sha == a.base.sha256:
                self._resent(a.base, a.remote, a.path)
            mode = self._mode_before(a, target)
            if not self._target_as_planned(target, a):
                raise Stale(a.path)  # changed while we downloaded: never overwrite it
            self._keep_mode(part, mode)
            # Killed between the rename and the record, the next start would see an
            # unrecorded file (a false conflict, or a resurrection if the server's
            # copy goes meanwhile): first the record-to-be, with the stat the file
            # has there (a rename keeps inode, size and mtime), completed at the
            # next start if the file is still exactly that (complete_downloads).
            intent = base_row(self._local_entry(a.path, os.fstat(part.fd), sha), a.remote)
            self.index.put_intent(self.mirror, intent)
            try:
                os.replace(part.path, target)
            except BaseException:
                self.index.drop_intent(self.mirror, intent.key)
                raise
            fsync_dir(os.path.dirname(target))  # (the file was fsynced in _fetch)
        except BaseException:
            part.discard()
            raise
        part.close()
        crashpoints.hit("download.replaced")
        st = os.lstat(target)
        self.index.record_intent(self.mirror, base_row(self._local_entry(a.path, st, sha),
                                                   a.remote))
        with self._lock:
            self.out.counts["downloaded"] += 1
        self._progress("downloaded", a.path, a.remote.size)

    def _resent(self, base: BaseEntry, remote: RemoteEntry, path: str) -> None:
        """The server's "edit" is the synced bytes (sent again by another client, or
        a version whose bytes were fetched after a listing read its metadata): only
        our side changed. The base takes the server's version and the next plan
        sends the local change (an upload, or the deletion) instead of undoing it."""
        self.index.put_base(self.mirror, dc_replace(
            base, remote_path=remote.path, remote_id=remote.id, remote_size=remote.size,
            remote_updated=remote.updated))
        raise Stale(path)


def complete_downloads(index, mirror: str, local_root: str) -> int:
    """Before planning: a download killed between putting its file in place and
    recording it left an intent (``Worker._download``). If the file at its path is
    still exactly the one put there (inode, size, mtime), record it as the worker
    would have; else (never put there, or changed since) forget the intent.
    Returns the number of downloads recorded."""
    done = 0
    for row in index.intents(mirror):
        try:
            st = os.lstat(os.path.join(local_root, row.local_path))
        except (OSError, ValueError):
            st = None
        if st is not None and stat_mod.S_ISREG(st.st_mode) and (
                st.st_ino, st.st_size, st.st_mtime_ns) == (row.inode, row.size, row.mtime_ns):
            index.record_intent(mirror, row)
            done += 1
        else:
            index.drop_intent(mirror, row.key)
    return done
