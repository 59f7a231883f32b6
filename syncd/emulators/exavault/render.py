"""JSON shapes of the API: resources, envelopes, timestamps."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from . import paths as P
from .store import Row

PLACEHOLDER_ID = 0  # relationship ids in --files-com mode


def iso_z(ts: int) -> str:
    """UTC, whole seconds, ``Z`` suffix: ``2024-05-01T12:00:00Z``."""
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_offset(ts: int) -> str:
    """UTC with an explicit offset (activity ``created``): ``2024-05-01T12:00:00+00:00``."""
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def resource(row: Row, *, files_com: bool = False) -> dict:
    is_file = row.type == "file"
    if files_com:
        parent = {"data": {"id": PLACEHOLDER_ID, "type": "resource"}}
    elif row.parent_id is None:
        parent = {"data": None}
    else:
        parent = {"data": {"id": row.parent_id, "type": "resource"}}
    return {
        "id": row.id,
        "type": "resource",
        "attributes": {
            "hash": row.hash,
            "name": row.name,
            "path": row.path,
            "type": row.type,
            "extension": P.extension(row.name) if is_file else "",
            "size": row.size,
            "fileCount": None if is_file else row.file_count,
            "previewable": False,
            "createdBy": row.created_by,
            "uploadDate": iso_z(row.uploaded),
            "createdAt": iso_z(row.created),
            "updatedAt": iso_z(row.updated),
            "accessedAt": iso_z(row.accessed),
            "createdTime": int(row.created),
            "updatedTime": int(row.updated),
            "accessedTime": int(row.accessed),
        },
        "relationships": {
            "parentResource": parent,
            "share": {"data": None},
            "directFile": {"data": None},
            "notifications": [],
            "ownerUser": {"data": {"id": PLACEHOLDER_ID if files_com else 1, "type": "user"}},
        },
    }


def user_record(username: str, created: int, account_name: str = "emulated") -> dict:
    """The account's master user (for ``include=masterUser`` / ``ownerUser``)."""
    return {"id": 1, "type": "user",
            "attributes": {"status": 1, "locked": False, "expiration": None,
                           "created": iso_z(created), "modified": iso_z(created),
                           "accessTimestamp": None, "accountName": account_name,
                           "username": username, "nickname": username, "email": None,
                           "homePath": "/",
                           "permissions": {"download": True, "upload": True, "modify": True,
                                           "delete": True, "list": True, "changePassword": True,
                                           "share": True, "notification": True,
                                           "viewFormData": True, "deleteFormData": True},
                           "role": "master", "timeZone": "UTC", "onboarding": False,
                           "firstLogin": False}}


def dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def ok(data, status: int = 200, included: list | None = None) -> dict:
    body = {"responseStatus": status, "data": data}
    if included is not None:
        body["included"] = included
    return body


def collection(data: list, total: int, included: list | None = None) -> dict:
    body = {"responseStatus": 200, "returnedResults": len(data), "totalResults": total,
            "data": data}
    if included is not None:
        body["included"] = included
    return body


def error(status: int, code: str | None, detail: str | None, *, title: str | None = None,
          meta: dict | None = None) -> dict:
    err = {"code": code, "detail": detail}
    if title is not None:
        err["title"] = title
    if meta is not None:
        err["meta"] = meta
    return {"responseStatus": status, "errors": [err]}
