"""Routing and the file-system, events, notes and user handlers."""

from __future__ import annotations

import re

from . import render, transfer
from .context import Ctx, Reply
from .events import DEFAULT_PAGE, MAX_PAGE, CursorLost, iso_ms
from .names import key, split
from .store import ApiError

DEFAULT_COUNT, MAX_COUNT = 100, 1000
LOCK_TIMEOUT = 3600
MAX_TRASH_IDS = 10
_IDS = re.compile(r"/ids/(file|folder)/([^/]+)(/stats)?/?")


def dispatch(ctx: Ctx) -> Reply:
    p = ctx.path
    for prefix, handler in (("/fs-content-chunked", transfer.chunked),
                            ("/fs-content", transfer.content), ("/fs", fs),
                            ("/events", events), ("/userinfo", userinfo), ("/notes", notes)):
        if p == prefix or p.startswith(prefix + "/"):
            return handler(ctx, p[len(prefix):])
    raise ApiError(404, "Unknown endpoint.")


def target(ctx: Ctx, rest: str) -> tuple:
    """The item a /fs… request names: by id (``/ids/file/…``) or by path."""
    m = _IDS.fullmatch(rest)
    store = ctx.emu.store
    if m:
        return store.by_ident(m.group(2), m.group(1) == "folder"), None
    parts = split(rest)
    return store.resolve(parts), parts


# --------------------------------------------------------------------------- /fs
def fs(ctx: Ctx, rest: str) -> Reply:
    if rest.rstrip("/") in ("/trash", "/trash/totalcount"):
        return trash(ctx, rest.rstrip("/"))
    store = ctx.emu.store
    if ctx.method == "GET":
        with store.lock:
            if (m := _IDS.fullmatch(rest)) and m.group(3):
                return Reply.json(stats(store.by_ident(m.group(2), True)))
            node, parts = target(ctx, rest)
            if node is None:
                raise ApiError(404, "Item not found: " + (rest or "/"))
            return Reply.json(info(ctx, node))
    if ctx.method == "DELETE":
        node, parts = target(ctx, rest)
        if node is None:
            raise ApiError(404, "Item not found: " + rest)
        store.delete(node, ctx.who, ctx.arg("entry_id"))
        return Reply(200, b"")
    if ctx.method != "POST":
        raise ApiError(405, f"{ctx.method} is not allowed here.")
    body = ctx.json_body()
    action = body.get("action")
    node, parts = target(ctx, rest)
    if action == "add_folder":
        if parts is None:
            raise ApiError(400, "add_folder needs a path.")
        made = store.add_folder(parts, ctx.who)
        return Reply.json({"folder_id": made.id, "path": made.path()}, 201)
    if action not in ("move", "copy", "lock", "unlock"):
        raise ApiError(400, f"Unknown action: {action!r}.")
    if node is None:
        raise ApiError(404, "Item not found: " + rest)
    if action in ("move", "copy"):
        dest = body.get("destination")
        if not isinstance(dest, str) or not dest:
            raise ApiError(400, "destination is required.")
        done = (store.move if action == "move" else store.copy)(node, dest, ctx.who)
        return Reply.json(render.item_json(done))
    token = body.get("lock_token")
    if action == "lock":
        timeout = body.get("lock_timeout", LOCK_TIMEOUT)
        if not isinstance(timeout, int) or timeout <= 0:
            raise ApiError(400, "lock_timeout must be a positive number of seconds.")
        lock = store.lock_file(node, ctx.who[0], token, timeout)
        return Reply.json({"lock_token": lock["token"], "timeout": timeout})
    store.unlock_file(node, ctx.who[0], token)
    return Reply.json({})


def info(ctx: Ctx, node) -> dict:
    listing = ctx.flag("list_content", True)
    if not node.is_folder:
        d = render.file_json(node)
        if listing:
            d["versions"] = [render.version_json(v) for v in node.versions[:-1]]
        return d
    count = ctx.number("count", DEFAULT_COUNT, low=0, high=MAX_COUNT)
    offset = ctx.number("offset", 0)
    d = render.folder_json(node)
    if node.parent is None:
        d["name"] = "/"
    kids = ordered(ctx, list(node.children.values()))
    d.update(count=count, offset=offset, total_count=len(kids),
             public_links="files_folders", allow_links=True, restrict_move_delete=False)
    if listing:
        page = kids[offset:offset + (count or DEFAULT_COUNT)]
        d["folders"] = [render.folder_json(n) for n in page if n.is_folder]
        d["files"] = [render.file_json(n) for n in page if not n.is_folder]
    return d


def ordered(ctx: Ctx, kids: list) -> list:
    """Folders first, then files, each by the ``sort_by`` field (name by default)."""
    field = ctx.arg("sort_by", "name")
    if field not in ("name", "last_modified", "size", "uploaded_by", "path", "created_time"):
        raise ApiError(400, f"Cannot sort by {field!r}.")
    reverse = ctx.arg("sort_direction", "ascending") == "descending"

    def value(n):
        if field == "last_modified":
            return n.modified if n.is_folder else n.current["last_modified"] * 1000
        if field == "size":
            return 0 if n.is_folder else n.current["size"]
        if field == "uploaded_by":
            return "" if n.is_folder else n.current["uploaded_by"].casefold()
        if field == "created_time":
            return n.created
        return key(n.name)

    folders = sorted((n for n in kids if n.is_folder), key=lambda n: (value(n), n.name),
                     reverse=reverse)
    files = sorted((n for n in kids if not n.is_folder), key=lambda n: (value(n), n.name),
                   reverse=reverse)
    return folders + files


def stats(node) -> dict:
    files = [n for n in node.walk() if not n.is_folder]
    folders = sum(1 for n in node.walk() if n.is_folder) - 1
    versions = [v for n in files for v in n.versions]
    size_files = sum(n.current["size"] for n in files)
    size_versions = sum(v["size"] for v in versions)
    return {"totalSizeOfFiles": size_files, "totalSizeOfVersions": size_versions,
            "numOfFiles": len(files), "numOfVersions": len(versions), "numOfFolders": folders,
            "allFilesSize": size_files, "allVersionsSize": size_versions,
            "filesCount": len(files), "fileVersionsCount": len(versions),
            "foldersCount": folders}


def trash(ctx: Ctx, rest: str) -> Reply:
    store = ctx.emu.store
    if ctx.method == "GET":
        with store.lock:
            items = sorted(store.trash, key=lambda t: -t["deleted"])
            if rest == "/trash/totalcount":
                return Reply.json({"total_count": len(items)})
            count = ctx.number("count", DEFAULT_COUNT, low=1, high=MAX_COUNT)
            offset = ctx.number("offset", 0)
            page = [_trash_json(t) for t in items[offset:offset + count]]
            return Reply.json({"items": page, "count": len(page), "offset": offset,
                               "total_count": len(items)})
    if ctx.method != "POST" or rest != "/trash":
        raise ApiError(405, f"{ctx.method} is not allowed here.")
    body = ctx.json_body()
    action, ids = str(body.get("action", "")).upper(), body.get("ids")
    if action not in ("RESTORE", "PURGE") or not isinstance(ids, list) or not ids \
            or len(ids) > MAX_TRASH_IDS:
        raise ApiError(400, f"action must be RESTORE or PURGE and ids 1 to {MAX_TRASH_IDS} ids.")
    results = []
    for ident in ids:
        try:
            if action == "RESTORE":
                store.restore(str(ident), ctx.who)
            else:
                store.purge(str(ident))
            results.append({"id": ident, "status": 200})
        except ApiError as exc:
            results.append({"id": ident, "status": exc.status, "message": exc.message})
    if all(r["status"] == 200 for r in results):
        return Reply.json({"results": results})
    return Reply.json({"results": results}, 207)


def _trash_json(t: dict) -> dict:
    node = t["node"]
    d = {"id": t["id"], "name": node.name, "path": t["path"], "is_folder": node.is_folder,
         "deleted_by": t["by"], "deleted_on": iso_ms(t["deleted"] / 1000)}
    if node.is_folder:
        d["folder_id"] = node.id
    else:
        d.update(group_id=node.id, entry_id=node.current["entry_id"],
                 size=node.current["size"])
    return d


# ----------------------------------------------------------------------- events
def events(ctx: Ctx, rest: str) -> Reply:
    if ctx.method != "GET":
        raise ApiError(405, f"{ctx.method} is not allowed here.")
    log = ctx.emu.store.events
    if rest.rstrip("/") == "/cursor":
        return Reply.json(log.cursor())
    if rest.strip("/"):
        raise ApiError(404, "Unknown endpoint.")
    if ctx.arg("id") in (None, ""):
        raise ApiError(400, "Parameter id is required.")
    since = ctx.number("id", 0, low=0)
    count = min(ctx.number("count", DEFAULT_PAGE, low=1), MAX_PAGE)
    suppress = ctx.arg("suppress")
    if suppress not in (None, "", "app", "user"):
        raise ApiError(400, "suppress must be app or user.")
    types = {t for t in (ctx.arg("type") or "").split("|") if t} or None
    try:
        found, _ = log.after(since, count, folder=ctx.arg("folder") or None,
                             suppress=suppress or None, caller=(ctx.who[0], ctx.who[2]),
                             types=types)
    except CursorLost:
        return Reply(404, render.seed_error(
            f"Event id {since} is no longer available; read /events/cursor.", 404))
    if not found:
        return Reply(204, b"", content_type="")
    return Reply.json({"latest_id": found[-1]["id"], "oldest_id": found[0]["id"],
                       "count": len(found),
                       "events": [render.event_json(r, ctx.base) for r in found]})


# ------------------------------------------------------------------ user, notes
def userinfo(ctx: Ctx, rest: str) -> Reply:
    user = ctx.who[0]
    name = ctx.emu.store.users[user]
    return Reply.json({"id": user, "username": name, "first_name": name.capitalize(),
                       "last_name": "Emulated", "email": f"{name}@emulated.egnyte.test",
                       "user_type": "admin" if user == 1 else "power"})


def notes(ctx: Ctx, rest: str) -> Reply:
    store = ctx.emu.store
    ident = rest.strip("/")
    if ident:
        if ctx.method == "DELETE":
            store.delete_note(ident, ctx.who)
            return Reply(200, b"")
        if ctx.method != "GET":
            raise ApiError(405, f"{ctx.method} is not allowed here.")
        with store.lock:
            return Reply.json(_note_json(store, store.note(ident), ctx.who[0]))
    if ctx.method == "POST":
        body = ctx.json_body()
        path, text = body.get("path"), body.get("body")
        if not isinstance(path, str) or not isinstance(text, str) or not text:
            raise ApiError(400, "path and body are required.")
        node = store.resolve(split(path))
        if node is None or node.is_folder:
            raise ApiError(404, "File not found: " + path)
        note = store.add_note(node, text, ctx.who)
        return Reply.json({"id": note["id"]}, 201)
    if ctx.method != "GET":
        raise ApiError(405, f"{ctx.method} is not allowed here.")
    count = ctx.number("count", 25, low=1, high=100)
    offset = ctx.number("offset", 0)
    want_file, want_folder = ctx.arg("file"), ctx.arg("folder")
    start, end = ctx.arg("start_time"), ctx.arg("end_time")
    with store.lock:
        found = []
        for note in store.notes:
            path = key(store.note_path(note))
            if want_file and path != key(want_file.rstrip("/")):
                continue
            if want_folder and not path.startswith(key(want_folder.rstrip("/")) + "/"):
                continue
            day = iso_ms(note["creation_time"] / 1000)[:10]
            if (start and day < start[:10]) or (end and day > end[:10]):
                continue
            found.append(_note_json(store, note, ctx.who[0]))
    return Reply.json({"notes": found[offset:offset + count], "total_results": len(found),
                       "offset": offset, "count": count})


def _note_json(store, note: dict, user: int) -> dict:
    ms = note["creation_time"]
    stamp = iso_ms(ms / 1000)[:-1] + "+0000"
    return {"id": note["id"], "file_id": note["file_id"], "file_path": store.note_path(note),
            "message": note["message"], "username": note["username"],
            "formatted_name": note["username"].capitalize() + " Emulated",
            "creation_time": stamp, "can_delete": note["username"] == store.users[user]}
