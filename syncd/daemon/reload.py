"""SIGHUP: reading the configuration again, in the sync thread."""

from __future__ import annotations

from syncd.config.loader import ConfigError, load_config
from syncd.daemon.jobs import Beats
from syncd.daemon.log import log
from syncd.engine import SyncEngine
from syncd.logs import set_level


class Reload:
    """The Daemon's reload (a mixin)."""

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
        self.engine = SyncEngine(new, reporter=Beats(self.heartbeat), now=self.now,
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
