"""What can go wrong while the worker acts, and how one failure reads in a line.

``FATAL`` stops every transfer of the pass at once; ``TRANSIENT`` is one item's
trouble unless it lasts (the worker retries it, see ``Worker._transient``).
"""

from __future__ import annotations

import threading

from syncd.remote.errors import AuthError, RateLimitedError, ServerError, TransportError
from syncd.state.budget import BudgetExhausted


class Cancelled(Exception):
    """The run was asked to stop (the daemon is shutting down); nothing partial is
    left behind: an upload is aborted mid-body, a download's temp file removed."""


FATAL = (BudgetExhausted, AuthError, RateLimitedError, Cancelled)  # stop every transfer now
TRANSIENT = (TransportError, ServerError)  # one item's trouble, unless it lasts


class Unsettled(Exception):
    """A non-repeatable request failed and we cannot tell whether the server did
    it (the check failed too, or it was a step after the server had acted): never
    sent again blind. The item is planned again after a refresh."""


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise ``Cancelled`` once ``cancel`` is set (the daemon is stopping)."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("stopping")


class Stale(Exception):
    """The world changed since planning: skip this action and plan again."""


class Obstructed(Exception):
    """An item syncd never replaces (an ignored one) occupies an action's target."""


class CorruptDownload(Exception):
    """A downloaded body is not the content we know that version has."""


class UnsafePath(Exception):
    """A path that would leave the mirror's local root (hostile name or a symlink)."""


def describe(exc: BaseException) -> str:
    """One line (at most 300 characters) saying what went wrong."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
