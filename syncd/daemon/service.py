"""`syncd run`: one long-lived process keeping every mirror in sync.

Who owns what:

* **The sync thread** owns the index, the account session (client, budget,
  tracker) and the configuration in use. It is the only thread that plans,
  transfers or writes state; it runs one pass at a time.
* **Producers** only put work into the ``Inbox`` (thread-safe): one
  ``LocalWatcher`` per mirror (settled batches of changed paths, or "rescan
  all"), the APScheduler jobs (remote poll, remote and local true-ups, retries),
  the webhook receiver (pushed changes) and the main thread (signals).
* **The main thread** blocks SIGTERM/SIGINT/SIGHUP before any other thread
  starts and takes them synchronously with ``sigtimedwait``: no code runs inside
  a signal handler. SIGHUP → reload (in the sync thread); SIGTERM/SIGINT → stop.

A pass takes everything the inbox has gathered: the paths each watcher saw
change (only those are scanned and planned), and a remote poll if one is due
(one activity-feed request for all mirrors, or listings on servers without a
feed; only what changed there is planned). Local-only passes send no request
to learn about the remote side: the worker's checks before each overwrite
cover a remote change not polled yet.

Stopping: the cancel event makes the worker abort an upload mid-body (the
server never stores a partial file) or a download (its temp file is removed);
the queue stays in the index and the next start re-plans from the three trees.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from syncd.cli import exitcodes, outcomes

from syncd.daemon import schedule

from syncd.state import lock, status
from syncd.remote.backend import Change
from syncd.config.loader import Config, ConfigError, MirrorConfig, load_config
from syncd.engine import AccountSession, SyncEngine, SyncResult
from syncd.local.host import host_name
from syncd.local.ignore import IgnoreFileError, IgnoreRules, is_temp_name
from syncd.state.index import FILENAME, Index, as_corrupt
from syncd.logs import set_level
from syncd.outcome import Outcome
from syncd.daemon.notify import HEARTBEAT, Heartbeat, Notifier
from syncd.report import Reporter, when
from syncd.local.watcher import LocalWatcher

log = logging.getLogger("syncd.daemon.service")

STOP_GRACE = 8.0        # seconds the main thread waits for the sync thread when stopping
AUTH_RETRY = 900.0      # seconds between tries while the server refuses our credentials
RETRY_FIRST = 30.0      # first retry after a pass that left work behind, then doubling
RETRY_MAX = 900.0
WEBHOOK_OPS = {"upload", "delete", "mkdir", "move", "rename", "copy"}


class StartError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------- the inbox

@dataclass
class Work:
    local: dict[str, set[str] | None] = field(default_factory=dict)  # mirror -> paths / all
    poll: bool = False
    timer: bool = False   # a poll asked for by the clock (not only by webhook pushes)
    force_full: bool = False
    hints: list[Change] | None = None
    reload: bool = False
    purge: bool = False

    def empty(self) -> bool:
        return not (self.local or self.poll or self.reload or self.purge)


class Inbox:
    """Work waiting for the sync thread, merged: many events make one pass."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._work = Work()

    def put_local(self, mirror: str, paths: set[str] | None) -> None:
        with self._cond:
            have = self._work.local.get(mirror, set())
            if paths is None or have is None:
                self._work.local[mirror] = None
            else:
                self._work.local[mirror] = have | paths
            self._cond.notify()

    def put_poll(self, *, force_full: bool = False, hints: list[Change] | None = None) -> None:
        with self._cond:
            w = self._work
            w.poll = True
            w.force_full |= force_full
            if hints is not None:
                w.hints = (w.hints or []) + hints
            else:
                w.timer = True
            self._cond.notify()

    def put_purge(self) -> None:
        with self._cond:
            self._work.purge = True
            self._cond.notify()

    def put_reload(self) -> None:
        with self._cond:
            self._work.reload = True
            self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def take(self, timeout: float) -> Work | None:
        with self._cond:
            if self._work.empty():
                self._cond.wait(timeout)
            if self._work.empty():
                return None
            work, self._work = self._work, Work()
            return work


# ----------------------------------------------------------------------------- the daemon

def _lock(state_dir: Path) -> int:
    """Take the state directory's lock for the daemon's lifetime."""
    try:
        return lock.acquire(state_dir)
    except lock.Busy as exc:
        who = f" (pid {exc.pid})" if exc.pid is not None else ""
        raise StartError(f"another syncd is already running on {state_dir}{who}",
                         outcomes.exit_code(Outcome.DEFERRED)) from None
    except OSError as exc:
        raise StartError(f"cannot use state directory {state_dir}: {exc.strerror or exc}",
                         exitcodes.CANTCREAT) from exc


def _usable(own: int | None, budget) -> tuple[int | None, int]:
    """(daily limit, reserve) to plan polling with: our own ``account.budget`` when
    it fits in the account's limit minus the reserve, else the account's."""
    server = budget.server_limit
    reserve = budget.reserve_count()
    if own is not None and (server is None or own <= server - reserve):
        return own, 0
    return server, reserve


class _Beats(Reporter):
    """The daemon's reporter: prints nothing; each finished item (uploaded, moved,
    failed, ...) is progress for the watchdog."""

    def __init__(self, heartbeat: Heartbeat) -> None:
        super().__init__(quiet=True)
        self._heartbeat = heartbeat

    def event(self, mirror: str, verb: str, path: str, size: int = 0) -> None:
        self._heartbeat.beat()


_libc: ctypes.CDLL | None | bool = None


def release_memory() -> bool:
    """Give the heap a pass freed back to the system. A pass over a big mirror
    builds and drops hundreds of MB of entries; glibc keeps freed memory for
    reuse, so an idle daemon would sit at its peak (BENCHMARKS.md: 195 MB idle
    with 100k files, 46 MB live). ``malloc_trim(0)`` returns it, in milliseconds.
    False where there is no glibc (the call is skipped)."""
    global _libc
    if _libc is None:
        try:
            name = ctypes.util.find_library("c")
            lib = ctypes.CDLL(name) if name else None
            _libc = lib if lib is not None and hasattr(lib, "malloc_trim") else False
        except OSError:
            _libc = False
    if not _libc:
        return False
    _libc.malloc_trim(0)
    return True


class Daemon:
    def __init__(self, config: Config, *, config_file: str | None = None,
                 notifier: Notifier | None = None, now: Callable[[], float] = time.time,
                 host: str | None = None, on_secrets: Callable[[Config], None] | None = None,
                 heartbeat: Heartbeat | None = None):
        self.config = config
        self.config_file = config_file
        self.notifier = notifier or Notifier.from_env()
        self.now = now
        self.host = host or host_name()
        self.on_secrets = on_secrets
        self.heartbeat = heartbeat or HEARTBEAT  # the transfer code beats the process's
        self._stalled = False  # the watchdog is not pinged: no progress for too long
        self.inbox = Inbox()
        self.cancel = threading.Event()   # set: stop what is running now
        self.stopped = threading.Event()  # set: the sync thread has ended
        self.fatal: StartError | None = None
        self.engine = SyncEngine(config, reporter=_Beats(self.heartbeat), now=now,
                                 host=self.host)
        self.watchers: dict[str, LocalWatcher] = {}
        self.webhook = None
        self.scheduler: BackgroundScheduler | None = None
        self.index: Index | None = None
        self.session: AccountSession | None = None
        self.poll: schedule.PollChoice | None = None
        self.paused_until: float | None = None
        self._retry_delay = RETRY_FIRST
        self._retry_names: set[str] = set()
        self._rules: dict[str, IgnoreRules | None] = {}  # per mirror, for the watcher
        self._lock_fd: int | None = None
        self._thread: threading.Thread | None = None
        self.started_at = now()

    # ------------------------------------------------------------------ lifecycle

    def run(self, *, signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT (or ``request_stop``); the exit code."""
        sigs = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
        if signals:
            old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        try:
            try:
                self._start()
            except StartError as exc:
                log.error("%s", exc)
                self._shutdown()
                return exc.code
            while not self.stopped.is_set():
                if signals:
                    info = signal.sigtimedwait(sigs, 0.5)
                    if info is None:
                        continue
                    if info.si_signo == signal.SIGHUP:
                        log.info("SIGHUP: reloading %s", self.config.path)
                        self.notifier.reloading()
                        self.inbox.put_reload()
                        continue
                    log.info("%s: stopping", signal.Signals(info.si_signo).name)
                    break
                else:
                    self.stopped.wait(0.5)
            self._shutdown()
            if self.fatal is not None:
                log.error("%s", self.fatal)
                return self.fatal.code
            return exitcodes.OK
        finally:
            if signals:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)

    def request_stop(self) -> None:
        self.stopped.set()

    def _start(self) -> None:
        cfg = self.config
        self._lock_fd = _lock(cfg.state_dir)
        self.index = Index(cfg.state_dir / "index.sqlite3")
        self.session = self.engine.open_session(self.index, list(cfg.mirrors))
        self._beat_on_requests(self.session)
        for m in cfg.mirrors:
            self._start_watcher(m)
        self._start_webhook()
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self.scheduler.start()
        self._schedule_fixed()
        self._choose_poll()
        self.heartbeat.beat()
        if self.notifier.watchdog_interval:
            # Looked at twice per ping interval: a stall that ends in time (a request
            # can wait connect + read timeout) is pinged again before WatchdogSec runs out.
            self.scheduler.add_job(self._watchdog_ping, "interval", id="watchdog",
                                   seconds=self.notifier.watchdog_interval / 2)
            bound = 10.0 + cfg.account.timeout  # the client's connect + read timeouts
            if bound >= 2 * self.notifier.watchdog_interval:
                log.warning("one request may wait up to %.0fs (account.timeout), as long as "
                            "WatchdogSec: a slow answer could get syncd restarted; raise "
                            "WatchdogSec", bound)
        for m in cfg.mirrors:
            self.inbox.put_local(m.name, None)
        self.inbox.put_poll()
        self._thread = threading.Thread(target=self._loop, name="syncd-sync", daemon=True)
        self._thread.start()
        names = ", ".join(m.name for m in cfg.mirrors)
        log.info("syncd started (pid %d): %d mirrors (%s), state in %s", os.getpid(),
                 len(cfg.mirrors), names, cfg.state_dir)
        self.notifier.ready(f"starting: first sync of {len(cfg.mirrors)} mirrors")

    def _shutdown(self) -> None:
        self.notifier.stopping()
        self.cancel.set()
        self.stopped.set()
        self.inbox.wake()
        for w in self.watchers.values():
            w.stop()
        if self.webhook is not None:
            self.webhook.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        if self._thread is not None:
            self._thread.join(STOP_GRACE)
            if self._thread.is_alive():
                log.warning("a request is still running after %.0fs; stopping anyway "
                            "(nothing partial is kept: the next start re-plans)", STOP_GRACE)
                return  # the index is left to SQLite's crash safety
        if self.session is not None:
            self.session.close()
        if self.index is not None:
            self.index.close()
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)  # no stale pid for `syncd status`
            os.close(self._lock_fd)
            self._lock_fd = None
        log.info("syncd stopped")
        self.notifier.close()

    # ------------------------------------------------------------------ producers

    def _ignored(self, m: MirrorConfig) -> Callable[[str, bool], bool]:
        """The watcher's filter: the mirror's ignore rules, read again after a change
        to .syncdignore (which itself always gets through: it makes a full rescan)."""

        def ignored(rel: str, is_dir: bool) -> bool:
            if rel == ".syncdignore":
                return False
            if is_temp_name(rel.rsplit("/", 1)[-1]):
                return True
            rules = self._rules.get(m.name, False)  # (popped by the delivery thread)
            if rules is False:
                try:
                    rules = IgnoreRules.for_root(Path(m.local), m.ignore)
                except IgnoreFileError:
                    rules = None  # the pass reports the error
                self._rules[m.name] = rules
            return rules is not None and rules.ignored(rel, is_dir)
        return ignored

    def _on_local(self, name: str, paths: set[str] | None) -> None:
        if paths is not None and ".syncdignore" in paths:
            self._rules.pop(name, None)  # read the new rules on the next event
            paths = None  # other rules: everything may be in or out now
        log.debug("%s: local change: %s", name, "everything" if paths is None else
                  f"{len(paths)} paths")
        self.inbox.put_local(name, paths)

    def _start_watcher(self, m: MirrorConfig) -> None:
        if not os.path.lexists(m.local) and not self.index.base_count(m.name):
            # A new mirror: create its folder now so it can be watched. A folder
            # synced before and now missing (unmounted?) is not re-created: the
            # watcher falls back to scans and the engine reports the problem.
            try:
                Path(m.local).mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                log.error("%s: cannot create %s: %s", m.name, m.local, exc.strerror or exc)
        w = LocalWatcher(m.name, m.local, self._on_local, ignored=self._ignored(m),
                         settle=self.config.daemon.settle,
                         fallback_interval=min(300.0, self.config.daemon.local_scan_interval),
                         log=logging.getLogger("syncd.watch"))
        w.start()
        self.watchers[m.name] = w

    def _start_webhook(self) -> None:
        hook = self.config.account.webhook
        if hook is None:
            return
        from syncd.remote.webhook import WebhookServer

        try:
            self.webhook = WebhookServer(hook.host, hook.port, hook.token, self._on_push,
                                         path=hook.path,
                                         log=logging.getLogger("syncd.remote.webhook")).start()
        except OSError as exc:
            self.webhook = None
            log.error("webhook: cannot listen on %s:%d: %s; polling instead", hook.host,
                      hook.port, exc.strerror or exc)
            return
        log.info("webhook: listening on %s", self.webhook.url)

    def _on_push(self, events) -> None:
        changes = [Change("", datetime.now(UTC), e.op, e.path, e.source or "")
                   for e in events if e.op in WEBHOOK_OPS and e.path]
        if changes:
            log.debug("webhook: %d changes pushed", len(changes))
            self.inbox.put_poll(hints=changes)

    def _schedule_fixed(self) -> None:
        """Jobs whose period comes from the configuration (not the budget)."""
        cfg = self.config
        sch = self.scheduler
        for job in ("local_trueup", "remote_trueup", "purge"):
            if sch.get_job(job):
                sch.remove_job(job)
        sch.add_job(self.inbox.put_purge, "interval", id="purge", hours=24)
        sch.add_job(self._local_trueup, "interval", id="local_trueup",
                    seconds=cfg.daemon.local_scan_interval)
        sch.add_job(self.inbox.put_poll, "interval", id="remote_trueup",
                    seconds=min(m.full_scan_interval for m in cfg.mirrors))

    def _local_trueup(self) -> None:
        for m in self.config.mirrors:
            self.inbox.put_local(m.name, None)

    def _beat_on_requests(self, session: AccountSession) -> None:
        """Every request the session's client finishes (answered or failed) is
        progress: a listing of many pages is not a hang."""
        observe = session.client.on_request
        heartbeat = self.heartbeat

        def on_request(event) -> None:
            heartbeat.beat()
            if observe is not None:
                observe(event)
        session.client.on_request = on_request

    def _watchdog_ping(self) -> None:
        """WATCHDOG=1, but only while the sync thread is alive and moving: waiting
        for work, or having made progress within the ping interval (half of
        WatchdogSec). A pass stuck longer than that (a request that never ends, a
        hung file system) stops the pings and systemd restarts the daemon; the
        next start re-plans from the three trees."""
        if self._thread is None or not self._thread.is_alive():
            return
        age = self.heartbeat.age()
        if age <= self.notifier.watchdog_interval:
            self._stalled = False
            self.notifier.watchdog()
        elif not self._stalled:
            self._stalled = True
            log.warning("the sync pass has made no progress for %.0fs (hung?): not pinging "
                        "the watchdog, systemd restarts syncd if this goes on", age)

    # ------------------------------------------------------------------ the sync thread

    def _loop(self) -> None:
        try:
            while not self.stopped.is_set():
                with self.heartbeat.idle():  # waiting for work is not a hang
                    work = self.inbox.take(timeout=1.0)
                if work is None or self.stopped.is_set():
                    continue
                if work.reload:
                    self._reload()
                if work.purge:
                    self._purge()
                if self.paused_until is not None and self.now() < self.paused_until:
                    self._requeue(work)  # the retry job brings it back in time
                    continue
                if work.local or work.poll:
                    self._pass(work)
        except Exception as exc:
            corrupt = as_corrupt(self.config.state_dir / FILENAME, exc)
            if corrupt is not None:  # a damaged index page found mid-run: one line
                self.fatal = StartError(str(corrupt), exitcodes.SOFTWARE)
                return
            log.exception("internal error in the sync thread")
            self.fatal = StartError("internal error (see the log above)", exitcodes.SOFTWARE)
        finally:
            self.stopped.set()

    def _purge(self) -> None:
        """The daily trash purge (full passes purge too; this covers quiet days)."""
        for m in self.config.mirrors:
            try:
                self.engine.purge_trash(self.session, m)
            except Exception as exc:  # noqa: BLE001 - budget, server: try again tomorrow
                log.warning("%s: trash purge skipped: %s", m.name, exc)

    def _requeue(self, work: Work) -> None:
        for name, paths in work.local.items():
            self.inbox.put_local(name, paths)
        if work.poll:
            if work.timer:
                self.inbox.put_poll(force_full=work.force_full)
            if work.hints:
                self.inbox.put_poll(hints=work.hints)
        # put_* notify: keep the loop from spinning while paused
        with self.heartbeat.idle():
            self.stopped.wait(min(1.0, max(0.0, (self.paused_until or 0) - self.now())))

    def _own_echoes(self, work: Work) -> bool:
        """True if a poll was asked for only by pushes of changes we made ourselves
        (the feed would just report them back, so it is not read now). Each push
        consumes the push half of its echo; the feed consumes the other half."""
        if work.timer or work.force_full or not work.hints:
            return False
        account = self.config.account.url
        mine = [self.index.take_echo(account, ch.op, ch.path, push=True) for ch in work.hints]
        return all(mine)

    def _pass(self, work: Work) -> None:
        cfg = self.config
        if work.poll and self._own_echoes(work):
            work.poll = False
            log.debug("webhook: %d pushes of our own changes; no poll needed",
                      len(work.hints))
        names = set(work.local)
        mirrors = [m for m in cfg.mirrors if work.poll or m.name in names]
        if not mirrors:
            return
        for m in mirrors:
            status.set_state(self.index, m.name, "syncing", self.now())
        self.notifier.status("syncing " + ", ".join(m.name for m in mirrors))
        self.session.budget.clear_refusal()
        result = SyncResult()
        self.engine.sync_pass(self.session, mirrors, result, refresh=work.poll,
                              force_full=work.force_full, local=work.local,
                              hints=work.hints, readback=False, cancel=self.cancel)
        if self.cancel.is_set():
            return
        release_memory()
        self._after(work, result)

    def _after(self, work: Work, result: SyncResult) -> None:
        retry_local: dict[str, None] = {}
        for r in result.mirrors:
            if r.counts or r.failed or r.error or r.guard:
                log.info("%s", r.summary())
            for path, why in r.failed:
                log.warning("%s: %s: %s", r.name, path, why)
            if r.guard:
                log.warning("%s: deletions held back: %s; nothing was deleted (run `syncd "
                            "sync --force --mirror %s` if this is intended)", r.name,
                            r.guard, r.name)
            if not r.converged and not r.guard:
                retry_local[r.name] = None
        if result.transactions:
            log.debug("pass spent %d transactions", result.transactions)
        if result.outcome is Outcome.NO_PERMISSION:
            log.error("%s; retrying in %.0f min (fix the config and `systemctl reload "
                      "syncd`)", result.message, AUTH_RETRY / 60)
            self._pause(self.now() + AUTH_RETRY, work, state="error", why=result.message)
            return
        if result.outcome is Outcome.DEFERRED:
            at = result.resume_at if result.budget_exhausted else None
            if at is None or at <= self.now():
                at = self.now() + (3600.0 if result.budget_exhausted else self._retry_delay)
                self._retry_delay = min(RETRY_MAX, self._retry_delay * 2)
            log.warning("%s; trying again at %s", result.message, when(at))
            self._pause(at, work, state="paused", why=result.message)
            return
        self._retry_delay = RETRY_FIRST
        if retry_local:
            # Something was deferred (still changing, backing off after an error):
            # look at those mirrors again when the earliest backoff ends.
            delay = self._next_retry(retry_local)
            self._retry_names |= set(retry_local)
            self.scheduler.add_job(self._retry, "date", id="retry", replace_existing=True,
                                   run_date=datetime.fromtimestamp(time.time() + delay, UTC))
        self._choose_poll()
        self._write_daemon_state()
        busy = [r.name for r in result.mirrors if r.error]
        self.notifier.status(("errors in " + ", ".join(busy)) if busy else self._idle_text())

    def _retry(self) -> None:
        names, self._retry_names = self._retry_names, set()
        for name in names:
            self.inbox.put_local(name, None)

    def _next_retry(self, names) -> float:
        now = self.now()
        soonest = RETRY_MAX
        for name in names:
            for (_, next_try, _) in self.index.failures(name).values():
                soonest = min(soonest, max(1.0, next_try - now))
        return min(soonest, RETRY_FIRST) if soonest == RETRY_MAX else soonest

    def _pause(self, until: float, work: Work, *, state: str, why: str | None) -> None:
        self.paused_until = until
        for m in self.config.mirrors:
            status.set_state(self.index, m.name, state, self.now(), message=why, until=until)
        # Keep what was asked for: every mirror is looked at in full when we resume.
        self.scheduler.add_job(self._resume, "date", id="resume", replace_existing=True,
                               run_date=datetime.fromtimestamp(
                                   time.time() + max(0.0, until - self.now()), UTC))
        self.notifier.status(f"{state}: {why}; next try at {when(until)}")
        self._write_daemon_state()

    def _resume(self) -> None:
        self.paused_until = None
        for m in self.config.mirrors:
            self.inbox.put_local(m.name, None)
        self.inbox.put_poll()

    def _idle_text(self) -> str:
        p = self.poll
        every = "push (webhooks)" if p is None or p.interval is None else \
            f"polling every {p.interval:.0f}s"
        return f"idle: {len(self.config.mirrors)} mirrors in sync; {every}"

    # ------------------------------------------------------------------ polling

    def _choose_poll(self) -> None:
        cfg = self.config
        acct = cfg.account
        budget = self.session.budget
        feed = self.index.get_state("account:" + acct.url, "feed")
        rows = [self.index.remote_count(m.name) for m in cfg.mirrors]
        limit, reserve = _usable(acct.budget, budget)
        choice = schedule.choose_poll_interval(
            desired=min(m.poll_interval for m in cfg.mirrors), limit=limit,
            reserve=reserve, transfer_share=acct.transfer_share,
            feed=None if feed is None else feed == "yes", rows=rows,
            full_scan_intervals=[m.full_scan_interval for m in cfg.mirrors],
            webhook=self.webhook is not None)
        old = self.poll
        self.poll = choice
        if old is not None and old.interval == choice.interval:
            return
        log.info("remote: %s", choice.reason)
        sch = self.scheduler
        if choice.interval is None:
            if sch.get_job("poll"):
                sch.remove_job("poll")
        elif sch.get_job("poll"):
            sch.reschedule_job("poll", trigger="interval", seconds=choice.interval)
        else:
            sch.add_job(self.inbox.put_poll, "interval", id="poll",
                        seconds=choice.interval)
        self._write_daemon_state()

    def _write_daemon_state(self) -> None:
        p = self.poll
        self.index.set_state("account:" + self.config.account.url, "daemon", {
            "pid": os.getpid(),
            "started": self.started_at,
            "poll_interval": None if p is None else p.interval,
            "poll_reason": None if p is None else p.reason,
            "webhook": None if self.webhook is None else self.webhook.url,
            "watch": ", ".join(f"{n}: {w.mode}" for n, w in sorted(self.watchers.items())),
        })

    # ------------------------------------------------------------------ reload

    def _reload(self) -> None:
        old = self.config
        try:
            new = load_config(self.config_file)
        except ConfigError as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            self.notifier.ready(self._idle_text())
            return
        if new.state_dir != old.state_dir:
            log.error("reload: state_dir changed (%s -> %s): restart syncd for that; keeping "
                      "the running configuration", old.state_dir, new.state_dir)
            self.notifier.ready(self._idle_text())
            return
        if self.on_secrets is not None:
            self.on_secrets(new)
        set_level(new.daemon.log_level)
        before = {m.name: m for m in old.mirrors}
        after = {m.name: m for m in new.mirrors}
        self.config = new
        self.engine = SyncEngine(new, reporter=_Beats(self.heartbeat), now=self.now,
                                 host=self.host)
        if new.account != old.account:
            self.session.close()
            self.session = self.engine.open_session(self.index, list(new.mirrors))
            self._beat_on_requests(self.session)
            if self.webhook is not None:
                self.webhook.stop()
                self.webhook = None
            self._start_webhook()
            self.poll = None
        for name in before.keys() - after.keys():
            self.watchers.pop(name).stop()
            log.info("reload: mirror %s removed (its index data is kept)", name)
        for name, m in after.items():
            if name in before and before[name] == m:
                continue
            if name in self.watchers:
                self.watchers.pop(name).stop()
            self._rules.pop(name, None)
            self._start_watcher(m)
            self.inbox.put_local(name, None)
            log.info("reload: mirror %s %s", name, "changed" if name in before else "added")
        if new.daemon != old.daemon or [m.full_scan_interval for m in new.mirrors] != \
                [m.full_scan_interval for m in old.mirrors]:
            self._schedule_fixed()
        self.poll = None if new.mirrors != old.mirrors else self.poll
        self.inbox.put_poll()
        self._choose_poll()
        self.notifier.ready(self._idle_text())
