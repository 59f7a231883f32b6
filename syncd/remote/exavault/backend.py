"""``syncd.remote.backend.Backend`` over the ExaVault v2 API (``ExaVaultClient``).

Every method maps to as few paid requests as the API allows (docs/exavault-api.md §7-§13):

* ``list_tree``: one recursive search (``name=*``), about one request per 100 items.
* ``move``: a rename is one ``PATCH`` by id, a move one ``POST /resources/move``;
  the API cannot do both at once, so a move that also renames costs two.
* ``delete`` / ``move_many``: up to ``client.delete_batch`` (100) items per request.

``echo(op, path)`` is called after each change this backend made on the server,
with the op name the change feed will report (``upload``, ``mkdir``, ``rename``,
``move``, ``delete``) and the absolute path the feed will carry, so the caller can
recognise its own changes in the feed and not pay to re-check them.

Credentials live only inside the client; nothing here logs or stores them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import BinaryIO

from syncd.remote.backend import (
    AccountInfo,
    Change,
    ChangeOp,
    ClientBackend,
    FeedTooLong,
    FeedUnavailable,
    RemoteItem,
)
from syncd.remote.errors import (
    InvalidParameterError,
    NotSupportedError,
    ProtocolError,
    RemoteError,
    ServerError,
    TransportError,
    error_for_status,
)
from syncd.remote.exavault import feed
from syncd.remote.exavault.api import PAGE_LIMIT, ExaVaultClient
from syncd.remote.exavault.feed import Cursor
from syncd.remote.exavault.models import ActivityEntry, ItemResult, Operation, Resource

# Feed operations the sync engine cares about; everything else (downloads, shares,
# users, logins, notifications, ...) is not a change to the tree.
_OPS: dict[Operation, ChangeOp] = {
    Operation.UPLOAD: "upload",
    Operation.DELETE: "delete",
    Operation.CREATE_FOLDER: "mkdir",
    Operation.RENAME: "rename",
    Operation.MOVE: "move",
    Operation.COPY: "copy",
    Operation.EXTRACT: "other",
    Operation.COMPRESS: "other",
}

TEMP_PREFIX = ".syncd-rename-"


def _temp_name() -> str:
    """A name for an item between two steps of a rename (ours alone: random).
    Nothing is ever found, cleaned or deleted by this shape: an item left under
    such a name (a failure between two steps) is an ordinary item and syncs as
    one, and a user's item named like it is never touched."""
    return TEMP_PREFIX + secrets.token_hex(6)


def norm(path: str) -> str:
    """An absolute server path: leading ``/``, no trailing ``/`` (``"/"`` stays)."""
    path = "/" + path.strip("/")
    return path


def split(path: str) -> tuple[str, str]:
    """``/a/b.txt`` -> (``/a``, ``b.txt``); ``/b.txt`` -> (``/``, ``b.txt``)."""
    folder, _, leaf = path.rpartition("/")
    return folder or "/", leaf


def join(folder: str, leaf: str) -> str:
    return folder.rstrip("/") + "/" + leaf


def strictly_under(path: str, root: str) -> bool:
    root = root.rstrip("/")
    return path.startswith(root + "/") and len(path) > len(root) + 1


def item_of(res: Resource) -> RemoteItem:
    """The item for ``res``: no content hash (``Resource.hash`` is an address, not a
    digest) and no version id, which the API does not have."""
    return RemoteItem(path=res.path, kind="dir" if res.is_dir else "file", id=str(res.id),
                      size=res.size, updated=res.updated_at.timestamp() if res.updated_at else 0.0)


def item_error(result: ItemResult, method: str, api_path: str) -> RemoteError:
    """The typed error for one failed item of a many-identifier request."""
    if result.status < 400:  # 2xx/3xx without the record we needed
        return ProtocolError("no usable result for this item", status=result.status,
                             method=method, path=api_path)
    cls = error_for_status(result.status)
    return cls("item failed", status=result.status, code=result.code, detail=result.detail,
               method=method, path=api_path)


def _feed_path(value: str | None) -> str:
    return norm(value) if value else ""


class ExaVaultBackend(ClientBackend):
    """``Backend`` for one ExaVault account. Thread-safe as far as the client is."""

    client: ExaVaultClient

    # --- reading -----------------------------------------------------------------

    def list_tree(self, root: str) -> Iterator[RemoteItem]:
        root = norm(root)
        for res in self.client.search(root):
            if strictly_under(res.path, root):
                yield item_of(res)

    def stat(self, path: str) -> RemoteItem:
        return item_of(self.client.info(norm(path)))

    def stat_id(self, id: str) -> RemoteItem:
        """The item with server id ``id`` wherever it is now (``GET /resources/{id}``,
        one request); ``NotFoundError`` if there is none. Used to find a folder that
        was moved while a listing was paged (not part of the minimal ``Backend``)."""
        return item_of(self.client.info_by_id(int(id)))

    # --- the change feed (cursors: ``feed``) ---------------------------------------

    def changes(self, cursor: Cursor | None, budget: int | None = None
                ) -> tuple[list[Change], Cursor]:
        started = datetime.now(UTC)
        since = (feed.query_start(cursor) if cursor is not None
                 else self.client.server_time or started)
        out, as_of = self._read(since, budget)
        return out, feed.reached(out, as_of, started)

    def cursor_at(self, when: datetime) -> Cursor:
        return feed.since(when)

    def oldest(self, cursors: Sequence[Cursor]) -> Cursor:
        return feed.oldest(cursors)

    def seen(self, cursor: Cursor | None, change: Change) -> bool:
        return feed.seen(cursor, change)

    def advance(self, cursor: Cursor | None, changes: Sequence[Change],
                reached: Cursor) -> Cursor:
        return feed.advance(cursor, changes, reached)

    def activity(self, since: datetime, budget: int | None = None) -> list[Change]:
        """The account's changes at or after server time ``since``, oldest first
        (one activity query: about one request per 100 entries; ``FeedTooLong``
        past ``budget`` requests: ``feed.read``)."""
        return self._read(since, budget)[0]

    def _read(self, since: datetime, budget: int | None
              ) -> tuple[list[Change], datetime | None]:
        def page(offset: int) -> tuple[list[ActivityEntry], datetime | None]:
            return (self.client.session_activity_page(since, offset, PAGE_LIMIT).items,
                    self.client.server_time)
        try:
            got = feed.read(page, budget, PAGE_LIMIT)
        except NotSupportedError as exc:
            raise FeedUnavailable(str(exc)) from None
        if got is None:
            raise FeedTooLong(budget or 0)
        entries, as_of = got
        return [c for c in (self._change(e, since) for e in entries) if c is not None], as_of

    @staticmethod
    def _change(entry: ActivityEntry, since: datetime) -> Change | None:
        op = _OPS.get(entry.operation)
        if op is None:
            return None
        return Change(id="" if entry.id is None else str(entry.id),
                      at=entry.created or since, op=op,
                      path=_feed_path(entry.file_name), source=_feed_path(entry.file_source),
                      user=entry.username or "")

    def server_time(self) -> datetime | None:
        return self.client.server_time

    def account(self) -> AccountInfo:
        a = self.client.account()
        return AccountInfo(a.name, a.transactions_limit)

    def has_feed(self) -> bool:
        try:
            self.activity(self.client.server_time or datetime.now(UTC))
        except FeedUnavailable:
            return False
        return True

    def download(self, path: str, fileobj: BinaryIO, *, offset: int = 0) -> int:
        return self.client.download(norm(path), fileobj, offset=offset)

    def abort(self) -> None:
        self.client.abort()

    # --- changing ----------------------------------------------------------------

    def upload(self, path: str, fileobj: BinaryIO, size: int, *, replace: bool) -> RemoteItem:
        res = self.client.upload(norm(path), fileobj, size=size, allow_overwrite=replace)
        self._echoed("upload", res.path)
        return item_of(res)

    def mkdir(self, path: str) -> RemoteItem:
        path = norm(path)
        try:
            res = self.client.create_folder(path)
        except InvalidParameterError:
            # Already there (the API answers 400)? Then that folder is the result.
            item = self.stat(path)
            if item.kind != "dir":
                raise
            return item
        self._echoed("mkdir", res.path)
        return item_of(res)

    def move(self, src: str, dst: str, *, id: str | None = None) -> RemoteItem:
        src, dst = norm(src), norm(dst)
        (src_dir, src_name), (dst_dir, dst_name) = split(src), split(dst)
        if src_dir == dst_dir:
            if src_name == dst_name:
                return self.stat(src)
            rid = id if id is not None else self.stat(src).id
            return item_of(self._rename(rid, src, dst_name))
        if src_name == dst_name:
            return item_of(self._move_one(src, dst_dir))
        # Both differ: two requests. With the id known, rename in place first;
        # without it, move first (its answer carries the id, saving a lookup).
        # If the first step finds the name taken, try the other order; if both
        # names are taken (the new name beside the source, the old name in the
        # destination), go through a temporary name: three requests.
        rid = id
        if rid is not None:
            done = self._rename_then_move(rid, src, dst_dir, dst_name)
            if done is not None:
                return item_of(done)
        try:
            moved = self._move_one(src, dst_dir)
        except InvalidParameterError:
            if rid is None:
                rid = self.stat(src).id
                done = self._rename_then_move(rid, src, dst_dir, dst_name)
                if done is not None:
                    return item_of(done)
            return item_of(self._via_temp(rid, src, dst_dir, dst_name))
        return item_of(self._then(moved.id, moved.path, src,
                                  lambda: self._rename(moved.id, moved.path, dst_name),
                                  join(split(moved.path)[0], dst_name)))

    def _rename_then_move(self, rid: str | int, src: str, dst_dir: str,
                          dst_name: str) -> Resource | None:
        """Rename in place, then move. None, with nothing changed, when the new
        name is taken beside the source."""
        renamed = join(split(src)[0], dst_name)
        try:
            self._rename(rid, src, dst_name)
        except InvalidParameterError:
            return None
        except RemoteError as exc:
            if self._settled(rid, exc, renamed) is None:
                raise
        return self._then(rid, renamed, src, lambda: self._move_one(renamed, dst_dir),
                          join(dst_dir, dst_name))

    def _via_temp(self, rid: str | int, src: str, dst_dir: str, dst_name: str) -> Resource:
        """Move+rename when both orders collide: rename to a temporary name, move,
        rename to the wanted name; any failure puts the item back."""
        tmp = _temp_name()
        self._rename(rid, src, tmp)
        at = join(split(src)[0], tmp)
        moved = self._then(rid, at, src, lambda: self._move_one(at, dst_dir), join(dst_dir, tmp))
        return self._then(rid, moved.path, src, lambda: self._rename(rid, moved.path, dst_name),
                          join(split(moved.path)[0], dst_name))

    def _then(self, rid: str | int, current: str, original: str,
              step: Callable[[], Resource], lands_at: str) -> Resource:
        """Run the second step of a move+rename; if it fails, put the item back
        where it was (best effort) so a failed move leaves no half-done state.
        A 5xx or a lost answer does not say whether the server did the step: one
        stat of ``lands_at`` tells (``_settled``); undoing blind would move the
        item away from where the server had just put it."""
        try:
            return step()
        except RemoteError as exc:
            there = self._settled(rid, exc, lands_at)
            if there is not None:
                return there
            try:
                self._undo(rid, current, original)
            except RemoteError:
                pass
            raise

    def _settled(self, rid: str | int, exc: RemoteError, lands_at: str) -> Resource | None:
        """A step of a move failed with an outcome we cannot tell (5xx, a lost
        answer): the item with id ``rid`` at ``lands_at`` (one stat) means the
        server did it. None when it did not, or the error was a refusal."""
        if not isinstance(exc, (ServerError, TransportError)):
            return None
        try:
            there = self.client.info(lands_at)
        except RemoteError:
            return None
        return there if str(there.id) == str(rid) else None

    def _undo(self, rid: str | int, current: str, original: str) -> None:
        (cur_dir, cur_name), (orig_dir, orig_name) = split(current), split(original)
        if cur_dir != orig_dir:
            self._move_one(current, orig_dir)
        if cur_name != orig_name:
            self._rename(rid, join(orig_dir, cur_name), orig_name)

    def _rename(self, rid: str | int, current: str, new_name: str) -> Resource:
        """Rename by id; a case-only rename the server refuses (a case-insensitive
        server sees the name as taken) goes through a temporary name."""
        folder, old_name = split(current)
        try:
            res = self.client.rename(rid, new_name)
        except InvalidParameterError:
            if new_name == old_name or new_name.casefold() != old_name.casefold():
                raise
            tmp = _temp_name()
            self.client.rename(rid, tmp)
            self._echoed("rename", join(folder, tmp))
            try:
                res = self.client.rename(rid, new_name)
            except RemoteError:
                try:
                    self.client.rename(rid, old_name)
                    self._echoed("rename", current)
                except RemoteError:
                    pass
                raise
        self._echoed("rename", res.path)
        return res

    def _move_one(self, src: str, parent: str) -> Resource:
        results = self.client.move([src], parent)
        result = results[0] if results else ItemResult(src, 0)
        if not result.ok:
            raise item_error(result, "POST", "/resources/move")
        res = result.resource
        if res is None:  # a server that does not echo the record: look it up
            res = self.client.info(join(parent, split(src)[1]))
        self._echoed("move", res.path)
        return res

    def delete(self, paths: Iterable[str]) -> dict[str, Exception | None]:
        wanted = {p: norm(p) for p in paths}
        targets = list(dict.fromkeys(wanted.values()))
        done: dict[str, Exception | None] = {}
        step = self.client.delete_batch
        for i in range(0, len(targets), step):
            chunk = targets[i:i + step]
            for path, result in _pair(chunk, self.client.delete(chunk)).items():
                if result is not None and result.ok:
                    done[path] = None
                    self._echoed("delete", path)
                elif result is not None and result.status == 404:
                    done[path] = None  # already gone: the goal is reached
                else:
                    done[path] = item_error(result or ItemResult(path, 0), "DELETE",
                                            "/resources")
        return {orig: done[n] for orig, n in wanted.items()}

    def move_many(self, paths: Iterable[str], parent: str, *,
                  landed: dict[str, RemoteItem] | None = None) -> dict[str, Exception | None]:
        """Move items into ``parent``. A 404 for an item is reported as
        ``NotFoundError`` (not success): unlike a delete, the goal "it is in
        ``parent`` now" was not reached. ``landed`` (if given) receives, per
        moved path, the item as the server describes it after the move."""
        parent = norm(parent)
        wanted = {p: norm(p) for p in paths}
        targets = list(dict.fromkeys(wanted.values()))
        done: dict[str, Exception | None] = {}
        step = self.client.delete_batch
        for i in range(0, len(targets), step):
            chunk = targets[i:i + step]
            for path, result in _pair(chunk, self.client.move(chunk, parent)).items():
                if result is not None and result.ok:
                    done[path] = None
                    if landed is not None and result.resource is not None:
                        landed[path] = item_of(result.resource)
                    self._echoed("move", result.resource.path if result.resource
                                 else join(parent, split(path)[1]))
                else:
                    done[path] = item_error(result or ItemResult(path, 0), "POST",
                                            "/resources/move")
        return {orig: done[n] for orig, n in wanted.items()}


def _pair(sent: list[str], results: list[ItemResult]) -> dict[str, ItemResult | None]:
    """Match per-item results to the identifiers sent: by the echoed identifier,
    else by position when the counts agree; unmatched items get ``None``."""
    out: dict[str, ItemResult | None] = dict.fromkeys(sent)
    loose = []
    for r in results:
        if r.identifier in out and out[r.identifier] is None:
            out[r.identifier] = r
        else:
            loose.append(r)
    if len(results) == len(sent):
        for i, path in enumerate(sent):
            if out[path] is None and results[i] in loose:
                out[path] = results[i]
    return out
