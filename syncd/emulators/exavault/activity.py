"""`GET /activity/session`: parameter parsing and the SessionActivityEntry shape."""

from __future__ import annotations

from datetime import datetime, timezone

from . import render
from .context import Ctx, Reply, bad_request
from .store import ACTIVITY_SORT

# File-manager labels accepted in `type` (case-insensitive) -> operation codes.
LABELS = {
    "connect": "PASS", "disconnect": "EXIT", "upload": "STOR", "download": "RETR",
    "delete": "DELE", "create folder": "MKD", "createfolder": "MKD", "rename": "RNTO",
    "move": "MOVE", "copy": "COPY", "compress": "COMPR", "extract": "EXTRACT",
    "shared folders": "SHARE", "send files": "SEND", "receive files": "RECV",
}
CODES = {"PASS", "EXIT", "STOR", "RETR", "DELE", "MKD", "RNTO", "MOVE", "COPY", "COMPR",
         "EXTRACT", "SHARE", "SEND", "RECV", "EDIT_SEND", "EDIT_SHARE", "EDIT_RECV",
         "DELE_SEND", "DELE_RECV", "DELE_SHARE", "NOTIFY", "EDIT_NTFY", "DELE_NTFY", "USER",
         "EDIT_USER", "DELE_USER", "DFA", "EDIT_DFA", "DELE_DFA"}
MAX_LIMIT = 1000


def parse_date(raw: str, name: str) -> int:
    """ISO 8601 with or without offset / ``Z``, or ``YYYY-MM-DD HH:MM:SS``; naive = UTC."""
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"Parameter {name} is not a valid date: {raw!r}.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())


def parse_types(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    ops = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        code = LABELS.get(item.lower()) or (item.upper() if item.upper() in CODES else None)
        ops.append(code or item.upper())  # unknown values simply match nothing
    return ops or None


def parse_sort(raw: str | None) -> list[tuple[str, bool]]:
    if not raw:
        return [("created", True)]
    order = []
    for field in raw.split(","):
        field = field.strip()
        desc = field.startswith("-")
        key = field.lstrip("+-").strip().lower()
        if key not in ACTIVITY_SORT:
            raise bad_request(f"Unknown sort column {key!r}.")
        order.append((ACTIVITY_SORT[key], desc))
    return order


def entry(row) -> dict:
    return {"id": row.id, "type": "sessionActivity", "attributes": {
        "created": render.iso_offset(row.created), "sessionId": row.session_id,
        "username": row.username, "ipAddress": row.ip_address, "protocol": row.protocol,
        "operation": row.operation, "fileName": row.file_name, "fileSource": row.file_source,
        "status": row.status, "bytesTransferred": row.bytes, "duration": row.duration}}


def session(ctx: Ctx) -> Reply:
    offset = ctx.int_param("offset", 0)
    limit = ctx.int_param("limit", 100, minimum=0, maximum=MAX_LIMIT)
    start = ctx.q("startDate")
    end = ctx.q("endDate")
    rows = ctx.emu.store.query_activity(
        start=parse_date(start, "startDate") if start else None,
        end=parse_date(end, "endDate") if end else None,
        ops=parse_types(ctx.q("type")),
        username=ctx.q("username") or ctx.q("userName") or None,
        ip=ctx.q("ipAddress") or None,
        path=ctx.q("path") or None,
        order=parse_sort(ctx.q("sort")), offset=offset, limit=limit)
    data = [entry(r) for r in rows]
    return Reply.json({"responseStatus": 200, "returnedResults": len(data), "totalResults": 0,
                       "data": data})


def webhooks(ctx: Ctx) -> Reply:
    """GET /activity/webhooks: always empty (sent webhooks are in `Emulator.webhook_deliveries`)."""
    ctx.int_param("offset", 0)
    ctx.int_param("limit", 100, minimum=0, maximum=MAX_LIMIT)
    for name in ("startDate", "endDate"):
        if ctx.q(name):
            parse_date(ctx.q(name), name)
    return Reply.json({"responseStatus": 200, "returnedResults": 0, "totalResults": 0, "data": []})
