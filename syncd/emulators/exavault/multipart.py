"""Streaming multipart/form-data parser: constant memory, boundary found with bytes.find.

The body is read in large chunks; a rolling buffer keeps only the tail that
could be the start of a boundary split across two chunks.
"""

from __future__ import annotations

from typing import Callable

MAX_HEADER_BYTES = 64 * 1024


class MultipartError(ValueError):
    """The body is not well-formed multipart (400 when the body was fully received)."""


def boundary_from_content_type(content_type: str | None) -> bytes:
    if not content_type:
        raise MultipartError("Content-Type multipart/form-data with a boundary is required.")
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise MultipartError("Content-Type must be multipart/form-data.")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if value and len(value) <= 200:
                return value.encode("latin-1")
    raise MultipartError("The multipart boundary is missing.")


def parse_part_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    return headers


def disposition_params(value: str) -> dict[str, str]:
    """Parameters of a form-data Content-Disposition (quoted strings may contain ';')."""
    params: dict[str, str] = {}
    i, n = 0, len(value)
    while i < n:
        j = value.find("=", i)
        if j < 0:
            break
        key = value[i:j].strip().lstrip(";").strip().lower()
        i = j + 1
        if i < n and value[i] == '"':
            out, i = [], i + 1
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                out.append(value[i])
                i += 1
            params[key] = "".join(out)
            i = value.find(";", i)
            i = n if i < 0 else i + 1
        else:
            k = value.find(";", i)
            k = n if k < 0 else k
            params[key] = value[i:k].strip()
            i = k + 1
        if ";" in key:
            params[key.rsplit(";", 1)[-1].strip()] = params.pop(key)
    return params


def parse(read: Callable[[int], bytes], boundary: bytes,
          on_part: Callable[[dict[str, str]], Callable[[memoryview], None] | None],
          chunk_size: int = 1 << 20) -> None:
    """Parse the body, calling ``on_part(headers)`` per part; the returned sink gets its data.

    ``read(n)`` returns b"" at the end of the body.  Raises MultipartError on
    malformed or truncated input; lets the reader's own errors propagate.
    """
    delim = b"--" + boundary
    sep = b"\r\n" + delim
    buf = b""
    eof = False

    def fill() -> bool:
        nonlocal buf, eof
        if eof:
            return False
        data = read(chunk_size)
        if not data:
            eof = True
            return False
        buf = buf + data if buf else data
        return True

    # Preamble: the first delimiter may start the body or follow a CRLF.
    while True:
        if buf.startswith(delim):
            buf = buf[len(delim):]
            break
        idx = buf.find(sep)
        if idx >= 0:
            buf = buf[idx + len(sep):]
            break
        if len(buf) > len(sep):
            buf = buf[-len(sep):]
        if not fill():
            raise MultipartError("No multipart boundary found in the body.")

    while True:
        while len(buf) < 2 and fill():
            pass
        if buf[:2] == b"--":
            while fill():  # epilogue is ignored
                buf = b""
            return
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            if len(buf) > MAX_HEADER_BYTES:
                raise MultipartError("Multipart part headers are too large.")
            if not fill():
                raise MultipartError("The body ended inside multipart part headers.")
            end = buf.find(b"\r\n\r\n")
        head = buf[:end]
        if head.startswith(b"\r\n"):
            head = head[2:]
        sink = on_part(parse_part_headers(head))
        buf = buf[end + 4:]
        keep = len(sep) - 1
        while True:
            idx = buf.find(sep)
            if idx >= 0:
                if sink is not None and idx:
                    sink(memoryview(buf)[:idx])
                buf = buf[idx + len(sep):]
                break
            if len(buf) > keep:
                if sink is not None:
                    sink(memoryview(buf)[:len(buf) - keep])
                buf = buf[len(buf) - keep:]
            if not fill():
                raise MultipartError("The body ended before the closing multipart boundary.")
