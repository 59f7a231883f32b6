"""The file tree: folders, files with versions, trash, locks, notes; saved under the root.

Everything runs under one lock. Metadata lives in ``state.json`` (rewritten
atomically after each change), file contents in ``blobs/<entry_id>``, events in
``events.jsonl`` (see events.py): a restarted emulator finds all of it again.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid

from .events import EventLog
from .names import NameError_, check_path, key, split

EXISTS = "Folder already exists at this location"
LOCKED = "The file is locked by another user."


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers=()):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, tuple(headers)


def new_id() -> str:
    return str(uuid.uuid4())


class Node:
    """A folder (``versions is None``) or a file (``children is None``)."""

    def __init__(self, name: str, ident: str, parent: "Node | None", *, folder: bool,
                 created_ms: int = 0):
        self.name, self.id, self.parent = name, ident, parent
        self.children: dict[str, Node] | None = {} if folder else None
        self.versions: list[dict] | None = None if folder else []
        self.created = self.modified = created_ms
        self.lock: dict | None = None

    @property
    def is_folder(self) -> bool:
        return self.children is not None

    @property
    def current(self) -> dict:
        return self.versions[-1]

    def path(self) -> str:
        parts, n = [], self
        while n.parent is not None:
            parts.append(n.name)
            n = n.parent
        return "/" + "/".join(reversed(parts))

    def walk(self):
        yield self
        for child in (self.children or {}).values():
            yield from child.walk()

    def to_json(self) -> dict:
        d = {"n": self.name, "id": self.id, "c": self.created, "m": self.modified}
        if self.is_folder:
            d["ch"] = [c.to_json() for c in self.children.values()]
        else:
            d["v"], d["lock"] = self.versions, self.lock
        return d

    @classmethod
    def from_json(cls, d: dict, parent: "Node | None") -> "Node":
        n = cls(d["n"], d["id"], parent, folder="ch" in d, created_ms=d["c"])
        n.modified = d["m"]
        if n.is_folder:
            for c in d["ch"]:
                child = cls.from_json(c, n)
                n.children[key(child.name)] = child
        else:
            n.versions, n.lock = d["v"], d.get("lock")
        return n


class Store:
    def __init__(self, root, clock, users: dict[int, str], event_retention: int,
                 auto_parents: bool = False):
        self.root = str(root)
        self.clock = clock
        self.users = users
        self.auto_parents = auto_parents  # an upload creates its missing folders
        self.lock = threading.RLock()
        for sub in ("blobs", "tmp", "chunks"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        self._state_path = os.path.join(self.root, "state.json")
        self.trash: list[dict] = []
        self.notes: list[dict] = []
        self.sessions: dict[str, dict] = {}  # chunked uploads (see chunks.py)
        self.by_id: dict[str, Node] = {}
        if os.path.exists(self._state_path):
            with open(self._state_path, encoding="utf-8") as f:
                state = json.load(f)
            self.tree = Node.from_json(state["tree"], None)
            self.trash = [dict(t, node=Node.from_json(t["node"], None)) for t in state["trash"]]
            self.notes, self.sessions = state["notes"], state["sessions"]
        else:
            self.tree = Node("", new_id(), None, folder=True, created_ms=self.ms())
            for parts in (["Shared"], ["Private"], *(["Private", u] for u in users.values())):
                self._attach(self.tree if len(parts) == 1 else self.resolve(parts[:-1]),
                             Node(parts[-1], new_id(), None, folder=True, created_ms=self.ms()))
        self.by_id: dict[str, Node] = {n.id: n for n in self.tree.walk()}
        self.events = EventLog(os.path.join(self.root, "events.jsonl"), clock, event_retention)
        self.save()

    def close(self) -> None:
        self.events.close()

    def ms(self) -> int:
        return int(self.clock() * 1000)

    def blob(self, entry_id: str) -> str:
        return os.path.join(self.root, "blobs", entry_id)

    def tmp_path(self) -> str:
        return os.path.join(self.root, "tmp", new_id())

    # ------------------------------------------------------------ persistence
    def save(self) -> None:
        state = {"tree": self.tree.to_json(), "notes": self.notes, "sessions": self.sessions,
                 "trash": [dict(t, node=t["node"].to_json()) for t in self.trash]}
        tmp = self._state_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f, separators=(",", ":"))
        os.replace(tmp, self._state_path)

    # ---------------------------------------------------------------- lookup
    def resolve(self, parts: list[str]) -> Node | None:
        node = self.tree
        for p in parts:
            if not node.is_folder:
                return None
            node = node.children.get(key(p))
            if node is None:
                return None
        return node

    def need(self, parts: list[str]) -> Node:
        node = self.resolve(parts)
        if node is None:
            raise ApiError(404, "Item not found: /" + "/".join(parts))
        return node

    def by_ident(self, ident: str, folder: bool) -> Node:
        node = self.by_id.get(ident)
        if node is None or node.is_folder != folder:
            raise ApiError(404, f"{'Folder' if folder else 'File'} {ident} not found.")
        return node

    # -------------------------------------------------------------- helpers
    def _attach(self, parent: Node, node: Node) -> None:
        node.parent = parent
        parent.children[key(node.name)] = node
        parent.modified = self.ms()
        for n in node.walk():
            self.by_id[n.id] = n

    def _detach(self, node: Node) -> None:
        parent = node.parent
        del parent.children[key(node.name)]
        parent.modified = self.ms()
        node.parent = None
        for n in node.walk():
            self.by_id.pop(n.id, None)

    def lock_of(self, node: Node) -> dict | None:
        if node.lock and node.lock["expires"] <= self.clock():
            node.lock = None
        return node.lock

    def alive(self, node: Node) -> None:
        """404 when ``node`` left the tree since it was looked up (a concurrent delete)."""
        if self.by_id.get(node.id) is not node:
            raise ApiError(404, "Item not found: " + node.name)

    def check_unlocked(self, node: Node, user: int) -> None:
        """403 when ``node`` (or a file below a folder) is locked by another user."""
        for n in node.walk():
            lock = None if n.is_folder else self.lock_of(n)
            if lock and lock["owner"] != user:
                raise ApiError(403, LOCKED)

    def upload_parent(self, parts: list[str], who) -> Node:
        """The folder a new file at ``parts`` goes into; with ``auto_parents`` the
        missing folders on the way are created first (one ``create`` event each, as
        ``add_folder``), else a missing one is 404 (the default, digest §10.3)."""
        if self.auto_parents:
            self.check_new(parts, folder=False)  # (nothing is made for a refused name)
            for depth in range(2, len(parts)):
                if self.resolve(parts[:depth]) is None:
                    self.add_folder(parts[:depth], who)
        return self.parent_for_new(parts, folder=False)

    def check_upload(self, parts: list[str]) -> None:
        """Refuse a new file at ``parts`` as its commit would (before its body is read)."""
        if self.auto_parents:
            self.check_new(parts, folder=False)
        else:
            self.parent_for_new(parts, folder=False)

    def parent_for_new(self, parts: list[str], *, folder: bool) -> Node:
        """The existing folder a new item at ``parts`` goes into (checks names, location)."""
        self.check_new(parts, folder=folder)
        parent = self.resolve(parts[:-1])
        if parent is None or not parent.is_folder:
            raise ApiError(404, "Parent folder not found: /" + "/".join(parts[:-1]))
        return parent

    def check_new(self, parts: list[str], *, folder: bool) -> None:
        """400 for a name Egnyte refuses; 403/409 where nothing may be created."""
        try:
            check_path(parts, folder=folder)
        except NameError_ as exc:
            raise ApiError(400, str(exc)) from None
        if len(parts) < 2 or ((key(parts[0]) == "private" or not folder) and len(parts) < 3):
            if folder:
                raise ApiError(403, "Items cannot be created at this location.")
            raise ApiError(409, "Files cannot be stored at this location.")

    def event(self, action: str, data: dict, who: tuple[int, str, str | None],
              path: str, kind: str = "file_system") -> None:
        user, source, app = who
        self.events.add(action, data, actor=user, source=source, app=app, kind=kind, path=path)

    # -------------------------------------------------------------- folders
    def add_folder(self, parts: list[str], who) -> Node:
        with self.lock:
            if self.resolve(parts) is not None:
                raise ApiError(403, EXISTS)
            parent = self.parent_for_new(parts, folder=True)
            node = Node(parts[-1], new_id(), None, folder=True, created_ms=self.ms())
            self._attach(parent, node)
            self.event("create", _item_data(node, node.path()), who, node.path())
            self.save()
            return node

    # ---------------------------------------------------------------- files
    def commit_file(self, parts: list[str], blob_tmp: str, size: int, checksum: str,
                    last_modified: int | None, who) -> tuple[Node, dict]:
        """Store ``blob_tmp`` as a new file or as a new version of the file at ``parts``."""
        with self.lock:
            existing = self.resolve(parts)
            if existing is not None and existing.is_folder:
                os.unlink(blob_tmp)
                raise ApiError(409, "A folder exists at this path.")
            if existing is None:
                try:
                    parent = self.upload_parent(parts, who)
                except ApiError:
                    os.unlink(blob_tmp)
                    raise
            else:
                try:
                    self.check_unlocked(existing, who[0])
                except ApiError:
                    os.unlink(blob_tmp)
                    raise
            now = self.clock()
            version = {"entry_id": new_id(), "size": size, "checksum": checksum,
                       "last_modified": int(now if last_modified is None else last_modified),
                       "uploaded": int(now * 1000), "uploaded_by": self.users[who[0]]}
            os.replace(blob_tmp, self.blob(version["entry_id"]))
            node = existing
            if node is None:
                node = Node(parts[-1], new_id(), None, folder=False, created_ms=self.ms())
                self._attach(parent, node)
            else:
                node.parent.modified = self.ms()
            node.versions.append(version)
            node.modified = self.ms()
            self.event("create", {"target_path": node.path(), "target_id": version["entry_id"],
                                  "target_group_id": node.id, "is_folder": False},
                       who, node.path())
            self.save()
            return node, version

    # ------------------------------------------------------- move and copy
    def _destination(self, node: Node, dest: str) -> tuple[Node, list[str]]:
        parts = split(dest)
        if not dest.startswith("/") or not parts:
            raise ApiError(400, "The destination must be a full path.")
        src = split(node.path())
        if len(src) < 2 or (key(src[0]) == "private" and len(src) < 3):
            raise ApiError(403, "This folder cannot be moved or copied.")
        target = self.resolve(parts)
        if target is not None and target is not node:
            raise ApiError(409, "An item already exists at the destination.")
        if node.is_folder and [key(p) for p in parts[:len(src)]] == [key(p) for p in src] \
                and len(parts) > len(src):
            raise ApiError(400, "A folder cannot be moved or copied into itself.")
        return self.parent_for_new(parts, folder=node.is_folder), parts

    def move(self, node: Node, dest: str, who) -> Node:
        with self.lock:
            self.alive(node)
            self.check_unlocked(node, who[0])
            parent, parts = self._destination(node, dest)
            source_path = node.path()
            old_parent = node.parent
            self._detach(node)
            node.name = parts[-1]
            self._attach(parent, node)
            action = "rename" if parent is old_parent else "move"
            self.event(action, _pair_data(node, source_path, node), who, node.path())
            self.save()
            return node

    def _clone(self, node: Node, name: str) -> Node:
        twin = Node(name, new_id(), None, folder=node.is_folder, created_ms=self.ms())
        if node.is_folder:
            for child in node.children.values():
                c = self._clone(child, child.name)
                c.parent = twin
                twin.children[key(c.name)] = c
        else:
            version = dict(node.current, entry_id=new_id(), uploaded=self.ms())
            _link(self.blob(node.current["entry_id"]), self.blob(version["entry_id"]))
            twin.versions = [version]
        return twin

    def copy(self, node: Node, dest: str, who) -> Node:
        with self.lock:
            self.alive(node)
            parent, parts = self._destination(node, dest)
            if self.resolve(parts) is node:
                raise ApiError(409, "An item already exists at the destination.")
            twin = self._clone(node, parts[-1])
            self._attach(parent, twin)
            self.event("copy", _pair_data(node, node.path(), twin), who, twin.path())
            self.save()
            return twin

    # -------------------------------------------------------- delete, trash
    def delete(self, node: Node, who, entry_id: str | None = None) -> None:
        with self.lock:
            self.alive(node)
            path = node.path()
            if len(split(path)) < 2 or (key(split(path)[0]) == "private"
                                        and len(split(path)) < 3):
                raise ApiError(403, "This folder cannot be deleted.")
            self.check_unlocked(node, who[0])
            if entry_id is not None and not node.is_folder and len(node.versions) > 1:
                version = next((v for v in node.versions if v["entry_id"] == entry_id), None)
                if version is None:
                    raise ApiError(404, f"Version {entry_id} not found.")
                node.versions.remove(version)
                _unlink(self.blob(entry_id))
                self.event("delete", {"target_path": path, "target_id": entry_id,
                                      "target_group_id": node.id, "is_folder": False},
                           who, path)
                self.save()
                return
            if entry_id is not None and (node.is_folder or node.current["entry_id"] != entry_id):
                raise ApiError(404, f"Version {entry_id} not found.")
            self._detach(node)
            self.trash.append({"id": new_id(), "node": node, "path": path,
                               "deleted": self.ms(), "by": self.users[who[0]]})
            self.event("delete", _item_data(node, path), who, path)
            self.save()

    def trash_item(self, ident: str) -> dict:
        item = next((t for t in self.trash if t["id"] == ident), None)
        if item is None:
            raise ApiError(404, f"Trash item {ident} not found.")
        return item

    def restore(self, ident: str, who) -> None:
        with self.lock:
            item = self.trash_item(ident)
            parts = split(item["path"])
            if self.resolve(parts) is not None:
                raise ApiError(409, "An item already exists at the original location.")
            parent = self.tree
            for i, p in enumerate(parts[:-1]):  # re-create missing parents
                child = parent.children.get(key(p))
                if child is None:
                    child = Node(p, new_id(), None, folder=True, created_ms=self.ms())
                    self._attach(parent, child)
                    self.event("create", _item_data(child, child.path()), who, child.path())
                parent = child
            node = item["node"]
            self.trash.remove(item)
            self._attach(parent, node)
            self.event("restore", _item_data(node, node.path()), who, node.path())
            self.save()

    def purge(self, ident: str) -> None:
        with self.lock:
            item = self.trash_item(ident)
            self.trash.remove(item)
            for n in item["node"].walk():
                for v in n.versions or ():
                    _unlink(self.blob(v["entry_id"]))
            self.save()

    # ----------------------------------------------------------------- locks
    def lock_file(self, node: Node, user: int, token: str | None, timeout: int) -> dict:
        with self.lock:
            self.alive(node)
            if node.is_folder:
                raise ApiError(400, "Only files can be locked.")
            current = self.lock_of(node)
            if current and (current["owner"] != user or (token and token != current["token"])):
                raise ApiError(403, LOCKED)
            node.lock = {"token": token or (current or {}).get("token") or new_id(),
                         "owner": user, "expires": self.clock() + timeout}
            self.save()
            return node.lock

    def unlock_file(self, node: Node, user: int, token: str | None) -> None:
        with self.lock:
            current = self.lock_of(node)
            if current is None:
                return
            if not token or token != current["token"]:
                raise ApiError(403, LOCKED if current["owner"] != user
                               else "The lock token does not match.")
            node.lock = None
            self.save()

    # ----------------------------------------------------------------- notes
    def add_note(self, node: Node, body: str, who) -> dict:
        with self.lock:
            note = {"id": new_id(), "file_id": node.id, "file_path": node.path(),
                    "message": body, "username": self.users[who[0]],
                    "creation_time": self.ms()}
            self.notes.append(note)
            self.event("create", {"note_id": note["id"], "target_path": node.path()}, who,
                       node.path(), kind="note")
            self.save()
            return note

    def delete_note(self, ident: str, who) -> None:
        with self.lock:
            note = self.note(ident)
            self.notes.remove(note)
            path = self.note_path(note)
            self.event("delete", {"note_id": ident, "target_path": path}, who, path,
                       kind="note")
            self.save()

    def note(self, ident: str) -> dict:
        note = next((n for n in self.notes if n["id"] == ident), None)
        if note is None:
            raise ApiError(404, "Note does not exist.")
        return note

    def note_path(self, note: dict) -> str:
        node = self.by_id.get(note["file_id"])
        return node.path() if node is not None else note["file_path"]


def _item_data(node: Node, path: str) -> dict:
    """An event's ``data`` for one item (create, delete, restore)."""
    if node.is_folder:
        return {"target_path": path, "folder_id": node.id, "is_folder": True}
    return {"target_path": path, "target_id": node.current["entry_id"],
            "target_group_id": node.id, "is_folder": False}


def _pair_data(source: Node, source_path: str, target: Node) -> dict:
    """An event's ``data`` for move, rename and copy (``target`` is ``source`` on a move)."""
    data = {"source_path": source_path, "target_path": target.path(),
            "is_folder": source.is_folder}
    if source.is_folder:
        data.update(source_id=source.id, target_id=target.id)
    else:
        data.update(source_id=source.current["entry_id"], target_id=target.current["entry_id"],
                    source_group_id=source.id, target_group_id=target.id)
    return data


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
