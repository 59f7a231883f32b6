"""The remote side as the sync engine sees it: a small, backend-neutral interface.

The planner, worker and engine only know this interface; ``syncd.remote.
exavault_backend`` implements it over the ExaVault v2 API. A second service
(Egnyte's public API is the likely next) needs a new implementation of this
class and nothing else.

Paths here are ABSOLUTE server paths (``/work/a.txt``); the engine converts
to and from mirror-relative paths. Every method may raise the typed errors of
``syncd.remote.errors`` (``NotFoundError``, ``AuthError``, ``RateLimitedError``,
``TransportError``, …) and ``syncd.state.budget.BudgetExhausted``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Literal, Protocol

from syncd.model import Kind

ChangeOp = Literal["upload", "delete", "mkdir", "move", "rename", "copy", "other"]

Echo = Callable[[str, str], None]
"""``echo(op, path)``: called by a backend after each change it made on the server,
with the op and absolute path its change feed will report for it."""


@dataclass(frozen=True)
class RequestEvent:
    """Passed to a client's ``on_request`` once per request sent (one transaction
    each). ``status`` is ``None`` when no answer arrived (transport failure)."""

    method: str
    path: str
    status: int | None
    limit: int | None
    remaining: int | None


@dataclass(frozen=True)
class ContentHash:
    """A file's content hash as the server reports it: ``algorithm`` as the service
    names it (lower case, e.g. ``"sha512"``) and the digest in lower-case hex."""

    algorithm: str
    hex: str


@dataclass(frozen=True)
class RemoteItem:
    """One item as the server reports it (absolute path). ``hash`` and ``version``
    (the server's id of this version of the file) are ``None`` where the service
    does not report them (ExaVault reports neither)."""

    path: str
    kind: Kind
    id: str
    size: int
    updated: float  # UNIX seconds
    hash: ContentHash | None = None
    version: str | None = None


@dataclass(frozen=True)
class Change:
    """One entry of the server's change feed: ``path`` is the (new) absolute path,
    ``source`` the old one for moves/renames/copies (else ``""``)."""

    id: str
    at: datetime
    op: ChangeOp
    path: str
    source: str = ""
    user: str = ""


class FeedUnavailable(Exception):
    """The server has no change feed (e.g. ExaVault accounts migrated to Files.com)."""


class Backend(Protocol):
    def list_tree(self, root: str) -> Iterator[RemoteItem]:
        """Every file and folder below ``root`` (not ``root`` itself), any order."""

    def stat(self, path: str) -> RemoteItem:
        """The item at ``path``; ``NotFoundError`` if there is none."""

    def changes(self, since: datetime) -> list[Change]:
        """Account-wide changes at or after ``since`` (server time), oldest first.
        Raises ``FeedUnavailable`` when the server has no feed."""

    def server_time(self) -> datetime | None:
        """The server's clock as of the last answer, if known."""

    def upload(self, path: str, fileobj: BinaryIO, size: int, *, replace: bool) -> RemoteItem:
        """Store ``size`` bytes read from ``fileobj`` at ``path`` (parents created).
        ``replace=False`` must never overwrite: the server may store the data under
        another name, which the returned item's path tells."""

    def download(self, path: str, fileobj: BinaryIO) -> int:
        """Write the file's bytes to ``fileobj``; return the count."""

    def mkdir(self, path: str) -> RemoteItem:
        """Create folder ``path`` (and missing parents)."""

    def move(self, src: str, dst: str, *, id: str | None = None) -> RemoteItem:
        """Move and/or rename ``src`` to ``dst`` (never replacing an existing ``dst``).
        ``id`` is the item's known server id, which saves a lookup where the
        service renames by id."""

    def delete(self, paths: Iterable[str]) -> dict[str, Exception | None]:
        """Delete many items (folders with their contents) in as few requests as
        possible; per path ``None`` on success (or already gone) or the error."""

    def move_many(self, paths: Iterable[str], parent: str, *,
                  landed: dict[str, RemoteItem] | None = None) -> dict[str, Exception | None]:
        """Move many items into folder ``parent`` keeping their names, in as few
        requests as possible (used for the remote trash). ``landed`` receives,
        per moved path, the item as the server describes it after the move."""
