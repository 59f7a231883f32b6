"""Egnyte Public API client: with ``transfer`` (uploads and downloads), the only
code in syncd that speaks HTTP to Egnyte. The contract is
/work/shared/egnyte-api.md; our emulator is ``syncd emulator --service egnyte``.

Every request is one call of the token's daily quota (1,000 by default), so each
goes through ``gate`` (the budget, may refuse before sending) and is reported to
``on_request`` with the quota from the ``X-AccessToken-Quota-*`` headers when
present. Before it is sent a request waits its turn at the shared per-second
``RateLimiter`` (2/s by default), so the normal case never meets Egnyte's
per-second refusal.

Errors are classified by status and headers first (§1.2), the body only read for
the message:

* 403 or 429 with ``X-Mashery-Error-Code: ERR_403_DEVELOPER_OVER_QPS`` (or a 429
  with a short ``Retry-After``): the per-second limit. The request did nothing, so
  it is sent again, any call, after ``Retry-After`` (all threads wait: ``hold``);
  still refused after ``throttle_attempts``: ``ThrottledError``.
* 403 ``ERR_403_DEVELOPER_OVER_RATE`` (or a 429 with a long ``Retry-After``): the
  daily quota. ``RateLimitedError``, never retried; the event given to
  ``on_request`` says ``remaining=0`` so the budget refuses further requests.
* 403 ``ERR_403_DEVELOPER_INACTIVE`` and 401: ``AuthError`` (the token is dead).
* 403 "Folder already exists…" and 409: ``AlreadyExistsError``; a 403 that names a
  lock: ``LockedError``; any other 403: ``ForbiddenError``.
* 400 naming a name or character: ``NameRefusedError``.
* 404 ``NotFoundError``, other 400 ``InvalidParameterError``, 5xx ``ServerError``, no
  answer ``TransportError``.

Retry rule: GETs are idempotent and retried on ``TransportError``/``ServerError``
(bounded attempts and time, exponential backoff with jitter). Changes (add folder,
move, copy, delete, uploads) are not retried blind: the backend settles an unknown
outcome with one stat. Chunks of a chunked upload may be sent again (the API allows
a chunk to be re-sent), so they are retried.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from syncd.remote.backend import RequestEvent
from syncd.remote.egnyte.limiter import RateLimiter
from syncd.remote.egnyte.models import (
    Event,
    EventPage,
    Item,
    Listing,
    Usage,
    _int,
    encode_path,
    norm,
)
from syncd.remote.errors import (
    AlreadyExistsError,
    AuthError,
    ForbiddenError,
    InvalidParameterError,
    LockedError,
    NameRefusedError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RemoteError,
    ServerError,
    ThrottledError,
    TransportError,
)
from syncd.remote.httpkit import SessionClient, describe, json_body, new_session

API = "/pubapi/v1"
PAGE = 100  # listing page size (§10: default 100, maximum 1000)
EVENTS_PAGE = 100  # events per answer (the documented maximum)
OVER_QPS = "ERR_403_DEVELOPER_OVER_QPS"
OVER_RATE = "ERR_403_DEVELOPER_OVER_RATE"
INACTIVE = "ERR_403_DEVELOPER_INACTIVE"
EXISTS = "folder already exists"
# A 429 without a Mashery code: a wait longer than this is the daily quota.
DAILY_WAIT = 120.0

SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError,
                RecursionError)
RETRYABLE = (TransportError, ServerError)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # total tries of an idempotent call, the first included
    total_seconds: float = 60.0  # no new attempt starts after this
    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    jitter: float = 0.5
    throttle_attempts: int = 6  # sends of a request the per-second limit refused
    max_retry_after: float = 60.0  # a longer Retry-After is not waited for in-line


class EgnyteClient(SessionClient):
    """A thread-safe client for one Egnyte token (share it between threads).

    ``base_url`` is ``https://<domain>.egnyte.com`` (or the emulator's
    ``http://127.0.0.1:PORT``); ``token`` the bearer access token, never logged
    nor put in an error. ``qps`` sets the shared limiter unless ``limiter`` is
    given (share one limiter between clients of the same token)."""

    def __init__(self, base_url: str, token: str, *, qps: float = 2.0,
                 limiter: RateLimiter | None = None, retry: RetryPolicy = RetryPolicy(),
                 timeout: tuple[float, float] = (10.0, 60.0), pool_size: int = 8,
                 on_request: Callable[[RequestEvent], None] | None = None,
                 gate: Callable[[str, str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, user_agent: str = "syncd"):
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter or RateLimiter(qps, sleep=sleep)
        self.retry = retry
        self.timeout = timeout
        self.on_request = on_request
        self.gate = gate
        self.sleep = sleep
        self._token = token
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(1, pool_size))
        self._session = new_session(self.base_url, adapter, {
            "Authorization": f"Bearer {token}", "User-Agent": user_agent})
        self._lock = threading.Lock()
        self._sent = 0
        self._aborted = False
        self.usage: Usage | None = None
        self.server_time: datetime | None = None

    def abort(self) -> None:
        """Stop: no request is sent any more and those in flight fail."""
        self._aborted = True
        self._session.close()

    # --- sending ---------------------------------------------------------------------

    def send(self, method: str, path: str, *, params: Iterable[tuple[str, Any]] = (),
             headers: dict[str, str] | None = None, stream: bool = False,
             **kw) -> requests.Response:
        """Send one request to ``API + path`` (``path`` already encoded) and return
        the answer, whatever its status, after the limiter, the gate and the hooks.
        Per-second refusals are sent again here (they did nothing)."""
        for n in range(1, max(1, self.retry.throttle_attempts) + 1):
            resp = self._send_once(method, path, params=list(params), headers=headers,
                                   stream=stream, **kw)
            wait = self._qps_wait(resp)
            if wait is None:
                return resp
            if n >= self.retry.throttle_attempts or wait > self.retry.max_retry_after:
                return resp
            resp.close()
            self.limiter.hold(wait)
            rewind = kw.get("data")
            if hasattr(rewind, "rewind"):
                rewind.rewind()
        return resp

    def _send_once(self, method: str, path: str, *, params, headers, stream, **kw):
        if not self._aborted:
            self.limiter.acquire()
        return self._request(method, path, API + path, self.base_url + API + path,
                             params=params or None, headers=headers, stream=stream, **kw)

    def _observe(self, method: str, path: str, status: int | None, headers) -> None:
        usage = Usage.from_headers(headers)
        if usage.quota_allotted is not None or usage.quota_current is not None:
            self.usage = usage
        date = headers.get("Date")
        if date:
            try:
                self.server_time = parsedate_to_datetime(date).astimezone(UTC)
            except (TypeError, ValueError, IndexError, OverflowError):
                pass
        remaining = usage.remaining
        if status is not None and self._is_daily(status, headers):
            remaining = 0
        if self.on_request is not None:
            self.on_request(RequestEvent(method, API + path, status, usage.quota_allotted,
                                         remaining))

    @staticmethod
    def _code(headers) -> str:
        return (headers.get("X-Mashery-Error-Code") or "").strip().upper()

    def _is_daily(self, status: int, headers) -> bool:
        code = self._code(headers)
        if code == OVER_RATE:
            return True
        if status == 429 and not code:
            after = retry_after(headers)
            return after is not None and after > DAILY_WAIT
        return False

    def _qps_wait(self, resp: requests.Response) -> float | None:
        """Seconds to wait before sending again, when a per-second refusal."""
        if resp.status_code not in (403, 429):
            return None
        code = self._code(resp.headers)
        if code == OVER_QPS or (resp.status_code == 429 and not code
                                and not self._is_daily(429, resp.headers)):
            after = retry_after(resp.headers)
            return 1.0 if after is None else max(0.0, after)
        return None

    def error(self, method: str, path: str, resp: requests.Response,
              raw: bytes | None = None) -> RemoteError:
        """The typed error for a non-2xx answer (see the module docstring)."""
        if raw is None:
            try:
                raw = resp.content
            except requests.RequestException:
                raw = b""
        text = RemoteError.scrub(message(raw), (self._token,))
        status, code = resp.status_code, self._code(resp.headers)
        fields = dict(status=status, code=code or None, detail=text, method=method,
                      path=API + path)
        low = (text or "").lower()
        if 300 <= status < 400:
            return ProtocolError(f"unexpected redirect ({resp.reason})", **fields)
        if status == 401 or code == INACTIVE:
            return AuthError("the access token was refused", **fields)
        if status in (403, 429) and (code in (OVER_QPS, OVER_RATE) or status == 429):
            if self._is_daily(status, resp.headers):
                exc = RateLimitedError("the token's daily call quota is spent", **fields,
                                       limit=self.usage.quota_allotted if self.usage else None,
                                       remaining=0)
                after = retry_after(resp.headers)  # (to 00:00 UTC: when the quota is back)
                exc.resume_at = time.time() + after if after is not None else None
                return exc
            return ThrottledError("the per-second call limit refused the request",
                                  retry_after=retry_after(resp.headers), **fields)
        if status == 403 and EXISTS in low:
            return AlreadyExistsError("already exists", **fields)
        if status == 403 and "lock" in low:
            return LockedError("locked by another user", **fields)
        if status == 403:
            return ForbiddenError("not permitted", **fields)
        if status == 404:
            return NotFoundError("not found", **fields)
        if status == 409:
            return AlreadyExistsError("conflict with an existing item", **fields)
        if status == 400 and ("name" in low or "character" in low):
            return NameRefusedError("the name is refused", **fields)
        if status in (400, 413, 416):
            return InvalidParameterError("refused", **fields)
        if 500 <= status <= 599:
            return ServerError("server error", **fields)
        return ProtocolError(f"unexpected status {status}", **fields)

    def call(self, method: str, path: str, parse: Callable[[Any, requests.Response], Any], *,
             repeatable: bool, ok: tuple[int, ...] = (200,), **kw) -> Any:
        """One API call: send, raise the typed error, parse the JSON answer
        (``{}`` for an empty body). ``repeatable`` calls are retried (module doc)."""
        def attempt():
            with self.send(method, path, **kw) as resp:
                try:
                    raw = resp.content
                except requests.RequestException as exc:
                    raise TransportError(describe(exc), status=resp.status_code,
                                         method=method, path=API + path) from exc
                if resp.status_code not in ok:
                    if 200 <= resp.status_code < 300:
                        raise ProtocolError(f"unexpected status {resp.status_code}",
                                            status=resp.status_code, method=method,
                                            path=API + path)
                    raise self.error(method, path, resp, raw)
                try:
                    return parse(json_body(raw), resp)
                except SHAPE_ERRORS as exc:
                    raise ProtocolError(f"unexpected answer shape ({type(exc).__name__}: "
                                        f"{exc})", status=resp.status_code, method=method,
                                        path=API + path) from None
        return self.retrying(attempt) if repeatable else attempt()

    def retrying(self, attempt: Callable[[], Any], can_retry: Callable[[], bool] = lambda: True):
        """Run ``attempt``, again after a ``TransportError``/``ServerError`` within the
        policy's bounds. The error that ends it carries ``tries``."""
        p = self.retry
        started = time.monotonic()
        tries = 0
        while True:
            tries += 1
            try:
                return attempt()
            except RETRYABLE as exc:
                wait = min(p.max_backoff, p.initial_backoff * 2 ** (tries - 1)) \
                    + random.uniform(0, p.jitter)
                if (tries >= p.attempts or self._aborted or not can_retry()
                        or time.monotonic() - started + wait > p.total_seconds):
                    exc.tries = tries
                    raise
                self.sleep(wait)
            except RemoteError as exc:
                exc.tries = tries
                raise

    # --- the file system ---------------------------------------------------------------

    def info(self, path: str) -> Item:
        """``GET /fs{path}?list_content=false``: the file or folder at ``path``."""
        path = norm(path)
        return self.call("GET", "/fs" + encode_path(path),
                         lambda b, r: Item.from_json(b, path), repeatable=True,
                         params=[("list_content", "false")])

    def info_by_id(self, kind: str, id: str) -> Item:
        """``GET /fs/ids/{file|folder}/{id}``."""
        if kind not in ("file", "folder"):
            raise ValueError(kind)
        return self.call("GET", f"/fs/ids/{kind}/{encode_path(id)[1:]}",
                         lambda b, r: Item.from_json(b), repeatable=True)

    def list_page(self, path: str, offset: int = 0, count: int = PAGE) -> Listing:
        """One page of a folder's children (folders first, as the server orders)."""
        path = norm(path)
        return self.call("GET", "/fs" + encode_path(path),
                         lambda b, r: Listing.from_json(b, path), repeatable=True,
                         params=[("list_content", "true"), ("count", count),
                                 ("offset", offset)])

    def list_folder(self, path: str, count: int = PAGE) -> tuple[Item, list[Item]]:
        """The folder and every direct child, all pages (``total_count`` says how
        many; a server that omits it is paged until a short page)."""
        first = self.list_page(path, 0, count)
        kids = list(first.children)
        got = len(first.children)
        while (first.total is not None and got < first.total) or (
                first.total is None and got and got % count == 0):
            page = self.list_page(path, got, count)
            if not page.children:
                break
            kids += page.children
            got += len(page.children)
        return first.folder, kids

    def add_folder(self, path: str) -> str:
        """``POST /fs{path} {"action":"add_folder"}`` (201): the new ``folder_id``.
        An existing name raises ``AlreadyExistsError``. Not retried."""
        return self.call("POST", "/fs" + encode_path(path),
                         lambda b, r: str((b or {}).get("folder_id") or ""), repeatable=False,
                         ok=(200, 201), json={"action": "add_folder"})

    def move(self, src: str, dst: str, *, action: str = "move") -> None:
        """``POST /fs{src} {"action":"move"|"copy","destination":dst}``: one call for a
        move, a rename or both. Not retried."""
        self.call("POST", "/fs" + encode_path(src), lambda b, r: None, repeatable=False,
                  json={"action": action, "destination": norm(dst)})

    def delete(self, path: str) -> None:
        """``DELETE /fs{path}``: the item (a folder with its contents) goes to the
        trash. Not retried."""
        self.call("DELETE", "/fs" + encode_path(path), lambda b, r: None, repeatable=False,
                  ok=(200, 204))

    def userinfo(self) -> dict:
        """``GET /userinfo``: the token's user (``username``, ``id``, …)."""
        return self.call("GET", "/userinfo", lambda b, r: dict(b), repeatable=True)

    # --- events ---------------------------------------------------------------------------

    def events_cursor(self) -> tuple[int, int]:
        """``GET /events/cursor``: (``latest_event_id``, ``oldest_event_id``)."""
        def parse(b, r):
            latest = _int(b["latest_event_id"])
            if latest is None:
                raise ValueError("latest_event_id is not an integer")
            return latest, _int(b.get("oldest_event_id")) or 0
        return self.call("GET", "/events/cursor", parse, repeatable=True)

    def events(self, after: int, count: int = EVENTS_PAGE, *,
               folder: str | None = None) -> EventPage:
        """``GET /events?id=<after>``: the events after ``after``, oldest first; a 204
        is an empty page. A cursor older than the retention raises ``NotFoundError``."""
        def parse(b, r) -> EventPage:
            if r.status_code == 204 or not b:
                return EventPage([], None)
            evs = sorted((Event.from_json(e) for e in b.get("events") or []), key=lambda e: e.id)
            return EventPage(evs, _int(b.get("latest_id")))
        params: list[tuple[str, Any]] = [("id", after), ("count", count)]
        if folder:
            params.append(("folder", norm(folder)))
        return self.call("GET", "/events", parse, repeatable=True, ok=(200, 204),
                         params=params)


def retry_after(headers) -> float | None:
    value = (headers.get("Retry-After") or "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None


def message(raw: bytes | None) -> str | None:
    """The human message of an error body, whichever of Egnyte's shapes (§1.2)."""
    if not raw:
        return None
    body = json_body(raw)
    if isinstance(body, dict):
        for key in ("errorMessage", "message", "msg", "description"):
            if isinstance(body.get(key), str):
                return body[key][:300]
        for key in ("Errors", "errors", "formErrors"):
            items = body.get(key)
            if isinstance(items, list) and items and isinstance(items[0], dict):
                first = items[0]
                return str(first.get("description") or first.get("msg") or first)[:300]
    if isinstance(body, str):
        return body[:300]
    text = re.sub(r"<[^>]*>", " ", raw[:2000].decode("utf-8", "replace"))
    return " ".join(text.split())[:300] or None
