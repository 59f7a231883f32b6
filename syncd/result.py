"""What a sync pass reports: each mirror's report, and the pass's outcome with its
one line for stderr. The engine fills it; `syncd sync` exits with ``exit_code``
(the CLI's one table) and the daemon decides from ``outcome`` when to try again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from syncd.cli import outcomes
from syncd.outcome import Outcome, stopped_by
from syncd.remote.errors import Disposition, RemoteError, disposition
from syncd.report import MirrorReport, when
from syncd.state.budget import BudgetExhausted


@dataclass
class SyncResult:
    mirrors: list[MirrorReport] = field(default_factory=list)
    outcome: Outcome = Outcome.OK
    message: str | None = None       # the one line for stderr when not OK
    transactions: int = 0
    resume_at: float | None = None
    budget_exhausted: bool = False  # deferred because of the budget (else: server trouble)

    @property
    def exit_code(self) -> int:
        """`syncd sync`'s exit code for this outcome (the CLI's one table)."""
        return outcomes.exit_code(self.outcome)

    def to_dict(self, dry_run: bool = False) -> dict:
        """`syncd sync --json`: the pass and each mirror (docs/sync.md lists the
        keys; keys are only ever added)."""
        return {
            "version": 1,
            "outcome": self.outcome.name.lower(),
            "exit_code": self.exit_code,
            "message": self.message,
            "dry_run": dry_run,
            "transactions": self.transactions,
            "resume_at": self.resume_at,
            "mirrors": [r.to_dict(dry_run) for r in self.mirrors],
        }

    def stop(self, exc: Exception, *, url: str, pending: Callable[[], int],
             resume_at: Callable[[], float | None]) -> None:
        """The remote error (or the budget's refusal) ``exc`` stopped the whole pass
        over account ``url``: its outcome and line by the dispositions of
        syncd/remote/errors.py, and each unfinished mirror's. ``pending``: the
        actions left queued; ``resume_at``: when the budget has room again."""
        self.outcome = stopped_by(exc)
        why = disposition(exc)
        if why is Disposition.STOP:
            self.message = (f"authentication refused by {url} ({describe_remote(exc)}): "
                            "check account.api_key and account.access_token")
            self.unfinished("not synced (authentication refused)")
        elif why is Disposition.CONFIG:  # account.url is not an API base
            self.message = str(exc)
            self.unfinished("not synced (configuration error)")
        elif why is Disposition.DENIED:
            self.message = f"permission refused by the server: {describe_remote(exc)}"
            self.unfinished("not synced (permission refused)")
        elif why in (Disposition.DEFER, Disposition.RETRY):
            left = pending()
            self.resume_at = getattr(exc, "resume_at", None) or resume_at()
            self.budget_exhausted = why is Disposition.DEFER
            if self.budget_exhausted:
                cause, back = "budget exhausted", f", budget back at {when(self.resume_at)}"
            else:
                cause, back = "server unavailable", ", run again later"
            what = f"{left} actions deferred" if left else "sync deferred"
            self.message = f"{what} ({cause}: {describe_remote(exc)}){back}; nothing was lost"
            self.unfinished(f"not synced ({cause}); run again later")
        else:  # an answer that breaks the API contract (ProtocolError, ...)
            self.message = (f"sync deferred (the server's answer was not understood: "
                            f"{describe_remote(exc)}); nothing was lost, run again later")
            self.unfinished("not synced (bad answer from the server); run again later")

    def interrupt(self) -> None:
        """The pass was cancelled (the daemon stops or reloads)."""
        self.outcome = Outcome.DEFERRED
        self.message = "interrupted; the rest is synced next time"
        self.unfinished("interrupted")

    def settle(self) -> None:
        """The outcome of a pass that ran to its end, from its mirrors' reports:
        FAILED with the first mirror's trouble (an error, deletions held back,
        failed items); else DEFERRED while actions wait (files still changing,
        backoffs); else it stays OK."""
        bad = [r for r in self.mirrors if r.error or r.guard or r.failed]
        if bad:
            r = bad[0]
            self.outcome = Outcome.FAILED
            if r.error:
                self.message = f"{r.name}: {r.error}"
            elif r.guard:
                self.message = (f"{r.name}: deletions held back: {r.guard}; nothing was "
                                "deleted (run with --force if this is intended)")
            else:
                path, why = r.failed[0]
                more = f" (and {len(r.failed) - 1} more)" if len(r.failed) > 1 else ""
                self.message = f"{r.name}: {path}: {why}{more}"
        elif any(r.deferred or r.stale for r in self.mirrors):
            self.outcome = Outcome.DEFERRED
            n = sum(r.deferred + r.stale for r in self.mirrors)
            self.message = (f"{n} actions deferred (files still changing or backing off "
                            "after errors); run again later")

    def unfinished(self, why: str) -> None:
        """The pass stopped: each mirror it did not finish says so (not "in sync")."""
        for r in self.mirrors:
            if not r.finished and not r.error:
                r.error = why


def describe_remote(exc: Exception) -> str:
    """``exc`` for the one line: with the budget's time back, or the HTTP status."""
    if isinstance(exc, BudgetExhausted):
        return f"{exc} (budget back at {when(exc.resume_at)})"
    text = str(exc)
    if isinstance(exc, RemoteError) and exc.status and f"{exc.status}" not in text:
        text = f"HTTP {exc.status}: {text}"
    return text
