"""One sync pass over every selected mirror: the orchestration of the phases.

    lock state_dir → open index → refresh remote snapshot (one feed call for the
    whole account, or listings) → per mirror: scan local → plan (pure) → guard →
    queue → worker → re-plan while the world moved under us (at most 3 cycles)

The pass ends in an ``Outcome`` (``SyncResult.outcome``): OK converged; DEFERRED
work left for later, nothing lost (budget exhausted, server unavailable,
another syncd running); NO_PERMISSION credentials or permission refused; FAILED
anything else that needs attention. ``syncd/cli/outcomes.py`` turns it into
`syncd sync`'s exit code.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from syncd import crashpoints, model
from syncd.config.loader import Config, MirrorConfig
from syncd.local import kept, roots
from syncd.local.host import host_name
from syncd.local.ignore import IgnoreFileError, IgnoreRules
from syncd.local.scan import LocalRootMissing, clean_temp_files, scan, temp_key
from syncd.local.trash import LocalTrash
from syncd.outcome import Outcome
from syncd.reconcile import guards, planner
from syncd.reconcile.focus import focus_paths, selector
from syncd.remote.backend import Change
from syncd.remote.errors import RemoteError
from syncd.remote.tracker import RefreshResult
from syncd.remote.trash import RemoteTrash
from syncd.report import Conflict, MirrorReport, Reporter
from syncd.result import SyncResult
from syncd.session import AccountSession
from syncd.state import config_changes, lock, status
from syncd.state.budget import BudgetExhausted
from syncd.state.index import Index
from syncd.transfer.worker import (
    AbortWatch,
    Cancelled,
    MirrorRun,
    Throttle,
    Worker,
    check_cancel,
    complete_downloads,
    kept_partials,
)

MAX_CYCLES = 3


class SyncEngine:
    def __init__(self, config: Config, *, reporter: Reporter | None = None,
                 now: Callable[[], float] = time.time, host: str | None = None):
        self.config = config
        self.reporter = reporter or Reporter()
        self.now = now
        self.host = host or host_name()

    # ------------------------------------------------------------------ entry point

    def run(self, *, mirror: str | None = None, dry_run: bool = False,
            force: bool = False, cancel: threading.Event | None = None) -> SyncResult:
        """One pass over every mirror (or ``mirror``); a set ``cancel`` stops it
        (`syncd sync`'s Ctrl-C: the result is ``interrupted``)."""
        cfg = self.config
        mirrors = [cfg.mirror(mirror)] if mirror else list(cfg.mirrors)
        result = SyncResult()
        try:
            with lock.held(cfg.state_dir):
                index = Index(cfg.state_dir / "index.sqlite3")
                try:
                    if dry_run:
                        with tempfile.TemporaryDirectory(prefix="syncd-dry-run-") as tmp:
                            scratch = index.copy_to(Path(tmp) / "index.sqlite3")
                            try:
                                self._run(scratch, mirrors, result, dry_run, force, cancel)
                            finally:
                                scratch.close()
                    else:
                        self._run(index, mirrors, result, dry_run, force, cancel)
                finally:
                    index.close()
        except lock.Busy as exc:
            result.outcome, result.message = Outcome.DEFERRED, str(exc)
        return result

    # ------------------------------------------------------------------ the pass

    def open_session(self, index: Index, mirrors: list[MirrorConfig]) -> AccountSession:
        """The account's client, budget and tracker, kept by the daemon between passes."""
        return AccountSession.open(self.config, index, now=self.now,
                                   pool=max((m.transfers for m in mirrors), default=4) + 2)

    def _run(self, index: Index, mirrors: list[MirrorConfig], result: SyncResult,
             dry_run: bool, force: bool, cancel: threading.Event | None = None) -> None:
        session = self.open_session(index, mirrors)
        try:
            self.sync_pass(session, mirrors, result, dry_run=dry_run, force=force,
                           cancel=cancel)
        finally:
            session.close()
        for r in result.mirrors:
            self.reporter.line(r.summary(dry_run))
        self.reporter.line(f"Transactions spent: {result.transactions}")
        if result.outcome is Outcome.OK:
            result.settle()

    def sync_pass(self, session: AccountSession, mirrors: list[MirrorConfig],
                  result: SyncResult, *, dry_run: bool = False, force: bool = False,
                  refresh: bool = True, force_full: bool = False,
                  local: Mapping[str, set[str] | None] | None = None,
                  hints: Sequence[Change] | None = None, readback: bool = True,
                  cancel: threading.Event | None = None) -> None:
        """One pass over ``mirrors``; fills ``result`` (its outcome stays OK unless
        the whole pass stopped: ``SyncResult.settle`` weighs per-mirror trouble).

        ``local`` limits the local side: ``None`` scans every mirror in full; else
        a mirror's entry is the set of paths its watcher saw change (``None``: all
        of it), and a mirror without an entry had no local change. With
        ``refresh`` the remote snapshot is brought up to date first (``hints``:
        webhook pushes), and what changed there is added to each mirror's paths;
        a mirror with nothing to look at is not planned at all."""
        acct = self.config.account
        index, budget, tracker = session.index, session.budget, session.tracker
        spent_before = budget.spent
        reports = {m.name: MirrorReport(m.name) for m in mirrors}
        result.mirrors = list(reports.values())
        looked: set[str] = set()  # mirrors whose state this pass checked
        specs = lambda ms: [(m.name, m.remote, m.full_scan_interval) for m in ms]
        account = index.account_state(acct.url)
        if not dry_run:
            if account.pass_open:
                # The last pass was cut short (killed): echoes it expected may announce
                # changes it never recorded. Read those back like anyone else's.
                index.prune_echoes(acct.url, float("inf"))
            account.pass_open = True
        watch = AbortWatch(cancel, session.backend.abort)  # a stop cuts a blocked request
        try:
            restarted: set[str] = set()  # mirrors whose root changed in the config
            ready = []
            for m in mirrors:
                if config_changes.restart_if_moved(index, m, self.reporter.line):
                    restarted.add(m.name)  # a first meeting looks at every path
                if roots.ready(index, m, reports[m.name], dry_run):
                    ready.append(m)
            looked |= {m.name for m in mirrors if reports[m.name].error}
            if refresh and ready:
                self.reporter.stage("looking for changes on the server")
                refreshed = tracker.refresh(specs(ready), force_full=force_full, hints=hints,
                                            accept_empty=force)
                session.url.confirm()  # a wrong account.url stops here (syncd.session)
                crashpoints.hit("pass.refreshed")
                for m in ready:  # an empty listing stays distrusted until the next refresh
                    _remember_empty_listing(index, m.name, refreshed[m.name].empty_listing)
            else:  # (a pass without a refresh trusts the snapshot no more than the last one)
                refreshed = {m.name: RefreshResult(empty_listing=bool(
                    index.mirror_state(m.name).empty_listing)) for m in ready}
            for m in ready:
                check_cancel(cancel)
                focus = focus_paths(m.name, None if m.name in restarted else local,
                                    refreshed[m.name], refresh)
                if refresh:
                    looked.add(m.name)
                if focus is not None and not focus and not refreshed[m.name].root_missing \
                        and not refreshed[m.name].empty_listing:
                    reports[m.name].finished = True  # nothing changed on either side
                    continue
                looked.add(m.name)
                self._mirror(index, m, reports[m.name], session, refreshed[m.name],
                             dry_run, force, focus, cancel)
            # Read our own changes back from the activity feed now rather than at the
            # start of the next pass: same cost, but a change someone else made while
            # we worked is caught (and synced) in this pass, and the next quiet pass
            # costs one request.
            worked = [m for m in ready if reports[m.name].counts]
            if readback and worked and not dry_run and \
                    account.feed == "yes":
                self.reporter.stage("reading our changes back from the server")
                again = tracker.refresh(specs(ready))
                for m in ready:
                    if again[m.name].changed and not reports[m.name].error:
                        self._mirror(index, m, reports[m.name], session, again[m.name],
                                     dry_run, force,
                                     focus_paths(m.name, {}, again[m.name], True), cancel)
        except Cancelled:
            result.interrupt()
        except (RemoteError, BudgetExhausted) as exc:
            if cancel is not None and cancel.is_set():  # (a request the stop cut short)
                result.interrupt()
            else:
                result.stop(session.url.confirm(exc), url=acct.url, resume_at=budget.resume_at,
                            pending=lambda: sum(index.queue_count(m.name) for m in mirrors))
        finally:
            watch.stop()
            result.transactions = budget.spent - spent_before
            self.reporter.stage(None)
        if not dry_run:
            # not reached when killed; nor cleared when the stop cut a request short,
            # whose outcome is as unknown as after a kill
            account.pass_open = watch.aborted
            self._record(session, reports, looked, result)

    def _record(self, session: AccountSession, reports: dict[str, MirrorReport],
                looked: set[str], result: SyncResult) -> None:
        """Leave the pass's outcome for `syncd status`."""
        now = self.now()
        budget = session.budget
        status.record_rate(session.index, self.config.account.url, limit=budget.limit,
                           remaining=budget.server_remaining,
                           reserve=budget.reserve_count(), now=now)
        for name, r in reports.items():
            if name not in looked and not r.error:
                continue
            state = until = None
            if result.outcome is Outcome.DEFERRED and not r.finished:
                state, until = "paused", result.resume_at
            status.record_pass(session.index, r, now, state=state, until=until)

    # ------------------------------------------------------------------ one mirror

    def purge_trash(self, session: AccountSession, m: MirrorConfig) -> None:
        """Remove trashed items older than ``trash_days``: the local trash every
        time, the remote one at most once a day (one batched delete of the
        folders past their time, when there are any; never a listing)."""
        index, state = session.index, session.index.mirror_state(m.name)
        LocalTrash(self.config.state_dir, m.name, self.now).purge(self.config.trash_days)
        if m.remote_delete == "trash" and \
                self.now() - (state.trash_purged_at or 0) > 86400:
            RemoteTrash(session.backend, index, m.name, self.config.remote_trash,
                        self.now).purge(self.config.trash_days)
            state.trash_purged_at = self.now()

    def _mirror(self, index: Index, m: MirrorConfig, report: MirrorReport,
                session: AccountSession, *args, **kwargs) -> None:
        """One mirror's part of the pass (``_sync_mirror``), and what it spent."""
        before = session.budget.spent
        try:
            self._sync_mirror(index, m, report, session, *args, **kwargs)
        finally:
            report.transactions += session.budget.spent - before

    def _sync_mirror(self, index: Index, m: MirrorConfig, report: MirrorReport,
                     session: AccountSession, refreshed: RefreshResult, dry_run: bool,
                     force: bool, focus: set[str] | None = None,
                     cancel: threading.Event | None = None) -> None:
        backend, tracker = session.backend, session.tracker
        root = str(m.local)
        state = index.mirror_state(m.name)
        try:
            rules = IgnoreRules.for_root(Path(root), m.ignore)
        except IgnoreFileError as exc:
            report.error = str(exc)
            return
        local_trash = LocalTrash(self.config.state_dir, m.name, self.now)
        remote_trash = RemoteTrash(backend, index, m.name, self.config.remote_trash, self.now)
        try:
            st = os.stat(root)
        except OSError:  # gone since the pass began (unmounted?)
            report.error = f"local folder {root} does not exist"
            return
        device, root_inode = st.st_dev, st.st_ino
        known_device = state.device
        known_inode = state.root_inode
        # A view we cannot trust stops the whole mirror, before it touches anything
        # (not even its temporary files or its trash): see guards.distrust.
        view = guards.GuardInput(
            base_count=index.base_count(m.name),
            empty_listing=refreshed.empty_listing,
            local_device_changed=known_device is not None and known_device != device,
            local_replaced=(known_device == device and known_inode is not None
                            and known_inode != root_inode),
            unmounted=roots.unmounted(root, state.mounts or []))
        if refreshed.root_missing and view.base_count:
            report.error = (f"remote folder {m.remote} is missing (deleted or moved on the "
                            "server?); nothing was changed")
            return
        if self._distrusted(m, report, view, force):
            return
        if force and not dry_run and (device, root_inode) != (known_device, known_inode):
            # The user confirmed this folder: it is the one from now on, even if
            # the pass is cut short.
            state.device = device
            state.root_inode = root_inode
        if not dry_run and focus is None:  # (a focused pass does not walk the tree)
            try:
                clean_temp_files(Path(root), rules, key=temp_key(index, m.name),
                                 keep=kept_partials(index, m.name, self.now()))
            except LocalRootMissing as exc:  # gone since the pass began (unmounted?)
                report.error = str(exc)
                return
            self.purge_trash(session, m)
        run = MirrorRun(m.name, root, m.remote, backend, index, self.config.account.url,
                        self.host, transfers=m.transfers, direction=m.direction,
                        remote_delete=m.remote_delete,
                        local_trash=local_trash, remote_trash=remote_trash,
                        up=Throttle(m.bandwidth_up), down=Throttle(m.bandwidth_down),
                        now=self.now, **self._listeners(m.name, report),
                        cancel=cancel, ignored=rules.ignored)
        wanted = selector(focus)
        # a download killed between putting its file in place and recording it
        complete_downloads(index, m.name, root)
        if not dry_run:
            config_changes.reinclude(index, m.name, root, rules)
        for cycle in range(MAX_CYCLES):
            check_cancel(cancel)
            base = {k: b for k, b in index.base(m.name).items()
                    if not rules.ignored(k, b.kind == model.DIR)}
            base_count = len(base)
            if focus is not None:
                base = {k: b for k, b in base.items() if wanted(k)}
            self.reporter.stage(f"{m.name}: scanning {root}" if focus is None else
                                f"{m.name}: looking at {len(focus)} changed paths")
            try:
                local = scan(Path(root), base, rules, only=focus)
            except LocalRootMissing as exc:
                report.error = str(exc)
                return
            remote = {}
            for path, entry in index.remote(m.name).items():
                if focus is not None and not wanted(model.key(path)):
                    continue
                if rules.ignored(path, entry.kind == model.DIR):
                    continue
                problem = _hostile(path)
                if problem:
                    report.notes.append((path, problem))
                    continue
                remote[path] = entry
            if refreshed.root_missing and not base:
                remote = {}
            # (A root that is empty now, or a listing of a later cycle that came
            # back empty: the same rule as at the start.)
            if self._distrusted(m, report, guards.GuardInput(
                    base_count=base_count, empty_listing=refreshed.empty_listing,
                    local_empty=focus is None and not local.entries), force, cycle):
                return
            # Folders kept for the ignored items they hold are not planned.
            shown, remote, kept_notes = kept.hide(index, m.name, local.entries, remote, base,
                                                  complete=focus is None, save=not dry_run)
            plan = planner.plan(shown, remote, base, model.PlanOptions(
                m.direction, self.host, model.stamp(self.now())))
            if cycle == 0:
                report.notes.extend(local.notes)
                report.notes.extend(plan.notes)
                for path, why in report.notes:
                    self.reporter.line(f"{m.name}: skipped {path}: {why}")
                report.keep(kept_notes, self.reporter, m.name)
            reason = guards.check(plan, base, guards.GuardInput(  # (the views: above)
                base_count=base_count, max_delete=m.max_delete))
            if reason and not force:
                report.guard = reason
                plan = guards.without_deletes(plan)
            if dry_run:
                report.planned = [a.description for a in plan.actions]
                for line in report.planned:
                    self.reporter.line(f"{m.name}: would {line}")
                return
            index.set_queue(m.name, plan.actions)
            crashpoints.hit("pass.queued")
            items = index.queue(m.name)
            failures = index.failures(m.name)
            now = self.now()
            waiting = {p for p, (_, next_try, _) in failures.items() if next_try > now}
            visible = [a for _, a in items if a.phase != "record"
                       and not any(p in waiting for p in a.paths)]
            self.reporter.start(m.name, len(visible), {a.subject: a.size for a in visible
                                                     if a.phase == "transfer"})
            try:
                out = Worker(run).run(items, skip=waiting.__contains__)
            finally:
                self.reporter.stop()
            report.counts.update(out.counts)
            report.bytes_up += out.bytes_up
            report.bytes_down += out.bytes_down
            report.failed.extend(out.failed)
            report.keep(out.kept, self.reporter, m.name)
            report.deferred = out.deferred
            report.stale = out.stale
            if out.stop is not None:
                raise out.stop
            if not (out.stale or out.refresh):
                break
            if out.refresh:
                refreshed = tracker.refresh([(m.name, m.remote, m.full_scan_interval)])[m.name]
                if focus is not None:
                    focus |= {model.key(p) for p in refreshed.paths}
                    wanted = selector(focus)
        report.finished = True
        if not report.guard:
            state.device = device
            state.root_inode = root_inode
        if focus is None and local.mounts != (state.mounts or []):
            state.mounts = local.mounts

    def _listeners(self, mirror: str, report: MirrorReport) -> dict:
        """The worker's progress callbacks: each finished action, each chunk of
        bytes, each conflict, to ``report`` (what the pass did) and the reporter."""
        reporter = self.reporter

        def on_progress(verb: str, path: str, size: int) -> None:
            report.actions.append((verb, path, size))
            reporter.event(mirror, verb, path, size)

        def on_conflict(path: str, copy: str, renamed: str) -> None:
            conflict = Conflict(path, copy, renamed)
            report.copies.append(conflict)
            report.conflicts.append(path)
            reporter.conflict(mirror, conflict)

        return {"on_progress": on_progress, "on_conflict": on_conflict,
                "on_bytes": lambda path, n: reporter.bytes(mirror, path, n)}

    def _distrusted(self, m: MirrorConfig, report: MirrorReport, view: guards.GuardInput,
                    force: bool, cycle: int = 0) -> bool:
        """True (and the mirror's one line in ``report.error``) when a side's view
        of ``m`` cannot be trusted: the mirror then does nothing at all in this
        pass, and its recorded device and root stay as they were, so the next
        pass looks again. ``--force`` accepts the view as it is."""
        reason = guards.distrust(view)
        if reason is None or force:
            return False
        if view.empty_listing:
            fix = "if everything was deleted on the server"
        elif view.unmounted:
            fix = f"mount {os.path.join(m.local, view.unmounted)}, or if it is right"
        else:
            fix = f"mount {m.local}, or if this folder is right"
        done = "nothing was changed" if cycle == 0 else "the pass stopped there"
        report.error = (f"{reason}; {done} ({fix}, run `syncd sync --force "
                        f"--mirror {m.name}`)")
        return True


def _remember_empty_listing(index: Index, name: str, empty: bool) -> None:
    state = index.mirror_state(name)
    if bool(state.empty_listing) != empty:
        state.empty_listing = empty


def _hostile(path: str) -> str | None:
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "unsafe name from the server: not synced"
    if any("\x00" in p for p in parts):
        return "name with a NUL character from the server: not synced"
    if any(len(os.fsencode(p)) > 255 for p in parts):
        return "name longer than 255 bytes: not synced"
    return None
