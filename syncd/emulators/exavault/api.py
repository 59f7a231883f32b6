"""Routing and the JSON endpoints (account, list, info, folders, move, copy, rename, delete)."""

from __future__ import annotations

import re

from . import activity
from . import paths as P
from . import render, transfer
from .context import ApiError, Ctx, Reply, bad_request
from .store import RESOURCE_SORT, NotFound, Row, StoreError

MAX_LIMIT = 100


# ------------------------------------------------------------------ helpers
def _sort(ctx: Ctx) -> list[tuple[str, bool]]:
    raw = ctx.q("sort")
    if not raw:
        return []
    order = []
    for field in raw.split(","):
        field = field.strip()
        desc = field.startswith("-")
        name = field.lstrip("+-").strip()
        if name.startswith("attributes."):
            name = name[len("attributes."):]
        if name not in RESOURCE_SORT:
            raise bad_request(f"Unknown sort field {name!r}; use one of {', '.join(RESOURCE_SORT)}.")
        order.append((name, desc))
    return order


def _paging(ctx: Ctx) -> tuple[int, int]:
    offset = ctx.int_param("offset", 0)
    limit = ctx.int_param("limit", MAX_LIMIT, minimum=1, maximum=MAX_LIMIT)
    return offset, limit


def _res(ctx: Ctx, row: Row) -> dict:
    return render.resource(row, files_com=ctx.emu.files_com)


def _included(ctx: Ctx, rows: list[Row]) -> list:
    if ctx.emu.files_com:
        return []
    wanted = {w.strip() for w in (ctx.q("include") or "").split(",") if w.strip()}
    out: list = []
    if "parentResource" in wanted:
        seen: set[int] = set()
        for row in rows:
            if row.parent_id is not None and row.parent_id not in seen:
                seen.add(row.parent_id)
                parent = ctx.emu.store.get(row.parent_id)
                if parent is not None:
                    out.append(_res(ctx, parent))
    if "ownerUser" in wanted and rows:
        out.append(render.user_record(ctx.emu.username, ctx.emu.store.get(1).created,
                                       ctx.emu.account_name))
    return out


def _resolve(ctx: Ctx, identifier) -> Row:
    if not isinstance(identifier, str) or identifier == "":
        raise bad_request("A resource identifier (path, id:<n> or hash:<h>) is required.")
    return ctx.emu.store.resolve(identifier)


def _by_id(ctx: Ctx, rid: str) -> Row:
    row = ctx.emu.store.get(int(rid))
    if row is None:
        raise NotFound(f"Resource id {rid} not found.")
    return row


# ---------------------------------------------------------------- endpoints
def account(ctx: Ctx) -> Reply:
    emu = ctx.emu
    root = emu.store.get(1)
    attrs = {
        "accountName": emu.account_name, "accountOnboarding": False, "status": 1,
        "maxUsers": 10, "userCount": 2, "branding": False, "customDomain": False,
        "secureOnly": False, "complexPasswords": False, "showReferralLinks": False,
        "externalDomains": [], "allowedIp": [],
        "quota": {"diskLimit": 1 << 40, "diskUsed": root.size, "bandwidthLimit": 1 << 42,
                  "bandwidthUsed": 0, "transactionsLimit": emu.window.limit,
                  **emu.notice_settings},
        "planDetails": {"maxUsers": 10, "diskLimit": 1 << 40, "webhooks": True},
        "created": render.iso_z(root.created), "modified": render.iso_z(root.created),
    }
    data = {"id": 1, "type": "account", "attributes": attrs,
            "relationships": {"masterUser": {"data": {"id": 1, "type": "user"}}}}
    wanted = (ctx.q("include") or "").split(",")
    included = [] if emu.files_com or "masterUser" not in wanted else [
        render.user_record(emu.username, root.created, emu.account_name)]
    return Reply.json(render.ok(data, included=included))


NOTICE_KEYS = {"noticeEnabled": bool, "noticeThreshold": int,
               "transactionsNoticeEnabled": bool, "transactionsNoticeThreshold": int}


def update_account(ctx: Ctx) -> Reply:
    """PATCH /account: only the quota notice settings are editable (thresholds 70-100)."""
    body = ctx.json()
    quota = body.get("quota", {})
    if not isinstance(quota, dict):
        raise bad_request("quota must be an object.")
    changes = {}
    for key, value in quota.items():
        kind = NOTICE_KEYS.get(key)
        if kind is None or value is None:
            continue
        if kind is bool and not isinstance(value, bool):
            raise bad_request(f"quota.{key} must be true or false.")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)
                            or not 70 <= value <= 100):
            raise bad_request(f"quota.{key} must be a whole number from 70 to 100.")
        changes[key] = value
    ctx.emu.notice_settings.update(changes)
    return account(ctx)


def _list(ctx: Ctx, folder: Row, allow_search: bool) -> Reply:
    offset, limit = _paging(ctx)
    order = _sort(ctx)
    if folder.type != "dir":
        raise bad_request(f"{folder.path} is a file, not a folder.")
    name = ctx.q("name") if allow_search else None
    if name:
        rows, total = ctx.emu.store.search(folder, name, order, offset, limit)
    else:
        rtype = ctx.q("type") or None
        if rtype is not None and rtype not in ("file", "dir"):
            return Reply.json(render.collection([], 0, included=[]))
        rows, total = ctx.emu.store.list_children(folder, rtype, order, offset, limit)
    reply = Reply.json(render.collection([_res(ctx, r) for r in rows], total,
                                         included=_included(ctx, rows)))
    ctx.emu._list_page_served(folder.path, offset, limit, len(rows), total, name or None)
    return reply


def list_resources(ctx: Ctx) -> Reply:
    resource = ctx.q("resource")
    if resource is None:
        raise bad_request("Parameter resource is required.")
    return _list(ctx, _resolve(ctx, resource or "/"), allow_search=True)


def list_by_id(ctx: Ctx, rid: str) -> Reply:
    return _list(ctx, _by_id(ctx, rid), allow_search=False)


def info(ctx: Ctx) -> Reply:
    row = _resolve(ctx, ctx.q("resource"))
    return Reply.json(render.ok(_res(ctx, row), included=_included(ctx, [row])))


def info_by_id(ctx: Ctx, rid: str) -> Reply:
    row = _by_id(ctx, rid)
    return Reply.json(render.ok(_res(ctx, row), included=_included(ctx, [row])))


def create_folder(ctx: Ctx) -> Reply:
    body = ctx.json()
    store = ctx.emu.store
    try:
        if body.get("path"):
            if not isinstance(body["path"], str):
                raise bad_request("path must be a string.")
            path = P.normalize_path(body["path"])
        else:
            name = body.get("name") or body.get("folderName")
            parent_id = body.get("parentResource")
            if not name or not parent_id:
                raise bad_request("Send either path, or name and parentResource.")
            parent = _resolve(ctx, parent_id)
            if parent.type != "dir":
                raise bad_request(f"{parent.path} is a file, not a folder.")
            path = P.join_path(parent.path, P.check_name(name))
    except P.PathError as exc:
        raise bad_request(str(exc)) from None
    row = store.mkdir(path, ctx.emu.username, ctx.ip)
    return Reply.json(render.ok(_res(ctx, row), 201, included=[]), 201)


def _identifiers(ctx: Ctx, body: dict) -> list:
    items = body.get("resources")
    if items is None:
        items = ctx.qs("resources[]") or ctx.qs("resources")
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not items:
        raise bad_request("resources must be a non-empty list of identifiers.")
    return items


def _transfer(ctx: Ctx, op: str) -> Reply:
    body = ctx.json()
    items = _identifiers(ctx, body)
    dest_id = body.get("parentResource")
    if not dest_id:
        raise bad_request("parentResource is required.")
    dest = _resolve(ctx, dest_id)
    store, user = ctx.emu.store, ctx.emu.username
    results = []
    for ident in items:
        meta = {"path": ident if isinstance(ident, str) else str(ident),
                "destinationPath": dest.path}
        try:
            row = _resolve(ctx, ident)
            meta["path"] = row.path
            done = (store.move if op == "move" else store.copy)(row, dest, user, ctx.ip)
            results.append({"responseStatus": 200, "data": _res(ctx, done), "meta": meta})
        except StoreError as exc:
            results.append((exc, meta))
    if len(items) == 1:
        result = results[0]
        if isinstance(result, tuple):
            exc, meta = result
            return Reply.json(render.error(exc.status, exc.code, exc.detail, meta=meta),
                              exc.status)
        return Reply.json(result, 200)
    responses = []
    for result in results:
        if isinstance(result, tuple):
            exc, meta = result
            result = {"responseStatus": exc.status,
                      "errors": [{"code": None, "detail": None, "title": None, "meta": meta}]}
        responses.append(result)
    return Reply.json({"responses": responses}, 207)


def move(ctx: Ctx) -> Reply:
    return _transfer(ctx, "move")


def copy(ctx: Ctx) -> Reply:
    return _transfer(ctx, "copy")


def rename(ctx: Ctx, rid: str) -> Reply:
    body = ctx.json()
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request("name is required.")
    row = ctx.emu.store.rename(_by_id(ctx, rid), name, ctx.emu.username, ctx.ip)
    return Reply.json(render.ok(_res(ctx, row), included=[]))


def delete_many(ctx: Ctx) -> Reply:
    items = _identifiers(ctx, ctx.json())
    store = ctx.emu.store
    responses = []
    for ident in items:
        try:
            row = _resolve(ctx, ident)
            store.delete(row, ctx.emu.username, ctx.ip)
            responses.append({"responseStatus": 200, "data": {
                "id": row.id, "type": "resource", "meta": {"path": row.path}}})
        except StoreError as exc:
            if len(items) == 1:
                raise
            responses.append({"responseStatus": exc.status, "errors": [
                {"code": None, "detail": None, "title": None, "meta": {"path": str(ident)}}]})
    if len(items) == 1:
        return Reply.json({"responseStatus": 200, "data": []})
    return Reply.json({"responses": responses}, 207)


def delete_one(ctx: Ctx, rid: str) -> Reply:
    ctx.emu.store.delete(_by_id(ctx, rid), ctx.emu.username, ctx.ip)
    return Reply.json({"responseStatus": 200, "data": []})


ROUTES = [
    ("GET", r"/account", account),
    ("GET", r"/resources/list", list_resources),
    ("GET", r"/resources/list/(\d+)", list_by_id),
    ("GET", r"/resources/download", transfer.download),
    ("GET", r"/resources", info),
    ("GET", r"/resources/(\d+)", info_by_id),
    ("POST", r"/resources", create_folder),
    ("POST", r"/resources/upload", transfer.upload),
    ("POST", r"/resources/move", move),
    ("POST", r"/resources/copy", copy),
    ("PATCH", r"/resources/(\d+)", rename),
    ("DELETE", r"/resources", delete_many),
    ("DELETE", r"/resources/(\d+)", delete_one),
    ("PATCH", r"/account", update_account),
    ("GET", r"/activity/session", activity.session),
    ("GET", r"/activity/webhooks", activity.webhooks),
]
_COMPILED = [(m, re.compile(p + "/?"), f) for m, p, f in ROUTES]


def dispatch(ctx: Ctx) -> Reply:
    if not (ctx.emu.files_com and ctx.path.startswith("/activity")):
        for method, pattern, func in _COMPILED:
            if method == ctx.method:
                m = pattern.fullmatch(ctx.path)
                if m:
                    try:
                        return func(ctx, *m.groups())
                    except StoreError as exc:
                        return Reply.error(exc)
    return Reply.error(ApiError(404, "ERROR_NOT_FOUND",
                                f"No endpoint {ctx.method} /api/v2{ctx.path}."))
