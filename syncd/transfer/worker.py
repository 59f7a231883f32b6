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
  file is removed, wherever it is by then (:class:`Part`);
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

The worker is built from one class per concept (``Worker`` is all of them):
``core`` (the run's state, paths, index rows), ``moves``, ``folders``,
``uploads``, ``downloads``, ``conflicts``, ``records`` and ``deletes`` (the
handlers), ``streams`` (throttled, hashed bytes, temp files) and ``errors``.
``HANDLERS`` is the table from action type to handler; what an action is (its
phase, paths, description) the action says itself (``syncd.model``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from syncd import model
from syncd.model import (
    FILE,
    Compare,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetBase,
    MakeLocalDir,
    MakeRemoteDir,
    MoveLocal,
    MoveRemote,
    RecordBase,
    Upload,
)
from syncd.remote.errors import Disposition, TransportError
from syncd.transfer.conflicts import Conflicts
from syncd.transfer.core import MirrorRun, Outcome, with_ancestors
from syncd.transfer.deletes import Deletes
from syncd.transfer.downloads import Downloads, complete_downloads, kept_partials
from syncd.transfer.errors import (
    AbortWatch,
    Cancelled,
    Stale,
    UnsafePath,
    Unsettled,
    check_cancel,
    reaction,
    transient,
)
from syncd.transfer.folders import Folders
from syncd.transfer.moves import Moves, batchable_moves
from syncd.transfer.records import Records
from syncd.transfer.streams import Throttle
from syncd.transfer.uploads import Uploads

# Importable from here: what the engine and tests use.
__all__ = ["HANDLERS", "AbortWatch", "Batch", "Cancelled", "MirrorRun", "Outcome", "Throttle",
           "UnsafePath", "Worker", "check_cancel", "complete_downloads", "kept_partials"]


# Retrying transient failures within a pass (module values so tests can shorten them).
ITEM_ATTEMPTS = 4     # tries of one action in a pass, the first included ...
RETRY_DELAY = 0.5     # ... the first retry after this many seconds, then doubling (0.5, 1, 2)
OUTAGE_AFTER = 6      # failed requests in a row, across items, with no success: an outage
RETRY_SHARE = 0.25    # retries one pass may spend: a quarter of its actions ...
RETRY_MIN = 12        # ... and at least this many


class Worker(Moves, Folders, Uploads, Downloads, Conflicts, Records, Deletes):
    """Runs one mirror's queue: the phases in order, transfers in parallel, each
    action through its handler (``HANDLERS``), transient failures retried."""

    def __init__(self, run: MirrorRun):
        super().__init__(run)
        self._streak = 0  # transient failures in a row (see _transient)
        self._retries = RETRY_MIN  # in-pass retries left (run() sets it from the plan)

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
            paths = action.paths
            keys = [model.key(p) for p in paths]
            if any(skip(p) for p in paths) or any(model.is_under(k, b) for k in keys
                                                 for b in blocked):
                self.out.deferred += 1
                blocked.extend(keys)  # what depends on a skipped action waits too
                continue
            phases[action.phase].append((item_id, action))
            total += 1
        self._retries = max(RETRY_MIN, int(total * RETRY_SHARE))
        # A deletion that clears the way for a creation (a file replaced by a folder
        # of the same name, or the reverse) must run first, not last.
        targets = with_ancestors(model.key(p) for _, a in phases["move"] + phases["mkdir"] +
                                  phases["transfer"] for p in a.writes)
        early = [(i, a) for i, a in phases["delete"] if model.key(a.subject) in targets]
        if early:
            early_ids = {i for i, _ in early}
            phases["delete"] = [x for x in phases["delete"] if x[0] not in early_ids]
            self._by_handler(early)
            self._hold_back_behind(early, phases)
        # Moves and folder creations run in plan order (a move may go into a folder
        # created just before it); independent remote moves into an existing folder
        # are batched into one request first.
        first = phases["move"] + phases["mkdir"]
        order = {item_id: n for n, (item_id, _) in enumerate(items)}
        first.sort(key=lambda x: order[x[0]])
        created = {a.subject for _, a in phases["mkdir"]}
        batched, _ = batchable_moves(phases["move"])
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
            if any(model.is_under(p, t) for p in action.paths for t in self._troubled):
                continue  # a record about a move or transfer that did not happen: the
                # base would claim a state that is not there (re-planned next time)
            self._do(item_id, action)
        if self.out.stop is None:
            self._by_handler(phases["delete"])
        self.out.deferred += total - len(self._attempted)
        return self.out

    def _hold_back_behind(self, early: list, phases: dict[str, list]) -> None:
        """A creation whose way was not cleared (its early deletion failed or was
        stale) does not run: it would fail, or, under another Unicode spelling of
        the same name, put a second item beside the old one. Planned again."""
        done = set(self.out.done_items)
        uncleared = [model.key(a.subject) for i, a in early
                     if i not in done or model.key(a.subject) in self._kept_roots]
        if not uncleared:
            return
        for phase in ("move", "mkdir", "transfer"):
            keep = []
            for item_id, action in phases[phase]:
                if any(model.is_under(model.key(t), u) for t in action.writes
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

    def _by_handler(self, items: list) -> None:
        """Run ``items`` in order through their handlers, except those of a type
        whose handler is a ``Batch``: after the others, all at once per type.
        Stops at the first item that stops everything."""
        batches: dict[type, list] = {}
        for item_id, action in items:
            handler = HANDLERS[type(action)]
            if isinstance(handler, Batch):
                batches.setdefault(type(action), []).append((item_id, action))
            elif not self._do(item_id, action):
                return
        for cls, group in batches.items():
            HANDLERS[cls].run(self, group)

    def _do(self, item_id: int, action) -> bool:
        """Run one action; False means stop everything (fatal error or outage)."""
        path = action.subject
        attempt = 0
        while True:
            attempt += 1
            try:
                check_cancel(self.r.cancel)
                HANDLERS[type(action)](self, action)
                with self._lock:
                    self._attempted.add(item_id)
            except Stale:
                self._stale(item_id, action)
                return True
            except Exception as exc:  # noqa: BLE001 - the error's disposition says what next
                if self.r.cancel is not None and self.r.cancel.is_set():
                    exc = Cancelled("stopping")  # (whatever a stop cut short: it is the stop)
                then = reaction(exc)
                if then.stops_pass:
                    with self._lock:
                        if self.out.stop is None:
                            self.out.stop = exc
                    return False
                if then is Disposition.RETRY:
                    verdict = self._transient(action, exc, attempt)
                    if verdict == "retry":
                        continue
                    if verdict == "replan":
                        self._stale(item_id, action, refresh=True)
                    elif verdict == "failed":
                        self._failed(item_id, path, exc, action)
                    return verdict != "stop"
                if then is Disposition.REFRESH:  # vanished on the server since the refresh
                    self._stale(item_id, action, refresh=True)
                elif then is Disposition.RESCAN:  # the local file changed while read
                    self._stale(item_id, action)
                else:  # ITEM, DENIED: back off, go on with the rest
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
            if not transient(exc):
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


@dataclass(frozen=True)
class Batch:
    """A handler that takes all queued actions of its type in a phase at once
    (``(id, action)`` pairs), to send them in as few requests as possible; it
    does each item's bookkeeping itself."""

    run: Callable[[Worker, list], None]


# How the worker does each action type: a method taking the action (run by
# ``Worker._do``, which retries and records it), or a ``Batch``.
HANDLERS: dict[type, Callable[[Worker, object], None] | Batch] = {
    MoveLocal: Worker._move_local,
    MoveRemote: Worker._move_remote,
    MakeLocalDir: Worker._make_local_dir,
    MakeRemoteDir: Worker._make_remote_dir,
    Upload: Worker._upload,
    Download: Worker._download,
    Compare: Worker._compare,
    RecordBase: Worker._record_base,
    ForgetBase: Worker._forget_base,
    DeleteLocal: Worker._delete_local,
    DeleteRemote: Batch(Worker._delete_remotes),
}

# Actions that reach the server, and those of them safe to send again after a
# transient failure (see Worker._transient).
_REMOTE = (Upload, Download, Compare, MakeRemoteDir, MoveRemote)
_REPEATABLE = (Upload, Download, Compare, MakeRemoteDir)


def _client_retried(exc: Exception) -> bool:
    """Did the client already send the failed request again, with its own backoff
    (GETs, overwriting uploads; not a download whose body broke off after bytes
    were saved, nor a non-repeatable change)? See ``ExaVaultClient._retrying``."""
    return getattr(exc, "tries", 1) > 1


def _asides(items: Sequence[tuple[int, object]]) -> dict[str, MoveLocal]:
    """The plan's local conflict renames by the key of the name they free (a
    download into that name follows the renamed file's permission bits)."""
    return {model.key(a.src): a for _, a in items
            if isinstance(a, MoveLocal) and a.forget_base and a.local.kind == FILE}
