"""The local trash: recoverable local deletions.

A file or folder that syncd removes from a local root because it was deleted
on the server is moved to ``<state_dir>/trash/<mirror>/<YYYY-MM-DD
HHMMSS>/<relative path>``, never unlinked. Folders older than ``trash_days``
are purged at the start of a sync. (The remote trash is ``syncd.remote.trash``.)
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from syncd.model import STAMP, fit_name, join
from syncd.model import name as leaf_name
from syncd.model import parent, stamp


class LocalTrash:
    def __init__(self, state_dir: Path, mirror: str, now: Callable[[], float] = time.time):
        self.root = Path(state_dir) / "trash" / mirror
        self.now = now
        self._folder: Path | None = None

    def folder(self) -> Path:
        if self._folder is None:
            self._folder = self.root / stamp(self.now())
        return self._folder

    def put(self, path: str, rel: str) -> Path:
        """Move ``path`` (absolute) into this run's trash folder as ``rel``."""
        target = self.folder() / rel
        n = 1
        while os.path.lexists(target):  # same path deleted twice in one run
            n += 1
            target = self.folder() / numbered(rel, n)
        _make_private_dirs(target.parent, self.root.parent)
        shutil.move(path, target)  # a rename when on one file system, else copy+delete
        return target

    def purge(self, days: int) -> int:
        """Remove run folders older than ``days``; returns how many were removed."""
        if not self.root.is_dir():
            return 0
        cutoff = self.now() - days * 86400
        removed = 0
        for entry in os.scandir(self.root):
            try:
                if entry.is_dir(follow_symlinks=False) and \
                        time.mktime(time.strptime(entry.name, STAMP)) < cutoff:
                    shutil.rmtree(entry.path)
                    removed += 1
            except (ValueError, OSError):
                continue  # not ours, or in use: leave it
        return removed


def numbered(rel: str, n: int) -> str:
    """``rel`` with `` (n)`` after its name, the name shortened to fit
    :data:`~syncd.model.NAME_MAX` (a name of 252 bytes or more would not take
    the number otherwise)."""
    return join(parent(rel), fit_name(leaf_name(rel), f" ({n})"))


def _private(folder: Path) -> None:
    try:
        os.chmod(folder, 0o700)
    except OSError:
        pass


def _make_private_dirs(folder: Path, top: Path) -> None:
    """``mkdir -p folder`` where every folder created from ``top`` down is 0700
    whatever the umask (``Path.mkdir(parents=True)`` gives the parents it
    creates the umask's mode, 0777 under umask 000)."""
    missing = []
    p = folder
    while not p.is_dir():
        missing.append(p)
        if p == top or p.parent == p:
            break
        p = p.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=0o700)
        except FileExistsError:
            pass
        _private(p)  # mkdir's mode is masked by the umask; 0700 is meant
    _private(top)
