"""Uploads (simple and chunked) and downloads with Range."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from email.utils import parsedate_to_datetime

from syncd.emulators.exavault.multipart import (MultipartError, boundary_from_content_type,
                                                disposition_params)
from syncd.emulators.exavault.multipart import parse as parse_multipart

from . import render
from .context import Ctx, Reply
from .names import split
from .store import ApiError, new_id

MIN_CHUNK, MAX_CHUNK = 10 * 1024 * 1024, 1024 * 1024 * 1024
SESSION_SECONDS = 24 * 3600
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_HEX = re.compile(r"[0-9a-fA-F]{128}")


def _last_modified(ctx: Ctx) -> int | None:
    value = ctx.headers.get("Last-Modified")
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError):
        raise ApiError(400, "Last-Modified must be an HTTP date (RFC 1123).") from None


def _receive(ctx: Ctx, dest: str) -> tuple[int, str]:
    """Write the request body (raw, or the multipart part ``file``) to ``dest``."""
    sha, size = hashlib.sha512(), 0
    with open(dest, "wb") as out:
        def sink(data) -> None:
            nonlocal size
            out.write(data)
            sha.update(data)
            size += len(data)

        ctype = (ctx.headers.get("Content-Type") or "").lower()
        if ctype.startswith("multipart/form-data"):
            seen = []

            def on_part(headers):
                name = disposition_params(headers.get("content-disposition", "")).get("name")
                if name == "file" and not seen:
                    seen.append(name)
                    return sink
                return None
            try:
                parse_multipart(ctx.body.read, boundary_from_content_type(
                    ctx.headers.get("Content-Type")), on_part)
            except MultipartError as exc:
                raise ApiError(400, str(exc)) from None
            if not seen:
                raise ApiError(400, "The multipart body has no part named file.")
        else:
            while True:
                data = ctx.body.read(1 << 20)
                if not data:
                    break
                sink(data)
    return size, sha.hexdigest()


def _precheck(ctx: Ctx, parts: list[str]) -> None:
    """Refuse before reading the body what the commit would refuse anyway."""
    store = ctx.emu.store
    with store.lock:
        node = store.resolve(parts)
        if node is None:
            store.check_upload(parts)
        elif node.is_folder:
            raise ApiError(409, "A folder exists at this path.")
        else:
            store.check_unlocked(node, ctx.who[0])


def _file_reply(node, version) -> Reply:
    return Reply.json(
        {"checksum": version["checksum"], "group_id": node.id, "entry_id": version["entry_id"],
         "path": node.path(), "name": node.name, "size": version["size"],
         "last_modified": render.http_date(version["last_modified"])},
        headers=[("X-Sha512-Checksum", version["checksum"]), ("ETag", version["entry_id"]),
                 ("Last-Modified", render.http_date(version["last_modified"]))])


def _file_node(ctx: Ctx, rest: str):
    store = ctx.emu.store
    m = re.fullmatch(r"/ids/file/([^/]+)/?", rest)
    if m:
        return store.by_ident(m.group(1), False), split(store.by_ident(m.group(1), False).path())
    parts = split(rest)
    return store.resolve(parts), parts


# ------------------------------------------------------------------ /fs-content
def content(ctx: Ctx, rest: str) -> Reply:
    store = ctx.emu.store
    if ctx.method == "GET":
        with store.lock:
            node, _ = _file_node(ctx, rest)
            if node is None or node.is_folder:
                raise ApiError(404, "File not found: " + rest)
            version = node.current
            wanted = ctx.arg("entry_id")
            if wanted:
                version = next((v for v in node.versions if v["entry_id"] == wanted), None)
                if version is None:
                    raise ApiError(404, f"Version {wanted} not found.")
            blob = store.blob(version["entry_id"])
            fd = open(blob, "rb")  # held open: a later delete cannot take the bytes away
        return _download(ctx, version, fd)
    if ctx.method != "POST":
        raise ApiError(405, f"{ctx.method} is not allowed here.")
    node, parts = _file_node(ctx, rest)
    _precheck(ctx, parts)
    last_modified = _last_modified(ctx)
    tmp = store.tmp_path()
    try:
        size, digest = _receive(ctx, tmp)
        claimed = ctx.headers.get("X-Sha512-Checksum")
        if claimed and claimed.strip().lower() != digest:
            raise ApiError(400, "The X-Sha512-Checksum does not match the uploaded bytes.")
    except BaseException:
        _remove(tmp)
        raise
    node, version = store.commit_file(parts, tmp, size, digest, last_modified, ctx.who)
    return _file_reply(node, version)


def _download(ctx: Ctx, version: dict, fd) -> Reply:
    size = version["size"]
    headers = [("X-Sha512-Checksum", version["checksum"]), ("ETag", version["entry_id"]),
               ("Last-Modified", render.http_date(version["last_modified"])),
               ("Accept-Ranges", "bytes")]
    start, end, status = 0, size - 1, 200
    spec = (ctx.headers.get("Range") or "").strip()
    m = _RANGE.fullmatch(spec) if spec and ctx.emu.ranges else None
    if m and (m.group(1) or m.group(2)):
        a, b = m.group(1), m.group(2)
        if a:
            start, end = int(a), min(int(b), size - 1) if b else size - 1
        else:
            start, end = max(0, size - int(b)), size - 1
        if start >= size or start > end:
            fd.close()
            return Reply(416, b"", content_type="",
                         headers=headers + [("Content-Range", f"bytes */{size}")])
        status = 206
        headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
    return Reply(status, content_type="application/octet-stream", headers=headers,
                 file=fd, offset=start, length=max(0, end - start + 1))


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ---------------------------------------------------------- /fs-content-chunked
def composite(digests: list[str], chunk_size: int) -> str:
    joined = "".join(d.lower() for d in digests).encode("ascii")
    return f"2-{len(digests)}-{chunk_size}-{hashlib.sha512(joined).hexdigest()}"


def chunked(ctx: Ctx, rest: str) -> Reply:
    if ctx.method != "POST":
        raise ApiError(405, f"{ctx.method} is not allowed here.")
    store, emu = ctx.emu.store, ctx.emu
    try:
        num = int(ctx.headers.get("X-Egnyte-Chunk-Num") or "")
    except ValueError:
        raise ApiError(400, "X-Egnyte-Chunk-Num must be a chunk number from 1.") from None
    if num < 1:
        raise ApiError(400, "X-Egnyte-Chunk-Num must be a chunk number from 1.")
    last = (ctx.headers.get("X-Egnyte-Last-Chunk") or "").strip().lower() == "true"
    upload_id = (ctx.headers.get("X-Egnyte-Upload-Id") or "").strip()
    node, parts = _file_node(ctx, rest)
    with store.lock:
        _expire(store, emu.now())
        if upload_id:
            session = store.sessions.get(upload_id)
            if session is None:
                raise ApiError(404, f"Upload {upload_id} not found (or older than 24 hours).")
            if [p.casefold() for p in session["parts"]] != [p.casefold() for p in parts]:
                raise ApiError(400, "This upload id belongs to another path.")
        elif num != 1:
            raise ApiError(400, "X-Egnyte-Upload-Id is required after the first chunk.")
        else:
            session = None
    _precheck(ctx, parts)
    if session is None:
        upload_id = new_id()
        session = {"parts": parts, "created": emu.now(), "chunks": {}, "last": None}
        os.makedirs(os.path.join(store.root, "chunks", upload_id), exist_ok=True)
    folder = os.path.join(store.root, "chunks", upload_id)
    tmp = os.path.join(folder, f"{num}.part-{new_id()}")
    try:
        size, digest = _receive(ctx, tmp)
        seen = [("X-Egnyte-Chunk-Num", str(num)), ("X-Egnyte-Chunk-Sha512-Checksum", digest)]
        claimed = ctx.headers.get("X-Egnyte-Chunk-Sha512-Checksum")
        if claimed and claimed.strip().lower() != digest:
            raise ApiError(400, "The chunk checksum does not match the chunk's bytes.", seen)
        if size > MAX_CHUNK:
            raise ApiError(400, f"A chunk cannot be larger than {MAX_CHUNK} bytes.", seen)
    except BaseException:
        _remove(tmp)
        if upload_id not in store.sessions:  # a first chunk refused: no session is left
            shutil.rmtree(folder, ignore_errors=True)
        raise
    headers = [("X-Egnyte-Upload-Id", upload_id), ("X-Egnyte-Chunk-Num", str(num)),
               ("X-Egnyte-Chunk-Sha512-Checksum", digest)]
    with store.lock:
        if upload_id not in store.sessions:
            store.sessions[upload_id] = session
        os.replace(tmp, os.path.join(folder, str(num)))
        session["chunks"][str(num)] = [size, digest]
        if last:
            session["last"] = num
        store.save()
        if not last:
            return Reply.json({"upload_id": upload_id, "chunk_num": num}, headers=headers)
        try:
            reply = _commit(ctx, upload_id, session, folder)
        except ApiError as exc:  # the chunk was received: a refused commit carries its headers too
            raise ApiError(exc.status, exc.message, headers + list(exc.headers)) from None
    reply.headers = headers + reply.headers
    return reply


def _commit(ctx: Ctx, upload_id: str, session: dict, folder: str) -> Reply:
    store, emu = ctx.emu.store, ctx.emu
    last = session["last"]
    chunks = session["chunks"]
    missing = [n for n in range(1, last + 1) if str(n) not in chunks]
    if missing:
        raise ApiError(400, "Chunks missing before the last chunk: "
                       + ",".join(map(str, missing)))
    extra = [n for n in map(int, chunks) if n > last]
    if extra:
        raise ApiError(400, "Chunks numbered after the last chunk were sent.")
    sizes = [chunks[str(n)][0] for n in range(1, last + 1)]
    # A final 0-byte chunk only commits: it is not part of the file or the checksum.
    used = last - 1 if last > 1 and sizes[-1] == 0 else last
    chunk_size = sizes[0]
    minimum = emu.min_chunk
    for n, s in enumerate(sizes[:used], 1):
        if n < used and (s != chunk_size or s < minimum):
            raise ApiError(400, f"Every chunk but the last must have the same size, at least "
                           f"{minimum} bytes (chunk {n} has {s}).")
    if used > 1 and sizes[used - 1] > chunk_size:
        raise ApiError(400, "The last chunk cannot be larger than the other chunks.")
    checksum = composite([chunks[str(n)][1] for n in range(1, used + 1)], chunk_size)
    claimed = ctx.headers.get("X-Sha512-Checksum")
    if claimed and claimed.strip().lower() != checksum:
        raise ApiError(400, "X-Sha512-Checksum must be the composite checksum "
                       "2-<chunks>-<chunk size>-<hex> of the uploaded chunks.")
    last_modified = _last_modified(ctx)
    whole = store.tmp_path()
    with open(whole, "wb") as out:
        for n in range(1, used + 1):
            with open(os.path.join(folder, str(n)), "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    node, version = store.commit_file(session["parts"], whole, sum(sizes[:used]), checksum,
                                      last_modified, ctx.who)
    del store.sessions[upload_id]
    shutil.rmtree(folder, ignore_errors=True)
    store.save()
    return _file_reply(node, version)


def _expire(store, now: float) -> None:
    for upload_id, session in list(store.sessions.items()):
        if session["created"] + SESSION_SECONDS <= now:
            del store.sessions[upload_id]
            shutil.rmtree(os.path.join(store.root, "chunks", upload_id), ignore_errors=True)
