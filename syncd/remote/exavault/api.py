"""ExaVault REST API v2 client: with ``http`` (sending requests, retrying, paging)
and ``body`` (transfer bodies), the only code in syncd that speaks HTTP.

The contract is docs/exavault-api.md. The client must work against our emulator
and against implementations we never see, so it is strict in what it sends
(query strings encoded by the library, JSON bodies, explicit Content-Length) and
liberal in what it accepts (200 or 207 answers, operation codes or labels,
timestamps with ``Z`` or offsets, missing fields).

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

import os
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, BinaryIO

import requests

from syncd.remote.backend import RequestEvent
from syncd.remote.errors import (
    ForbiddenError,
    InvalidParameterError,
    NotFoundError,
    NotSupportedError,
    ProtocolError,
    TransportError,
)
from syncd.remote.exavault.body import MultipartBody, can_seek, check_json_download
from syncd.remote.exavault.http import BlockAdapter, RetryPolicy, Transport, describe, labelled_json
from syncd.remote.exavault.models import (
    Account,
    ActivityEntry,
    ItemResult,
    Page,
    RateLimit,
    Resource,
    _attrs,
    _int,
    _item_results,
    as_identifier,
)
from syncd.remote.httpkit import new_session

CHUNK_SIZE = 1 << 20  # upload/download I/O unit: large enough for throughput, small in memory
# A body up to this size is sent or received in one piece from memory: for small
# files the per-piece work of streaming costs more than the bytes (BENCHMARKS.md).
SMALL_BODY = 1 << 18
PAGE_LIMIT = 100  # the documented maximum page size for lists and activity
# Identifiers per DELETE /resources request. Not documented; 100 matches the page
# size, keeps the JSON body small and bounds the damage of a whole-batch error.
DELETE_BATCH = 100

# A download labelled JSON up to this size is inspected: an error envelope or a body
# that is not JSON under that label is a broken answer, not the file (the API sends
# files as application/octet-stream).
JSON_SNIFF_LIMIT = 1 << 20
_ITEM_ERRORS = (InvalidParameterError, ForbiddenError, NotFoundError)


class ExaVaultClient(Transport):
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
        adapter = BlockAdapter(chunk_size, pool_connections=2, pool_maxsize=max(1, pool_size))
        self._session = new_session(self.base_url, adapter, {
            "ev-api-key": api_key, "ev-access-token": access_token,
            "Accept": "application/json", "User-Agent": user_agent})
        self._adapter = adapter
        self._lock = threading.Lock()
        self._sent = 0
        self.rate_limit: RateLimit | None = None
        self.server_time: datetime | None = None

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
            if not can_seek(fileobj):
                raise ValueError("size is required for a non-seekable upload source")
            here = fileobj.tell()
            size = fileobj.seek(0, os.SEEK_END) - here
            fileobj.seek(here)
        target = _abs(path)
        body = MultipartBody(fileobj, size, target.rsplit("/", 1)[-1], self.chunk_size)
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
                 expected_size: int | None = None, offset: int = 0) -> int:
        """Stream one file (``GET /resources/download``) into ``fileobj`` in
        ``chunk_size`` pieces; return the size the target reached.

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
        back to its starting point, so a short file is never left looking complete.

        ``offset`` resumes a download: ``fileobj`` holds the file's first ``offset``
        bytes and is positioned after them, and only the rest is asked for
        (``Range: bytes=<offset>-``, which the API does not document). A 206 answer
        must start exactly there (``Content-Range``); its body is appended. A server
        that ignores ``Range`` answers 200 with the whole file: then
        ``fileobj.truncate(0)`` is called and the whole body written (the bytes
        already held are fetched again, nothing is lost)."""
        seekable = can_seek(fileobj)
        start = fileobj.tell() if seekable else 0
        written = 0
        params = [("resources[]", as_identifier(ref))]
        where = dict(method="GET", path="/resources/download")

        def attempt() -> int:
            nonlocal written, offset
            if written:
                fileobj.seek(start)
                fileobj.truncate()
                written = 0
            headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
            with self._send("GET", "/resources/download", params=params, stream=True,
                            headers=headers) as resp:
                if resp.status_code == 206 and offset:
                    if range_start(resp.headers.get("Content-Range")) != offset:
                        raise ProtocolError(f"asked for the bytes from {offset} on, the "
                                            "answer holds others", status=206, **where)
                elif resp.status_code != 200:
                    self._decode("GET", "/resources/download", resp, lambda b, s: None)
                    raise ProtocolError("download answered without a body",
                                        status=resp.status_code, **where)
                elif offset:  # Range ignored: the whole file comes
                    fileobj.truncate(0)
                    offset = 0
                expected = _int(resp.headers.get("Content-Length"))
                try:
                    chunks = resp.iter_content(self.chunk_size)
                    is_json = labelled_json(resp)
                    if expected is not None and expected <= SMALL_BODY or \
                            is_json and (expected is None or expected <= JSON_SNIFF_LIMIT):
                        raw = resp.content  # small: read whole (then judge JSON)
                        if is_json:
                            check_json_download(raw, resp.status_code, where)
                        chunks = [raw] if raw else []
                    for chunk in chunks:
                        fileobj.write(chunk)
                        written += len(chunk)
                except requests.RequestException as exc:
                    raise TransportError(describe(exc), status=resp.status_code,
                                         **where) from exc
                if expected is not None and written != expected:
                    raise TransportError(f"body has {written} of {expected} bytes",
                                         status=resp.status_code, **where)
                if expected_size is not None and offset + written != expected_size:
                    raise ProtocolError(f"got {offset + written} bytes, the listing said "
                                        f"{expected_size}", status=resp.status_code, **where)
                return offset + written

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
        return self._pages(lambda o, n: self.session_activity_page(
            start_date, o, n, end_date=end_date, type=type, path=path), limit)

    def session_activity_page(self, start_date: datetime, offset: int,
                              limit: int = PAGE_LIMIT, *, end_date: datetime | None = None,
                              type: str | None = None, path: str | None = None) -> Page:
        """One page of ``session_activity``: one request (a caller that pages itself,
        e.g. to stop early: ``feed.read``)."""
        params = [("startDate", _iso(start_date))]
        if end_date is not None:
            params.append(("endDate", _iso(end_date)))
        params += [(k, v) for k, v in (("type", type), ("path", path)) if v is not None]
        params += [("sort", "date"), ("offset", offset), ("limit", limit)]
        try:
            return self._call("GET", "/activity/session", _page(ActivityEntry.from_json),
                              repeatable=True, params=params)
        except NotSupportedError:
            raise
        except NotFoundError as exc:
            raise NotSupportedError(exc.message, status=404, code=exc.code,
                                    detail=exc.detail, method=exc.method,
                                    path=exc.path) from None


def range_start(header: str | None) -> int | None:
    """Where a 206 answer's ``Content-Range: bytes <first>-<last>/<size>`` starts."""
    unit, _, spec = (header or "").strip().partition(" ")
    first = spec.partition("-")[0]
    return int(first) if unit.lower() == "bytes" and first.isdigit() else None


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
