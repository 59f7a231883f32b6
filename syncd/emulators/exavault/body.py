"""Request body reading: Content-Length or chunked transfer coding, throttled, in large chunks."""

from __future__ import annotations

from .faults import Throttle


class BodyError(Exception):
    """The body ended early or is malformed (client gone or broken framing)."""


class BodyReader:
    """``read(n)`` returns up to n bytes of the decoded body; b"" at its end.

    Raises BodyError when the connection ends before the declared body does.
    """

    def __init__(self, rfile, length: int | None, chunked: bool, throttle: Throttle | None = None):
        self.rfile = rfile
        self.chunked = chunked
        self.remaining = 0 if chunked else (length or 0)
        self.throttle = throttle or Throttle(None)
        self.done = not chunked and self.remaining == 0
        self.received = 0
        self._chunk_left = 0

    def read(self, n: int = 1 << 20) -> bytes:
        if self.done:
            return b""
        n = min(n, self.throttle.chunk_size)
        data = self._read_chunked(n) if self.chunked else self._read_plain(n)
        self.received += len(data)
        self.throttle.consume(len(data))
        return data

    def _read_plain(self, n: int) -> bytes:
        try:
            data = self.rfile.read1(min(n, self.remaining))
        except (OSError, ValueError) as exc:
            raise BodyError(f"connection lost: {exc}") from None
        if not data:
            raise BodyError("connection closed before the end of the body")
        self.remaining -= len(data)
        if self.remaining == 0:
            self.done = True
        return data

    def _readline(self) -> bytes:
        try:
            line = self.rfile.readline(65537)
        except (OSError, ValueError) as exc:
            raise BodyError(f"connection lost: {exc}") from None
        if not line.endswith(b"\n"):
            raise BodyError("connection closed inside chunk framing")
        return line

    def _read_chunked(self, n: int) -> bytes:
        if self._chunk_left == 0:
            line = self._readline().split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise BodyError("bad chunk size") from None
            if size == 0:
                while self._readline() not in (b"\r\n", b"\n"):  # trailers
                    pass
                self.done = True
                return b""
            self._chunk_left = size
        try:
            data = self.rfile.read1(min(n, self._chunk_left))
        except (OSError, ValueError) as exc:
            raise BodyError(f"connection lost: {exc}") from None
        if not data:
            raise BodyError("connection closed inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._readline()  # CRLF after the chunk data
        return data

    def read_all(self, limit: int) -> bytes:
        parts, size = [], 0
        while True:
            data = self.read(1 << 20)
            if not data:
                return b"".join(parts)
            size += len(data)
            if size > limit:
                raise BodyError("body too large")
            parts.append(data)

    def drain(self, limit: int) -> bool:
        """Discard the rest of the body if it is at most ``limit`` bytes; True when fully drained."""
        if self.done:
            return True
        if not self.chunked and self.remaining > limit:
            return False
        seen = 0
        try:
            while not self.done:
                seen += len(self.read(1 << 20))
                if seen > limit:
                    return False
        except BodyError:
            return False
        return True
