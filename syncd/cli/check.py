"""`syncd check`: is this configuration ready to sync?

It validates the configuration (as `syncd sync` does: exit 78), then reaches the
account with ONE transaction, ``GET /account``, which proves the URL and the
credentials and brings the budget's headers (``X-RateLimit-Limit`` and
``-Remaining``), and asks for each mirror's remote folder live: one ``GET
/resources`` per mirror (none for ``/``, the home folder). Every request goes
through the same budget gate and ledger as any other (so it is refused, exit
75, when the budget is used up) and is never retried: a failure is reported at
once. A proven URL is remembered, so the first sync does not prove it again.

From the index and the disk, for free: whether the account has an activity feed
(the first sync finds out with its first request and remembers it), per mirror
whether the local folder exists and whether this user may write it (read it,
for ``upload-only``), and what the index knows of both sides as of the last
pass. ``--probe`` asks the server whether it has a feed when the index does not
know yet: one more transaction. The total is printed at the end.

"Ready" is printed only when nothing stands in the way of a sync. Exit codes: 0
ready; 1 a mirror has a problem that `syncd sync` would stop at (local folder
missing after it was synced, not a folder, or not writable; remote folder
missing after it was synced, or a file); 75 budget exhausted, none left to spend
now (syncd's cap or the server's remaining count, less the reserve), or server
unavailable (run again later); 77 credentials or permission refused; 78
configuration error, including a URL that is not an API base (it answers 404,
a redirect or a page that is not the API's to ``GET /account``, which every
ExaVault account has).

``--json`` prints one JSON object instead of the lines (the keys are
documented in docs/operations.md and are stable): ``ready``, ``exit_code``,
``error``, ``problems``, ``config``, ``account``, ``budget``, ``feed``,
``mirrors``, ``transactions``.
"""

from __future__ import annotations

import argparse
import json
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
    sync pass it stopped would end (``stopped_by``); an answer to ``GET /account``
    that says ``account.url`` is not an API base (``NotAnApiError``, from
    ``session.UrlProof.prove``, as in a pass) is 78."""
    text = str(exc)
    why = disposition(exc)
    code = outcomes.exit_code(stopped_by(exc))
    if isinstance(exc, BudgetExhausted):
        back = f", budget back at ~{_at(exc.resume_at)}" if exc.resume_at else ""
        return CommandError(f"not checked: {text}{back}; run again later", code)
    if why is Disposition.CONFIG:
        return CommandError(text, code)
    if why is Disposition.DEFER:
        return CommandError(f"not checked: the server refused the request (429, budget "
                            f"exhausted: {text}); run again later", code)
    if why is Disposition.STOP:
        return CommandError(f"authentication refused by {url} ({text}): check "
                            "account.api_key and account.access_token", code)
    if why is Disposition.DENIED:
        return CommandError(f"permission refused by {url}: {text}", code)
    if why is Disposition.RETRY:
        return CommandError(f"server unavailable: {text}; run again later", code)
    return CommandError(f"the answer of {url} was not understood ({text}); is account.url "
                        "the API v2 base URL? Run again later if it is", code)


def _writable(path: Path, *, write: bool) -> bool:
    """May this user create and delete entries in folder ``path`` (only list and
    read it when not ``write``)?"""
    return os.access(path, (os.W_OK if write else os.R_OK) | os.X_OK)


class Checker:
    def __init__(self, config: Config, index: Index, *, probe: bool = False,
                 out: TextIO | None = None, now=time.time, as_json: bool = False):
        self.config = config
        self.index = index
        self.probe = probe
        self.out = out or sys.stdout
        self.now = now
        self.as_json = as_json
        self.problems: list[tuple[str, int]] = []  # (line, exit code)
        # What --json prints; the lines say the same in words.
        self.report: dict = {
            "ready": False, "exit_code": None, "error": None, "problems": [],
            "config": {"path": str(config.path), "mirrors": len(config.mirrors)},
            "account": {"url": config.account.url, "name": None, "reached": False},
            "budget": None, "feed": None, "mirrors": [], "transactions": 0}
        # One try per request: a check reports what it finds, it does not wait it out.
        self.session = AccountSession.open(config, index, now=now, pool=1, patient=False)
        self.budget, self.backend = self.session.budget, self.session.backend

    def say(self, line: str) -> None:
        if not self.as_json:
            print(line, file=self.out, flush=True)

    def problem(self, line: str, code: int = exitcodes.FAILURE) -> None:
        self.problems.append((line, code))
        self.report["problems"].append(line)

    def run(self) -> int:
        try:
            code = self._run()
        except STATE_ERRORS as exc:
            error = state_error(exc, self.config)
            self.report.update(exit_code=error.code, error=str(error))
            raise error from exc
        except CommandError as exc:
            self.report.update(exit_code=exc.code, error=str(exc))
            raise
        finally:
            if self.as_json:
                print(json.dumps(self.report, indent=2), file=self.out, flush=True)
        return code

    def _run(self) -> int:
        cfg = self.config
        n = len(cfg.mirrors)
        self.say(f"Config: {cfg.path}: valid, {n} mirror{'' if n == 1 else 's'}")
        try:
            try:
                account = self.session.url.prove()  # remembered: the first sync needs none
            except (RemoteError, BudgetExhausted) as exc:
                raise _remote_failure(exc, cfg.account.url) from None
            finally:
                self._record_rate()
            name = f" (account {account.name!r})" if account.name else ""
            self.report["account"].update(name=account.name, reached=True)
            self.say(f"Account: {cfg.account.url}{name}: credentials accepted")
            self.say("Budget: " + self._budget_line(account.daily_limit))
            self.say("Activity feed: " + self._feed())
            for m in cfg.mirrors:
                self._mirror(m)
        finally:
            self.session.close()
            self.report["transactions"] = self.budget.spent
            self.say(f"Transactions spent by this check: {self.budget.spent}")
        if self.problems:
            codes = {code for _, code in self.problems}
            code = exitcodes.FAILURE if exitcodes.FAILURE in codes else min(codes)
            line = self.problems[0][0] + (f" (and {len(self.problems) - 1} more)"
                                          if len(self.problems) > 1 else "")
            self.say(f"Not ready: {len(self.problems)} problem"
                     f"{'' if len(self.problems) == 1 else 's'}, see above.")
            raise CommandError(line, code)
        self.report.update(ready=True, exit_code=exitcodes.OK)
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
        self.report["budget"] = {
            "limit": limit, "remaining": b.server_remaining, "reserve": b.reserve_count(),
            "cap": acct.budget, "spent_24h": spent,
            "available": None if available is None else max(0, available)}
        if available is not None and available <= 0:
            back = b.resume_at()
            self.problem("no transaction left to spend now (the reserve is kept)"
                         + (f"; budget back at ~{_at(back)}" if back else "")
                         + "; run again later", exitcodes.TEMPFAIL)
            parts.append("NOTHING LEFT TO SPEND: a sync now would do nothing")
        return "; ".join(parts)

    def _spendable(self) -> bool:
        available = self.budget.available()
        return available is None or available > 0

    def _feed(self) -> str:
        known = self.index.account_state(self.config.account.url).feed
        if known is None and self.probe and self._spendable():
            known = self._probe_feed()
            how = "asked now, 1 transaction"
        else:
            how = "found by an earlier sync"
        self.report["feed"] = known
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
        entry: dict = {"name": m.name, "direction": m.direction,
                       "local": {"path": str(m.local), "state": None},
                       "remote": {"path": m.remote, "state": None},
                       "last_sync": st.get("last_sync")}
        self.report["mirrors"].append(entry)
        self.say(f"Mirror {m.name} ({m.direction}): {m.local} <-> {m.remote}")
        local = self._local(m, bool(base), entry["local"])
        if base or st.get("last_sync"):
            counts = _count(b.kind for b in base.values())
            entry["local"].update(files=counts.files, folders=counts.folders)
            local += f"; {counts} in sync at the last sync ({_at(st.get('last_sync'))})"
        else:
            local += "; files: unknown until the first sync"
        remote = self._remote(m, base, entry["remote"])
        if listed is not None:
            seen = st.get("last_pass") or float(listed)
            counts = _count(r.kind for r in rows.values())
            entry["remote"].update(files=counts.files, folders=counts.folders)
            remote += f"; {counts} on the server as of the last pass ({_at(seen)})"
        else:
            remote += "; files: unknown until the first sync"
        self.say("  local folder:  " + local)
        self.say("  remote folder: " + remote)
        if st.get("message"):
            self.say(f"  last pass: {st.get('state')}: {st['message']}")

    def _local(self, m: MirrorConfig, synced: bool, entry: dict) -> str:
        root = Path(m.local)
        write = m.direction != "upload-only"  # (upload-only never writes locally)
        may = "write" if write else "read"
        if root.is_dir():
            if not _writable(root, write=write):
                entry["state"] = "not_writable" if write else "not_readable"
                self.problem(f"{m.name}: local folder {root} exists but you may not {may} it")
                return f"exists, but you may not {may} it: sync fails at this mirror"
            entry["state"] = "exists"
            return "exists"
        if os.path.lexists(root):
            entry["state"] = "not_a_folder"
            self.problem(f"{m.name}: local folder {root} is not a folder")
            return "is not a folder: sync stops at this mirror"
        entry["state"] = "missing"
        if synced:
            self.problem(f"{m.name}: local folder {root} is missing although it was "
                         "synced before (unmounted?)")
            return "missing although synced before (unmounted?): sync stops at this mirror"
        parent = root.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not _writable(parent, write=True):
            entry["state"] = "cannot_create"
            self.problem(f"{m.name}: local folder {root} is missing and you may not create "
                         f"it (in {parent})")
            return f"missing, and you may not create it in {parent}: sync stops at this mirror"
        return "missing: the first sync creates it"

    def _remote(self, m: MirrorConfig, base: dict, entry: dict) -> str:
        """The remote folder, asked now (1 transaction): the index's snapshot may be
        as old as the last pass."""
        if m.remote == "/":
            entry["state"] = "exists"
            return "exists (the account's home folder)"
        if not self._spendable():
            entry["state"] = "unknown"
            return "not asked (no transaction left to spend)"
        try:
            item = self.backend.stat(m.remote)
        except NotFoundError:
            entry["state"] = "missing"
            if base:
                self.problem(f"{m.name}: remote folder {m.remote} is missing although it "
                             "was synced before")
                return "missing although synced before: sync stops at this mirror"
            return "missing: the first sync creates it"
        except (RemoteError, BudgetExhausted) as exc:
            raise _remote_failure(exc, self.config.account.url) from None
        if item.kind != model.DIR:
            entry["state"] = "not_a_folder"
            self.problem(f"{m.name}: remote {m.remote} is a file, not a folder")
            return "is a file, not a folder: sync stops at this mirror"
        entry["state"] = "exists"
        return "exists"


def run_check(config: Config, *, probe: bool = False, out: TextIO | None = None,
              as_json: bool = False) -> int:
    index = Index(config.state_dir / "index.sqlite3")
    try:
        return Checker(config, index, probe=probe, out=out, as_json=as_json).run()
    finally:
        index.close()


def _json_error(exc: CommandError) -> CommandError:
    """With --json a failure before the check began (the config) is JSON too."""
    print(json.dumps({"ready": False, "exit_code": exc.code, "error": str(exc),
                      "problems": []}, indent=2), flush=True)
    return exc


def command(args: argparse.Namespace) -> int:
    as_json = getattr(args, "json", False)
    try:
        config = load_config(args.config)
    except CommandError as exc:
        raise (_json_error(exc) if as_json else exc) from None
    try:
        return run_check(config, probe=args.probe, as_json=as_json)
    except STATE_ERRORS as exc:
        error = state_error(exc, config)
        raise (_json_error(error) if as_json else error) from exc
