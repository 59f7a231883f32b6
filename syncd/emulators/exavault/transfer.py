"""Upload (streamed multipart into a staging file, then atomic publish) and download."""

from __future__ import annotations

import os
import time
import zipfile
from urllib.parse import quote

from . import multipart
from . import paths as P
from . import render
from .body import BodyError
from .context import ApiError, Ctx, Reply, bad_request, parse_bool
from .store import Row

DEFAULT_ARCHIVE = "download"


def _staged_size(path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def upload(ctx: Ctx) -> Reply:
    store = ctx.emu.store
    raw_path = ctx.q("path")
    if not raw_path:
        raise bad_request("Parameter path is required.")
    try:
        path = P.normalize_path(raw_path)
    except P.PathError as exc:
        raise bad_request(str(exc)) from None
    file_size = ctx.int_param("fileSize", -1)
    if file_size < 0:
        raise bad_request("Parameter fileSize (bytes) is required.")
    overwrite = parse_bool(ctx.q("allowOverwrite"), False)
    resume = parse_bool(ctx.q("resume"), True)
    offset_raw = ctx.headers.get("offsetBytes")
    try:
        offset = int(offset_raw) if offset_raw not in (None, "") else 0
    except ValueError:
        raise bad_request("Header offsetBytes must be an integer.") from None
    if offset < 0:
        raise bad_request("Header offsetBytes must not be negative.")
    try:
        boundary = multipart.boundary_from_content_type(ctx.headers.get("Content-Type"))
    except multipart.MultipartError as exc:
        raise bad_request(str(exc)) from None
    store.check_upload_target(path)

    partial = store.partial_path(path)
    if resume and offset > 0:
        if _staged_size(partial) != offset:
            raise bad_request(f"No partial upload of {offset} bytes is held for {path}; "
                              "upload the whole file with offsetBytes 0.")
        staged = store.new_staging_file()
        os.replace(partial, staged)  # claim it; it goes back on failure
        mode = "ab"
    else:
        if offset > 0:
            raise bad_request("offsetBytes requires resume=true.")
        try:
            os.unlink(partial)  # a fresh upload supersedes any earlier partial
        except FileNotFoundError:
            pass
        staged = store.new_staging_file()
        mode = "wb"

    started = time.monotonic()
    seen = {"file": False}
    keep_partial = False
    try:
        with open(staged, mode) as out:
            def on_part(headers):
                params = multipart.disposition_params(headers.get("content-disposition", ""))
                if params.get("name") == "file" and not seen["file"]:
                    seen["file"] = True
                    return out.write
                return None

            try:
                multipart.parse(ctx.body.read, boundary, on_part)
            except BodyError:
                keep_partial = resume
                raise
            except multipart.MultipartError as exc:
                if not ctx.body.done:  # the connection ended mid-body
                    keep_partial = resume
                    raise BodyError(str(exc)) from None
                raise bad_request(f"Malformed multipart body: {exc}") from None
        if not seen["file"]:
            raise bad_request("The multipart form field 'file' is missing.")
        received = os.path.getsize(staged)
        if received != file_size:
            keep_partial = resume and received < file_size
            raise bad_request(f"Received {received} bytes but fileSize is {file_size}.")
        duration = int(round(time.monotonic() - started))
        row = store.publish(path, staged, received, overwrite, ctx.emu.username, ctx.ip, duration)
    except BodyError:
        _discard(staged, partial, keep_partial)
        return Reply.gone()
    except BaseException:
        _discard(staged, partial, keep_partial)
        raise
    return Reply.json(render.ok(render.resource(row, files_com=ctx.emu.files_com), 201,
                                included=[]), 201)


def _discard(staged, partial, keep: bool) -> None:
    try:
        if keep and _staged_size(staged) > 0:
            os.replace(staged, partial)  # never listed; resumable with offsetBytes
        else:
            os.unlink(staged)
    except FileNotFoundError:
        pass


def content_disposition(name: str) -> str:
    """RFC 6266: ASCII fallback ``filename`` (for naive clients) and exact ``filename*``."""
    fallback = "".join(c if (32 < ord(c) < 127 and c not in '"\\%;,/') else "_" for c in name)
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{quote(name, safe='')}"


def download(ctx: Ctx) -> Reply:
    idents = ctx.qs("resources[]") or ctx.qs("resources")
    if not idents:
        raise bad_request("Parameter resources[] is required.")
    store = ctx.emu.store
    rows = []
    for ident in idents:
        rows.append(store.resolve(ident))
    if len(rows) == 1 and rows[0].type == "file":
        row = rows[0]
        try:
            f = open(store.blob_path(row.id), "rb")
        except FileNotFoundError:
            raise ApiError(404, "ERROR_RESOURCE_NOT_FOUND", f"Resource {row.path} not found.") from None
        size = os.fstat(f.fileno()).st_size
        headers = [("Content-Disposition", content_disposition(row.name))]
        part = byte_range(ctx.headers.get("Range"), size) if ctx.emu.ranges else None
        if part == "unsatisfiable":
            f.close()
            raise ApiError(416, "ERROR_INVALID_PARAMETER",
                           f"Range not satisfiable: the file has {size} bytes.")
        store.record_download([row], ctx.emu.username, ctx.ip, size, 0)
        if part is not None:
            first, last = part
            return Reply(206, content_type="application/octet-stream", file=f,
                         file_size=last - first + 1, file_offset=first,
                         headers=headers + [("Content-Range", f"bytes {first}-{last}/{size}")])
        return Reply(200, content_type="application/octet-stream", file=f, file_size=size,
                     headers=headers)
    return _zip(ctx, rows)


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """RFC 9110 single ``Range: bytes=first-[last]`` or ``bytes=-suffix``: the
    (first, last) bytes to send, ``"unsatisfiable"`` (416), or None to send the
    whole file (no header, or one this emulator does not serve: several ranges,
    another unit, nonsense)."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()) or \
            (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:  # the last N bytes
        n = int(last)
        return "unsatisfiable" if n == 0 or size == 0 else (max(0, size - n), size - 1)
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = min(int(last), size - 1) if last else size - 1
    return None if end < start else (start, end)


def _zip_name(ctx: Ctx, rows: list[Row]) -> str:
    name = ctx.q("downloadArchiveName")
    if not name:
        name = rows[0].name if len(rows) == 1 and rows[0].name else DEFAULT_ARCHIVE
    return name if name.lower().endswith(".zip") else name + ".zip"


def _zip(ctx: Ctx, rows: list[Row]) -> Reply:
    store = ctx.emu.store
    tmp = store.new_staging_file()
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for row in rows:
                base = P.split_path(row.path)[0]
                members = [row] if row.type == "file" else [
                    r for r in store.search(row, "*", [], 0, 1 << 62)[0]] + [row]
                for m in sorted(members, key=lambda r: r.path):
                    rel = m.path[len(base):].lstrip("/") if base != "/" else m.path.lstrip("/")
                    if not rel:
                        continue
                    if m.type == "dir":
                        zf.writestr(zipfile.ZipInfo(rel + "/"), b"")
                    else:
                        try:
                            zf.write(store.blob_path(m.id), rel)
                        except FileNotFoundError:
                            pass  # deleted meanwhile
        f = open(tmp, "rb")
    except BaseException:
        os.unlink(tmp)
        raise
    size = os.fstat(f.fileno()).st_size
    store.record_download(rows, ctx.emu.username, ctx.ip, size, 0)
    return Reply(200, content_type="application/zip", file=f, file_size=size,
                 headers=[("Content-Disposition", content_disposition(_zip_name(ctx, rows)))],
                 cleanup=lambda: os.path.exists(tmp) and os.unlink(tmp))
