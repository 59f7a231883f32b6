"""One request as the handlers see it, and the reply they give back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import render
from .store import ApiError

MAX_JSON = 1 << 20  # the largest JSON request body read


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list = field(default_factory=list)
    file: str | None = None       # a blob to send: path, then offset and length
    offset: int = 0
    length: int = 0

    @classmethod
    def json(cls, obj, status: int = 200, headers=()) -> "Reply":
        return cls(status, render.dumps(obj), headers=list(headers))

    @classmethod
    def error(cls, exc: ApiError) -> "Reply":
        return cls(exc.status, render.error(exc.message), headers=list(exc.headers))


@dataclass
class Ctx:
    method: str
    path: str            # below /pubapi/vN, percent-decoded
    version: str         # "v1" or "v2"
    query: dict          # first value of each parameter
    headers: object      # the request's headers (case-insensitive get)
    body: object         # BodyReader
    who: tuple           # (user id, action source, app)
    base: str            # http://host:port of this emulator
    emu: object

    def arg(self, name: str, default=None):
        return self.query.get(name, default)

    def flag(self, name: str, default: bool) -> bool:
        value = self.query.get(name)
        if value is None:
            return default
        return value.strip().lower() in ("true", "1", "yes")

    def number(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        value = self.query.get(name)
        if value is None or value == "":
            return default
        try:
            n = int(value)
        except ValueError:
            raise ApiError(400, f"Parameter {name} must be an integer.") from None
        if n < low or (high is not None and n > high):
            raise ApiError(400, f"Parameter {name} must be between {low} and {high}.")
        return n

    def json_body(self) -> dict:
        if not self.body.chunked and self.body.remaining > MAX_JSON:
            raise ApiError(400, "The request body is too large.")
        raw = self.body.read_all(MAX_JSON)
        try:
            data = json.loads(raw.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return data
