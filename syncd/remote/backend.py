"""The remote side as the sync engine sees it: a small, backend-neutral interface.

The planner, worker, engine and tracker only know this interface;
``syncd.remote.exavault.backend`` implements it over the ExaVault v2 API. A
second service (Egnyte's public API is the likely next) needs a new
implementation of this class and one entry in ``syncd.session.SERVICES``.

Paths here are ABSOLUTE server paths (``/work/a.txt``); the engine converts
to and from mirror-relative paths. Every method may raise the typed errors of
``syncd.remote.errors`` (``NotFoundError``, ``AuthError``, ``RateLimitedError``,
``TransportError``, …) and ``syncd.state.budget.BudgetExhausted``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Literal, Protocol

from syncd.model import Kind

ChangeOp = Literal["upload", "delete", "mkdir", "move", "rename", "copy", "other"]

Cursor = Any  # a position in a backend's change feed: see ``Backend.changes``

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


class FeedTooLong(Exception):
    """Reading the change feed would cost more than the ``budget`` requests the
    caller allowed (``Backend.changes``): list the folders instead."""

    def __init__(self, budget: int):
        super().__init__(f"the change feed holds more than {budget} requests' worth")
        self.budget = budget


class CursorLost(Exception):
    """The feed no longer holds the changes after the cursor (Egnyte: a 404 for an
    event id older than the retention): what happened since is unknown, so the
    mirrors must be listed in full, and the feed read again from ``changes(None)``."""


@dataclass(frozen=True)
class AccountInfo:
    """Whose the credentials are, as `syncd check` shows it: the account's name and
    the calls per rolling 24 h the service allows it, where the service says."""

    name: str | None
    daily_limit: int | None


class Backend(Protocol):
    def list_tree(self, root: str) -> Iterator[RemoteItem]:
        """Every file and folder below ``root`` (not ``root`` itself), any order."""

    def stat(self, path: str) -> RemoteItem:
        """The item at ``path``; ``NotFoundError`` if there is none."""

    # The change feed. A cursor is a position in it: a JSON value (the index stores
    # it as is) that only the backend which made it reads; everyone else stores it
    # and passes it back. (ExaVault's is a server time, another service's may be
    # an event id.) These methods, but ``changes``, send no request.

    def changes(self, cursor: Cursor | None, budget: int | None = None
                ) -> tuple[list[Change], Cursor]:
        """Account-wide changes after ``cursor``, oldest first, and the position
        the answer reached (pass it to ``advance``). ``None``: from now (a probe
        whether the feed exists). Raises ``FeedUnavailable`` when the server has
        no feed, and ``FeedTooLong`` when reading it all would cost more than
        ``budget`` requests (the few it took to find out are spent)."""

    def cursor_at(self, when: datetime) -> Cursor:
        """A cursor from which the feed reports every change after server time
        ``when`` (e.g. a full listing complete as of then)."""

    def oldest(self, cursors: Sequence[Cursor]) -> Cursor:
        """The earliest of ``cursors``: one ``changes`` call from it serves every
        reader at one of them."""

    def seen(self, cursor: Cursor | None, change: Change) -> bool:
        """True if a reader at ``cursor`` has had ``change`` already."""

    def advance(self, cursor: Cursor | None, changes: Sequence[Change],
                reached: Cursor) -> Cursor:
        """The cursor of a reader at ``cursor`` after reading ``changes``, the
        answer of a ``changes`` call (from at most ``cursor``) that reached
        ``reached``. ``advance(c, [], cursor_at(t))`` is the later of ``c`` and
        ``cursor_at(t)``."""

    def account(self) -> AccountInfo:
        """One request that proves the URL and the credentials (`syncd check`)."""
        ...

    def has_feed(self) -> bool:
        """One request: does this account have a change feed? (`syncd check --probe`)"""
        ...

    def server_time(self) -> datetime | None:
        """The server's clock as of the last answer, if known."""

    def upload(self, path: str, fileobj: BinaryIO, size: int, *, replace: bool) -> RemoteItem:
        """Store ``size`` bytes read from ``fileobj`` at ``path`` (parents created).
        ``replace=False`` must never overwrite: the server may store the data under
        another name, which the returned item's path tells."""

    def download(self, path: str, fileobj: BinaryIO, *, offset: int = 0) -> int:
        """Write the file's bytes to ``fileobj``; return the size it reached. With
        ``offset``, ``fileobj`` holds the first ``offset`` bytes already and only the
        rest is asked for; a service that sends the whole file anyway calls
        ``fileobj.truncate(0)`` first (the download starts over)."""

    def abort(self) -> None:
        """Stop at once: every request in flight fails (``TransportError``) and no
        other is sent. Called when a pass is cancelled and a request still blocks it."""

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


class ClientBackend:
    """What a ``Backend`` over one service's client shares: the client, its count of
    paid requests, and the echo hook (each change we make, so that the feed's copy
    of it is known as ours)."""

    def __init__(self, client: Any, *, echo: Echo | None = None):
        self.client = client
        self._echo = echo

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"

    @property
    def requests_sent(self) -> int:
        """Paid requests sent through the client so far (for accounting)."""
        return self.client.requests_sent

    def _echoed(self, op: str, path: str) -> None:
        if self._echo is not None:
            self._echo(op, path)
