"""Downloads: fetched into a temp file beside the target, checked, fsynced, and
put in place only over the version the plan saw; ``complete_downloads`` records,
at the next start, one killed between putting its file in place and recording it.

A big download stopped midway (Ctrl-C, SIGTERM, a connection that broke) keeps its
temp file, remembered in the index (``partials``), and the next download of the
same version goes on from there with ``Range``; ``kept_partials`` tells the full
pass's clean-up which temp files to leave, and forgets them after ``RESUME_FOR``."""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
import threading
import time
from dataclasses import replace as dc_replace

from syncd import crashpoints, heartbeat, model
from syncd.local.ignore import is_own_temp_name
from syncd.model import BaseEntry, Download, RemoteEntry
from syncd.transfer.core import WorkerCore, base_row, twin
from syncd.transfer.errors import (
    Cancelled,
    CorruptDownload,
    Stale,
    UnsafePath,
    check_cancel,
    transient,
)
from syncd.transfer.streams import HashingWriter, Part, file_mode, fsync_dir


# A download of at least this many bytes stopped midway (Ctrl-C, SIGTERM, a broken
# connection) keeps what it fetched, to go on from there (``Range``) ...
RESUME_MIN = 1 << 20
# ... if that is within this many seconds (Syncthing keeps its temp files 24 h too);
# after that the kept bytes are removed by the next full pass.
RESUME_FOR = 24 * 3600
_PARTIALS = threading.Lock()  # the index's record of them is read and written whole


class ResumeWriter(HashingWriter):
    """A download's writer that may start after bytes already in the file
    (``have``, hashed in ``sha``; ``progress`` is told them first): ``truncate(0)``
    starts over (and takes back the progress), for a server that sent the whole
    file although asked for the rest."""

    def __init__(self, f, throttle, cancel=None, progress=None, *, have: int = 0, sha=None):
        super().__init__(f, throttle, cancel, progress)
        self.resumed = have  # bytes that were there before this download
        if have:
            self.sha, self.count = sha, have
            if progress is not None:
                progress(have)

    def truncate(self, size: int = 0) -> int:
        if size:
            raise OSError("a download only starts over (truncate(0))")
        self._f.seek(0)
        self._f.truncate()
        if self.count and self._progress is not None:
            self._progress(-self.count)
        self.sha, self.count, self.resumed = hashlib.sha256(), 0, 0
        return 0


class Downloads(WorkerCore):
    """The handler of ``Download``, and the fetch that ``Compare`` shares."""

    def _fetch(self, remote_path: str, remote: RemoteEntry, target: str) -> tuple[Part, str]:
        """Download into a temp file beside ``target``; returns (temp file, sha256).
        The caller puts it in place (then ``close()``s it) or ``discard()``s it.
        A big download stopped midway keeps its bytes for the next try
        (:meth:`_keep_partial`), which goes on from there (:meth:`_resume`)."""
        key = model.key(os.path.relpath(target, self.r.local_root))
        part, have, sha = self._resume(key, remote, os.path.dirname(target))
        try:
            with open(part.fd, "wb", closefd=False) as f:
                writer = ResumeWriter(f, self.r.down, self.r.cancel, self._meter(target),
                                      have=have, sha=sha)
                self.r.backend.download(self.remote_abs(remote_path), writer,
                                        offset=writer.resumed)
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
                self.out.bytes_down += writer.count - writer.resumed
            return part, writer.sha.hexdigest()
        except BaseException as exc:
            stopping = self.r.cancel is not None and self.r.cancel.is_set()
            if not ((stopping or transient(exc)) and self._keep_partial(key, part, remote)):
                part.discard()
            if stopping and not isinstance(exc, Cancelled):
                raise Cancelled("stopping") from exc  # (a request aborted by the stop)
            raise

    # --- downloads stopped midway, resumed -----------------------------------------

    def _partials(self, change=None) -> dict:
        """The mirror's kept partial downloads (``change(records)`` edits them)."""
        state = self.index.mirror_state(self.mirror)
        with _PARTIALS:  # (its own lock: the index's is taken inside it)
            records = dict(state.partials or {})
            if change is not None:
                change(records)
                state.partials = records
        return records

    def _keep_partial(self, key: str, part: Part, remote: RemoteEntry) -> bool:
        """Keep the bytes a stopped download fetched (a big one, of a known version):
        made durable, then remembered. False: not worth it (discard it)."""
        try:
            have = os.fstat(part.fd).st_size
            if remote.size < RESUME_MIN or not remote.id or not 0 < have < remote.size:
                return False
            os.fsync(part.fd)
        except OSError:
            return False
        record = {"part": os.path.relpath(part.path, self.r.local_root), "id": remote.id,
                  "size": remote.size, "updated": remote.updated, "have": have,
                  "at": self.r.now()}
        self._partials(lambda records: records.__setitem__(key, record))
        part.close()
        return True

    def _resume(self, key: str, remote: RemoteEntry, folder: str) -> tuple[Part, int, object]:
        """The temp file for a download of ``remote`` into ``folder``, the bytes it
        holds and their SHA-256: the one a stopped download of this very version
        kept there, or else a new, empty one (0, None). A kept file of another
        version, or changed since, is removed."""
        taken: dict = {}
        self._partials(lambda records: taken.update(record=records.pop(key, None)))
        record = taken["record"]
        if record is None:
            return Part(folder, self._temp_key), 0, None
        path = os.path.join(self.r.local_root, record["part"])
        name, have = os.path.basename(path), record["have"]
        same = (record["id"], record["size"], record["updated"]) == \
            (remote.id, remote.size, remote.updated)
        part = None
        try:
            if is_own_temp_name(name, self._temp_key) and os.path.dirname(path) == folder:
                part = Part(folder, self._temp_key, name=name)
                st = os.fstat(part.fd)
                if same and stat_mod.S_ISREG(st.st_mode) and 0 < have <= st.st_size < remote.size:
                    os.ftruncate(part.fd, have)  # (bytes after ``have`` may not be durable)
                    return part, have, self._hash_kept(part.fd, have)
        except OSError:  # gone, or nothing we can go on with: start afresh
            pass
        except Cancelled:  # stopped while hashing them: still kept, for the next run
            self._partials(lambda records: records.__setitem__(key, record))
            part.close()
            raise
        except BaseException:
            if part is not None:
                part.discard()
            raise
        if part is not None:
            part.discard()  # another version's bytes, or changed: not ours to go on with
        return Part(folder, self._temp_key), 0, None

    def _hash_kept(self, fd: int, size: int):
        """SHA-256 of a kept file's first ``size`` bytes (stopping stops this too)."""
        sha = hashlib.sha256()
        os.lseek(fd, 0, os.SEEK_SET)
        while size > 0:
            check_cancel(self.r.cancel)
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                raise Stale("a kept partial download got shorter")
            sha.update(chunk)
            size -= len(chunk)
            heartbeat.beat()
        return sha

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


def kept_partials(index, mirror: str, now: float) -> frozenset[str]:
    """The temp files (relative paths) of downloads stopped midway that may still
    be resumed; older ones are forgotten here (the clean-up then removes them)."""
    state = index.mirror_state(mirror)
    records = state.partials or {}
    fresh = {k: r for k, r in records.items() if now - r.get("at", 0) < RESUME_FOR}
    if len(fresh) != len(records):
        state.partials = fresh
    return frozenset(r["part"] for r in fresh.values())
