"""The transfer worker: executes one mirror's plan against the disk and the server.

Order (the planner already sorted the actions this way): moves and renames,
folder creation, transfers (``transfers`` in parallel, small files first),
base-only records, then deletions batched into as few requests as possible.

Every action re-checks, just before acting, that the world still looks as it
did at planning time; if not it is *stale*: skipped, not recorded, and the
engine plans again. Hence:

* a download goes to ``.syncd-<nonce><mac>.part`` beside its target (a name only
  syncd can make, see :func:`syncd.local.ignore.new_temp_name`), is size-checked and
  fsynced, and only then ``os.replace``s the target - and only if the target
  is still exactly what was planned (else nothing is overwritten: the next plan
  sees both sides changed, a conflict). The file under the name keeps its
  permission bits (also when the old version was just renamed aside as a
  conflicted copy); a new file follows the umask. On any other exit the temp
  file is removed, wherever it is by then (:class:`_Part`);
* an upload hashes the bytes as it streams them; if the file changed while
  being read, the base records what was really sent, so the next plan uploads
  again;
* an upload that replaces a remote file first asks the server for that file's
  current version (one ``stat``, one transaction) and proceeds only if it is the
  version the index knows. The race left is the time between that answer and
  the upload's arrival (milliseconds); ExaVault offers no conditional write to
  close it fully. Uploads of new files use ``allowOverwrite=false``, so a file
  someone else created meanwhile is never replaced: the server stores ours
  under another name, which we turn into a conflicted copy.

Per-item failures (unreadable file, name refused by the server, ...) are put in
the index's error backoff so one bad file never blocks the rest. A transient
failure (5xx, connection reset, timeout) is retried within the pass, with
backoff, while the other items go on; only a sustained outage (``OUTAGE_AFTER``
failed requests in a row with no success between) or a used-up retry allowance stops
the worker, like failures that concern everything (budget exhausted, 429,
authentication refused); the unfinished actions stay in the queue. See
``Worker._transient`` for which actions are sent again and which are planned
again instead.
"""

from __future__ import annotations

import hashlib
import os
import random
import stat as stat_mod
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace

from syncd import crashpoints, model

from syncd.daemon import notify
from syncd.local import kept as kept_mod
from syncd.remote.backend import Backend, RemoteItem
from syncd.state.budget import BudgetExhausted
from syncd.local.ignore import is_own_temp_name, is_temp_name, new_temp_name
from syncd.local.scan import hash_file, temp_key
from syncd.model import (
    DIR,
    FILE,
    BaseEntry,
    Compare,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetBase,
    LocalEntry,
    MakeLocalDir,
    MakeRemoteDir,
    MoveLocal,
    MoveRemote,
    RecordBase,
    RemoteEntry,
    Upload,
)
from syncd.remote.errors import (
    AuthError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    SourceChangedError,
    TransportError,
)


class Cancelled(Exception):
    """The run was asked to stop (the daemon is shutting down); nothing partial is
    left behind: an upload is aborted mid-body, a download's temp file removed."""


FATAL = (BudgetExhausted, AuthError, RateLimitedError, Cancelled)  # stop every transfer now
TRANSIENT = (TransportError, ServerError)  # one item's trouble, unless it lasts

# Retrying transient failures within a pass (module values so tests can shorten them).
ITEM_ATTEMPTS = 4     # tries of one action in a pass, the first included ...
RETRY_DELAY = 0.5     # ... the first retry after this many seconds, then doubling (0.5, 1, 2)
OUTAGE_AFTER = 6      # failed requests in a row, across items, with no success: an outage
RETRY_SHARE = 0.25    # retries one pass may spend: a quarter of its actions ...
RETRY_MIN = 12        # ... and at least this many


class Unsettled(Exception):
    """A non-repeatable request failed and we cannot tell whether the server did
    it (the check failed too, or it was a step after the server had acted): never
    sent again blind. The item is planned again after a refresh."""


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("stopping")


class Stale(Exception):
    """The world changed since planning: skip this action and plan again."""


class Obstructed(Exception):
    """An item syncd never replaces (an ignored one) occupies an action's target."""


class CorruptDownload(Exception):
    """A downloaded body is not the content we know that version has."""


class UnsafePath(Exception):
    """A path that would leave the mirror's local root (hostile name or a symlink)."""


# ----------------------------------------------------------------------------- helpers

class Throttle:
    """A token bucket shared by all transfers of one direction (bytes per second)."""

    def __init__(self, rate: int):
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, n: int, cancel: threading.Event | None = None) -> None:
        """Wait until ``n`` more bytes may go; a set ``cancel`` ends the wait at once
        (raising ``Cancelled``): at 100 KB/s a 1 MiB chunk waits 10 s, a stop must not.
        Waiting here is on purpose, so it is progress for the watchdog, beaten every 0.2 s
        (at 10 KB/s one chunk is 100 s)."""
        if not self.rate or n <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + n / self.rate
        while (left := start - time.monotonic()) > 0:
            step = min(left, 0.2)
            if cancel is None:
                time.sleep(step)
            elif cancel.wait(step):
                raise Cancelled("stopping")
            notify.beat()


class HashingReader:
    """A file wrapper for uploads: SHA-256 and byte count of what was actually read,
    throttled; seeking back to the start (a retry) restarts the hash."""

    def __init__(self, f, throttle: Throttle, cancel: threading.Event | None = None):
        self._f, self._throttle, self._cancel = f, throttle, cancel
        self._start = f.tell()
        self.sha = hashlib.sha256()
        self.count = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._start + self.count

    def seek(self, pos: int, whence: int = 0):
        if whence == 0 and pos == self._start:
            self.sha, self.count = hashlib.sha256(), 0
            return self._f.seek(pos)
        raise OSError("HashingReader only rewinds to its start")

    def read(self, n: int = -1) -> bytes:
        _check(self._cancel)
        data = self._f.read(n)
        first = not self.count and data
        self.sha.update(data)
        self.count += len(data)
        notify.beat()  # a long upload is progress, chunk by chunk (the watchdog)
        self._throttle.take(len(data), self._cancel)
        if first:
            crashpoints.hit("upload.body")
        return data


class HashingWriter:
    """A file wrapper for downloads: SHA-256 of what was written, throttled. Not
    seekable, so the client never retries a download after bytes were written
    (the worker restarts it cleanly instead)."""

    def __init__(self, f, throttle: Throttle, cancel: threading.Event | None = None):
        self._f, self._throttle, self._cancel = f, throttle, cancel
        self.sha = hashlib.sha256()
        self.count = 0

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:
        _check(self._cancel)
        notify.beat()  # a long download is progress, chunk by chunk (the watchdog)
        self._throttle.take(len(data), self._cancel)
        self.sha.update(data)
        first = not self.count and data
        self.count += len(data)
        written = self._f.write(data)
        if first:
            crashpoints.hit("download.body")
        return written


def _proc_umask() -> int | None:
    """The process's umask from ``/proc/self/status`` (Linux 4.7 and later), read
    without changing it; None where that line is not there."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


# Where /proc cannot tell, the umask is read the only other way there is, by setting
# it (``os.umask`` returns the old value) and putting it back. That changes it for the
# whole process, and a file another thread creates in between would get mode 0666:
# so it is done once, here, when this module is imported, which the command line and
# the daemon do in the main thread before starting any thread. Nothing in syncd
# changes the umask afterwards. (If some thread does exist already, a umask cannot be
# read safely at all: the usual 022 is assumed.)
_START_UMASK = _proc_umask()
if _START_UMASK is None:
    if threading.active_count() == 1:
        _START_UMASK = os.umask(0o022)
        os.umask(_START_UMASK)
    else:
        _START_UMASK = 0o022


class _Part:
    """A download's temp file, created under a name only syncd makes (the
    mirror's temp key signs it), kept open until it replaces its target or is
    discarded. :meth:`discard` removes it wherever it is by then: where it was
    made, or - when the user renamed its folder meanwhile - where its open
    descriptor says it is (Linux ``/proc/self/fd``); it unlinks only a file that
    is this very one (device and inode) and still has our temp name. Anything
    left (a crash, another system) is removed by the next full scan, which finds
    it by name anywhere in the tree (``clean_temp_files``)."""

    def __init__(self, folder: str, key: bytes):
        self._key = key
        self.path = os.path.join(folder, new_temp_name(key))
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL |
                                      getattr(os, "O_CLOEXEC", 0), 0o600)
        st = os.fstat(self.fd)
        self._ident = (st.st_dev, st.st_ino)

    def close(self) -> None:
        """Done with the descriptor (after the rename into place: nothing to remove)."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def _places(self) -> list[str]:
        places = [self.path]
        try:
            now = os.readlink(f"/proc/self/fd/{self.fd}")
        except OSError:  # not Linux, or no /proc
            return places
        if os.path.isabs(now) and not now.endswith(" (deleted)") and now != self.path:
            places.append(now)
        return places

    def discard(self) -> None:
        """Remove the temp file (no-op after :meth:`close`); never raises."""
        if self.fd is None:
            return
        try:
            for path in self._places():
                try:
                    st = os.lstat(path)
                    if (st.st_dev, st.st_ino) == self._ident and \
                            is_own_temp_name(os.path.basename(path), self._key):
                        os.unlink(path)
                        return
                except OSError:
                    continue
        finally:
            self.close()


def _asides(items: Sequence[tuple[int, object]]) -> dict[str, MoveLocal]:
    """The plan's local conflict renames by the key of the name they free (a
    download into that name follows the renamed file's permission bits)."""
    return {model.key(a.src): a for _, a in items
            if isinstance(a, MoveLocal) and a.forget_base and a.local.kind == FILE}


def _mode(st: os.stat_result | None) -> int | None:
    """The permission bits a download replacing this file keeps (rwx only: never
    set-user-id, set-group-id or sticky bits on bytes from the server)."""
    if st is None or not stat_mod.S_ISREG(st.st_mode):
        return None
    return stat_mod.S_IMODE(st.st_mode) & 0o777


def _umask() -> int:
    """The umask new files get, read without ever changing it (another thread may be
    creating a file right now)."""
    mask = _proc_umask()
    return _START_UMASK if mask is None else mask


def _fsync_dir(*paths: str) -> None:
    """Make renames into these folders durable: after an ``os.replace`` into a
    folder, the new name is only on disk once the folder is fsynced. Without it a
    crash soon after a pass may bring back the old file (or none) while the index,
    committed since, says the new one is there: the next pass would take that for a
    local change, or a deletion, and send it to the server. Best effort: some file
    systems refuse to fsync a folder (EINVAL), and a folder we may not read cannot
    be opened; those are skipped."""
    for path in dict.fromkeys(paths):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------- results

@dataclass
class Outcome:
    counts: Counter = field(default_factory=Counter)  # uploaded, downloaded, moved, ...
    bytes_up: int = 0
    bytes_down: int = 0
    stale: int = 0            # skipped because the world changed: plan again
    refresh: bool = False     # the remote snapshot is known to be behind: refresh it
    failed: list[tuple[str, str]] = field(default_factory=list)
    deferred: int = 0         # not attempted (stopped early)
    retried: int = 0          # tries sent again after a transient failure
    stop: Exception | None = None
    done_items: list[int] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # folders kept for ignored items


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
    direction: str = "two-way"
    remote_delete: str = "trash"
    local_trash: object = None
    remote_trash: object = None
    up: Throttle = field(default_factory=lambda: Throttle(0))
    down: Throttle = field(default_factory=lambda: Throttle(0))
    now: Callable[[], float] = time.time
    on_progress: Callable[[str, str, int], None] | None = None  # (verb, path, bytes)
    cancel: threading.Event | None = None  # set: stop as soon as possible
    ignored: Callable[[str, bool], bool] = lambda path, is_dir: False  # the mirror's rules


class Worker:
    def __init__(self, run: MirrorRun):
        self.r = run
        self.index = run.index
        self.mirror = run.name
        self._lock = threading.Lock()
        self._umask = _umask()
        self._remote_dirs = {p for p, e in self.index.remote(self.mirror).items()
                             if e.kind == DIR}
        self.out = Outcome()
        self._attempted: set[int] = set()
        self._troubled: set[str] = set()  # paths of actions that failed or were stale
        self._streak = 0  # transient failures in a row (see _transient)
        self._retries = RETRY_MIN  # in-pass retries left (run() sets it from the plan)
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
        self.index.put_base(self.mirror, _row(local, remote))

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

    # --- the run -----------------------------------------------------------------

    def run(self, items: Sequence[tuple[int, object]], skip: Callable[[str], bool] = lambda p: False
            ) -> Outcome:
        """Execute queue ``items`` ((id, action) pairs, in plan order)."""
        self._aside = _asides(items)
        phases: dict[str, list] = {"move": [], "mkdir": [], "transfer": [], "record": [],
                                   "delete": []}
        total = 0
        # Paths are compared by key: a name's NFD and NFC spellings are one item.
        blocked: list[str] = []  # backed-off keys and where skipped moves would have led
        for item_id, action in items:
            paths = _action_paths(action)
            keys = [model.key(p) for p in paths]
            if any(skip(p) for p in paths) or any(model.is_under(k, b) for k in keys
                                                 for b in blocked):
                self.out.deferred += 1
                blocked.extend(keys)  # what depends on a skipped action waits too
                continue
            phases[_phase(action)].append((item_id, action))
            total += 1
        self._retries = max(RETRY_MIN, int(total * RETRY_SHARE))
        # A deletion that clears the way for a creation (a file replaced by a folder
        # of the same name, or the reverse) must run first, not last.
        targets = _with_ancestors(model.key(p) for _, a in phases["move"] + phases["mkdir"] +
                                  phases["transfer"] for p in _targets(a))
        early = [(i, a) for i, a in phases["delete"] if model.key(_action_path(a)) in targets]
        if early:
            early_ids = {i for i, _ in early}
            phases["delete"] = [x for x in phases["delete"] if x[0] not in early_ids]
            self._deletes(early)
            self._hold_back_behind(early, phases)
        # Moves and folder creations run in plan order (a move may go into a folder
        # created just before it); independent remote moves into an existing folder
        # are batched into one request first.
        first = phases["move"] + phases["mkdir"]
        order = {item_id: n for n, (item_id, _) in enumerate(items)}
        first.sort(key=lambda x: order[x[0]])
        created = {_action_path(a) for _, a in phases["mkdir"]}
        batched, _ = _batchable_moves(phases["move"])
        for parent, group in batched.items():
            if self.out.stop is None and not any(model.is_under(parent, c) for c in created):
                self._move_batch(parent, group)
        for item_id, action in first:
            if item_id in self._attempted:
                continue
            if self.out.stop is not None or not self._do(item_id, action):
                break
        if self.out.stop is None:
            self._parallel(phases["transfer"])
        for item_id, action in phases["record"]:
            if self.out.stop is not None:
                break
            if any(model.is_under(p, t) for p in _action_paths(action) for t in self._troubled):
                continue  # a record about a move or transfer that did not happen: the
                # base would claim a state that is not there (re-planned next time)
            self._do(item_id, action)
        if self.out.stop is None:
            self._deletes(phases["delete"])
        self.out.deferred += total - len(self._attempted)
        return self.out

    def _hold_back_behind(self, early: list, phases: dict[str, list]) -> None:
        """A creation whose way was not cleared (its early deletion failed or was
        stale) does not run: it would fail, or, under another Unicode spelling of
        the same name, put a second item beside the old one. Planned again."""
        done = set(self.out.done_items)
        uncleared = [model.key(_action_path(a)) for i, a in early
                     if i not in done or model.key(_action_path(a)) in self._kept_roots]
        if not uncleared:
            return
        for phase in ("move", "mkdir", "transfer"):
            keep = []
            for item_id, action in phases[phase]:
                if any(model.is_under(model.key(t), u) for t in _targets(action)
                       for u in uncleared):
                    self._stale(item_id, action)
                else:
                    keep.append((item_id, action))
            phases[phase] = keep

    def _parallel(self, items: list) -> None:
        if not items:
            return
        stop = threading.Event()

        def guarded(item_id, action):
            if stop.is_set():
                return
            if not self._do(item_id, action):
                stop.set()

        workers = max(1, min(self.r.transfers, len(items)))
        if workers == 1:
            for item_id, action in items:
                guarded(item_id, action)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix=f"syncd-{self.mirror}") as pool:
            for fut in as_completed([pool.submit(guarded, i, a) for i, a in items]):
                fut.result()

    def _do(self, item_id: int, action) -> bool:
        """Run one action; False means stop everything (fatal error or outage)."""
        path = _action_path(action)
        attempt = 0
        while True:
            attempt += 1
            try:
                _check(self.r.cancel)
                getattr(self, "_" + type(action).__name__)(action)
                with self._lock:
                    self._attempted.add(item_id)
            except Stale:
                self._stale(item_id, action)
                return True
            except FATAL as exc:
                with self._lock:
                    if self.out.stop is None:
                        self.out.stop = exc
                return False
            except TRANSIENT + (Unsettled,) as exc:
                verdict = self._transient(action, exc, attempt)
                if verdict == "retry":
                    continue
                if verdict == "replan":
                    self._stale(item_id, action, refresh=True)
                elif verdict == "failed":
                    self._failed(item_id, path, exc, action)
                return verdict != "stop"
            except NotFoundError:  # vanished on the server since the refresh
                self._stale(item_id, action, refresh=True)
                return True
            except SourceChangedError:
                self._stale(item_id, action)
                return True
            except Exception as exc:  # noqa: BLE001 - per item: back off, go on with the rest
                self._failed(item_id, path, exc, action)
                return True
            break
        if isinstance(action, _REMOTE):
            with self._lock:
                self._streak = 0  # the server answered: whatever failed before was no outage
        self.index.finish(self.mirror, item_id)
        self.index.clear_failure(self.mirror, path)
        with self._lock:
            self.out.done_items.append(item_id)
        return True

    def _transient(self, action, exc: Exception, attempt: int) -> str:
        """What to do after a transient failure of ``action``'s ``attempt``-th try:

        * ``"stop"``: an outage (``OUTAGE_AFTER`` failed requests in a row across
          items, no success between) or the pass's retry allowance is used up: the
          pass ends as deferred, as before; this item stays queued (not attempted);
        * ``"retry"``: sent again after a backoff (0.5 s, 1 s, 2 s). Only actions
          whose repeat is safe, and only what the client could not repeat itself:
          a download or comparison whose body broke off (the target is checked
          again, a new temp file), a folder creation (an existing folder is the
          answer), a new file's upload whose lost answer ``_landed_anyway`` has
          settled (it stored nothing: else it would have been recorded). Each try
          re-checks that the world is as planned;
        * ``"replan"``: a move, or a request whose outcome nobody could tell
          (``Unsettled``), is never repeated blind: stale, the engine refreshes its
          snapshot and plans it again (up to ``engine.MAX_CYCLES`` per pass);
        * ``"failed"``: it failed ``ITEM_ATTEMPTS`` times, or the client already
          retried the request with its own backoff (GETs, overwriting uploads: see
          ``exavault_api``; another round here would only multiply the requests):
          backed off in the index like any failing item, so it cannot hold up the
          pass (or the next ones)."""
        with self._lock:
            if self.out.stop is not None:
                return "stop"  # another item found the outage meanwhile
            if self._outage(exc):
                return "stop"
            if isinstance(exc, Unsettled) or not isinstance(action, _REPEATABLE):
                return "replan"
            if attempt >= ITEM_ATTEMPTS or _client_retried(exc):
                return "failed"
            if self._retries <= 0:
                self.out.stop = exc  # the server fails too often: run again later
                return "stop"
            self._retries -= 1
            self.out.retried += 1
        delay = RETRY_DELAY * 2 ** (attempt - 1)
        delay += random.uniform(0, delay / 4)  # parallel transfers do not come back in step
        if self.r.cancel is not None:
            self.r.cancel.wait(delay)
        elif delay > 0:
            time.sleep(delay)
        with self._lock:
            return "stop" if self.out.stop is not None else "retry"

    def _outage(self, exc: Exception) -> bool:
        """Count the failed requests a transient failure stands for (lock held):
        the client's tries of it, and for ``Unsettled`` the failed request before
        its check. True, with the pass stopped, when that makes ``OUTAGE_AFTER``
        in a row: a server that failed a GET and its 4 retries (~8 s) and the
        request before is down, for every item alike."""
        failed = 0
        if isinstance(exc, Unsettled):
            exc, failed = exc.__cause__, 1
            if not isinstance(exc, TRANSIENT):
                return False  # the server answered (wrongly): no sign of an outage
        if isinstance(exc, TransportError) and exc.status is not None:
            return False  # it answered, then this one body broke off: the server is up
        self._streak += failed + getattr(exc, "tries", 1)
        if self._streak < OUTAGE_AFTER:
            return False
        if self.out.stop is None:
            self.out.stop = exc  # the engine ends the pass as deferred (server unavailable)
        return True

    def _unsettled(self, items: list, exc: Exception) -> None:
        """A batched request (moves, deletions) failed transiently: which of its
        items the server did is unknown, so none is sent again blind; they are
        planned again after a refresh (unless this failure makes an outage)."""
        with self._lock:
            if self.out.stop is not None or self._outage(exc):
                return
        for item_id, action in items:
            self._stale(item_id, action, refresh=True)

    def _stale(self, item_id: int, action, *, refresh: bool = False) -> None:
        """The action did not happen because the world moved: planned again."""
        with self._lock:
            self._attempted.add(item_id)
            self._troubled.update(_action_paths(action))
            self.out.stale += 1
            self.out.refresh |= refresh

    def _failed(self, item_id: int, path: str, exc: BaseException, action) -> None:
        with self._lock:
            self._attempted.add(item_id)
            self._troubled.update(_action_paths(action))
        self._note_failure(path, _describe(exc))
        self._progress("failed", path, 0)

    def _note_failure(self, path: str, message: str) -> None:
        """Back ``path`` off and report it (``syncd status`` shows it with its attempts)."""
        self.index.note_failure(self.mirror, path, message, self.r.now())
        with self._lock:
            self.out.failed.append((path, message))

    # --- moves -------------------------------------------------------------------

    def _MoveLocal(self, a: MoveLocal) -> None:
        src = self.local_abs(a.src)
        dst = self.local_abs(a.dst, create_parents=True)
        src_st = self._lstat(src)
        if not self._same_local(src_st, a.local):
            if src_st is not None and not (stat_mod.S_ISDIR(src_st.st_mode)
                                           or stat_mod.S_ISREG(src_st.st_mode)):
                raise UnsafePath("a symbolic link or special file is in the way (it is never "
                                 "moved)")
            raise Stale(a.src)
        dst_st = self._lstat(dst)
        if dst_st is not None and (dst_st.st_ino, dst_st.st_dev) != (src_st.st_ino,
                                                                     src_st.st_dev):
            self._in_the_way(dst, a.dst, a.src)
            raise Stale(a.dst)  # never replace another file (only the same one, in
            # another case or Unicode spelling, on a case-insensitive file system)
        if dst_st is None and _twin(dst, besides=src):
            raise Stale(a.dst)
        os.rename(src, dst)
        _fsync_dir(os.path.dirname(dst), os.path.dirname(src))
        crashpoints.hit("move.local.done")
        self._move_base(a)
        aside = a.forget_base or a.keep_base
        with self._lock:
            self.out.counts["conflict copies" if aside else "moved"] += 1
        self._progress("renamed" if aside else "moved", f"{a.src} -> {a.dst}")

    def _move_base(self, a: MoveLocal | MoveRemote) -> None:
        """The base rows follow a move. An aside of the base item drops its row
        (``forget_base``); the rows below stay, as in the planner's virtual base
        (they may still carry a deletion to propagate); ``keep_base``: all stay."""
        if a.keep_base:
            return
        if a.forget_base:
            self.index.drop_base(self.mirror, model.key(a.src), subtree=False)
        else:
            self.index.move_base(self.mirror, model.key(a.src), a.dst, a.dst)

    def _MoveRemote(self, a: MoveRemote) -> None:
        try:
            item = self.r.backend.move(self.remote_abs(a.src), self.remote_abs(a.dst),
                                         id=a.remote.id or None)
        except (ServerError, TransportError):
            item = self._moved_anyway(a)
            if item is None:
                raise
        crashpoints.hit("move.remote.done")
        new = self._to_entry(item)
        with self.index.batch():
            self.index.move_remote(self.mirror, a.src, a.dst)
            self._put_remote(new)
            self._move_base(a)
        with self._lock:
            if a.remote.kind == DIR:
                self._remote_dirs = {model.rebase(p, a.src, a.dst) if model.is_under(p, a.src)
                                     else p for p in self._remote_dirs}
            self.out.counts["moved"] += 1
        self._progress("moved", f"{a.src} -> {a.dst}")

    def _moved_anyway(self, a: MoveRemote) -> RemoteItem | None:
        """A move failed with an outcome we cannot tell (5xx, a lost answer): did
        the server do it? One stat of the destination tells, as for uploads
        (``_landed_anyway``): the item there is ours when it has the id we moved.
        Recording it now matters: left at the old place in the index, the item
        would look moved by someone else next pass, and a local edit made to it
        meanwhile would be set aside as a conflicted copy. Without a known id
        (a folder the server created for an upload) nothing proves it: not
        settled, the pass stops as before and the next plan sorts it out."""
        if not a.remote.id:
            return None
        try:
            item = self.r.backend.stat(self.remote_abs(a.dst))
        except Exception:  # noqa: BLE001 - the original error is the one to report
            return None
        if item.kind != a.remote.kind or str(item.id) != a.remote.id:
            return None
        return item

    def _move_batch(self, parent: str, group: list) -> None:
        """Several items moving into the same folder under their own names: one
        server request (``move_many``) instead of one each. A lost answer is
        settled per item with one stat (``_moved_anyway``); an item that stays
        unknown is planned again after a refresh (``_unsettled``), never sent
        again blind."""
        srcs = {self.remote_abs(a.src): (i, a) for i, a in group}
        try:
            results = self.r.backend.move_many(list(srcs), self.remote_abs(parent))
        except (ServerError, TransportError) as exc:
            results = {s: None if self._moved_anyway(a) is not None else exc
                       for s, (_, a) in srcs.items()}
            unknown = [ia for s, ia in srcs.items() if results[s] is not None]
            if unknown:  # never sent again blind: planned again after a refresh
                self._unsettled(unknown, exc)
                srcs = {s: ia for s, ia in srcs.items() if results[s] is None}
        except FATAL as exc:
            self.out.stop = exc
            return
        crashpoints.hit("move.remote.done")
        for abs_src, (item_id, a) in srcs.items():
            self._attempted.add(item_id)
            err = results.get(abs_src)
            if err is not None:
                self.out.stale += 1
                self.out.refresh = True
                self._troubled.update((a.src, a.dst))
                continue
            with self.index.batch():
                self.index.move_remote(self.mirror, a.src, a.dst)
                self.index.move_base(self.mirror, model.key(a.src), a.dst, a.dst)
                self.index.finish(self.mirror, item_id)
            self.out.done_items.append(item_id)
            self.out.counts["moved"] += 1
            self._progress("moved", f"{a.src} -> {a.dst}")

    # --- folders -------------------------------------------------------------------

    def _MakeLocalDir(self, a: MakeLocalDir) -> None:
        path = self.local_abs(a.path, create_parents=True)
        st = self._lstat(path)
        if st is None:
            if _twin(path):
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

    def _MakeRemoteDir(self, a: MakeRemoteDir) -> None:
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

    # --- transfers -----------------------------------------------------------------

    def _Upload(self, a: Upload) -> None:
        path = self.local_abs(a.path)
        if a.replace is not None:  # bound the overwrite race: is it still the known version?
            current = self._to_entry(self.r.backend.stat(self.remote_abs(a.remote_path)))
            if not _same_version(current, a.replace):
                self._put_remote(current)
                raise Stale(a.path)
        with open(path, "rb") as f:
            before = os.fstat(f.fileno())
            if not stat_mod.S_ISREG(before.st_mode) or not self._same_local(before, a.local):
                raise Stale(a.path)
            reader = HashingReader(f, self.r.up, self.r.cancel)
            crashpoints.hit("upload.start")
            try:
                item = self.r.backend.upload(self.remote_abs(a.remote_path), reader,
                                             before.st_size, replace=a.replace is not None)
            except (ServerError, TransportError):
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
            except TRANSIENT as exc:  # stored: sending it again would store a third copy
                raise Unsettled(f"{a.path}: stored as {entry.path}; {_describe(exc)}") from exc
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
        delete and come back (soak seed 6856). An overwrite counts as landed when
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
                            f"it was stored failed ({_describe(exc)})") from exc
        if item.kind != FILE or item.size != size:
            return None
        if a.replace is not None and _same_version(self._to_entry(item), a.replace):
            return None  # still the version we meant to replace: ours did not land
        return item

    def _landed_elsewhere(self, a: Upload, sent: LocalEntry, landed: RemoteEntry) -> None:
        taken = set(self.index.remote(self.mirror)) | set(self.index.base(self.mirror))
        cc = model.conflict_name(a.path, self.r.host, model.stamp(self.r.now()),
                                 {model.key(p) for p in taken})
        try:
            item = self.r.backend.move(self.remote_abs(landed.path), self.remote_abs(cc),
                                       id=landed.id or None)
        except (ServerError, TransportError):  # a lost answer: settled by one stat
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
                _fsync_dir(os.path.dirname(dst), os.path.dirname(src))
                self._record(dc_replace(sent, path=cc), moved)
        with self._lock:
            self.out.counts["uploaded"] += 1
            self.out.bytes_up += sent.size
            self.out.counts["conflicts"] += 1
            self.out.refresh = True
            self.out.stale += 1

    def _fetch(self, remote_path: str, remote: RemoteEntry, target: str) -> tuple[_Part, str]:
        """Download into a temp file beside ``target``; returns (temp file, sha256).
        The caller puts it in place (then ``close()``s it) or ``discard()``s it."""
        part = _Part(os.path.dirname(target), self._temp_key)
        try:
            with open(part.fd, "wb", closefd=False) as f:
                writer = HashingWriter(f, self.r.down, self.r.cancel)
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

    def _keep_mode(self, part: _Part, mode: int | None) -> None:
        """The download takes the permission bits of the file it replaces (a
        private file stays private, a script stays executable)."""
        if mode is not None:
            os.fchmod(part.fd, mode)

    def _mode_before(self, a: Download, target: str) -> int | None:
        """The permission bits the download at ``target`` keeps: the replaced
        file's, or, for a name this plan freed by renaming the old version aside
        as a conflicted copy, that copy's; None (the umask) for a new file."""
        if a.replace is not None:
            return _mode(self._lstat(target))
        aside = self._aside.get(model.key(a.path))
        if aside is None:
            return None
        try:
            st = self._lstat(self.local_abs(aside.dst))
        except UnsafePath:
            return None
        return _mode(st) if st is not None and st.st_ino == aside.local.inode else None

    def _target_as_planned(self, target: str, a: Download) -> bool:
        """The download's target is as the plan saw it: the same file, or free (no
        other Unicode spelling of its name beside it either)."""
        return self._same_local(self._lstat(target), a.replace) and not (
            a.replace is None and _twin(target))

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

    def _Download(self, a: Download) -> None:
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
            intent = _row(self._local_entry(a.path, os.fstat(part.fd), sha), a.remote)
            self.index.put_intent(self.mirror, intent)
            try:
                os.replace(part.path, target)
            except BaseException:
                self.index.drop_intent(self.mirror, intent.key)
                raise
            _fsync_dir(os.path.dirname(target))  # (the file was fsynced in _fetch)
        except BaseException:
            part.discard()
            raise
        part.close()
        crashpoints.hit("download.replaced")
        st = os.lstat(target)
        self.index.record_intent(self.mirror, _row(self._local_entry(a.path, st, sha),
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

    def _Compare(self, a: Compare) -> None:
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
                self._Upload(Upload(a.path, a.remote_path, a.local, None))
                with self._lock:
                    self.out.counts["conflicts"] += 1
                return
            # Different content: keep both. Two-way: on both sides. Download-only:
            # the local version steps aside locally (never uploaded).
            cc = self.local_abs(a.conflict_path)
            if os.path.lexists(cc):
                raise Stale(a.conflict_path)
            self._keep_mode(part, _mode(st))  # the name keeps its mode; the copy is the
            os.rename(target, cc)             # old file itself and keeps its own
            crashpoints.hit("conflict.aside")
            os.replace(part.path, target)
            part.close()
            _fsync_dir(os.path.dirname(target), os.path.dirname(cc))
        finally:
            part.discard()
        if self.r.direction == "download-only":
            st = os.lstat(target)
            self._record(self._local_entry(a.path, st, remote_sha), a.remote)
            with self._lock:
                self.out.counts["conflicts"] += 1
            return
        st = os.lstat(target)
        self._record(self._local_entry(a.path, st, remote_sha), a.remote)
        crashpoints.hit("conflict.replaced")
        cc_st = os.lstat(cc)
        self._Upload(Upload(a.conflict_path, _sibling(a.remote_path, a.conflict_path),
                            self._local_entry(a.conflict_path, cc_st, None), None))
        with self._lock:
            self.out.counts["conflicts"] += 1
        self._progress("conflict", a.path, 0)

    # --- records -------------------------------------------------------------------

    def _RecordBase(self, a: RecordBase) -> None:
        self.index.put_base(self.mirror, a.base)

    def _ForgetBase(self, a: ForgetBase) -> None:
        self.index.drop_base(self.mirror, model.key(a.path))

    # --- deletions -------------------------------------------------------------------

    def _DeleteLocal(self, a: DeleteLocal) -> None:
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

    def _deletes(self, items: list) -> None:
        remote = [(i, a) for i, a in items if isinstance(a, DeleteRemote)]
        for item_id, action in items:
            if isinstance(action, DeleteLocal) and not self._do(item_id, action):
                return
        if not remote:
            return
        # A folder that holds ignored items on the server (the index's snapshot
        # has them: only the plan leaves them out) is not deleted whole: the
        # items beside them are, in the same batch, and the folder stays.
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
        except FATAL as exc:
            self.out.stop = exc
            return
        except TRANSIENT as exc:
            self._unsettled(remote, exc)
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
                    self._note_failure(a.remote_path, _describe(err))
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
                self._note_failure(a.remote_path, _describe(err))
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
                               f"({_describe(exc)})")
        return True

    def _folder_changed(self, rel: str, trashed: str) -> bool:
        """Does the folder just moved to ``trashed`` hold an item the plan did not
        know, or another version of one it knew? One listing of the trashed copy
        tells (⌈items/100⌉ requests): a file written into the folder while we
        deleted it must not go unnoticed into the trash (soak seed 19768). When the
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
_REMOTE = (Upload, Download, Compare, MakeRemoteDir, MoveRemote)
_REPEATABLE = (Upload, Download, Compare, MakeRemoteDir)


def _row(local: LocalEntry, remote: RemoteEntry) -> BaseEntry:
    """The base row saying ``local`` and ``remote`` agree."""
    return BaseEntry(local.path, remote.path, local.kind, local.size, local.mtime_ns,
                     local.inode, local.sha256, remote.id, remote.size, remote.updated)


def complete_downloads(index, mirror: str, local_root: str) -> int:
    """Before planning: a download killed between putting its file in place and
    recording it left an intent (``Worker._Download``). If the file at its path is
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


def _client_retried(exc: Exception) -> bool:
    """Did the client already send the failed request again, with its own backoff
    (GETs, overwriting uploads; not a download whose body broke off after bytes
    were saved, nor a non-repeatable change)? See ``ExaVaultClient._retrying``."""
    return getattr(exc, "tries", 1) > 1


def _same_version(e: RemoteEntry, v: RemoteEntry) -> bool:
    """Is ``e`` the server version ``v`` (no checksum: id, size and time)?"""
    return (e.id, e.size, e.updated) == (v.id, v.size, v.updated)


def _batchable_moves(moves: list) -> tuple[dict[str, list], list]:
    """Split remote moves into batches (same destination folder, name kept, no
    other move inside or around them) and the rest, which run one by one in order."""
    remote = [(i, a) for i, a in moves if isinstance(a, MoveRemote)]
    paths = {p for _, a in remote for p in (a.src, a.dst)}
    above = _with_ancestors(paths, strict=True)  # folders that hold some move's path
    groups: dict[str, list] = {}
    for item_id, a in remote:
        if model.name(a.src) != model.name(a.dst) or model.parent(a.src) == model.parent(a.dst):
            continue
        nested = (a.src in above or a.dst in above or
                  bool(_with_ancestors((a.src, a.dst), strict=True) & paths))
        if not nested:
            groups.setdefault(model.parent(a.dst), []).append((item_id, a))
    batched = {k: v for k, v in groups.items() if len(v) > 1}
    taken = {i for v in batched.values() for i, _ in v}
    return batched, [(i, a) for i, a in moves if i not in taken]


def _phase(action) -> str:
    if isinstance(action, (MoveLocal, MoveRemote)):
        return "move"
    if isinstance(action, (MakeLocalDir, MakeRemoteDir)):
        return "mkdir"
    if isinstance(action, (Upload, Download, Compare)):
        return "transfer"
    if isinstance(action, (DeleteLocal, DeleteRemote)):
        return "delete"
    return "record"


def _with_ancestors(paths, *, strict: bool = False) -> set[str]:
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


def _targets(action) -> list[str]:
    """Where an action creates something."""
    if isinstance(action, (MoveLocal, MoveRemote)):
        return [action.dst]
    if isinstance(action, (Upload, MakeRemoteDir)):
        return [action.remote_path]
    if isinstance(action, Compare):
        return [action.path, action.conflict_path]
    return [_action_path(action)]


def _action_paths(action) -> list[str]:
    """Every relative path an action touches (for dependency skipping)."""
    out = []
    for attr in ("path", "src", "dst", "remote_path", "conflict_path"):
        value = getattr(action, attr, None)
        if isinstance(value, str) and value:
            out.append(value)
    if isinstance(action, RecordBase):
        out.append(action.base.local_path)
    return out


def _action_path(action) -> str:
    for attr in ("path", "src", "remote_path"):
        value = getattr(action, attr, None)
        if isinstance(value, str):
            return value
    if isinstance(action, MakeRemoteDir):
        return action.remote_path
    if isinstance(action, RecordBase):
        return action.base.local_path
    return ""


def _sibling(remote_path: str, local_rel: str) -> str:
    """The remote path for ``local_rel``'s name in ``remote_path``'s folder."""
    return model.join(model.parent(remote_path), model.name(local_rel))


def _twin(path: str, *, besides: str | None = None) -> bool:
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


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
