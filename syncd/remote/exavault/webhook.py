"""ExaVault's webhook pushes (docs/exavault-api.md §14): the signature and the payloads.

ExaVault POSTs one JSON document per event and signs it with
``X-Exavault-Signature`` = lowercase hex ``md5(verification token + raw body)``. The
signature covers the bytes exactly as sent (PHP writes ``/`` as ``\\/``), so the body is
hashed as received and never re-serialised. ``parse`` turns a v1 or v2 payload into
``WebhookEvent`` values with the change feed's operation names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from syncd.remote.webhook import PushFormat, WebhookEvent, WebhookPayloadError

SIGNATURE_HEADER = "X-Exavault-Signature"

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def signature(token: str, body: bytes) -> str:
    """``X-Exavault-Signature`` for ``body``: lowercase hex ``md5(token + body)``."""
    return hashlib.md5(token.encode("utf-8") + bytes(body), usedforsecurity=False).hexdigest()


def verify(token: str, body: bytes, header: str | None) -> bool:
    """True if ``header`` is the signature of the raw ``body`` under ``token``.

    Hex case and surrounding blanks are ignored; the comparison is constant-time. An
    empty token never verifies (anyone could compute ``md5(body)``)."""
    if not token or not isinstance(header, str):
        return False
    header = header.strip()
    if not _HEX32.fullmatch(header):
        return False
    return hmac.compare_digest(header.lower(), signature(token, body))


# v1 ``operation`` labels, lowercased without blanks, ``_`` or ``-``. Only Connect,
# Disconnect and Upload are documented; the rest are the file-manager labels
# (docs/exavault-api.md §14.1).
# Compress and extract create files, like their v2 events. Anything else is "other".
_V1_OPS = {
    "upload": "upload", "delete": "delete", "createfolder": "mkdir", "mkdir": "mkdir",
    "rename": "rename", "move": "move", "copy": "copy", "download": "download",
    "compress": "upload", "extract": "upload",
}
# v2 ``event`` names, lowercased; anything else (shares.formSubmit, ...) is "other".
_V2_OPS = {
    "resources.upload": "upload", "resources.download": "download",
    "resources.delete": "delete", "resources.rename": "rename", "resources.copy": "copy",
    "resources.move": "move", "resources.compress": "upload", "resources.extract": "upload",
    "resources.createfolder": "mkdir",
}


def parse(body: bytes) -> list[WebhookEvent]:
    """The events in a v1 or v2 webhook body (at least one); ``WebhookPayloadError`` if
    it is not UTF-8 JSON, not an object, lacks a field, or holds a bad path."""
    try:
        doc = json.loads(bytes(body).decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WebhookPayloadError(f"body is not UTF-8 JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise WebhookPayloadError("payload is not a JSON object")
    if "event" in doc:
        return _parse_v2(doc)
    if "operation" in doc:
        return _parse_v1(doc)
    raise WebhookPayloadError("payload has neither 'operation' (v1) nor 'event' (v2)")


def _parse_v1(doc: dict) -> list[WebhookEvent]:
    operation = _string(doc, "operation", required=True)
    op = _V1_OPS.get(re.sub(r"[\s_-]", "", operation.lower()), "other")
    return [WebhookEvent(op=op, path=_path(_string(doc, "path", required=True), "path"),
                         source=_path(_string(doc, "sourcepath"), "sourcepath"),
                         account=_string(doc, "accountname"))]


def _parse_v2(doc: dict) -> list[WebhookEvent]:
    event = _string(doc, "event", required=True)
    account = _string(doc, "accountName")
    op = _V2_OPS.get(event.strip().lower(), "other")
    data = doc.get("eventData")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WebhookPayloadError("'eventData' is not an object")
    resources = data.get("resources")
    if resources is None:
        resources = []
    if not isinstance(resources, list):
        raise WebhookPayloadError("'eventData.resources' is not a list")
    if not resources:
        if op != "other":
            raise WebhookPayloadError(f"{op} event without 'eventData.resources'")
        return [WebhookEvent(op="other", path="", account=account)]
    events = []
    for res in resources:
        if not isinstance(res, dict):
            raise WebhookPayloadError("a resource is not an object")
        events.append(WebhookEvent(
            op=op, path=_path(_string(res, "path", required=True), "resource path"),
            source=_path(_string(res, "sourcePath"), "resource sourcePath"), account=account))
    return events


def _string(doc: dict, key: str, *, required: bool = False) -> str:
    """``doc[key]`` as a string; a missing optional key or ``null`` gives ``""``."""
    if key not in doc or (doc[key] is None and not required):
        if required:
            raise WebhookPayloadError(f"missing field '{key}'")
        return ""
    value = doc[key]
    if not isinstance(value, str):
        raise WebhookPayloadError(f"field '{key}' is not a string")
    return value


def _path(raw: str, what: str) -> str:
    """An absolute server path: leading ``/``, no repeated or trailing ``/`` (``"/"``
    stays); ``""`` stays ``""``. NUL bytes and ``.``/``..`` segments are refused."""
    if raw == "":
        return ""
    if "\x00" in raw:
        raise WebhookPayloadError(f"{what} contains a NUL byte")
    parts = [p for p in raw.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise WebhookPayloadError(f"{what} has a '.' or '..' segment")
    return "/" + "/".join(parts)


FORMAT = PushFormat(SIGNATURE_HEADER, verify, parse)
