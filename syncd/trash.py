"""Recoverable deletions.

*Local trash*: a file or folder that syncd removes from a local root because it
was deleted on the server is moved to ``<state_dir>/trash/<mirror>/<YYYY-MM-DD
HHMMSS>/<relative path>``, never unlinked. Folders older than ``trash_days``
are purged at the start of a sync.

*Remote trash* (``remote_delete: trash``): ExaVault has no trash and deletes are
permanent, so a remote deletion is a move into ``<remote_trash>/<mirror>/
<YYYY-MM-DD HHMMSS>[ n]/``: one folder creation plus one batched move per run
(the server's move keeps names, so items with clashing names go to numbered
sibling folders). That is the same order of cost as a batched delete: 2
requests per run instead of 1. The folders created are remembered in the index
and deleted in one batched request once older than ``trash_days`` - no listing
of the trash is ever needed.
"""

from __future__ import annotations

import os
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path

from syncd.model import STAMP, stamp
from syncd.model import name as leaf_name
from syncd.remote.errors import InvalidParameterError


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
            target = self.folder() / f"{rel} ({n})"
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


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


class RemoteTrash:
    """Moves remote items into the remote trash folder (see module doc)."""

    def __init__(self, backend, index, mirror: str, trash_root: str,
                 now: Callable[[], float] = time.time):
        self.backend = backend
        self.index = index
        self.mirror = mirror
        self.root = trash_root.rstrip("/") + "/" + mirror
        self.now = now
        self._base: str | None = None
        # Per trash folder of this run: the names put there so far (folded the way
        # a case-insensitive server compares them). Several puts in one run (an
        # early deletion, then the rest) share the folders without clashing.
        self._used: dict[str, set[str]] = {}
        self._made: set[str] = set()

    def put(self, paths: Iterable[str], *, landed: dict | None = None
            ) -> dict[str, Exception | None]:
        """Move absolute remote ``paths`` into this run's trash folder (or numbered
        siblings, when names clash). Returns per path ``None`` on success or the
        error; ``landed`` receives the moved items as the server describes them.
        An item the server refuses as a name clash we did not know of (someone
        else's item, or a name the server folds) is tried once more elsewhere."""
        results: dict[str, Exception | None] = {}
        pending = list(dict.fromkeys(paths))
        for attempt in range(2):
            retry = []
            for folder, group in self._assign(pending).items():
                self._ensure(folder)
                for path, err in self.backend.move_many(group, folder, landed=landed).items():
                    if isinstance(err, InvalidParameterError) and attempt == 0:
                        retry.append(path)
                    else:
                        results[path] = err
            if not retry:
                break
            pending = retry
        return results

    def _assign(self, paths: list[str]) -> dict[str, list[str]]:
        if self._base is None:
            self._base = self.root + "/" + stamp(self.now())
        groups: dict[str, list[str]] = {}
        for path in paths:
            n = 1
            while True:
                folder = self._base if n == 1 else f"{self._base} {n}"
                used = self._used.setdefault(folder, set())
                if _fold(leaf_name(path)) not in used:
                    used.add(_fold(leaf_name(path)))
                    groups.setdefault(folder, []).append(path)
                    break
                n += 1
        return groups

    def _ensure(self, folder: str) -> None:
        if folder in self._made:
            return
        self.backend.mkdir(folder)
        self._made.add(folder)
        self._remember(folder)

    def _remember(self, folder: str) -> None:
        scope = "mirror:" + self.mirror
        known = self.index.get_state(scope, "remote_trash", []) or []
        known.append([folder, self.now()])
        self.index.set_state(scope, "remote_trash", known)

    def purge(self, days: int) -> int:
        """Delete trash folders this mirror created more than ``days`` ago (one
        batched request); returns how many were purged."""
        scope = "mirror:" + self.mirror
        known = self.index.get_state(scope, "remote_trash", []) or []
        cutoff = self.now() - days * 86400
        old = [f for f, at in known if at < cutoff]
        if not old:
            return 0
        results = self.backend.delete(old)
        gone = {p for p, err in results.items() if err is None}
        self.index.set_state(scope, "remote_trash", [[f, at] for f, at in known if f not in gone])
        return len(gone)
