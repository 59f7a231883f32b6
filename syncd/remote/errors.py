"""Backend-neutral typed errors for remote storage clients.

Every remote backend (ExaVault today, Egnyte later) raises these, and each
class says what its caller does (``disposition``, one ``Disposition``; the
worker, the engine, ``syncd check`` and the CLI all act on that one answer):

===========================  =======  ============  ==================================
class                        status   disposition   what it means
===========================  =======  ============  ==================================
``InvalidParameterError``    400      ITEM          bug or conflict (e.g. name exists)
``AuthError``                401      STOP          the credentials were refused
``ForbiddenError``           403      DENIED        the user lacks the permission
``NotFoundError``            404      REFRESH       the item is gone; re-list
``NotSupportedError``        404      REFRESH       the account lacks the endpoint
``RateLimitedError``         429      DEFER         the rolling allowance is spent
``ThrottledError``           403/429  DEFER         per-second limit, still after retries
``AlreadyExistsError``       409/403  ITEM          the name is taken (Egnyte)
``NameRefusedError``         400      ITEM          the service never stores this name
``LockedError``              403      ITEM          another user holds a lock on it
``ServerError``              5xx      RETRY         the server failed (GETs retried)
``TransportError``           none     RETRY         refused/reset, timeout, short body
``ProtocolError``            any      ITEM          not what the API promises
``SourceChangedError``       local    RESCAN        a file changed while uploaded
``BudgetExhausted``          none     DEFER         syncd's budget refused to send
``NotAnApiError``            404/3xx  CONFIG        ``account.url`` is no API base
===========================  =======  ============  ==================================

Errors carry the HTTP status, the server's error ``code`` and ``detail``, the
request ``method`` and the API ``path`` (e.g. ``/resources/list``; never the
host, the query string or any header). They never hold credentials: a client
builds them only from the response body and the request line, and
``RemoteError.scrub`` is used on every server-supplied text in case a server
echoes a header back.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

__all__ = [
    "Disposition",
    "disposition",
    "RemoteError",
    "InvalidParameterError",
    "AuthError",
    "ForbiddenError",
    "NotFoundError",
    "NotSupportedError",
    "RateLimitedError",
    "ThrottledError",
    "AlreadyExistsError",
    "NameRefusedError",
    "LockedError",
    "ServerError",
    "TransportError",
    "ProtocolError",
    "SourceChangedError",
    "NotAnApiError",
    "error_for_status",
]


class Disposition(Enum):
    """What the caller does when a request (or the budget) fails. The worker acts
    on it per item; a failure outside any item (a listing, the feed) stops the
    whole pass, which ends deferred, or in NO_PERMISSION for ``STOP`` and
    ``DENIED`` (``syncd.outcome.stopped_by``; `syncd check` answers the same)."""

    #: Transient (no answer, 5xx): the request may be sent again in this pass if
    #: repeating it is safe; failing again and again is an outage (the pass defers).
    RETRY = "retry"
    #: This item failed: it backs off in the index; the other items carry on.
    ITEM = "item"
    #: As ``ITEM`` for one item (the user lacks the permission for it); a pass
    #: that is refused as a whole stops: permission refused.
    DENIED = "denied"
    #: The remote item is not as listed (gone): no failure; the snapshot is
    #: refreshed and the item planned again.
    REFRESH = "refresh"
    #: The local file changed while it was read: no failure; planned again from
    #: a new scan (nothing to refresh on the server).
    RESCAN = "rescan"
    #: Stop the pass now, nothing lost; try again later (budget used up, 429).
    DEFER = "defer"
    #: Stop everything: the credentials were refused.
    STOP = "stop"
    #: Stop everything: the configuration is wrong (``account.url`` is not an API
    #: base); the user must fix it (exit 78).
    CONFIG = "config"

    @property
    def stops_pass(self) -> bool:
        """True when one item's failure ends the whole pass at once."""
        return self in (Disposition.DEFER, Disposition.STOP, Disposition.CONFIG)


def disposition(exc: BaseException) -> Disposition:
    """What to do about ``exc``: its class's ``disposition``; any other exception
    (a local ``OSError``, a bug) is one item's failure."""
    return getattr(type(exc), "disposition", Disposition.ITEM)


class RemoteError(Exception):
    """Base class of every failure talking to the remote service. Each subclass
    states its ``disposition`` (tests/test_error_classes.py checks)."""

    disposition = Disposition.ITEM

    #: A short label used in ``str()`` when there is no HTTP status.
    kind = "remote error"

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ):
        self.status = status
        self.code = code
        self.detail = detail
        self.method = method
        self.path = path
        self.message = message
        #: The answer was not the API's (a redirect, a web page): set by the client.
        self.foreign = False
        super().__init__(str(self))

    @staticmethod
    def scrub(text: str | None, secrets: Iterable[str]) -> str | None:
        """Return *text* with every non-empty secret replaced by ``***``."""
        if text is None:
            return None
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def __str__(self) -> str:
        """One line for a CLI: ``GET /resources/list: 404 ERROR_X: detail``."""
        where = " ".join(p for p in (self.method, self.path) if p)
        what = str(self.status) if self.status is not None else self.kind
        if self.code:
            what += f" {self.code}"
        text = self.detail or self.message
        if text and text != self.code:
            what += f": {text}"
        line = f"{where}: {what}" if where else what
        return " ".join(line.split())  # one line, whatever the server sent

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"detail={self.detail!r}, method={self.method!r}, path={self.path!r})"
        )

    def __reduce__(self):  # keep keyword-only fields when pickled across processes
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls, state):
    err = cls.__new__(cls)
    Exception.__init__(err)
    err.__dict__.update(state)
    return err


class InvalidParameterError(RemoteError):
    """400: a bad or missing parameter, or a name conflict (the API uses 400 for both)."""

    kind = "invalid parameter"
    disposition = Disposition.ITEM


class AuthError(RemoteError):
    """401: the API key or access token was refused."""

    kind = "authentication refused"
    disposition = Disposition.STOP


class ForbiddenError(RemoteError):
    """403: authenticated, but the user lacks the permission."""

    kind = "forbidden"
    disposition = Disposition.DENIED


class NotFoundError(RemoteError):
    """404: the resource (or share, ...) does not exist."""

    kind = "not found"
    disposition = Disposition.REFRESH


class NotSupportedError(NotFoundError):
    """404 on a whole endpoint: the account does not offer it (e.g. activity logs on
    accounts migrated to Files.com). A subclass of ``NotFoundError`` so broad handlers
    still work, but the caller should switch strategy rather than re-list."""

    kind = "not supported"
    disposition = Disposition.REFRESH


class RateLimitedError(RemoteError):
    """429: the rolling transaction allowance is spent. Never retried by a client;
    ``limit``/``remaining`` are the ``X-RateLimit-*`` values of the refusing answer
    (``None`` when the server did not send them)."""

    kind = "rate limited"
    disposition = Disposition.DEFER

    def __init__(self, message: str = "", *, limit: int | None = None,
                 remaining: int | None = None, **kw):
        self.limit = limit
        self.remaining = remaining
        super().__init__(message, **kw)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", limit={self.limit!r}, remaining={self.remaining!r})"


class ThrottledError(RateLimitedError):
    """The per-second limit refused the request (Egnyte: 403 with
    ``X-Mashery-Error-Code: ERR_403_DEVELOPER_OVER_QPS``, or 429) and it was still
    refused after the client waited ``Retry-After`` and tried again. Nothing was
    done by the refused request; ``retry_after`` is the server's wait in seconds."""

    kind = "throttled"
    disposition = Disposition.DEFER

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kw):
        self.retry_after = retry_after
        super().__init__(message, **kw)


class AlreadyExistsError(InvalidParameterError):
    """The name is taken: a move or copy onto an existing item (409), or a folder
    created where one exists (Egnyte's 403 "Folder already exists at this location")."""

    kind = "already exists"
    disposition = Disposition.ITEM


class NameRefusedError(InvalidParameterError):
    """The service never stores this name (forbidden characters, a trailing dot or
    space, a filtered name such as ``Thumbs.db``, too long): refused before sending,
    or by the server with 400. Retrying never helps; the item is reported."""

    kind = "name refused"
    disposition = Disposition.ITEM


class LockedError(ForbiddenError):
    """403 on an item another user holds a lock on (an open file in Egnyte's desktop
    app or Office): this item waits and is tried again later; the rest carry on."""

    kind = "locked"
    disposition = Disposition.ITEM


class ServerError(RemoteError):
    """5xx: the server failed; the request may or may not have taken effect."""

    kind = "server error"
    disposition = Disposition.RETRY


class TransportError(RemoteError):
    """No usable HTTP answer: connection refused or reset, timeout, a body shorter
    than its Content-Length. The request may or may not have taken effect."""

    kind = "transport error"
    disposition = Disposition.RETRY


class ProtocolError(RemoteError):
    """The answer breaks the API contract: malformed JSON, a 2xx whose body is an
    error envelope, a missing field, an unexpected status."""

    kind = "protocol error"
    disposition = Disposition.ITEM


class SourceChangedError(Exception):
    """A *local* file changed size while it was being uploaded; nothing was stored
    (the request body was aborted). Not a ``RemoteError``: the sync engine should
    re-scan the local file and try again later."""

    disposition = Disposition.RESCAN


class NotAnApiError(RemoteError):
    """``account.url`` answered ``GET /account``, which every ExaVault account has,
    as no API base does (404, a redirect, a body that is not the API's): the URL is
    wrong. Built by ``syncd.session`` from the error of that request (``cause``);
    its ``str`` is the whole line for the user."""

    kind = "not an API base"
    disposition = Disposition.CONFIG

    def __init__(self, message: str, *, cause: RemoteError | None = None):
        self.cause = cause
        super().__init__(message, status=getattr(cause, "status", None), method="GET",
                         path="/account")

    def __str__(self) -> str:
        return self.message


_BY_STATUS: dict[int, type[RemoteError]] = {
    400: InvalidParameterError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    429: RateLimitedError,
}


def error_for_status(status: int) -> type[RemoteError]:
    """The error class for an HTTP error status (unknown 4xx → ``ProtocolError``)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 500 <= status <= 599:
        return ServerError
    return ProtocolError
