"""What an endpoint sees of one request, and what it hands back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable

from . import render
from .body import BodyError, BodyReader
from .store import StoreError

MAX_JSON_BODY = 16 * 1024 * 1024


class ApiError(StoreError):
    """An error with an explicit status/code, rendered as the error envelope."""

    def __init__(self, status: int, code: str | None, detail: str, meta: dict | None = None):
        super().__init__(detail)
        self.status, self.code, self.meta = status, code, meta


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "ERROR_INVALID_PARAMETER", detail)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    file: BinaryIO | None = None      # streamed after the headers when set
    file_size: int = 0                # bytes of ``file`` to send ...
    file_offset: int = 0              # ... from this offset (a Range answer)
    cleanup: Callable[[], None] | None = None  # runs once the reply is sent or dropped
    drop_connection: bool = False     # nothing to send: the client is gone

    @classmethod
    def json(cls, obj: Any, status: int | None = None) -> "Reply":
        if status is None:
            status = obj.get("responseStatus", 200) if isinstance(obj, dict) else 200
        return cls(status, render.dumps(obj))

    @classmethod
    def error(cls, exc: StoreError) -> "Reply":
        return cls.json(render.error(exc.status, exc.code, exc.detail,
                                     meta=getattr(exc, "meta", None)), exc.status)

    @classmethod
    def gone(cls) -> "Reply":
        return cls(0, drop_connection=True)

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None
        if self.cleanup is not None:
            cleanup, self.cleanup = self.cleanup, None
            cleanup()


@dataclass
class Ctx:
    method: str
    path: str                      # route path below /api/v2, e.g. "/resources/list"
    query: dict[str, list[str]]
    headers: Any                   # http.client.HTTPMessage
    body: BodyReader
    ip: str
    emu: Any                       # the running Emulator (store, options, clock)
    _json: Any = None

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def qs(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def json(self) -> dict:
        if self._json is None:
            try:
                raw = self.body.read_all(MAX_JSON_BODY)
            except BodyError as exc:
                raise ApiError(400, "ERROR_INVALID_PARAMETER", f"Unreadable body: {exc}") from None
            if not raw.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise bad_request("The request body is not valid JSON.") from None
            if not isinstance(self._json, dict):
                raise bad_request("The request body must be a JSON object.")
        return self._json

    def int_param(self, name: str, default: int, *, minimum: int = 0,
                  maximum: int | None = None) -> int:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(f"Parameter {name} must be an integer.") from None
        if value < minimum:
            raise bad_request(f"Parameter {name} must be at least {minimum}.")
        if maximum is not None and value > maximum:
            raise bad_request(f"Parameter {name} must be at most {maximum}.")
        return value


def parse_bool(raw: str | None, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise bad_request(f"Invalid boolean value {raw!r}.")
