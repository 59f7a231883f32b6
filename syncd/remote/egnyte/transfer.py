"""Egnyte uploads and downloads over an ``EgnyteClient``, checked by SHA-512.

* Simple upload (``POST /fs-content{path}``, raw body): a body up to
  ``SMALL_BODY`` is read once, hashed and sent with ``X-Sha512-Checksum`` (the
  server refuses a mismatch); a larger one is streamed and hashed as it goes.
  Either way the answer's ``X-Sha512-Checksum`` must equal our hash.
* Chunked upload (``/fs-content-chunked{path}``) for files above ``threshold``:
  chunks of ``chunk_size`` are read in order (each once, into memory), sent with
  their ``X-Egnyte-Chunk-Sha512-Checksum``, in parallel after the first (which
  gives the upload id), each answer's chunk checksum compared; a chunk may be
  sent again, so failed chunks are retried. The last chunk carries
  ``X-Egnyte-Last-Chunk: true`` and the composite checksum computed here.
* Download (``GET /fs-content{path}``): streamed, hashed, compared with the
  answer's ``X-Sha512-Checksum`` (plain or composite); a body broken midway is
  continued with ``Range`` from the bytes already written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import BinaryIO

import requests

from syncd.remote.egnyte.api import API, EgnyteClient
from syncd.remote.egnyte.models import Hasher, composite, encode_path, hasher_for, norm
from syncd.remote.errors import (
    NotFoundError,
    ProtocolError,
    SourceChangedError,
    TransportError,
)
from syncd.remote.httpkit import describe, json_body

SMALL_BODY = 8 << 20  # read whole and sent with its checksum up to this size
THRESHOLD = 100 << 20  # larger files go chunked (Egnyte: simple uploads up to 100 MB)
CHUNK_SIZE = 64 << 20  # Egnyte: 10 MiB to 1 GiB, all equal but the last
PARALLEL = 2  # chunks in flight (at 2 calls/s, more gain little)
BLOCK = 1 << 20  # I/O unit of streamed bodies


@dataclass(frozen=True)
class Stored:
    """What an upload stored: the server's checksum, ids and size."""

    checksum: str
    group_id: str
    entry_id: str
    size: int


@dataclass
class ChunkState:
    """A chunked upload in progress: what a resumed attempt need not send again."""

    upload_id: str | None = None
    digests: dict[int, str] = field(default_factory=dict)  # chunk number -> sha512 hex


class _Stream:
    """Exactly ``size`` bytes of ``fileobj`` as a request body, hashed as read;
    a source that ends early or grows raises ``SourceChangedError``."""

    def __init__(self, fileobj: BinaryIO, size: int):
        self.f, self.size, self.pos = fileobj, size, 0
        self.start = fileobj.tell()
        self.hasher = Hasher()

    def __len__(self) -> int:
        return self.size

    def rewind(self) -> None:
        self.f.seek(self.start)
        self.pos, self.hasher = 0, Hasher()

    def read(self, n: int = -1) -> bytes:
        want = min(BLOCK if n is None or n < 0 else n, self.size - self.pos)
        if want <= 0:
            return b""
        data = self.f.read(want)
        if not data:
            raise SourceChangedError(f"upload source ended at {self.pos} of {self.size} bytes")
        self.pos += len(data)
        self.hasher.update(data)
        return data


def _read_exact(fileobj: BinaryIO, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        data = fileobj.read(min(BLOCK, n - got))
        if not data:
            raise SourceChangedError(f"upload source ended {n - got} bytes early")
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _stored(client: EgnyteClient, resp: requests.Response, size: int, path: str) -> Stored:
    body = json_body(resp.content) or {}
    checksum = (resp.headers.get("X-Sha512-Checksum") or str(body.get("checksum") or "")).lower()
    entry = str(body.get("entry_id") or resp.headers.get("ETag") or "").strip('"')
    return Stored(checksum, str(body.get("group_id") or ""), entry, size)


def upload(client: EgnyteClient, path: str, fileobj: BinaryIO, size: int, *,
           last_modified: float | None = None) -> Stored:
    """One simple upload (not retried: a lost answer is settled by the caller)."""
    path = norm(path)
    api_path = "/fs-content" + encode_path(path)
    headers = {"Content-Type": "application/octet-stream"}
    if last_modified is not None:
        headers["Last-Modified"] = formatdate(last_modified, usegmt=True)
    if size <= SMALL_BODY:
        data = _read_exact(fileobj, size)
        if fileobj.read(1):
            raise SourceChangedError(f"upload source grew beyond {size} bytes")
        mine = hashlib.sha512(data).hexdigest()
        headers["X-Sha512-Checksum"] = mine
        body: object = data
    else:
        body = _Stream(fileobj, size)
        mine = ""
    with client.send("POST", api_path, data=body, headers=headers) as resp:
        if resp.status_code != 200:
            raise client.error("POST", api_path, resp)
        if isinstance(body, _Stream):
            if body.pos != size or fileobj.read(1):
                raise SourceChangedError(f"upload source changed size while sent ({size})")
            mine = body.hasher.whole.hexdigest()
        stored = _stored(client, resp, size, path)
    if stored.checksum != mine:
        raise ProtocolError("the server's X-Sha512-Checksum differs from the bytes sent",
                            status=200, method="POST", path=API + api_path)
    return stored


def upload_chunked(client: EgnyteClient, path: str, fileobj: BinaryIO, size: int, *,
                   chunk_size: int = CHUNK_SIZE, parallel: int = PARALLEL,
                   state: ChunkState | None = None,
                   last_modified: float | None = None) -> Stored:
    """A chunked upload. ``state`` (kept by the caller) makes a second call after a
    failure skip the chunks the server already holds (within its 24 h); an upload
    id the server no longer knows (404) starts over once, from the file's start."""
    state = state if state is not None else ChunkState()
    start = fileobj.tell()
    if not state.upload_id:
        return _chunked(client, path, fileobj, size, chunk_size, parallel, state, last_modified)
    try:
        return _chunked(client, path, fileobj, size, chunk_size, parallel, state, last_modified)
    except NotFoundError:
        if not state.upload_id:
            raise
        state.upload_id, state.digests = None, {}
        fileobj.seek(start)
        return _chunked(client, path, fileobj, size, chunk_size, parallel, state, last_modified)


def _chunked(client: EgnyteClient, path: str, fileobj: BinaryIO, size: int, chunk_size: int,
             parallel: int, state: ChunkState, last_modified: float | None) -> Stored:
    path = norm(path)
    api_path = "/fs-content-chunked" + encode_path(path)
    count = max(1, -(-size // chunk_size))
    where = dict(method="POST", path=API + api_path)

    def send_chunk(num: int, data: bytes, last_headers: dict[str, str] | None = None):
        digest = hashlib.sha512(data).hexdigest()
        headers = {"X-Egnyte-Chunk-Num": str(num), "X-Egnyte-Chunk-Sha512-Checksum": digest,
                   "Content-Type": "application/octet-stream"}
        if state.upload_id:
            headers["X-Egnyte-Upload-Id"] = state.upload_id
        headers.update(last_headers or {})

        def attempt():
            with client.send("POST", api_path, data=data, headers=headers) as resp:
                if resp.status_code != 200:
                    raise client.error("POST", api_path, resp)
                got = (resp.headers.get("X-Egnyte-Chunk-Sha512-Checksum") or "").lower()
                if got and got != digest:
                    raise TransportError(f"chunk {num} arrived altered", status=200, **where)
                if num == 1 and not state.upload_id:
                    state.upload_id = resp.headers.get("X-Egnyte-Upload-Id")
                    if not state.upload_id:
                        raise ProtocolError("chunk 1 answered without X-Egnyte-Upload-Id",
                                            status=200, **where)
                return _stored(client, resp, size, path) if last_headers else None
        result = client.retrying(attempt)
        state.digests[num] = digest
        return result

    def chunk(num: int) -> bytes:
        return _read_exact(fileobj, min(chunk_size, size - (num - 1) * chunk_size))

    pending = []
    with ThreadPoolExecutor(max(1, parallel), thread_name_prefix="egnyte-chunk") as pool:
        for num in range(1, count):
            data = chunk(num)
            if num in state.digests and state.digests[num] == hashlib.sha512(data).hexdigest():
                continue  # the server holds it already
            if num == 1 and not state.upload_id:
                send_chunk(1, data)
                continue
            while len([f for f in pending if not f.done()]) >= max(1, parallel):
                next(f for f in pending if not f.done()).result()
            pending.append(pool.submit(send_chunk, num, data))
        for f in pending:
            f.result()
    data = chunk(count)
    if fileobj.read(1):
        raise SourceChangedError(f"upload source grew beyond {size} bytes")
    digests = [state.digests[n] for n in range(1, count)] + [hashlib.sha512(data).hexdigest()]
    whole = composite(digests, chunk_size)
    last = {"X-Egnyte-Last-Chunk": "true", "X-Sha512-Checksum": whole}
    if last_modified is not None:
        last["Last-Modified"] = formatdate(last_modified, usegmt=True)
    stored = send_chunk(count, data, last)
    if stored.checksum and stored.checksum != whole:
        raise ProtocolError("the server's checksum of the chunked upload differs from "
                            "the chunks sent", status=200, **where)
    return Stored(stored.checksum or whole, stored.group_id, stored.entry_id, size)


def download(client: EgnyteClient, path: str, fileobj: BinaryIO, *, offset: int = 0,
             on_retry: Callable[[], None] | None = None) -> int:
    """Write the file at ``path`` to ``fileobj`` (which holds its first ``offset``
    bytes already); return the size reached. The whole file's SHA-512 (plain or
    composite, from ``X-Sha512-Checksum``) is checked; bytes held before are read
    back from ``fileobj`` for it when it is readable, else only the new bytes'
    length is checked. A broken body is continued with ``Range``; a mismatch
    raises ``ProtocolError`` (the target is truncated back to ``offset``)."""
    path = norm(path)
    api_path = "/fs-content" + encode_path(path)
    where = dict(method="GET", path=API + api_path)
    start = offset
    state = {"pos": offset, "hasher": None, "verify": True}

    def prefix(checksum: str | None) -> Hasher:
        h = hasher_for(checksum)
        if state["pos"]:
            try:
                fileobj.seek(0)
                left = state["pos"]
                while left:
                    data = fileobj.read(min(BLOCK, left))
                    if not data:
                        raise OSError("short")
                    h.update(data)
                    left -= len(data)
            except (OSError, ValueError, AttributeError):
                state["verify"] = False
            try:
                fileobj.seek(state["pos"])
            except (OSError, ValueError, AttributeError):
                pass
        return h

    def attempt() -> int:
        pos = state["pos"]
        headers = {"Accept-Encoding": "identity"}
        if pos:
            headers["Range"] = f"bytes={pos}-"
        with client.send("GET", api_path, headers=headers, stream=True) as resp:
            if resp.status_code == 200 and pos:  # Range ignored: start over
                if not _reset(fileobj, 0):
                    raise TransportError("the server ignored Range and the target cannot "
                                         "be started over", status=200, **where)
                state["pos"] = pos = 0
            elif resp.status_code == 206 and pos:
                first = (resp.headers.get("Content-Range") or "").partition(" ")[2].partition("-")[0]
                if first != str(pos):
                    raise ProtocolError(f"asked for the bytes from {pos} on, got others",
                                        status=206, **where)
            elif resp.status_code != 200:
                raise client.error("GET", api_path, resp)
            checksum = resp.headers.get("X-Sha512-Checksum")
            if state["hasher"] is None or pos == 0 or state.get("checksum") != checksum:
                state["checksum"] = checksum
                state["hasher"] = prefix(checksum) if pos else hasher_for(checksum)
            hasher: Hasher = state["hasher"]
            try:
                for data in resp.iter_content(BLOCK):
                    fileobj.write(data)
                    hasher.update(data)
                    state["pos"] += len(data)
            except requests.RequestException as exc:
                raise TransportError(describe(exc), status=resp.status_code, **where) from exc
            expected = resp.headers.get("Content-Length")
            if expected is not None and expected.isdigit() and state["pos"] - pos != int(expected):
                raise TransportError(f"body has {state['pos'] - pos} of {expected} bytes",
                                     status=resp.status_code, **where)
            if checksum and state["verify"] and not hasher.matches(checksum):
                state["pos"], state["hasher"] = start, None
                _reset(fileobj, start)
                raise ProtocolError("the downloaded bytes do not match X-Sha512-Checksum",
                                    status=resp.status_code, **where)
            return state["pos"]

    def retry_ok() -> bool:
        if on_retry is not None:
            on_retry()
        return True
    try:
        return client.retrying(attempt, can_retry=retry_ok)
    except BaseException:
        _reset(fileobj, start)  # a short file never looks complete
        raise


def _reset(fileobj: BinaryIO, at: int) -> bool:
    """Cut ``fileobj`` back to ``at`` bytes; False when it cannot be (not seekable)."""
    try:
        fileobj.seek(at)
        fileobj.truncate()
    except (OSError, ValueError, AttributeError):
        return False
    return True
