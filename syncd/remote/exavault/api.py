"""ExaVault REST API v2 client: the only module in syncd that speaks HTTP.

The contract is /work/shared/exavault-api-v2.md (the "digest"). The client must
work against our emulator and against implementations we never see, so it is
strict in what it sends (query strings encoded by the library, JSON bodies,
explicit Content-Length) and liberal in what it accepts (200 or 207 answers,
operation codes or labels, timestamps with ``Z`` or offsets, missing fields).

Every HTTP request is one paid transaction. ``ExaVaultClient.requests_sent``
counts them, ``rate_limit`` holds the latest ``X-RateLimit-*`` values, and the
optional ``on_request`` hook sees each request (with its status) so a ledger can
account for every transaction, retries included.

Retry rule (tenacity; bounded attempts and total time, exponential backoff
with jitter; only ``TransportError`` and ``ServerError`` are retried):

* GETs (account, list, search, info, download, activity) are safe to repeat
  and are retried. A download retry rewinds and truncates the target file; if
  the target is not seekable it is retried only when nothing was written yet.
* Upload with ``allow_overwrite=True`` is repeatable (the same content replaces
  the same file) and is retried when the source can be rewound.
* Upload with ``allow_overwrite=False`` is NOT retried: if the first answer was
  lost after the file was stored, a retry would store ``name (1).ext``.
* Create folder, move, copy, rename and delete are NOT retried: after a lost
  answer the first attempt may have succeeded, so a blind retry fails with
  400/404 or does the wrong thing. The caller checks remote state and decides.
* 429 is never retried: ``RateLimitedError`` carries limit/remaining and the
  transaction budget decides what to do.
"""

from __future__ import annotations

import functools
import json
import os
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from syncd.remote.backend import RequestEvent
from syncd.remote.exavault.models import (Account, ActivityEntry, ItemResult, Page, RateLimit,
                                          Resource, _attrs, _int, _item_results, as_identifier)
from syncd.remote.errors import (ForbiddenError, InvalidParameterError, NotFoundError,
                                 NotSupportedError, ProtocolError, RateLimitedError, RemoteError,
                                 ServerError, SourceChangedError, TransportError,
                                 error_for_status)

CHUNK_SIZE = 1 << 20  # upload/download I/O unit: large enough for throughput, small in memory
# A body up to this size is sent or received in one piece from memory: for small
# files the per-piece work of streaming costs more than the bytes (BENCHMARKS.md).
SMALL_BODY = 1 << 18
PAGE_LIMIT = 100  # the documented maximum page size for lists and activity
# Identifiers per DELETE /resources request. Not documented; 100 matches the page
# size, keeps the JSON body small and bounds the damage of a whole-batch error.
DELETE_BATCH = 100


@dataclass(frozen=True)
class RetryPolicy:
    """Retry bounds for repeatable calls (see the module docstring for which)."""

    attempts: int = 5  # total tries, the first included
    total_seconds: float = 60.0  # no new attempt would start after this
    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    jitter: float = 0.5  # up to this many seconds added at random to each wait


# ----------------------------------------------------------------------------- streaming upload body

class _MultipartBody:
    """A ``multipart/form-data`` body with the single field ``file``, streamed from an
    open binary file: head bytes, then exactly ``size`` bytes read from the file in
    pieces of at most ``chunk`` bytes, then the closing boundary. ``__len__`` lets
    requests send a Content-Length (no chunked encoding, which servers may refuse),
    and ``rewind`` makes it reusable for a retry when the file is seekable.

    requests' ``files=`` would build the whole body in memory, hence this class."""

    def __init__(self, fileobj: BinaryIO, size: int, filename: str, chunk: int):
        boundary = uuid.uuid4().hex
        safe = filename.translate({ord('"'): "%22", ord("\r"): "%0D", ord("\n"): "%0A"})
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                      f'filename="{safe}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                      ).encode("utf-8")
        self._tail = f"\r\n--{boundary}--\r\n".encode("ascii")
        self._file, self._size, self._chunk = fileobj, size, chunk
        self._start = fileobj.tell() if _seekable(fileobj) else None
        self._pos = 0

    @property
    def rewindable(self) -> bool:
        return self._start is not None or self._pos == 0

    def rewind(self) -> None:
        if self._pos and self._start is None:
            raise ValueError("upload source cannot be rewound")
        if self._start is not None:
            self._file.seek(self._start)
        self._pos = 0

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        n = self._chunk if n is None or n < 0 else min(n, self._chunk)
        head, size = len(self._head), self._size
        if self._pos < head:
            piece = self._head[self._pos:self._pos + n]
        elif self._pos < head + size:
            want = min(n, head + size - self._pos)
            piece = self._file.read(want)
            if not piece:
                raise SourceChangedError(f"upload source ended at {self._pos - head} "
                                         f"of {size} bytes")
            done = self._pos + len(piece) == head + size
            if done and self._start is not None and self._file.read(1):  # never block a pipe
                raise SourceChangedError(f"upload source grew beyond {size} bytes")
        else:
            piece = self._tail[self._pos - head - size:][:n]
        self._pos += len(piece)
        return piece

    def read_all(self) -> bytes:
        """The whole body at once (a small file: one buffer, one send), with the same
        checks as streaming it."""
        pieces = []
        while piece := self.read(self._chunk):
            pieces.append(piece)
        return b"".join(pieces)


def _seekable(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, ValueError, OSError):
        return False


class _Adapter(HTTPAdapter):
    """An HTTPAdapter whose connections send request bodies in ``blocksize`` pieces
    (urllib3 defaults to 16 KiB, which costs many small reads on a big upload)."""

    def __init__(self, blocksize: int, **kw):
        self._blocksize = blocksize
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["blocksize"] = self._blocksize
        super().init_poolmanager(*args, **kw)


# ----------------------------------------------------------------------------- the client

_RETRYABLE = (TransportError, ServerError)
# What a parse of a hostile or broken answer can raise; the client turns each into
# ProtocolError (a huge number, a nesting too deep for the JSON decoder, a wrong type).
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError,
                 RecursionError)
# A download labelled JSON up to this size is inspected: an error envelope or a body
# that is not JSON under that label is a broken answer, not the file (the API sends
# files as application/octet-stream).
JSON_SNIFF_LIMIT = 1 << 20
_ITEM_ERRORS = (InvalidParameterError, ForbiddenError, NotFoundError)


class ExaVaultClient:
    """A thread-safe client for one account (share it between transfer threads).

    ``base_url`` is e.g. ``https://acme.exavault.com/api/v2``. ``timeout`` is
    ``(connect, read)`` seconds; ``pool_size`` should be at least the number of
    parallel transfers; ``on_request(RequestEvent)`` runs after every request (an
    exception from it propagates, so a ledger can stop the caller); ``gate(method,
    path)`` runs before every request, retries included, and may raise to stop it
    being sent (a budget). ``server_time`` is the server's clock from the last
    answer's ``Date`` header (activity cursors are in server time)."""

    def __init__(self, base_url: str, api_key: str, access_token: str, *,
                 timeout: tuple[float, float] = (10.0, 60.0), pool_size: int = 8,
                 retry: RetryPolicy = RetryPolicy(),
                 on_request: Callable[[RequestEvent], None] | None = None,
                 gate: Callable[[str, str], None] | None = None,
                 chunk_size: int = CHUNK_SIZE, delete_batch: int = DELETE_BATCH,
                 user_agent: str = "syncd"):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.on_request = on_request
        self.gate = gate
        self.chunk_size = chunk_size
        self.delete_batch = max(1, delete_batch)
        self._secrets = (api_key, access_token)
        self._session = requests.Session()
        self._session.headers.update({"ev-api-key": api_key, "ev-access-token": access_token,
                                      "Accept": "application/json", "User-Agent": user_agent})
        # requests reads the environment (proxies, NO_PROXY, netrc, CA bundle) again
        # for every request: a fifth of the client's CPU per small file. This client
        # talks to one base URL, so that is settled once, here, with the same rules.
        self._session.trust_env = False
        self._session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self._session.verify = bundle
        adapter = _Adapter(chunk_size, pool_connections=2, pool_maxsize=max(1, pool_size))
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._lock = threading.Lock()
        self._sent = 0
        self.rate_limit: RateLimit | None = None
        self.server_time: datetime | None = None

    def __repr__(self) -> str:  # never show credentials
        return f"ExaVaultClient({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ExaVaultClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (each is one paid transaction), retries included."""
        return self._sent

    # --- transport ---------------------------------------------------------------

    def _send(self, method: str, path: str, *, params: Iterable[tuple[str, Any]] = (),
              stream: bool = False, **kw) -> requests.Response:
        """Send one request; record it, its rate-limit headers and any transport error.
        Query strings are encoded by ``urlencode`` with ``%20`` for spaces (``+`` is
        ambiguous to some parsers) and nothing left unescaped; names are never
        normalised, so NFC and NFD spellings stay distinct. Redirects are refused: the
        credential headers must never follow a redirect to another host."""
        query = urlencode(list(params), quote_via=quote, safe="")
        if self.gate is not None:  # may raise (budget exhausted): nothing is sent
            self.gate(method, path)
        with self._lock:
            self._sent += 1
        try:
            resp = self._session.request(method, self.base_url + path, params=query or None,
                                         timeout=self.timeout, stream=stream,
                                         allow_redirects=False, **kw)
        except requests.RequestException as exc:
            self._observe(method, path, None, {})
            raise TransportError(_describe(exc), method=method, path=path) from exc
        try:
            self._observe(method, path, resp.status_code, resp.headers)
        except BaseException:
            resp.close()
            raise
        return resp

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
            return ProtocolError(f"unexpected redirect ({resp.reason})", **fields)
        if cls is RateLimitedError:
            return RateLimitedError(scrub(resp.reason) or "", **fields,
                                    limit=_int(resp.headers.get("X-RateLimit-Limit")),
                                    remaining=_int(resp.headers.get("X-RateLimit-Remaining")))
        return cls(scrub(resp.reason) or "", **fields)

    def _decode(self, method: str, path: str, resp: requests.Response,
                parse: Callable[[dict, int], Any]) -> Any:
        """Read a JSON answer: raise the typed error, or return ``parse(body, status)``."""
        try:
            raw = resp.content
        except requests.RequestException as exc:  # e.g. body shorter than Content-Length
            raise TransportError(_describe(exc), status=resp.status_code, method=method,
                                 path=path) from exc
        body = _json(raw)  # an empty 2xx body (e.g. 204) reads as {}: parse() decides
        #                    if data was needed; a body that is not JSON reads as None
        if not 200 <= resp.status_code < 300:
            raise self._error(method, path, resp, body)
        where = dict(status=resp.status_code, method=method, path=path)
        if not isinstance(body, dict):
            raise ProtocolError("answer is not a JSON object", **where)
        echoed = _int(body.get("responseStatus"))
        if (body.get("errors") and "responses" not in body) or (echoed or 200) >= 300:
            raise ProtocolError("2xx answer carries an error envelope", **where)
        try:
            return parse(body, resp.status_code)
        except _SHAPE_ERRORS as exc:
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
                retry=retry_if_exception(lambda e: isinstance(e, _RETRYABLE) and can_retry()),
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

    # --- account, listings, info ---------------------------------------------------

    def account(self) -> Account:
        """``GET /account``: name, status, quota and the 24 h transaction allowance."""
        return self._call("GET", "/account", lambda b, s: Account.from_json(b["data"]),
                          repeatable=True)

    def list_page(self, folder: str, *, offset: int = 0, limit: int = PAGE_LIMIT,
                  name: str | None = None) -> Page:
        """One page of ``GET /resources/list``; ``name`` (wildcards ``*``/``?``) turns
        on recursive search of the subtree."""
        params = [("resource", as_identifier(folder)), ("offset", offset), ("limit", limit)]
        if name is not None:
            params.append(("name", name))
        return self._call("GET", "/resources/list", _page(Resource.from_json),
                          repeatable=True, params=params)

    def list_folder(self, folder: str) -> list[Resource]:
        """Every direct child of ``folder``, all pages."""
        return self._pages(lambda o, n: self.list_page(folder, offset=o, limit=n), PAGE_LIMIT)

    def search(self, folder: str, pattern: str = "*") -> list[Resource]:
        """Every file and folder in the subtree under ``folder`` matching ``pattern``
        (``*`` = all): the recursive scan, about one request per 100 items."""
        return self._pages(lambda o, n: self.list_page(folder, offset=o, limit=n, name=pattern),
                           PAGE_LIMIT)

    def info(self, ref: str | int) -> Resource:
        """``GET /resources?resource=<identifier>`` (path, ``id:<n>`` or ``hash:<h>``)."""
        return self._call("GET", "/resources", _data(Resource.from_json), repeatable=True,
                          params=[("resource", as_identifier(ref))])

    def info_by_id(self, resource_id: int) -> Resource:
        """``GET /resources/{id}``."""
        return self._call("GET", f"/resources/{_id(resource_id)}", _data(Resource.from_json),
                          repeatable=True)

    # --- changes: not retried (see module docstring) -------------------------------

    def create_folder(self, path: str) -> Resource:
        """``POST /resources {"path"}``; missing parents are created. Not retried."""
        return self._call("POST", "/resources", _data(Resource.from_json), repeatable=False,
                          json={"path": _abs(path)})

    def rename(self, resource_id: int | str, new_name: str) -> Resource:
        """``PATCH /resources/{id} {"name"}``; returns the renamed resource. Not retried."""
        return self._call("PATCH", f"/resources/{_id(resource_id)}", _data(Resource.from_json),
                          repeatable=False, json={"name": new_name})

    def move(self, refs: Iterable[str | int], parent: str | int) -> list[ItemResult]:
        """``POST /resources/move``: each item lands directly inside ``parent`` under its
        own name. One ``ItemResult`` per item (200 and 207 forms). Not retried."""
        return self._multi("POST", "/resources/move", refs, parent)

    def copy(self, refs: Iterable[str | int], parent: str | int) -> list[ItemResult]:
        """``POST /resources/copy``; like ``move``. Not retried."""
        return self._multi("POST", "/resources/copy", refs, parent)

    def delete(self, refs: Iterable[str | int]) -> list[ItemResult]:
        """``DELETE /resources`` with a JSON body, ``delete_batch`` identifiers per
        request; one ``ItemResult`` per identifier (status 404 = already gone). Deletes
        are permanent. Not retried.

        Some servers answer a batch containing one missing item with a plain 404
        instead of 207. Then the batch is split in halves and each half is sent again,
        down to single items, so every identifier still gets its own result (a few
        extra transactions, only in that case)."""
        ids = [as_identifier(r) for r in refs]
        results: list[ItemResult] = []
        for i in range(0, len(ids), self.delete_batch):
            results += self._delete_batch(ids[i:i + self.delete_batch])
        return results

    def _delete_batch(self, ids: list[str]) -> list[ItemResult]:
        try:
            return self._multi("DELETE", "/resources", ids, None)
        except NotFoundError as exc:
            if isinstance(exc, NotSupportedError) or len(ids) < 2:
                raise
            half = len(ids) // 2
            return self._delete_batch(ids[:half]) + self._delete_batch(ids[half:])

    def delete_by_id(self, resource_id: int | str) -> None:
        """``DELETE /resources/{id}``; ``NotFoundError`` if unknown. Not retried."""
        self._call("DELETE", f"/resources/{_id(resource_id)}", lambda b, s: None,
                   repeatable=False)

    def _multi(self, method: str, path: str, refs: Iterable[str | int],
               parent: str | int | None) -> list[ItemResult]:
        """Send a many-identifier request and return one result per item. With a single
        identifier a plain 400/403/404 becomes that item's failed result, so callers
        handle one shape; with several, a plain error cannot be attributed and raises."""
        ids = [as_identifier(r) for r in refs]
        if not ids:
            return []
        body: dict[str, Any] = {"resources": ids}
        if parent is not None:
            body["parentResource"] = as_identifier(parent)
        try:
            return self._call(method, path, lambda b, s: _item_results(b, s, ids),
                              repeatable=False, json=body)
        except _ITEM_ERRORS as exc:
            if len(ids) != 1 or isinstance(exc, NotSupportedError):
                raise
            return [ItemResult(ids[0], exc.status or 400, code=exc.code, detail=exc.detail)]

    # --- transfers -------------------------------------------------------------------

    def upload(self, path: str, fileobj: BinaryIO, *, size: int | None = None,
               allow_overwrite: bool = False) -> Resource:
        """Stream ``fileobj`` (binary, from its current position) to ``path``.

        The body is read in ``chunk_size`` pieces and never held whole in memory,
        unless the whole file fits in one piece (``SMALL_BODY``): a small body is
        read once and sent from memory, saving most of the per-request work of
        streaming it.
        ``size`` defaults to the bytes left in a seekable file and must be exact: if the
        file ends early or grows, ``SourceChangedError`` aborts the request. Returns the
        stored resource: use its ``path``/``name``, which with ``allow_overwrite=False``
        may differ from ``path`` (the server picks e.g. ``name (1).ext``).

        Retried only when ``allow_overwrite`` is true and the file is seekable (the
        same bytes replace the same file); with ``allow_overwrite=False`` a retry after
        a lost answer would store a duplicate, so the error surfaces instead."""
        if size is None:
            if not _seekable(fileobj):
                raise ValueError("size is required for a non-seekable upload source")
            here = fileobj.tell()
            size = fileobj.seek(0, os.SEEK_END) - here
            fileobj.seek(here)
        target = _abs(path)
        body = _MultipartBody(fileobj, size, target.rsplit("/", 1)[-1], self.chunk_size)
        params = [("path", target), ("fileSize", size),
                  ("allowOverwrite", "true" if allow_overwrite else "false")]

        def parse(b: dict, status: int) -> Resource:
            res = Resource.from_json(b["data"])
            if _attrs(b["data"]).get("size") is not None and res.size != size:
                raise ValueError(f"stored size {res.size} differs from the {size} bytes sent")
            return res

        payload = body.read_all() if size <= SMALL_BODY else None

        def attempt() -> Resource:
            if payload is None:
                body.rewind()
            with self._send("POST", "/resources/upload", params=params,
                            data=body if payload is None else payload,
                            headers={"Content-Type": body.content_type}) as resp:
                return self._decode("POST", "/resources/upload", resp, parse)

        if not allow_overwrite:
            return attempt()
        return self._retrying(attempt, can_retry=lambda: body.rewindable)

    def download(self, ref: str | int, fileobj: BinaryIO, *,
                 expected_size: int | None = None) -> int:
        """Stream one file (``GET /resources/download``) into ``fileobj`` in
        ``chunk_size`` pieces; return the byte count.

        A body shorter (or longer) than Content-Length raises ``TransportError``
        (retried). A 200 labelled ``application/json`` (files come as octet-stream)
        that is an error envelope, or is not JSON at all, raises ``ProtocolError``
        and nothing is written. With ``expected_size`` (the size the listing
        reported), a complete body of another length raises ``ProtocolError`` (not
        retried: the file may have changed on the server; the caller re-lists). The
        API has no content checksum, so a body of the right length with altered
        bytes cannot be detected here. On a retry the target is rewound to where it
        started and truncated; a non-seekable target is retried only if nothing had
        been written. If the download finally fails, a seekable target is truncated
        back to its starting point, so a short file is never left looking complete."""
        seekable = _seekable(fileobj)
        start = fileobj.tell() if seekable else 0
        written = 0
        params = [("resources[]", as_identifier(ref))]
        where = dict(method="GET", path="/resources/download")

        def attempt() -> int:
            nonlocal written
            if written:
                fileobj.seek(start)
                fileobj.truncate()
                written = 0
            with self._send("GET", "/resources/download", params=params, stream=True,
                            headers={"Accept": "*/*", "Accept-Encoding": "identity"}) as resp:
                if resp.status_code != 200:
                    self._decode("GET", "/resources/download", resp, lambda b, s: None)
                    raise ProtocolError("download answered without a body",
                                        status=resp.status_code, **where)
                expected = _int(resp.headers.get("Content-Length"))
                try:
                    chunks = resp.iter_content(self.chunk_size)
                    is_json = _is_json(resp)
                    if expected is not None and expected <= SMALL_BODY or \
                            is_json and (expected is None or expected <= JSON_SNIFF_LIMIT):
                        raw = resp.content  # small: read whole (then judge JSON)
                        if is_json:
                            _check_json_download(raw, resp.status_code, where)
                        chunks = [raw] if raw else []
                    for chunk in chunks:
                        fileobj.write(chunk)
                        written += len(chunk)
                except requests.RequestException as exc:
                    raise TransportError(_describe(exc), status=200, **where) from exc
                if expected is not None and written != expected:
                    raise TransportError(f"body has {written} of {expected} bytes",
                                         status=200, **where)
                if expected_size is not None and written != expected_size:
                    raise ProtocolError(f"got {written} bytes, the listing said "
                                        f"{expected_size}", status=200, **where)
                return written

        try:
            return self._retrying(attempt, can_retry=lambda: seekable or written == 0)
        except BaseException:
            if seekable and written:
                fileobj.seek(start)
                fileobj.truncate()
            raise

    # --- activity --------------------------------------------------------------------

    def session_activity(self, start_date: datetime, end_date: datetime | None = None, *,
                         type: str | None = None, path: str | None = None,
                         limit: int = PAGE_LIMIT) -> list[ActivityEntry]:
        """``GET /activity/session`` since ``start_date``, oldest first (``sort=date``),
        paged until a short page (``totalResults`` is always 0 here). Naive datetimes are
        taken as UTC. Raises ``NotSupportedError`` where the account has no activity API
        (Files.com-migrated accounts answer 404)."""
        params = [("startDate", _iso(start_date))]
        if end_date is not None:
            params.append(("endDate", _iso(end_date)))
        params += [(k, v) for k, v in (("type", type), ("path", path)) if v is not None]
        params.append(("sort", "date"))

        def fetch(offset: int, n: int) -> Page:
            try:
                return self._call("GET", "/activity/session", _page(ActivityEntry.from_json),
                                  repeatable=True,
                                  params=params + [("offset", offset), ("limit", n)])
            except NotSupportedError:
                raise
            except NotFoundError as exc:
                raise NotSupportedError(exc.message, status=404, code=exc.code,
                                        detail=exc.detail, method=exc.method,
                                        path=exc.path) from None

        return self._pages(fetch, limit)


def _json(raw: bytes) -> Any:
    """The decoded JSON body; ``{}`` when empty, ``None`` when it is not JSON."""
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        return None


def _is_json(resp: requests.Response) -> bool:
    ctype = (resp.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


def _check_json_download(raw: bytes, status: int, where: dict) -> None:
    """A download labelled JSON must not be an error envelope, and must be JSON."""
    body = _json(raw)
    if body is None:
        raise ProtocolError("download answered with a body labelled JSON that is not JSON",
                            status=status, **where)
    if isinstance(body, dict) and (isinstance(body.get("errors"), list)
                                   or (_int(body.get("responseStatus")) or 200) >= 300):
        raise ProtocolError("download answered with an error envelope instead of the file",
                            status=status, **where)


def _page(item: Callable[[dict], Any]) -> Callable[[dict, int], Page]:
    def parse(body: dict, status: int) -> Page:
        data = body.get("data") or []
        if not isinstance(data, list):
            raise TypeError("collection 'data' is not a list")
        items = [item(d) for d in data]
        return Page(items, _int(body.get("returnedResults")) or len(items),
                    _int(body.get("totalResults")) or 0)
    return parse


def _data(item: Callable[[dict], Any]) -> Callable[[dict, int], Any]:
    return lambda body, status: item(body["data"])


def _id(ref: int | str) -> int:
    """The integer id of ``ref`` (an int, ``"id:<n>"`` or digits): path segments are
    built only from integers, so no name can ever reach a URL path."""
    text = str(ref)
    return int(text[3:] if text.startswith("id:") else text)


def _abs(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _describe(exc: requests.RequestException) -> str:
    """A short, credential-free description of a requests failure (no URL, no headers)."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection broken while reading the body"
    cause: BaseException = exc
    while cause.__context__ is not None and cause.__context__ is not cause:
        cause = cause.__context__
    reason = type(cause).__name__ if cause is not exc else ""
    return f"connection failed ({reason})" if reason else "connection failed"
