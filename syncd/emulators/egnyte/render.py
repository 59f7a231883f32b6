"""JSON shapes of Egnyte's answers (field names as in the digest §2.1)."""

from __future__ import annotations

import json
from email.utils import formatdate
from urllib.parse import quote

from .events import iso_ms


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


def file_json(node, version=None) -> dict:
    v = version or node.current
    return {"is_folder": False, "name": node.name, "path": node.path(), "size": v["size"],
            "checksum": v["checksum"], "entry_id": v["entry_id"], "group_id": node.id,
            "parent_id": node.parent.id if node.parent else None,
            "last_modified": http_date(v["last_modified"]), "uploaded": v["uploaded"],
            "uploaded_by": v["uploaded_by"], "num_versions": len(node.versions),
            "locked": bool(node.lock)}


def version_json(v: dict) -> dict:
    return {"is_folder": False, "entry_id": v["entry_id"], "checksum": v["checksum"],
            "size": v["size"], "last_modified": http_date(v["last_modified"]),
            "uploaded": v["uploaded"], "uploaded_by": v["uploaded_by"]}


def folder_json(node) -> dict:
    d = {"is_folder": True, "name": node.name, "path": node.path(), "folder_id": node.id,
         "lastModified": node.modified, "uploaded": node.created}
    if node.parent is not None:
        d["parent_id"] = node.parent.id
    return d


def item_json(node) -> dict:
    return folder_json(node) if node.is_folder else file_json(node)


def fs_url(base: str, path: str) -> str:
    return f"{base}/pubapi/v1/fs{quote(path, safe='/')}"


def event_json(rec: dict, base: str) -> dict:
    return {"id": rec["id"], "timestamp": iso_ms(rec["t"]), "actor": rec["actor"],
            "action_source": rec["source"], "type": rec["type"], "action": rec["action"],
            "object_detail": fs_url(base, rec["path"]), "data": rec["data"]}


def error(message: str) -> bytes:
    return dumps({"errorMessage": message})


def seed_error(message: str, status: int) -> bytes:
    return dumps({"Errors": [{"description": message, "code": str(status)}]})
