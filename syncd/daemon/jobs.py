"""The daemon's scheduler jobs and what they depend on: the remote poll (its
interval chosen from the budget), the true-ups, the daily purge, retries after
a pass that left work behind, the watchdog ping; and the daemon's facts kept
for `syncd status`."""

from __future__ import annotations

import os

from syncd.config.loader import Config
from syncd.daemon import schedule
from syncd.daemon.inbox import Inbox
from syncd.daemon.log import log
from syncd.daemon.notify import Notifier
from syncd.engine import AccountSession
from syncd.heartbeat import Heartbeat
from syncd.report import Conflict, Reporter, human_bytes
from syncd.state.index import Index

RETRY_FIRST = 30.0      # first retry after a pass that left work behind, then doubling
RETRY_MAX = 900.0


def _usable(own: int | None, budget) -> tuple[int | None, int]:
    """(daily limit, reserve) to plan polling with: our own ``account.budget`` when
    it fits in the account's limit minus the reserve, else the account's."""
    server = budget.server_limit
    reserve = budget.reserve_count()
    if own is not None and (server is None or own <= server - reserve):
        return own, 0
    return server, reserve


STATS_EVERY = 60.0  # seconds: a stats line this often while a pass works longer


class Beats(Reporter):
    """The daemon's reporter: no terminal; each finished item (uploaded, moved,
    failed, ...) is progress for the watchdog and one info line in the log (with
    its mirror, action, path and bytes as fields for ``--log-format json``), each
    conflict a warning; the engine's other lines go to the log at info."""

    def __init__(self, heartbeat: Heartbeat) -> None:
        super().__init__(quiet=True, fancy=False)
        self._heartbeat = heartbeat

    def line(self, text: str) -> None:
        log.info("%s", text)

    def event(self, mirror: str, verb: str, path: str, size: int = 0) -> None:
        super().event(mirror, verb, path, size)  # (counts it for the stats line)
        self._heartbeat.beat()
        extra = f" ({human_bytes(size)})" if size else ""
        log.info("%s: %s %s%s", mirror, verb, path, extra,
                 extra={"mirror": mirror, "action": verb.replace(" ", "_"), "path": path,
                        "bytes": size})

    def conflict(self, mirror: str, conflict: Conflict) -> None:
        self.done()
        log.warning("%s", conflict.line(mirror),
                    extra={"mirror": mirror, "action": "conflict", "path": conflict.path,
                           "copy": conflict.copy})


class Jobs:
    """The Daemon's scheduler wiring (a mixin)."""

    config: Config
    inbox: Inbox
    index: Index | None
    session: AccountSession | None
    notifier: Notifier
    heartbeat: Heartbeat

    def _schedule_fixed(self) -> None:
        """Jobs whose period comes from the configuration (not the budget)."""
        cfg = self.config
        sch = self.scheduler
        for job in ("local_trueup", "remote_trueup", "purge"):
            if sch.get_job(job):
                sch.remove_job(job)
        sch.add_job(self.inbox.put_purge, "interval", id="purge", hours=24)
        if not sch.get_job("stats"):
            sch.add_job(self._stats, "interval", id="stats", seconds=STATS_EVERY)
        sch.add_job(self._local_trueup, "interval", id="local_trueup",
                    seconds=cfg.daemon.local_scan_interval)
        sch.add_job(self.inbox.put_poll, "interval", id="remote_trueup",
                    seconds=min(m.full_scan_interval for m in cfg.mirrors))

    def _stats(self) -> None:
        """During long work (a pass busy for a minute or more), one line a minute:
        files and bytes done of those planned, the rate and the time left."""
        line = self.engine.reporter.stats(at_least=STATS_EVERY)
        if line is not None:
            log.info("progress: %s", line)

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

    def _choose_poll(self) -> None:
        cfg = self.config
        acct = cfg.account
        budget = self.session.budget
        feed = self.index.account_state(acct.url).feed
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
        self.index.account_state(self.config.account.url).daemon = {
            "pid": os.getpid(),
            "started": self.started_at,
            "poll_interval": None if p is None else p.interval,
            "poll_reason": None if p is None else p.reason,
            "webhook": None if self.webhook is None else self.webhook.url,
            "watch": ", ".join(f"{n}: {w.mode}" for n, w in sorted(self.watchers.items())),
        }
