"""Uploads: a file's bytes go up, hashed as they stream; an overwrite only of the
version the plan saw; a lost answer settled by one stat."""

from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import replace as dc_replace

from syncd import crashpoints, model
from syncd.model import FILE, LocalEntry, MoveRemote, RemoteEntry, Upload
from syncd.remote.backend import RemoteItem
from syncd.remote.errors import NotFoundError
from syncd.transfer.core import WorkerCore, same_version
from syncd.transfer.errors import Stale, Unsettled, check_cancel, describe, transient
from syncd.transfer.streams import HashingReader, fsync_dir


class Uploads(WorkerCore):
    """The handler of ``Upload``."""

    def _upload(self, a: Upload) -> None:
        path = self.local_abs(a.path)
        if a.replace is not None:  # bound the overwrite race: is it still the known version?
            current = self._to_entry(self.r.backend.stat(self.remote_abs(a.remote_path)))
            if not same_version(current, a.replace):
                self._put_remote(current)
                raise Stale(a.path)
        with open(path, "rb") as f:
            before = os.fstat(f.fileno())
            if not stat_mod.S_ISREG(before.st_mode) or not self._same_local(before, a.local):
                raise Stale(a.path)
            reader = HashingReader(f, self.r.up, self.r.cancel, self._meter(path))
            crashpoints.hit("upload.start")
            try:
                item = self.r.backend.upload(self.remote_abs(a.remote_path), reader,
                                             before.st_size, replace=a.replace is not None)
            except Exception as exc:
                if not transient(exc):
                    raise
                check_cancel(self.r.cancel)  # stopping: no stat; the next pass settles it
                item = self._landed_anyway(a, before.st_size, reader)
                if item is None:
                    raise
        crashpoints.hit("upload.sent")
        entry = self._to_entry(item)
        sent = LocalEntry(a.path, FILE, reader.count, before.st_mtime_ns, before.st_ino,
                          reader.sha.hexdigest())
        self._note_parents(entry.path)
        if entry.path != a.remote_path:
            # Someone created the name meanwhile; ours was stored under another name.
            # Make that our conflicted copy on both sides, leave theirs for the next plan.
            self._put_remote(entry)
            try:
                self._landed_elsewhere(a, sent, entry)
            except Exception as exc:
                if not transient(exc):
                    raise
                # stored: sending it again would store a third copy
                raise Unsettled(f"{a.path}: stored as {entry.path}; {describe(exc)}") from exc
            return
        with self.index.batch():
            self._put_remote(entry)
            self._record(sent, entry)
        after = self._lstat(path)
        with self._lock:
            self.out.counts["uploaded"] += 1
            self.out.bytes_up += reader.count
            if not self._same_local(after, a.local):
                self.out.stale += 1  # changed while read: base holds what was sent
        self._progress("uploaded", a.path, reader.count)

    def _landed_anyway(self, a: Upload, size: int, reader: HashingReader) -> RemoteItem | None:
        """An upload failed with an outcome we cannot tell (5xx, a lost answer,
        after the client's own retries): did the server store it? One stat tells.
        Recording it now matters: if a user deletes the file on either side before
        the next pass, an unrecorded copy would look like a new version, beat the
        delete and come back. An overwrite counts as landed when
        the file has our size and is no longer the version we replaced. None: it
        did not land (the upload may be sent again); ``Unsettled`` when the stat
        fails too (sending it again could store a second copy)."""
        if reader.count != size:
            return None  # a partial body never lands
        try:
            item = self.r.backend.stat(self.remote_abs(a.remote_path))
        except NotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - cannot tell: never sent again blind
            raise Unsettled(f"{a.path}: the upload's answer was lost and checking whether "
                            f"it was stored failed ({describe(exc)})") from exc
        if item.kind != FILE or item.size != size:
            return None
        if a.replace is not None and same_version(self._to_entry(item), a.replace):
            return None  # still the version we meant to replace: ours did not land
        return item

    def _landed_elsewhere(self, a: Upload, sent: LocalEntry, landed: RemoteEntry) -> None:
        taken = set(self.index.remote(self.mirror)) | set(self.index.base(self.mirror))
        cc = model.conflict_name(a.path, self.r.host, model.stamp(self.r.now()),
                                 {model.key(p) for p in taken})
        try:
            item = self.r.backend.move(self.remote_abs(landed.path), self.remote_abs(cc),
                                       id=landed.id or None)
        except Exception as exc:  # a lost answer: settled by one stat
            if not transient(exc):
                raise
            item = self._moved_anyway(MoveRemote(landed.path, cc, landed))
            if item is None:
                raise
        crashpoints.hit("upload.aside")
        moved = self._to_entry(item)
        src, dst = self.local_abs(a.path), self.local_abs(cc)
        with self.index.batch():
            self.index.drop_remote(self.mirror, landed.path)
            self._put_remote(moved)
            if self._same_local(self._lstat(src), a.local) and not os.path.lexists(dst):
                os.rename(src, dst)
                fsync_dir(os.path.dirname(dst), os.path.dirname(src))
                self._record(dc_replace(sent, path=cc), moved)
        with self._lock:
            self.out.counts["uploaded"] += 1
            self.out.bytes_up += sent.size
            self.out.refresh = True
            self.out.stale += 1
        self._conflict(a.path, cc, "local")
