"""ExaVault API v2 response models and the parsing rules for them.

Liberal in what they accept (docs/exavault-api.md §2, §6, §8: 200 or 207 forms,
operation codes or labels, timestamps with ``Z`` or offsets, with or without
seconds, missing optional fields), so one odd field never sinks a whole listing.
No I/O here: the client (``api``, with ``http`` and ``body``) is the only code
that speaks HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

# ----------------------------------------------------------------------------- helpers

def as_identifier(ref: int | str | Resource) -> str:
    """A resource identifier: ``id:<n>`` for an int or a ``Resource``; ``id:``/``hash:``
    strings unchanged; any other string is a path and gets a leading ``/`` so that a
    relative name can never be read as the ``id:``/``hash:`` forms."""
    if isinstance(ref, Resource):
        return f"id:{ref.id}"
    if isinstance(ref, int) and not isinstance(ref, bool):
        return f"id:{ref}"
    if ref.startswith(("id:", "hash:", "/")):
        return ref
    return "/" + ref


def parse_time(value: Any) -> datetime | None:
    """Parse an API timestamp to an aware UTC datetime; ``None`` if absent or unusable.

    Accepts ISO 8601 with ``Z`` or an offset (``-07:00``/``-0700``), with or without
    seconds or fractions, ``YYYY-MM-DD HH:MM:SS`` (naive values are taken as UTC), and
    UNIX seconds (int or digit string). Garbage such as the zero date ``-001-11-29T…``
    gives ``None`` rather than an error: one odd field must not sink a whole listing."""
    if value is None or isinstance(value, bool) or value in ("", 0):
        return None
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
            return datetime.fromtimestamp(int(value), timezone.utc)
        dt = datetime.fromisoformat(str(value).strip())
    except (ValueError, OverflowError, OSError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


_MINUTES_ONLY = re.compile(r"[T ]\d\d:\d\d(?!:)")


def _pick_time(iso: Any, epoch: Any) -> datetime | None:
    """Decision: the ISO field (``updatedAt``) is the documented one and wins; the
    UNIX-seconds twin (``updatedTime``, only in some examples) is the fallback when the
    ISO value is missing or unparseable, and is preferred only when the ISO value has
    no seconds and the epoch lies inside that same minute (same instant, finer grain)."""
    dt, ep = parse_time(iso), parse_time(epoch)
    if dt is None:
        return ep
    if ep is not None and isinstance(iso, str) and _MINUTES_ONLY.search(iso):
        if dt <= ep < dt + timedelta(minutes=1):
            return ep
    return dt


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError, OverflowError):
        return None


def _str(value: Any) -> str | None:
    """A text field: the string, or ``None`` for anything else (a hostile or broken
    server may send a number, a list or an object where a name belongs)."""
    return value if isinstance(value, str) and value else None


def _attrs(obj: dict) -> dict:
    attrs = obj.get("attributes")
    return attrs if isinstance(attrs, dict) else {}


# ----------------------------------------------------------------------------- models

@dataclass(frozen=True)
class Resource:
    """A file or folder. ``path`` is the full path from the token user's home folder.
    ``hash`` is an address (``hash:<h>``), NOT a content digest: the API has none, so
    change detection uses ``size`` + ``updated_at`` (+ ``id``)."""

    id: int
    name: str
    path: str
    type: str  # "file" or "dir"
    size: int = 0
    hash: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    file_count: int | None = None
    extension: str | None = None
    created_by: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"

    @property
    def identifier(self) -> str:
        return f"id:{self.id}"

    @classmethod
    def from_json(cls, obj: dict) -> Resource:
        """Build from a JSON:API record ``{id, type, attributes}``; a missing ``id`` or
        ``path`` raises (the client turns that into ``ProtocolError``)."""
        a = _attrs(obj)
        path = a["path"]
        if not isinstance(path, str) or not path:
            raise ValueError("resource without a path")
        kind = str(a.get("type") or "file").lower()
        rid = obj["id"]
        if isinstance(rid, bool) or not isinstance(rid, (int, str)):
            raise TypeError(f"resource id {rid!r} is not an integer")
        return cls(
            id=int(rid),
            name=_str(a.get("name")) or path.rstrip("/").rsplit("/", 1)[-1],
            path=path,
            type="dir" if kind in ("dir", "folder", "directory") else "file",
            size=_int(a.get("size")) or 0,
            hash=_str(a.get("hash")),
            created_at=_pick_time(a.get("createdAt"), a.get("createdTime")),
            updated_at=_pick_time(a.get("updatedAt"), a.get("updatedTime")),
            file_count=_int(a.get("fileCount")),
            extension=_str(a.get("extension")),
            created_by=_str(a.get("createdBy")),
        )


@dataclass(frozen=True)
class Page:
    """One page of a collection answer."""

    items: list
    returned: int  # returnedResults (falls back to len(items))
    total: int  # totalResults; 0 means unknown (always 0 for activity)


@dataclass(frozen=True)
class Account:
    name: str | None
    status: int | None
    disk_limit: int | None
    disk_used: int | None
    transactions_limit: int | None  # per rolling 24 h
    bandwidth_limit: int | None
    bandwidth_used: int | None

    @classmethod
    def from_json(cls, obj: dict) -> Account:
        a = _attrs(obj)
        q = a.get("quota") if isinstance(a.get("quota"), dict) else {}
        return cls(a.get("accountName"), _int(a.get("status")), _int(q.get("diskLimit")),
                   _int(q.get("diskUsed")), _int(q.get("transactionsLimit")),
                   _int(q.get("bandwidthLimit")), _int(q.get("bandwidthUsed")))


class Operation(str, Enum):
    """Session-activity operations, whatever spelling the server uses."""

    CONNECT = "connect"
    DISCONNECT = "disconnect"
    UPLOAD = "upload"
    DOWNLOAD = "download"
    DELETE = "delete"
    CREATE_FOLDER = "create_folder"
    RENAME = "rename"
    MOVE = "move"
    COPY = "copy"
    COMPRESS = "compress"
    EXTRACT = "extract"
    OTHER = "other"  # shares, users, notifications, ... and anything unknown

    @classmethod
    def parse(cls, raw: Any) -> Operation:
        """Map codes (``STOR``), labels (``Upload``, ``Create Folder``) and webhook
        events (``resources.createFolder``) to one member, case-insensitively."""
        key = re.sub(r"[^a-z]", "", str(raw or "").lower().removeprefix("resources."))
        return _OPERATIONS.get(key, cls.OTHER)


_OPERATIONS = {
    **dict.fromkeys(("pass", "connect", "login"), Operation.CONNECT),
    **dict.fromkeys(("exit", "disconnect", "logout"), Operation.DISCONNECT),
    **dict.fromkeys(("stor", "upload"), Operation.UPLOAD),
    **dict.fromkeys(("retr", "download"), Operation.DOWNLOAD),
    **dict.fromkeys(("dele", "delete", "rmd"), Operation.DELETE),
    **dict.fromkeys(("mkd", "createfolder", "mkdir"), Operation.CREATE_FOLDER),
    **dict.fromkeys(("rnto", "rnfr", "rename"), Operation.RENAME),
    **dict.fromkeys(("move",), Operation.MOVE),
    **dict.fromkeys(("copy",), Operation.COPY),
    **dict.fromkeys(("compr", "compress"), Operation.COMPRESS),
    **dict.fromkeys(("extract",), Operation.EXTRACT),
}


@dataclass(frozen=True)
class ActivityEntry:
    """One session-activity record. For move/copy/rename ``file_name`` is presumably the
    new path and ``file_source`` the old one (undocumented)."""

    id: int | None
    created: datetime | None
    operation: Operation
    raw_operation: str
    file_name: str | None
    file_source: str | None
    username: str | None
    status: str | None
    bytes_transferred: int | None

    @classmethod
    def from_json(cls, obj: dict) -> ActivityEntry:
        a = _attrs(obj)
        return cls(_int(obj.get("id")), parse_time(a.get("created")),
                   Operation.parse(a.get("operation")), str(a.get("operation") or ""),
                   _str(a.get("fileName")), _str(a.get("fileSource")),
                   _str(a.get("username")), _str(a.get("status")),
                   _int(a.get("bytesTransferred")))


@dataclass(frozen=True)
class ItemResult:
    """The outcome for one identifier of a move/copy/delete request."""

    identifier: str | None  # what we sent, when the answer can be matched to it
    status: int
    resource: Resource | None = None  # the moved/copied item (not for deletes)
    path: str | None = None  # meta.path: the item's (old) path, when the server says
    destination: str | None = None  # meta.destinationPath for move/copy
    code: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _item_results(body: dict, status: int, sent: Sequence[str]) -> list[ItemResult]:
    """Per-item results from a 200 (single record or EmptyResponse) or 207 answer.
    Items are paired with the identifiers sent by position when the counts match,
    else by ``meta.path`` when that equals a sent identifier."""
    if isinstance(body.get("responses"), list):
        entries = [e for e in body["responses"] if isinstance(e, dict)]
    elif status == 207:
        raise ValueError("207 answer without a 'responses' list")
    else:
        data = body.get("data")
        records = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        entries = [{"responseStatus": status, "data": r, "meta": body.get("meta")} for r in records]
        if len(entries) != len(sent):  # e.g. EmptyResponse for a delete: all succeeded
            return [ItemResult(ident, status) for ident in sent]
    results = []
    for i, e in enumerate(entries):
        data = e.get("data") if isinstance(e.get("data"), dict) else {}
        errs = e.get("errors") if isinstance(e.get("errors"), list) else []
        err = errs[0] if errs and isinstance(errs[0], dict) else {}
        meta = next((m for m in (e.get("meta"), err.get("meta"), data.get("meta"))
                     if isinstance(m, dict)), {})
        resource = Resource.from_json(data) if isinstance(data.get("attributes"), dict) else None
        path = meta.get("path") or None
        ident = path if path in sent else sent[i] if len(entries) == len(sent) else None
        results.append(ItemResult(ident, _int(e.get("responseStatus")) or (400 if err else 200),
                                  resource,
                                  path, meta.get("destinationPath") or None,
                                  err.get("code"), err.get("detail")))
    return results


@dataclass(frozen=True)
class RateLimit:
    """The latest ``X-RateLimit-*`` values seen (``None`` when a header was absent)."""

    limit: int | None
    remaining: int | None
    observed_at: datetime
