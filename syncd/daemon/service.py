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
server never stores a partial file) or a download (its temp file is removed, or
kept to be resumed: transfer/downloads.py), and a request still blocked after
half a second is cut (``transfer.errors.AbortWatch``); the queue stays in the
index and the next start re-plans from the three trees.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from syncd.cli import exitcodes, outcomes
from syncd.config.loader import Config
from syncd.daemon import metrics, schedule
from syncd.daemon.inbox import Inbox, Work
from syncd.daemon.jobs import RETRY_FIRST, RETRY_MAX, Beats, Jobs
from syncd.daemon.log import log
from syncd.daemon.memory import release_memory
from syncd.daemon.notify import Notifier
from syncd.daemon.producers import Producers
from syncd.daemon.reload import Reload
from syncd.engine import SyncEngine, SyncResult
from syncd.heartbeat import HEARTBEAT, Heartbeat
from syncd.local.host import host_name
from syncd.local.ignore import IgnoreRules
from syncd.local.watcher import LocalWatcher
from syncd.outcome import Outcome
from syncd.report import when
from syncd.session import AccountSession
from syncd.state import lock, status
from syncd.state.index import FILENAME, Index, as_corrupt

__all__ = ["Daemon", "StartError", "release_memory"]

STOP_GRACE = 8.0        # seconds the main thread waits for the sync thread when stopping
AUTH_RETRY = 900.0      # seconds between tries while the server refuses our credentials


class StartError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------- the daemon

def _lock(state_dir: Path) -> int:
    """Take the state directory's lock for the daemon's lifetime."""
    try:
        return lock.acquire(state_dir)
    except lock.Busy as exc:
        who = f" (pid {exc.pid})" if exc.pid is not None else ""
        raise StartError(f"another syncd is already running on {state_dir}{who}; it goes on, "
                         "this one exits (`syncd status` shows what it does)",
                         outcomes.exit_code(Outcome.DEFERRED)) from None
    except OSError as exc:
        raise StartError(f"cannot use state directory {state_dir}: {exc.strerror or exc}",
                         exitcodes.CANTCREAT) from exc


class Daemon(Producers, Jobs, Reload):
    """The daemon: its lifecycle, the sync thread and what a pass leaves behind.
    The producers (daemon/producers.py), the scheduler jobs (daemon/jobs.py) and
    the reload (daemon/reload.py) are mixins."""

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
        self.engine = SyncEngine(config, reporter=Beats(self.heartbeat), now=now,
                                 host=self.host)
        self.watchers: dict[str, LocalWatcher] = {}
        self.webhook = None
        self.metrics = None
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
        """Run until SIGTERM/SIGINT; the exit code."""
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

    def _start(self) -> None:
        cfg = self.config
        self._lock_fd = _lock(cfg.state_dir)
        self.index = Index(cfg.state_dir / "index.sqlite3")
        self.session = self.engine.open_session(self.index, list(cfg.mirrors))
        self._beat_on_requests(self.session)
        for m in cfg.mirrors:
            self._start_watcher(m)
        self._start_webhook()
        self.metrics = metrics.start(lambda: self.config)  # daemon.metrics: loopback
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
        started = self._lock_fd is not None  # (a second `syncd run` never started)
        self.notifier.stopping()
        self.cancel.set()
        self.stopped.set()
        self.inbox.wake()
        for w in self.watchers.values():
            w.stop()
        if self.webhook is not None:
            self.webhook.stop()
        metrics.stop(self.metrics)
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
        if started:
            log.info("syncd stopped")
        self.notifier.close()

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
        if result.outcome is Outcome.MISCONFIGURED:
            # account.url is not an API base: waiting would only hide it (the daemon
            # would look idle); `syncd status` keeps the line, the exit code is 78.
            for m in self.config.mirrors:
                status.set_state(self.index, m.name, "error", self.now(),
                                 message=result.message)
            self.fatal = StartError(result.message, outcomes.exit_code(result.outcome))
            self.stopped.set()
            return
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

