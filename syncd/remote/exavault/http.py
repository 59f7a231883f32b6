"""ExaVault request plumbing: sending one request, reading its answer into a typed
result or error, the retry rule (``RetryPolicy``; which calls are retried is the
rule of ``syncd.remote.exavault.api``) and paging. The client (``ExaVaultClient``)
is a ``Transport`` with the API's endpoints on top."""

from __future__ import annotations

import functools
import random
import socket
import struct
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from syncd.remote.backend import RequestEvent
from syncd.remote.errors import (
    ProtocolError,
    RateLimitedError,
    RemoteError,
    ServerError,
    TransportError,
    error_for_status,
)
from syncd.remote.exavault.models import Page, RateLimit, _int
from syncd.remote.httpkit import SessionClient, describe, json_body


@dataclass(frozen=True)
class RetryPolicy:
    """Retry bounds for repeatable calls (see the module docstring for which)."""

    attempts: int = 5  # total tries, the first included
    total_seconds: float = 60.0  # no new attempt would start after this
    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    jitter: float = 0.5  # up to this many seconds added at random to each wait


class BlockAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections send request bodies in ``blocksize`` pieces
    (urllib3 defaults to 16 KiB, which costs many small reads on a big upload), and
    that knows the sockets it opened, so that :meth:`abort` can end every request
    in flight at once (a stop must not wait for a slow network)."""

    def __init__(self, blocksize: int, **kw):
        self._blocksize = blocksize
        self.sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["blocksize"] = self._blocksize
        super().init_poolmanager(*args, **kw)
        self.poolmanager.pool_classes_by_scheme = _tracking_pools(self.sockets)

    def abort(self) -> None:
        """Shut down every socket this adapter opened: a request blocked sending or
        receiving fails at once (the caller sees a ``TransportError``)."""
        for sock in list(self.sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # closed already, or never connected
                pass


# SO_LINGER on with 0 s: closing the connection resets it, dropping what is still
# queued to go. Set on a connection whose request failed while it was being sent (an
# upload stopped midway): its queued bytes must not go on flowing for seconds after
# a stop (a slow link holds megabytes in the socket buffers).
_RESET = struct.pack("ii", 1, 0)


def _tracking_pools(sockets: weakref.WeakSet) -> dict[str, type]:
    """urllib3 connection pools whose connections add their socket to ``sockets``."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def tracked(cls: type) -> type:
        def _new_conn(self):
            sock = cls._new_conn(self)
            sockets.add(sock)
            return sock

        def request(self, *args, **kw):
            try:
                return cls.request(self, *args, **kw)
            except BaseException:  # cut short while sending: reset when it is closed
                if self.sock is not None:
                    try:
                        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
                    except OSError:
                        pass
                raise
        return type("Tracked" + cls.__name__, (cls,), {"_new_conn": _new_conn,
                                                       "request": request})

    return {"http": type("TrackedPool", (HTTPConnectionPool,),
                         {"ConnectionCls": tracked(HTTPConnection)}),
            "https": type("TrackedSPool", (HTTPSConnectionPool,),
                          {"ConnectionCls": tracked(HTTPSConnection)})}


RETRYABLE = (TransportError, ServerError)
# What a parse of a hostile or broken answer can raise; the client turns each into
# ProtocolError (a huge number, a nesting too deep for the JSON decoder, a wrong type).
SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError,
                RecursionError)


class Transport(SessionClient):
    """Sending requests for one account: the state ``ExaVaultClient.__init__`` sets
    up (session, credentials, counters, hooks) and the methods over it."""

    base_url: str
    timeout: tuple[float, float]
    retry: RetryPolicy
    on_request: Callable[[RequestEvent], None] | None
    gate: Callable[[str, str], None] | None
    rate_limit: RateLimit | None
    server_time: datetime | None
    _secrets: tuple[str, str]
    _session: requests.Session
    _lock: threading.Lock
    _sent: int
    _adapter: BlockAdapter
    _aborted: bool = False

    def abort(self) -> None:
        """Stop: every request in flight fails at once and no other is sent
        (``TransportError``, never retried). The client is of no further use."""
        self._aborted = True
        self._adapter.abort()

    def _send(self, method: str, path: str, *, params: Iterable[tuple[str, Any]] = (),
              stream: bool = False, **kw) -> requests.Response:
        """Send one request; record it, its rate-limit headers and any transport error.
        Query strings are encoded by ``urlencode`` with ``%20`` for spaces (``+`` is
        ambiguous to some parsers) and nothing left unescaped; names are never
        normalised, so NFC and NFD spellings stay distinct. Redirects are refused: the
        credential headers must never follow a redirect to another host."""
        query = urlencode(list(params), quote_via=quote, safe="")
        return self._request(method, path, path, self.base_url + path, params=query or None,
                             stream=stream, **kw)

    def _observe(self, method: str, path: str, status: int | None, headers) -> None:
        limit = _int(headers.get("X-RateLimit-Limit"))
        remaining = _int(headers.get("X-RateLimit-Remaining"))
        if limit is not None or remaining is not None:
            self.rate_limit = RateLimit(limit, remaining, datetime.now(timezone.utc))
        date = headers.get("Date")
        if date:
            self.server_time = self._parse_date(date) or self.server_time
        if self.on_request is not None:
            self.on_request(RequestEvent(method, path, status, limit, remaining))

    @staticmethod
    @functools.lru_cache(maxsize=4)
    def _parse_date(date: str) -> datetime | None:
        """A Date header as UTC (cached: it changes once a second)."""
        try:
            return parsedate_to_datetime(date).astimezone(timezone.utc)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None

    def _error(self, method: str, path: str, resp: requests.Response, body: Any) -> RemoteError:
        """The typed error for a non-2xx answer, built from the error envelope."""
        err = {}
        if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
            err = body["errors"][0] if isinstance(body["errors"][0], dict) else {}
        scrub = lambda v: RemoteError.scrub(None if v is None else str(v), self._secrets)  # noqa: E731
        fields = dict(status=resp.status_code, code=scrub(err.get("code")),
                      detail=scrub(err.get("detail") or err.get("title")), method=method, path=path)
        cls = error_for_status(resp.status_code)
        if 300 <= resp.status_code < 400:
            error: RemoteError = ProtocolError(f"unexpected redirect ({resp.reason})", **fields)
        elif cls is RateLimitedError:
            error = RateLimitedError(scrub(resp.reason) or "", **fields,
                                     limit=_int(resp.headers.get("X-RateLimit-Limit")),
                                     remaining=_int(resp.headers.get("X-RateLimit-Remaining")))
        else:
            error = cls(scrub(resp.reason) or "", **fields)
        # Not the API's answer (a redirect, an error without the API's envelope): a
        # hint that account.url is not an API base (syncd.session.UrlProof).
        error.foreign = 300 <= resp.status_code < 400 or not (
            isinstance(body, dict) and "errors" in body)
        return error

    def _decode(self, method: str, path: str, resp: requests.Response,
                parse: Callable[[dict, int], Any]) -> Any:
        """Read a JSON answer: raise the typed error, or return ``parse(body, status)``."""
        try:
            raw = resp.content
        except requests.RequestException as exc:  # e.g. body shorter than Content-Length
            raise TransportError(describe(exc), status=resp.status_code, method=method,
                                 path=path) from exc
        body = json_body(raw)  # an empty 2xx body (e.g. 204) reads as {}: parse() decides
        #                    if data was needed; a body that is not JSON reads as None
        if not 200 <= resp.status_code < 300:
            raise self._error(method, path, resp, body)
        where = dict(status=resp.status_code, method=method, path=path)
        if not isinstance(body, dict):
            error = ProtocolError("answer is not a JSON object", **where)
            error.foreign = True  # (e.g. a web page): see _error
            raise error
        echoed = _int(body.get("responseStatus"))
        if (body.get("errors") and "responses" not in body) or (echoed or 200) >= 300:
            raise ProtocolError("2xx answer carries an error envelope", **where)
        try:
            return parse(body, resp.status_code)
        except SHAPE_ERRORS as exc:
            raise ProtocolError(f"unexpected answer shape ({type(exc).__name__}: {exc})",
                                **where) from None

    def _call(self, method: str, path: str, parse: Callable[[dict, int], Any], *,
              repeatable: bool, params: Iterable[tuple[str, Any]] = (), **kw) -> Any:
        params = list(params)

        def attempt():
            with self._send(method, path, params=params, **kw) as resp:
                return self._decode(method, path, resp, parse)
        return self._retrying(attempt) if repeatable else attempt()

    def _retrying(self, attempt: Callable[[], Any], can_retry: Callable[[], bool] = lambda: True):
        """Run ``attempt`` under the retry rule. An error that ends it carries
        ``tries``, the number of attempts made (a caller need not retry again
        what was already retried)."""
        p = self.retry
        tries = 0

        def counted():
            nonlocal tries
            tries += 1
            return attempt()
        try:
            return Retrying(
                stop=stop_after_attempt(max(1, p.attempts)) | stop_before_delay(p.total_seconds),
                wait=lambda state: min(p.max_backoff, p.initial_backoff * 2 ** (
                    state.attempt_number - 1)) + random.uniform(0, p.jitter),
                retry=retry_if_exception(lambda e: isinstance(e, RETRYABLE) and can_retry()
                                         and not self._aborted),
                reraise=True,
            )(counted)
        except RemoteError as exc:
            exc.tries = tries
            raise

    def _pages(self, fetch: Callable[[int, int], Page], limit: int) -> list:
        """Fetch every page. Continue while a page is full or ``totalResults`` says more
        remain; stop on an empty page, a short page, or once ``totalResults`` (when
        non-zero) is reached. A server that caps pages below ``limit`` still works as
        long as it reports ``totalResults``."""
        items: list = []
        first = None
        while True:
            page = fetch(len(items), limit)
            if page.items and page.items[0] == first:  # would loop forever
                raise ProtocolError("the server ignores the paging offset")
            first = page.items[0] if page.items else None
            items.extend(page.items)
            if not page.items or (page.total and len(items) >= page.total):
                return items
            if len(page.items) < limit and not page.total > len(items):
                return items


def labelled_json(resp: requests.Response) -> bool:
    ctype = (resp.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")
