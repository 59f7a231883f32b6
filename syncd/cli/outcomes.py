"""The one table from what a pass ended in (``syncd.outcome.Outcome``) to the
exit code of `syncd sync`, `syncd conflicts resolve`, `syncd check` and the
daemon."""

from __future__ import annotations

from syncd.cli import exitcodes
from syncd.outcome import Outcome

_EXIT_CODES = {
    Outcome.OK: exitcodes.OK,
    Outcome.FAILED: exitcodes.FAILURE,
    Outcome.DEFERRED: exitcodes.TEMPFAIL,
    Outcome.NO_PERMISSION: exitcodes.NOPERM,
    Outcome.MISCONFIGURED: exitcodes.CONFIG,
}


def exit_code(outcome: Outcome) -> int:
    """The exit code of work that ended in ``outcome``."""
    return _EXIT_CODES[outcome]
