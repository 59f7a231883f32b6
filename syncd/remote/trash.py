"""The remote trash: recoverable remote deletions.

With ``remote_delete: trash`` (ExaVault has no trash and deletes are permanent), a
remote deletion is a move into ``<remote_trash>/<mirror>/<YYYY-MM-DD HHMMSS>[ n]/``. One folder serves a mirror for 24 hours: a run
costs 1 batched move (100 items per request), plus 1 folder creation for the
first deleting run of a day - the same cost as a batched delete after that.
What the server does when a move meets an existing name is not specified (it
may refuse, rename or even replace), so syncd never lets that happen knowingly:
the index remembers, per trash folder, the names put there, and a name already
used goes to a numbered sibling folder. The folders are remembered in the
index with the time of their last use and deleted in one batched request once
that is more than ``trash_days`` ago (an item's age in the trash is at least
that) - no listing of the trash is ever needed.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterable

from syncd.model import name as leaf_name
from syncd.model import stamp
from syncd.remote.errors import InvalidParameterError, NotFoundError, NotSupportedError


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


# Index state of the remote trash (scope ``mirror:<name>``):
#  * ``remote_trash``: every folder this mirror created and has not purged, as
#    ``[folder, created, last_used]`` (entries written before folders were reused
#    are ``[folder, created]``: last used when created);
#  * ``remote_trash_open``: the folder group in use, ``{"base": folder, "names":
#    {folder: [folded names put there]}}`` for the base folder and its numbered
#    siblings. JSON costs about 2 ms to write and 1 ms to read for 10,000 names,
#    once or twice per deleting run: no table of its own is needed.
REUSE = 86400  # a folder takes deletions for this long after its creation


class RemoteTrash:
    """Moves remote items into the remote trash folder (see module doc)."""

    def __init__(self, backend, index, mirror: str, trash_root: str,
                 now: Callable[[], float] = time.time):
        self.backend = backend
        self.index = index
        self.mirror = mirror
        self.state = index.mirror_state(mirror)
        self.root = trash_root.rstrip("/") + "/" + mirror
        self.now = now
        self._known: dict[str, list[float]] | None = None  # folder -> [created, last_used]
        self._base: str | None = None
        # Per folder of the open group: the names put there (folded the way a
        # case-insensitive server compares them), this run's and earlier runs'.
        self._used: dict[str, set[str]] = {}
        self._fresh: set[str] = set()  # folders this object created

    def put(self, paths: Iterable[str], *, landed: dict | None = None
            ) -> dict[str, Exception | None]:
        """Move absolute remote ``paths`` into the trash folder (or numbered
        siblings, when names clash). Returns per path ``None`` on success or the
        error; ``landed`` receives the moved items as the server describes them.
        An item the server refuses as a name clash we did not know of (someone
        else's item, or a name the server folds) is tried once more elsewhere; so
        are the items of a folder someone removed (in a new folder)."""
        results: dict[str, Exception | None] = {}
        pending = list(dict.fromkeys(paths))
        if not pending:
            return results
        self._load()
        for attempt in range(2):
            retry = []
            groups = self._assign(pending)
            try:
                for folder in groups:
                    self._ensure(folder)
            finally:
                self._touch(groups)  # names and use recorded before the moves
            for folder, group in groups.items():
                try:
                    moved = self.backend.move_many(group, folder, landed=landed)
                except NotFoundError as exc:  # a plain 404 for the whole batch
                    if attempt or isinstance(exc, NotSupportedError) or not self._gone(folder):
                        raise
                    retry += group
                    continue
                if attempt == 0 and all(isinstance(e, NotFoundError) for e in moved.values()) \
                        and self._gone(folder):
                    retry += group
                    continue
                for path, err in moved.items():
                    if isinstance(err, InvalidParameterError) and attempt == 0:
                        retry.append(path)
                    else:
                        results[path] = err
            if not retry:
                break
            pending = retry
        return results

    def _load(self) -> None:
        """Read the folders and the open group from the index (once per object);
        reuse the group if its base folder is this mirror's and under a day old."""
        if self._known is not None:
            return
        known = {}
        for entry in self.state.remote_trash or []:
            known[entry[0]] = [entry[1], entry[2] if len(entry) > 2 else entry[1]]
        self._known = known
        group = self.state.remote_trash_open or {}
        base = group.get("base")
        if base in known and 0 <= self.now() - known[base][0] < REUSE:
            self._base = base
            self._used = {f: set(names) for f, names in group.get("names", {}).items()}

    def _new_group(self) -> None:
        self._base = self.root + "/" + stamp(self.now())
        # Names of folders that are not part of the new group are no longer needed,
        # unless the new base has the same name (the same second): keep those.
        self._used = {f: u for f, u in self._used.items()
                      if f == self._base or f.startswith(self._base + " ")}

    def _assign(self, paths: list[str]) -> dict[str, list[str]]:
        if self._base is None:
            self._new_group()
        groups: dict[str, list[str]] = {}
        for path in paths:
            leaf = _fold(leaf_name(path))
            n = 1
            while True:
                folder = self._base if n == 1 else f"{self._base} {n}"
                n += 1
                if folder in self._known and folder not in self._used:
                    continue  # ours, but what it holds is not known: not reused
                used = self._used.setdefault(folder, set())
                if leaf not in used:
                    used.add(leaf)
                    groups.setdefault(folder, []).append(path)
                    break
        return groups

    def _ensure(self, folder: str) -> None:
        if folder in self._known:
            return
        self.backend.mkdir(folder)
        self._known[folder] = [self.now(), self.now()]
        self._fresh.add(folder)

    def _touch(self, folders: Iterable[str]) -> None:
        for folder in folders:
            if folder in self._known:
                self._known[folder][1] = self.now()
        self._save()

    def _save(self) -> None:
        with self.index.batch():
            self._save_known()
            self.state.remote_trash_open = {
                "base": self._base, "names": {f: sorted(u) for f, u in self._used.items()}}

    def _save_known(self) -> None:
        self.state.remote_trash = [[f, c, u] for f, (c, u) in self._known.items()]

    def _gone(self, folder: str) -> bool:
        """Every item sent to ``folder`` was "not found": was the folder, created
        by an earlier run, removed meanwhile? Then forget it and open a new group
        (what was put in it is gone with it)."""
        if folder in self._fresh:
            return False
        try:
            self.backend.stat(folder)
            return False
        except NotFoundError:
            pass
        self._known.pop(folder, None)
        self._new_group()
        return True

    def purge(self, days: int) -> int:
        """Delete trash folders this mirror last used more than ``days`` ago (one
        batched request); returns how many were purged."""
        self._load()
        cutoff = self.now() - days * 86400
        old = [f for f, (_, used) in self._known.items() if used < cutoff]
        if not old:
            return 0
        results = self.backend.delete(old)
        gone = [p for p, err in results.items() if err is None]
        for folder in gone:
            del self._known[folder]
        self._save_known()
        return len(gone)
