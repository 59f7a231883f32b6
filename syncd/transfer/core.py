"""What every part of the worker works with: the run's inputs (``MirrorRun``)
and results (``Outcome``), paths on both sides, the index rows a handler writes,
and the bookkeeping of actions that did not happen."""

from __future__ import annotations

import os
import stat as stat_mod
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from syncd import model
from syncd.local.scan import temp_key
from syncd.model import DIR, FILE, BaseEntry, LocalEntry, MoveLocal, RemoteEntry
from syncd.remote.backend import Backend, RemoteItem
from syncd.transfer.errors import Obstructed, UnsafePath, describe
from syncd.transfer.streams import Throttle, umask


@dataclass
class Outcome:
    counts: Counter = field(default_factory=Counter)  # uploaded, downloaded, moved, ...
    bytes_up: int = 0
    bytes_down: int = 0
    stale: int = 0            # skipped because the world changed: plan again
    refresh: bool = False     # the remote snapshot is known to be behind: refresh it
    failed: list[tuple[str, str]] = field(default_factory=list)
    deferred: int = 0         # not attempted (stopped early)
    stop: Exception | None = None
    done_items: list[int] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # folders kept for ignored items
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)  # see on_conflict


@dataclass
class MirrorRun:
    """Everything the worker needs for one mirror."""

    name: str
    local_root: str
    remote_root: str
    backend: Backend
    index: object
    account: str
    host: str
    transfers: int = 4
    direction: str = model.DEFAULT_DIRECTION
    remote_delete: str = "trash"
    local_trash: object = None
    remote_trash: object = None
    up: Throttle = field(default_factory=lambda: Throttle(0))
    down: Throttle = field(default_factory=lambda: Throttle(0))
    now: Callable[[], float] = time.time
    on_progress: Callable[[str, str, int], None] | None = None  # (verb, path, bytes)
    # (path, bytes just moved), from the stream wrappers: every chunk of every upload and
    # download (negative when an upload rewinds to send again); path is the action's
    on_bytes: Callable[[str, int], None] | None = None
    # (path, conflicted copy's path, whose version got the copy's name: "local" or
    # "remote"), once per conflict that happened (both versions kept)
    on_conflict: Callable[[str, str, str], None] | None = None
    cancel: threading.Event | None = None  # set: stop as soon as possible
    ignored: Callable[[str, bool], bool] = lambda path, is_dir: False  # the mirror's rules


class WorkerCore:
    """The state of one run and what every handler works with: paths on both
    sides, the index rows it writes, and the bookkeeping of what did not happen.
    ``syncd.transfer.worker.Worker`` adds the handlers and runs the plan."""

    def __init__(self, run: MirrorRun):
        self.r = run
        self.index = run.index
        self.mirror = run.name
        self._lock = threading.Lock()
        self._umask = umask()
        self._remote_dirs = {p for p, e in self.index.remote(self.mirror).items()
                             if e.kind == DIR}
        self.out = Outcome()
        self._attempted: set[int] = set()
        self._troubled: set[str] = set()  # paths of actions that failed or were stale
        self._learnt: set[str] = set()  # ids whose remote row this run wrote
        self._kept_roots: set[str] = set()  # keys of deletions that kept their folder
        self._temp_key = temp_key(self.index, self.mirror)
        self._aside: dict[str, MoveLocal] = {}

    # --- paths -------------------------------------------------------------------

    def remote_abs(self, rel: str) -> str:
        return (self.r.remote_root.rstrip("/") + "/" + rel) if rel else (self.r.remote_root or "/")

    def remote_rel(self, abs_path: str) -> str:
        root = self.r.remote_root.rstrip("/")
        return abs_path[len(root) + 1:]

    def local_abs(self, rel: str, *, create_parents: bool = False) -> str:
        """The absolute local path of ``rel``, refusing anything that could leave the
        root: empty, ``.``/``..`` or NUL-bearing segments, and any existing parent
        component that is a symlink (writing through it would land outside)."""
        parts = rel.split("/")
        if model.unsafe(rel):
            raise UnsafePath(f"unsafe path {rel!r}")
        current = self.r.local_root
        for part in parts[:-1]:
            current = os.path.join(current, part)
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                if not create_parents:
                    return os.path.join(self.r.local_root, *parts)
                os.mkdir(current)
                continue
            if not stat_mod.S_ISDIR(st.st_mode):
                raise UnsafePath(f"{os.path.relpath(current, self.r.local_root)} is not a "
                                 "folder (a symbolic link or file is in the way)")
        return os.path.join(self.r.local_root, *parts)

    def _local_entry(self, rel: str, st: os.stat_result, sha: str | None) -> LocalEntry:
        kind = DIR if stat_mod.S_ISDIR(st.st_mode) else FILE
        return LocalEntry(rel, kind, 0 if kind == DIR else st.st_size, st.st_mtime_ns,
                          st.st_ino, sha)

    @staticmethod
    def _same_local(st: os.stat_result | None, expected: LocalEntry | None) -> bool:
        if expected is None:
            return st is None
        if st is None:
            return False
        if expected.kind == DIR:
            return stat_mod.S_ISDIR(st.st_mode) and not stat_mod.S_ISLNK(st.st_mode)
        return (stat_mod.S_ISREG(st.st_mode) and st.st_size == expected.size
                and st.st_mtime_ns == expected.mtime_ns and st.st_ino == expected.inode)

    @staticmethod
    def _lstat(path: str) -> os.stat_result | None:
        try:
            return os.lstat(path)
        except FileNotFoundError:
            return None

    def _to_entry(self, item: RemoteItem) -> RemoteEntry:
        return RemoteEntry(self.remote_rel(item.path), item.kind, str(item.id), item.size,
                           item.updated)

    def _put_remote(self, entry: RemoteEntry) -> None:
        """Store what an answer told of a remote item (the only way this run
        writes remote rows, so ``_learnt`` knows every id it learnt of)."""
        if entry.id:
            with self._lock:
                self._learnt.add(entry.id)
        self.index.put_remote(self.mirror, [entry])

    def _record(self, local: LocalEntry, remote: RemoteEntry) -> None:
        self.index.put_base(self.mirror, base_row(local, remote))

    def _note_parents(self, remote_rel: str) -> None:
        """Uploads create missing parent folders on the server. Record those folders
        (id unknown until the next full listing) so the next plan does not treat them
        as new, and expect their creation echo in the activity feed."""
        parts = remote_rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folder = "/".join(parts[:i])
            with self._lock:
                if folder in self._remote_dirs:
                    continue
                self._remote_dirs.add(folder)
            self._put_remote(RemoteEntry(folder, DIR, "", 0, 0.0))
            self.index.expect_echo(self.r.account, self.r.now(), "mkdir", self.remote_abs(folder))
            try:
                st = os.lstat(self.local_abs(folder))
            except (OSError, UnsafePath):
                continue
            if stat_mod.S_ISDIR(st.st_mode):
                self._record(LocalEntry(folder, DIR, 0, st.st_mtime_ns, st.st_ino),
                             RemoteEntry(folder, DIR, "", 0, 0.0))

    def _progress(self, verb: str, path: str, size: int = 0) -> None:
        if self.r.on_progress is not None:
            self.r.on_progress(verb, path, size)

    def _meter(self, target: str) -> Callable[[int], None] | None:
        """What a stream wrapper calls with each chunk's bytes for the file at the
        absolute local path ``target`` (its action's path goes to ``on_bytes``)."""
        on_bytes = self.r.on_bytes
        if on_bytes is None:
            return None
        rel = os.path.relpath(target, self.r.local_root)
        return lambda n: on_bytes(rel, n)

    def _conflict(self, path: str, copy: str, renamed: str) -> None:
        """A conflict happened at ``path``: both versions are kept, ``renamed``'s
        (``"local"`` or ``"remote"``) under ``copy``. Counted once, and announced."""
        with self._lock:
            self.out.counts["conflicts"] += 1
            self.out.conflicts.append((path, copy, renamed))
        if self.r.on_conflict is not None:
            self.r.on_conflict(path, copy, renamed)

    def _in_the_way(self, target: str, rel: str, action_path: str | None = None) -> None:
        """Raise a per-item error (one line, backed off) when what occupies
        ``target`` (``rel``) is something no scan shows and no pass will clear: a
        symbolic link or special file, or an item the ignore rules leave out. It
        stays as it is. (Planning again would find it in the way again, forever.)"""
        st = self._lstat(target)
        if st is None:
            return
        mode = st.st_mode
        is_dir = stat_mod.S_ISDIR(mode)
        at = "" if action_path in (None, rel) else f" at {rel}"
        if not (is_dir or stat_mod.S_ISREG(mode)):
            raise UnsafePath(f"a symbolic link or special file is in the way{at} (it is "
                             "never replaced)")
        if self.r.ignored(rel, is_dir):
            raise Obstructed(f"an ignored {'folder' if is_dir else 'file'} is in the way{at} "
                             "(it is never replaced)")

    # --- what did not happen ------------------------------------------------------

    def _stale(self, item_id: int, action, *, refresh: bool = False) -> None:
        """The action did not happen because the world moved: planned again."""
        with self._lock:
            self._attempted.add(item_id)
            self._troubled.update(action.paths)
            self.out.stale += 1
            self.out.refresh |= refresh

    def _failed(self, item_id: int, path: str, exc: BaseException, action) -> None:
        with self._lock:
            self._attempted.add(item_id)
            self._troubled.update(action.paths)
        self._note_failure(path, describe(exc))
        self._progress("failed", path, 0)

    def _note_failure(self, path: str, message: str) -> None:
        """Back ``path`` off and report it (``syncd status`` shows it with its attempts)."""
        self.index.note_failure(self.mirror, path, message, self.r.now())
        with self._lock:
            self.out.failed.append((path, message))


def base_row(local: LocalEntry, remote: RemoteEntry) -> BaseEntry:
    """The base row saying ``local`` and ``remote`` agree."""
    return BaseEntry(local.path, remote.path, local.kind, local.size, local.mtime_ns,
                     local.inode, local.sha256, remote.id, remote.size, remote.updated)


def same_version(e: RemoteEntry, v: RemoteEntry) -> bool:
    """Is ``e`` the server version ``v`` (no checksum: id, size and time)?"""
    return (e.id, e.size, e.updated) == (v.id, v.size, v.updated)


def with_ancestors(paths, *, strict: bool = False) -> set[str]:
    """``paths`` and every folder above them (only the folders when ``strict``)."""
    out: set[str] = set()
    for p in paths:
        if not strict:
            out.add(p)
        p = model.parent(p)
        while p and p not in out:
            out.add(p)
            p = model.parent(p)
    return out


def twin(path: str, *, besides: str | None = None) -> bool:
    """Does another Unicode spelling of ``path``'s name (NFC vs NFD) exist in its
    folder? To syncd that is the same name: creating ``path`` would put a second
    item beside it that never syncs. (``besides``: a path that does not count,
    the source of a re-spelling rename.) Only non-ASCII names can have one."""
    folder, leaf = os.path.split(path)
    if leaf.isascii():
        return False
    k = model.key(leaf)
    skip = os.path.basename(besides) if besides and os.path.dirname(besides) == folder else None
    try:
        return any(n != leaf and n != skip and model.key(n) == k for n in os.listdir(folder))
    except OSError:
        return False
