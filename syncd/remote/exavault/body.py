"""Transfer bodies: the streamed ``multipart/form-data`` upload body and the check
of a download answered with a JSON label."""

from __future__ import annotations

import uuid
from typing import Any, BinaryIO

from syncd.remote.errors import ProtocolError, SourceChangedError
from syncd.remote.exavault.http import json_body
from syncd.remote.exavault.models import _int


class MultipartBody:
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
        self._start = fileobj.tell() if can_seek(fileobj) else None
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


def can_seek(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, ValueError, OSError):
        return False


def check_json_download(raw: bytes, status: int, where: dict) -> None:
    """A download labelled JSON must not be an error envelope, and must be JSON."""
    body = json_body(raw)
    if body is None:
        raise ProtocolError("download answered with a body labelled JSON that is not JSON",
                            status=status, **where)
    if isinstance(body, dict) and (isinstance(body.get("errors"), list)
                                   or (_int(body.get("responseStatus")) or 200) >= 300):
        raise ProtocolError("download answered with an error envelope instead of the file",
                            status=status, **where)
