"""`syncd check`: is this configuration ready to sync?

It validates the configuration (as `syncd sync` does: exit 78), then reaches the
account with exactly ONE transaction, ``GET /account``, which proves the URL and
the credentials and brings the budget's headers (``X-RateLimit-Limit`` and
``-Remaining``). It is sent through the same budget gate and ledger as every
other request (so it is refused, exit 75, when the budget is used up) and is
never retried: a failure is reported at once.

Everything else comes from the index, for free:

* whether the account has an activity feed: the first sync finds out with its
  first request and remembers it;
* per mirror, whether the local folder exists (a ``stat``), and what the index
  knows of both sides: the files and folders in sync at the last pass, and the
  server's snapshot (so the remote folder's existence as of the last listing or
  poll).

``--probe`` asks the server what the index does not know yet, at one more
transaction per question: one ``GET /activity/session`` when the feed is
unknown, one ``GET /resources`` per remote folder not known to exist. The total
is printed at the end.

Exit codes: 0 ready; 1 a mirror has a problem that `syncd sync` would stop at
(local folder missing after it was synced, or not a folder; remote folder is a
file); 75 budget exhausted or server unavailable (run again later); 77
credentials or permission refused; 78 configuration error, including a URL that
answers 404 to ``GET /account`` (which every ExaVault account has).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from syncd import model
from syncd.cli import exitcodes, outcomes
from syncd.cli.common import STATE_ERRORS, load_config, state_error
from syncd.cli.errors import CommandError
from syncd.config.loader import Config, MirrorConfig
from syncd.outcome import stopped_by
from syncd.remote.errors import Disposition, NotFoundError, RemoteError, disposition
from syncd.session import AccountSession
from syncd.state import status
from syncd.state.budget import DAY, BudgetExhausted
from syncd.state.index import Index


@dataclass
class _Counts:
    files: int = 0
    folders: int = 0

    def __str__(self) -> str:
        def n(count: int, word: str) -> str:
            return f"{count} {word}{'' if count == 1 else 's'}"
        return f"{n(self.files, 'file')}, {n(self.folders, 'folder')}"


def _count(kinds) -> _Counts:
    c = _Counts()
    for kind in kinds:
        if kind == model.DIR:
            c.folders += 1
        else:
            c.files += 1
    return c


def _at(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "never"


def _remote_failure(exc: BaseException, url: str) -> CommandError:
    """The one line and exit code for a failed request: by its disposition, as a
    sync pass it stopped would end (``stopped_by``), except that a 404 answer to
    ``GET /account`` means ``account.url`` is wrong."""
    text = str(exc)
    why = disposition(exc)
    code = outcomes.exit_code(stopped_by(exc))
    if isinstance(exc, BudgetExhausted):
        back = f", budget back at ~{_at(exc.resume_at)}" if exc.resume_at else ""
        return CommandError(f"not checked: {text}{back}; run again later", code)
    if why is Disposition.DEFER:
        return CommandError(f"not checked: the server refused the request (429, budget "
                            f"exhausted: {text}); run again later", code)
    if why is Disposition.STOP:
        return CommandError(f"authentication refused by {url} ({text}): check "
                            "account.api_key and account.access_token", code)
    if why is Disposition.DENIED:
        return CommandError(f"permission refused by {url}: {text}", code)
    if why is Disposition.REFRESH:
        return CommandError(f"{url} answered 404 to GET /account: account.url must be the "
                            "account's API v2 base, like https://ACCOUNT.exavault.com/api/v2",
                            exitcodes.CONFIG)
    if why is Disposition.RETRY:
        return CommandError(f"server unavailable: {text}; run again later", code)
    return CommandError(f"the answer of {url} was not understood ({text}); is account.url "
                        "the API v2 base URL? Run again later if it is", code)


class Checker:
    def __init__(self, config: Config, index: Index, *, probe: bool = False,
                 out: TextIO | None = None, now=time.time):
        self.config = config
        self.index = index
        self.probe = probe
        self.out = out or sys.stdout
        self.now = now
        self.problems: list[str] = []
        # One try per request: a check reports what it finds, it does not wait it out.
        self.session = AccountSession.open(config, index, now=now, pool=1, patient=False)
        self.budget, self.backend = self.session.budget, self.session.backend

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def run(self) -> int:
        cfg = self.config
        n = len(cfg.mirrors)
        self.say(f"Config: {cfg.path}: valid, {n} mirror{'' if n == 1 else 's'}")
        try:
            try:
                account = self.backend.account()
            except (RemoteError, BudgetExhausted) as exc:
                raise _remote_failure(exc, cfg.account.url) from None
            finally:
                self._record_rate()
            name = f" (account {account.name!r})" if account.name else ""
            self.say(f"Account: {cfg.account.url}{name}: credentials accepted")
            self.say("Budget: " + self._budget_line(account.daily_limit))
            self.say("Activity feed: " + self._feed())
            for m in cfg.mirrors:
                self._mirror(m)
        finally:
            self.session.close()
            self.say(f"Transactions spent by this check: {self.budget.spent}")
        if self.problems:
            raise CommandError(self.problems[0] + (f" (and {len(self.problems) - 1} more)"
                                                   if len(self.problems) > 1 else ""),
                               exitcodes.FAILURE)
        self.say("Ready: run `syncd sync` (once) or `syncd run` (the daemon).")
        return exitcodes.OK

    def _record_rate(self) -> None:
        """Leave the fresh counters for `syncd status`, as a sync pass does."""
        b = self.budget
        if b.server_limit is not None or b.server_remaining is not None:
            status.record_rate(self.index, self.config.account.url, limit=b.limit,
                               remaining=b.server_remaining, reserve=b.reserve_count(),
                               now=self.now())

    # ------------------------------------------------------------------ account

    def _budget_line(self, account_limit: int | None) -> str:
        acct, b = self.config.account, self.budget
        limit = b.server_limit if b.server_limit is not None else account_limit
        parts = [f"limit {limit if limit is not None else 'unknown'} transactions per 24 h"]
        if b.server_remaining is not None:
            parts[0] += f", {b.server_remaining} remaining now"
        reserve = acct.reserve
        shown = f"{reserve:.0%} of the limit" if isinstance(reserve, float) else "account.reserve"
        parts.append(f"reserve {b.reserve_count()} ({shown}) never spent by syncd")
        if acct.budget is not None:
            parts.append(f"syncd's own cap {acct.budget} per 24 h (account.budget)")
        spent = self.index.spent(acct.url, self.now() - DAY)
        available = b.available()
        tail = f"syncd spent {spent} in the last 24 h"
        if available is not None:
            tail += f" and may spend {max(0, available)} more now"
        parts.append(tail)
        return "; ".join(parts)

    def _feed(self) -> str:
        known = self.index.account_state(self.config.account.url).feed
        if known is None and self.probe:
            known = self._probe_feed()
            how = "asked now, 1 transaction"
        else:
            how = "found by an earlier sync"
        if known == "yes":
            return f"available ({how}): a quiet pass costs 1 transaction for every mirror"
        if known == "no":
            return (f"not available ({how}; a Files.com-migrated account): every pass "
                    "lists each mirror, about 1 transaction per 100 items")
        return ("not known yet: the first sync finds out with its first request "
                "(`syncd check --probe` asks now, for 1 more transaction)")

    def _probe_feed(self) -> str:
        try:
            return "yes" if self.backend.has_feed() else "no"
        except (RemoteError, BudgetExhausted) as exc:
            raise _remote_failure(exc, self.config.account.url) from None

    # ------------------------------------------------------------------ mirrors

    def _mirror(self, m: MirrorConfig) -> None:
        index = self.index
        state = index.mirror_state(m.name)
        st = state.status or {}
        base = index.base(m.name)
        rows = index.remote(m.name)
        listed = state.listed_at
        self.say(f"Mirror {m.name} ({m.direction}): {m.local} <-> {m.remote}")
        local = self._local(m, bool(base))
        if base or st.get("last_sync"):
            local += (f"; {_count(b.kind for b in base.values())} in sync at the last sync "
                      f"({_at(st.get('last_sync'))})")
        else:
            local += "; files: unknown until the first sync"
        remote = self._remote(m, rows, base, listed is not None)
        if listed is not None:
            seen = st.get("last_pass") or float(listed)
            remote += (f"; {_count(r.kind for r in rows.values())} on the server as of the "
                       f"last pass ({_at(seen)})")
        else:
            remote += "; files: unknown until the first sync"
        self.say("  local folder:  " + local)
        self.say("  remote folder: " + remote)
        if st.get("message"):
            self.say(f"  last pass: {st.get('state')}: {st['message']}")

    def _local(self, m: MirrorConfig, synced: bool) -> str:
        root = Path(m.local)
        if root.is_dir():
            return "exists"
        if os.path.lexists(root):
            self.problems.append(f"{m.name}: local folder {root} is not a folder")
            return "is not a folder: sync stops at this mirror"
        if synced:
            self.problems.append(f"{m.name}: local folder {root} is missing although it was "
                                 "synced before (unmounted?)")
            return "missing although synced before (unmounted?): sync stops at this mirror"
        return "missing: the first sync creates it"

    def _remote(self, m: MirrorConfig, rows: dict, base: dict, listed: bool) -> str:
        if m.remote == "/":
            return "exists (the account's home folder)"
        if rows:
            return "exists"
        if self.probe:
            try:
                item = self.backend.stat(m.remote)
            except NotFoundError:
                if base:
                    self.problems.append(f"{m.name}: remote folder {m.remote} is missing "
                                         "although it was synced before")
                    return "missing although synced before (asked now, 1 transaction)"
                return "missing (asked now, 1 transaction): the first sync creates it"
            except (RemoteError, BudgetExhausted) as exc:
                raise _remote_failure(exc, self.config.account.url) from None
            if item.kind != model.DIR:
                self.problems.append(f"{m.name}: remote {m.remote} is a file, not a folder")
                return "is a file, not a folder (asked now, 1 transaction)"
            return "exists (asked now, 1 transaction)"
        if listed:
            return "empty or not created yet (an upload creates it)"
        return ("not known yet: the first sync lists it and creates it if missing "
                "(`syncd check --probe` asks now, 1 transaction)")


def run_check(config: Config, *, probe: bool = False, out: TextIO | None = None) -> int:
    index = Index(config.state_dir / "index.sqlite3")
    try:
        return Checker(config, index, probe=probe, out=out).run()
    finally:
        index.close()


def command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        return run_check(config, probe=args.probe)
    except STATE_ERRORS as exc:
        raise state_error(exc, config) from exc
