"""Egnyte's answers read into plain values, and the pure rules the client applies
before it sends: path encoding, the name rules, SHA-512 and the composite checksum
of chunked uploads. No HTTP here (``api`` sends). The contract is
/work/shared/egnyte-api.md (§2 answers, §5 checksums, §6 names)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from syncd.remote.backend import ContentHash, RemoteItem

# --- paths and names --------------------------------------------------------------

MAX_COMPONENT = 245  # bytes of UTF-8 per path component
MAX_PATH = 5000  # bytes of UTF-8 per full path
FORBIDDEN = set('\\/":<>|*?')
FILTERED_EXACT = {".ds_store", ".metadata_never_index", ".thumbs.db", "thumbs.db", "thumbs_db",
                  "powerpoint temp", "desktop.ini", "icon\r"}
FILTERED_ENDS = (".", "~", "._attribs_", "._rights_", "._egn_", "_egnmeta", ".tmp",
                 "-spotlight", ".ac$", ".sv$", ".~vsdx")
FILTERED_STARTS = ("._", ".~", "word work file", "_egn_.", ".smbdelete", "~$")


def encode_path(path: str) -> str:
    """``/Shared/a b/c?.txt`` -> ``/Shared/a%20b/c%3F.txt``: each segment
    percent-encoded on its own (UTF-8), the ``/`` separators literal."""
    return "/".join(quote(seg, safe="") for seg in norm(path).split("/"))


def norm(path: str) -> str:
    """An absolute path: leading ``/``, no trailing ``/`` (``"/"`` stays)."""
    return "/" + path.strip("/")


def split(path: str) -> tuple[str, str]:
    """``/a/b.txt`` -> (``/a``, ``b.txt``); ``/b.txt`` -> (``/``, ``b.txt``)."""
    folder, _, leaf = norm(path).rpartition("/")
    return folder or "/", leaf


def join(folder: str, leaf: str) -> str:
    return folder.rstrip("/") + "/" + leaf


def fold(name: str) -> str:
    """The key under which Egnyte compares names: case-insensitive (and NFC)."""
    return unicodedata.normalize("NFC", name).casefold()


def name_problem(name: str) -> str | None:
    """Why Egnyte refuses to store an item called ``name`` (None: it does not).
    Refused locally so a name that can never be stored costs no request."""
    if not name or name in (".", ".."):
        return "an empty name"
    bad = sorted({c for c in name if c in FORBIDDEN})
    if bad:
        return "the character(s) " + " ".join(bad)
    if any(ord(c) < 32 or ord(c) == 127 for c in name) and name.lower() != "icon\r":
        return "a control character"
    if name != name.strip(" "):
        return "a leading or trailing space"
    if any(ord(c) > 0xFFFF for c in name):
        return "a character of 4 UTF-8 bytes (emoji)"
    if len(name.encode("utf-8")) > MAX_COMPONENT:
        return f"more than {MAX_COMPONENT} bytes"
    low = name.lower()
    if (low in FILTERED_EXACT or low.endswith(FILTERED_ENDS) or low.startswith(FILTERED_STARTS)
            or re.fullmatch(r"~.*\.(idlk|xlsx|pptx)( \(deleted\))?", low)):
        return "a name Egnyte filters (never stored)"
    return None


def path_problem(path: str) -> str | None:
    """Why Egnyte refuses ``path`` (its last component and its length), or None."""
    path = norm(path)
    if len(path.encode("utf-8")) > MAX_PATH:
        return f"a path of more than {MAX_PATH} bytes"
    why = name_problem(split(path)[1])
    return None if why is None else f"{split(path)[1]!r}: {why}"


# --- checksums ----------------------------------------------------------------------

COMPOSITE = re.compile(r"(\d+)-(\d+)-(\d+)-([0-9a-fA-F]{128})")


def composite(chunk_digests: list[str], chunk_size: int) -> str:
    """The checksum Egnyte reports for a chunked upload (§5.2): ``2-<chunks>-<chunk
    size>-<SHA-512 of the chunks' lower-case hex SHA-512 digests, concatenated>``."""
    inner = hashlib.sha512("".join(d.lower() for d in chunk_digests).encode("ascii"))
    return f"2-{len(chunk_digests)}-{chunk_size}-{inner.hexdigest()}"


class Hasher:
    """SHA-512 of a byte stream fed in order, and (with ``chunk_size``) the
    composite checksum over pieces of that size, so one pass checks either form."""

    def __init__(self, chunk_size: int | None = None):
        self.whole = hashlib.sha512()
        self.chunk_size = chunk_size
        self._chunk = hashlib.sha512()
        self._in_chunk = 0
        self._digests: list[str] = []
        self.count = 0

    def update(self, data: bytes) -> None:
        self.whole.update(data)
        self.count += len(data)
        if not self.chunk_size:
            return
        view = memoryview(data)
        while view:
            take = min(len(view), self.chunk_size - self._in_chunk)
            self._chunk.update(view[:take])
            self._in_chunk += take
            view = view[take:]
            if self._in_chunk == self.chunk_size:
                self._digests.append(self._chunk.hexdigest())
                self._chunk, self._in_chunk = hashlib.sha512(), 0

    def matches(self, checksum: str) -> bool:
        """Is ``checksum`` (plain hex or composite form) the hash of what was fed?"""
        checksum = checksum.strip().lower()
        if COMPOSITE.fullmatch(checksum):
            digests = self._digests + ([self._chunk.hexdigest()] if self._in_chunk else [])
            return composite(digests, self.chunk_size or 0) == checksum
        return self.whole.hexdigest() == checksum


def hasher_for(checksum: str | None) -> Hasher:
    """A hasher able to check ``checksum`` (its chunk size read from a composite)."""
    m = COMPOSITE.fullmatch((checksum or "").strip())
    return Hasher(int(m.group(3)) if m else None)


def content_hash(checksum: str | None) -> ContentHash | None:
    """``checksum`` as a ``ContentHash``: ``sha512`` for a plain digest; a chunked
    upload's composite keeps its parameters in the algorithm name
    (``sha512-chunked:2-<chunks>-<chunk size>``), the hex being the outer digest."""
    if not checksum:
        return None
    checksum = checksum.strip().lower()
    m = COMPOSITE.fullmatch(checksum)
    if m:
        return ContentHash(f"sha512-chunked:{m.group(1)}-{m.group(2)}-{m.group(3)}", m.group(4))
    return ContentHash("sha512", checksum)


# --- answers --------------------------------------------------------------------------


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def _int(v: Any) -> int | None:
    try:
        return None if v is None or isinstance(v, bool) else int(v)
    except (TypeError, ValueError):
        return None


def _bool(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true")


def parse_time(v: Any) -> float:
    """UNIX seconds from an RFC 1123 string, an ISO string or epoch milliseconds
    (0.0 when absent or unreadable)."""
    if v is None or isinstance(v, bool):
        return 0.0
    if isinstance(v, (int, float)):
        return float(v) / 1000.0
    text = str(v).strip()
    if text.isdigit():
        return int(text) / 1000.0
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class Item:
    """A file or folder as ``GET /fs{path}`` describes it."""

    path: str
    is_folder: bool
    id: str  # group_id (files) or folder_id (folders)
    size: int = 0
    checksum: str | None = None
    entry_id: str | None = None
    updated: float = 0.0
    locked: bool = False

    @classmethod
    def from_json(cls, d: dict, where: str | None = None) -> Item:
        """One item; ``where`` is the path asked for (used if ``path`` is missing)."""
        if not isinstance(d, dict):
            raise TypeError("item is not an object")
        folder = _bool(d.get("is_folder"))
        path = _str(d.get("path")) or where
        if not path:
            raise KeyError("path")
        if folder:
            return cls(norm(path), True, _str(d.get("folder_id")) or "",
                       updated=parse_time(d.get("lastModified") or d.get("uploaded")))
        return cls(norm(path), False, _str(d.get("group_id")) or "", _int(d.get("size")) or 0,
                   _str(d.get("checksum")), _str(d.get("entry_id")),
                   parse_time(d.get("last_modified") or d.get("uploaded")),
                   _bool(d.get("locked")))

    def remote_item(self) -> RemoteItem:
        return RemoteItem(path=self.path, kind="dir" if self.is_folder else "file", id=self.id,
                          size=self.size, updated=self.updated,
                          hash=None if self.is_folder else content_hash(self.checksum),
                          version=None if self.is_folder else self.entry_id)


@dataclass(frozen=True)
class Listing:
    """One page of a folder listing: the folder itself and its children on the page."""

    folder: Item
    children: list[Item]
    total: int | None

    @classmethod
    def from_json(cls, d: dict, where: str) -> Listing:
        folder = Item.from_json(d, where)
        kids = [Item.from_json(x) for x in (d.get("folders") or [])]
        kids += [Item.from_json(dict(x, is_folder=False)) for x in (d.get("files") or [])]
        return cls(folder, kids, _int(d.get("total_count")))


@dataclass(frozen=True)
class Event:
    """One entry of the events feed (``GET /pubapi/v1/events``)."""

    id: int
    at: datetime
    type: str
    action: str
    actor: str
    source: str  # action_source
    is_folder: bool
    target_path: str
    source_path: str
    target_id: str | None
    group_id: str | None

    @classmethod
    def from_json(cls, d: dict) -> Event:
        data = d.get("data") or {}
        if not isinstance(data, dict):
            raise TypeError("event data is not an object")
        eid = _int(d.get("id"))
        if eid is None:
            raise KeyError("id")
        at = datetime.fromtimestamp(parse_time(d.get("timestamp")), UTC)
        return cls(eid, at, _str(d.get("type")) or "", _str(d.get("action")) or "",
                   _str(d.get("actor")) or "", _str(d.get("action_source")) or "",
                   _bool(data.get("is_folder")), _str(data.get("target_path")) or "",
                   _str(data.get("source_path")) or "",
                   _str(data.get("target_id") or data.get("folder_id")),
                   _str(data.get("target_group_id")))


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    latest_id: int | None  # the answer's ``latest_id`` (None: a 204, nothing newer)


@dataclass(frozen=True)
class Usage:
    """The ``X-AccessToken-*`` usage headers of one answer (``None`` where absent)."""

    qps_allotted: int | None
    qps_current: int | None
    quota_allotted: int | None
    quota_current: int | None

    @classmethod
    def from_headers(cls, h) -> Usage:
        return cls(*(_int(h.get(f"X-AccessToken-{k}")) for k in (
            "QPS-Allotted", "QPS-Current", "Quota-Allotted", "Quota-Current")))

    @property
    def remaining(self) -> int | None:
        if self.quota_allotted is None or self.quota_current is None:
            return None
        return max(0, self.quota_allotted - self.quota_current)
