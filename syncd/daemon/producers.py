"""The producers the daemon starts: one watcher per mirror and the webhook
receiver. Both only put work into the inbox."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from syncd.config.loader import Config, MirrorConfig
from syncd.daemon.inbox import Inbox
from syncd.daemon.log import log
from syncd.local.ignore import IgnoreFileError, IgnoreRules, is_temp_name
from syncd.local.watcher import LocalWatcher
from syncd.remote.backend import Change
from syncd.session import push_format
from syncd.state.index import Index

WEBHOOK_OPS = {"upload", "delete", "mkdir", "move", "rename", "copy"}


class Producers:
    """The Daemon's watcher and webhook wiring (a mixin)."""

    config: Config
    inbox: Inbox
    index: Index | None
    watchers: dict[str, LocalWatcher]
    webhook: object
    _rules: dict[str, IgnoreRules | None]

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
                                         push=push_format(self.config.account), path=hook.path,
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
