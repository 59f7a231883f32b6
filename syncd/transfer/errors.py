"""What can go wrong while the worker acts, what the worker does about it, and
how one failure reads in a line.

What the worker does is the error's ``Disposition`` (``syncd.remote.errors``:
the one classification the engine, `syncd check` and the CLI use too), read by
:func:`reaction`: one that ``stops_pass`` stops every transfer of the pass at
once; ``RETRY`` is one item's trouble unless it lasts (``Worker._transient``);
``REFRESH`` and ``RESCAN`` plan the item again; ``ITEM`` and ``DENIED`` fail it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from syncd.remote.errors import Disposition, disposition


class Cancelled(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM, the daemon is shutting down);
    nothing partial is left under a user's name: an upload is aborted mid-body, a
    download's temp file removed, or kept under its temp name to be resumed."""


class Unsettled(Exception):
    """A non-repeatable request failed and we cannot tell whether the server did
    it (the check failed too, or it was a step after the server had acted): never
    sent again blind. The item is planned again after a refresh."""


def reaction(exc: BaseException) -> Disposition:
    """What the worker does about ``exc``: its disposition. Stopping (``Cancelled``)
    ends the pass like a deferral (nothing lost); ``Unsettled`` is a transient
    failure whose item ``Worker._transient`` plans again."""
    if isinstance(exc, Cancelled):
        return Disposition.DEFER
    if isinstance(exc, Unsettled):
        return Disposition.RETRY
    return disposition(exc)


def transient(exc: BaseException) -> bool:
    """A failure that may pass if the request is sent again (no answer, 5xx)."""
    return disposition(exc) is Disposition.RETRY


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise ``Cancelled`` once ``cancel`` is set (Ctrl-C, SIGTERM, the daemon stops)."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("stopping")


ABORT_GRACE = 0.5  # seconds a stopping pass has to end by itself before its requests are cut


class AbortWatch:
    """Once ``cancel`` is set, the pass has ``ABORT_GRACE`` seconds to stop at its
    own next check (between chunks of a transfer, between actions and mirrors);
    whatever still blocks it then, a request waiting on a slow network or server,
    is ended by ``abort()`` (the backend's: its sockets are shut down). Then
    ``aborted`` is true: some request's outcome is unknown, as after a kill. A
    thread for the pass's duration (``stop()`` ends it), looking 10 times a second."""

    def __init__(self, cancel: threading.Event | None, abort: Callable[[], None]):
        self.aborted = False
        self._done = threading.Event()
        self._thread = None
        if cancel is not None:
            self._thread = threading.Thread(target=self._watch, args=(cancel, abort),
                                            name="syncd-stop", daemon=True)
            self._thread.start()

    def _watch(self, cancel: threading.Event, abort: Callable[[], None]) -> None:
        while not cancel.wait(0.1):
            if self._done.is_set():
                return
        if not self._done.wait(ABORT_GRACE):
            self.aborted = True
            abort()

    def stop(self) -> None:
        self._done.set()


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
