"""``syncd.remote.backend.Backend`` over Egnyte's Public API (``EgnyteClient``).

Calls per method (each one call of the token's 1,000 a day):

* ``list_tree``: one listing per folder per 100 items (Egnyte has no recursive list).
* ``stat``: one; ``mkdir``: one per missing level ("exists" is fine).
* ``upload``: one (one per chunk above the threshold); ``replace=False`` adds a stat.
* ``move``: one (move and rename are one call); ``delete``/``move_many``: one per
  top-most item (Egnyte has no bulk call).
* ``changes``: one per 100 events (a quiet feed: one call answered 204).

The feed cursor is the integer id of the last event read (a JSON number). A
cursor older than Egnyte's retention answers 404: ``CursorLost`` (a full listing
is the only recovery), distinct from ``FeedTooLong``.

A change with an unknown outcome (a lost answer, a 5xx) is settled by one stat,
never sent again blind. ``echo(op, path)`` is told of each change made here.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import BinaryIO

from syncd.remote.backend import (
    AccountInfo,
    Change,
    ChangeOp,
    ClientBackend,
    CursorLost,
    Echo,
    FeedTooLong,
    RemoteItem,
)
from syncd.remote.egnyte import transfer
from syncd.remote.egnyte.api import EVENTS_PAGE, EgnyteClient
from syncd.remote.egnyte.models import (
    Event,
    Item,
    content_hash,
    fold,
    join,
    norm,
    path_problem,
    split,
)
from syncd.remote.errors import (
    AlreadyExistsError,
    NameRefusedError,
    NotFoundError,
    RemoteError,
    ServerError,
    TransportError,
)

_ACTIONS: dict[str, ChangeOp] = {"delete": "delete", "move": "move", "rename": "rename",
                                 "copy": "copy"}
UNKNOWN = (ServerError, TransportError)


def change_of(ev: Event) -> Change | None:
    """The ``Change`` for one event; ``None`` for events that change no item."""
    if ev.type and ev.type != "file_system":
        return None
    if ev.action == "create":
        op: ChangeOp = "mkdir" if ev.is_folder else "upload"
    elif ev.action in _ACTIONS:
        op = _ACTIONS[ev.action]
    elif ev.action == "restore":
        op = "mkdir" if ev.is_folder else "upload"
    else:
        op = "other"
    if not ev.target_path:
        return None
    return Change(id=str(ev.id), at=ev.at, op=op, path=norm(ev.target_path),
                  source=norm(ev.source_path) if ev.source_path else "", user=ev.actor)


class EgnyteBackend(ClientBackend):
    """``Backend`` for one Egnyte token. Thread-safe as far as the client is."""

    def __init__(self, client: EgnyteClient, *, echo: Echo | None = None,
                 threshold: int = transfer.THRESHOLD, chunk_size: int = transfer.CHUNK_SIZE,
                 parallel: int = transfer.PARALLEL):
        super().__init__(client, echo=echo)
        self.threshold, self.chunk_size, self.parallel = threshold, chunk_size, parallel
        self._marks: list[tuple[datetime, int]] = []  # (server time, latest event id) seen
        self._chunks: dict[tuple[str, int], transfer.ChunkState] = {}
        self._lock = threading.Lock()

    # --- reading ----------------------------------------------------------------------

    def list_tree(self, root: str) -> Iterator[RemoteItem]:
        todo = [norm(root)]
        while todo:
            folder = todo.pop()
            for item in self.client.list_folder(folder)[1]:
                if item.is_folder:
                    todo.append(item.path)
                yield item.remote_item()

    def stat(self, path: str) -> RemoteItem:
        return self.client.info(norm(path)).remote_item()

    def stat_id(self, id: str, kind: str = "file") -> RemoteItem:
        """The item with server id ``id`` (``file``: a group_id; ``folder``)."""
        return self.client.info_by_id(kind, id).remote_item()

    # --- the change feed ---------------------------------------------------------------

    def _mark(self, latest: int) -> None:
        when = self.client.server_time or datetime.now(UTC)
        self._marks.append((when, latest))
        del self._marks[:-64]

    def changes(self, cursor: int | None, budget: int | None = None
                ) -> tuple[list[Change], int]:
        """Changes after event ``cursor``; ``None``: from now (one cursor call).
        ``CursorLost`` when the server no longer holds the events after it (404);
        ``FeedTooLong`` past ``budget`` calls."""
        if cursor is None:
            latest, _ = self.client.events_cursor()
            self._mark(latest)
            return [], latest
        at, out, calls = int(cursor), [], 0
        while True:
            if budget is not None and calls >= budget:
                raise FeedTooLong(budget)
            try:
                page = self.client.events(at, EVENTS_PAGE)
            except NotFoundError as exc:
                raise CursorLost(str(exc)) from None
            calls += 1
            for ev in page.events:
                if ev.id > at:
                    ch = change_of(ev)
                    if ch is not None:
                        out.append(ch)
            newest = max([at] + [e.id for e in page.events])
            if page.latest_id is None or not page.events:
                self._mark(newest)
                return out, newest
            if len(page.events) < EVENTS_PAGE or newest <= at:
                newest = max(newest, page.latest_id if len(page.events) < EVENTS_PAGE else at)
                self._mark(newest)
                return out, newest
            at = newest

    def cursor_at(self, when: datetime) -> int:
        """The newest event id this backend saw current at or before server time
        ``when``. With none seen, one cursor call (the only method here besides
        ``changes`` that may send one): events between ``when`` and that call are
        then not reported, so call ``changes(None)`` before a listing."""
        known = [eid for t, eid in self._marks if t <= when]
        if known:
            return max(known)
        latest, _ = self.client.events_cursor()
        self._mark(latest)
        return latest

    def oldest(self, cursors: Sequence[int]) -> int:
        return min(int(c) for c in cursors)

    def seen(self, cursor: int | None, change: Change) -> bool:
        return cursor is not None and change.id.isdigit() and int(change.id) <= int(cursor)

    def advance(self, cursor: int | None, changes: Sequence[Change], reached: int) -> int:
        return max(int(reached), int(cursor) if cursor is not None else 0)

    def server_time(self) -> datetime | None:
        return self.client.server_time

    def account(self) -> AccountInfo:
        info = self.client.userinfo()
        usage = self.client.usage
        return AccountInfo(str(info.get("username") or info.get("email") or "") or None,
                           usage.quota_allotted if usage else None)

    def has_feed(self) -> bool:
        self.client.events_cursor()
        return True

    def download(self, path: str, fileobj: BinaryIO, *, offset: int = 0) -> int:
        return transfer.download(self.client, norm(path), fileobj, offset=offset)

    def abort(self) -> None:
        self.client.abort()

    # --- changing ----------------------------------------------------------------------

    def upload(self, path: str, fileobj: BinaryIO, size: int, *, replace: bool) -> RemoteItem:
        """Store the bytes at ``path`` (parents created). ``replace=False``: a stat
        first; a name taken (compared case-insensitively, as Egnyte does) stores the
        file as ``name (n).ext`` instead. The race that remains: an item created
        at the name between that stat and the upload gets ours as a new version
        (Egnyte has no "never overwrite" switch)."""
        path = norm(path)
        why = path_problem(path)
        if why:
            raise NameRefusedError(why, method="POST", path=path)
        parent, name = split(path)
        if not replace:
            try:
                self.client.info(path)
            except NotFoundError:
                pass
            else:
                path = self._free_name(parent, name)
        start = fileobj.tell() if _seekable(fileobj) else None
        try:
            stored = self._send_into(path, fileobj, size, start)
        except UNKNOWN:
            item = self._landed(path, size)
            if item is None:
                if start is None:
                    raise
                fileobj.seek(start)
                stored = self._send_into(path, fileobj, size, start)
            else:
                self._echoed("upload", item.path)
                return item
        self._echoed("upload", path)
        if not stored.group_id or not stored.entry_id:
            return self.stat(path)
        return RemoteItem(path=path, kind="file", id=stored.group_id, size=size,
                          updated=time.time(), hash=content_hash(stored.checksum),
                          version=stored.entry_id)

    def _send_into(self, path: str, fileobj: BinaryIO, size: int, start: int | None):
        """Send; a missing parent (404) is created and the upload sent again."""
        try:
            return self._send(path, fileobj, size)
        except NotFoundError:
            parent = split(path)[0]
            if start is None or parent in ("/", "/Shared", "/Private"):
                raise
            self.mkdir(parent)
            fileobj.seek(start)
            return self._send(path, fileobj, size)

    def _send(self, path: str, fileobj: BinaryIO, size: int) -> transfer.Stored:
        if size > self.threshold:
            # A chunked upload that fails keeps its state here: sent again (this
            # pass or the next, within Egnyte's 24 h), only missing chunks go.
            key = (fold(path), size)
            with self._lock:
                state = self._chunks.setdefault(key, transfer.ChunkState())
            stored = transfer.upload_chunked(self.client, path, fileobj, size,
                                             chunk_size=self.chunk_size,
                                             parallel=self.parallel, state=state)
            with self._lock:
                self._chunks.pop(key, None)
            return stored
        return transfer.upload(self.client, path, fileobj, size)

    def _landed(self, path: str, size: int) -> RemoteItem | None:
        try:
            item = self.client.info(path).remote_item()
        except NotFoundError:
            return None
        return item if item.kind == "file" and item.size == size else None

    def _free_name(self, parent: str, name: str) -> str:
        """``name (n).ext`` free in ``parent`` (one listing, names folded)."""
        taken = {fold(i.path.rsplit("/", 1)[1]) for i in self.client.list_folder(parent)[1]}
        stem, ext = os.path.splitext(name)
        n = 1
        while fold(f"{stem} ({n}){ext}") in taken:
            n += 1
        return join(parent, f"{stem} ({n}){ext}")

    def mkdir(self, path: str) -> RemoteItem:
        """Create ``path``, and each missing parent one by one (top down)."""
        path = norm(path)
        why = path_problem(path)
        if why:
            raise NameRefusedError(why, method="POST", path=path)
        try:
            return self._add_folder(path)
        except NotFoundError:
            parent = split(path)[0]
            if parent in ("/", path):
                raise
            self.mkdir(parent)
            return self._add_folder(path)

    def _add_folder(self, path: str) -> RemoteItem:
        try:
            self.client.add_folder(path)
        except AlreadyExistsError:
            item = self.stat(path)
            if item.kind != "dir":
                raise
            return item
        except UNKNOWN as exc:
            item = self._settled(path, exc)  # is it there now?
            if item.kind != "dir":
                raise
            self._echoed("mkdir", path)
            return item
        self._echoed("mkdir", path)
        return self.stat(path)

    def _settled(self, path: str, exc: RemoteError) -> RemoteItem:
        """The item at ``path`` after a change whose answer was lost; ``exc`` again
        when there is none (the change did not happen, or cannot be told)."""
        try:
            return self.stat(path)
        except RemoteError:
            raise exc from None

    def move(self, src: str, dst: str, *, id: str | None = None) -> RemoteItem:
        """One ``move`` call (move and rename together); never onto an existing
        ``dst`` (Egnyte answers 409). A case-only rename is sent as is."""
        src, dst = norm(src), norm(dst)
        if src == dst:
            return self.stat(src)
        why = path_problem(dst)
        if why:
            raise NameRefusedError(why, method="POST", path=dst)
        try:
            self.client.move(src, dst)
        except UNKNOWN as exc:  # did it happen? one stat settles it
            item = self._settled(dst, exc)
            if id is not None and item.id != id:
                raise
        else:
            item = self.stat(dst)
        self._echoed("move" if split(src)[0] != split(dst)[0] else "rename", dst)
        return item

    def delete(self, paths: Iterable[str]) -> dict[str, Exception | None]:
        out: dict[str, Exception | None] = {}
        for path in dict.fromkeys(paths):
            target = norm(path)
            try:
                self.client.delete(target)
                self._echoed("delete", target)
                out[path] = None
            except NotFoundError:
                out[path] = None  # already gone: the goal is reached
            except UNKNOWN as exc:
                try:
                    self.client.info(target)
                    out[path] = exc
                except NotFoundError:
                    out[path] = None
                except RemoteError:
                    out[path] = exc
            except RemoteError as exc:
                out[path] = exc
        return out

    def move_many(self, paths: Iterable[str], parent: str, *,
                  landed: dict[str, RemoteItem] | None = None) -> dict[str, Exception | None]:
        parent = norm(parent)
        out: dict[str, Exception | None] = {}
        for path in dict.fromkeys(paths):
            try:
                item = self.move(path, join(parent, split(path)[1]))
            except RemoteError as exc:
                out[path] = exc
                continue
            out[path] = None
            if landed is not None:
                landed[path] = item
        return out


def _seekable(f) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, ValueError, OSError):
        return False


__all__ = ["EgnyteBackend", "change_of", "Item"]
