"""What a sync pass ended in, as the engine reports it (``SyncResult.outcome``).

The engine says *what happened*; the CLI's one table (``syncd/cli/outcomes.py``)
says which exit code that is, and the daemon decides from it when to try again.
"""

from __future__ import annotations

from enum import Enum

from syncd.remote.errors import Disposition, disposition


class Outcome(Enum):
    #: Every mirror converged.
    OK = "ok"
    #: A mirror needs attention: its error, deletions held back, failed items.
    FAILED = "failed"
    #: Work left for later, nothing lost: the budget, the server, another syncd on
    #: the state directory, an interruption, files still changing, backoffs.
    DEFERRED = "deferred"
    #: The server refused the credentials or a permission the pass needs.
    NO_PERMISSION = "no permission"
    #: The configuration is wrong: ``account.url`` is not an API base.
    MISCONFIGURED = "misconfigured"


def stopped_by(exc: BaseException) -> Outcome:
    """What a pass (or `syncd check`) that the remote error ``exc`` (or the budget's
    refusal) stopped as a whole ends in: refused credentials or permission
    (``STOP``, ``DENIED``) need the user; anything else clears up by itself (run
    again later); a URL that is no API base (``CONFIG``) needs the config fixed."""
    why = disposition(exc)
    if why is Disposition.CONFIG:
        return Outcome.MISCONFIGURED
    if why in (Disposition.STOP, Disposition.DENIED):
        return Outcome.NO_PERMISSION
    return Outcome.DEFERRED
