"""The account session: the one place that knows which service an account is.

``AccountSession.open`` builds, from the config, what passes over one account
share: the transaction budget, the service's client, the ``Backend`` over it and
the remote tracker. The service is picked from ``SERVICES`` by the account's type;
the config has no type key yet, so every account is ``DEFAULT_SERVICE``
(ExaVault). A second service is one more entry in ``SERVICES``: a ``Service``
that builds its client and ``Backend`` and says how its webhook pushes are
signed and spelled (the rest of syncd only sees ``Backend`` and ``PushFormat``).

The session also proves that ``account.url`` is the service's API base
(``UrlProof``): a wrong URL (``http://host:port`` without ``/api/v2``) otherwise
reads as an empty folder whose uploads fail. The proof is ``GET /account``, which
every account answers, and is spent at most once per account URL and index: only
when an answer of the pass looked like no API base's (a 404, a redirect, a page
that is not the API's) before anything proved the URL, and never once the feed
has answered (``feed = yes``) or a proof was recorded (``api_base``; `syncd check`
records one too). A failed proof stops the pass with ``NotAnApiError`` (exit 78).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from syncd.config.loader import AccountConfig, Config
from syncd.remote.backend import AccountInfo, Backend, Echo, RequestEvent
from syncd.remote.errors import NotAnApiError, NotFoundError, RemoteError
from syncd.remote.exavault.api import ExaVaultClient, RetryPolicy
from syncd.remote.exavault.backend import ExaVaultBackend
from syncd.remote.exavault.webhook import FORMAT as EXAVAULT_PUSH
from syncd.remote.tracker import RemoteTracker
from syncd.remote.webhook import PushFormat
from syncd.state.budget import ROLLING, Budget, BudgetExhausted
from syncd.state.index import Index


class Client(Protocol):
    """What the session needs of a service's client: per-request observation (the
    budget counts, the daemon's heartbeat beats) and closing."""

    on_request: Callable[[RequestEvent], None] | None

    def close(self) -> None: ...


@dataclass(frozen=True)
class Wiring:
    """What the budget lends a service's client: ``gate`` runs before each
    request (it may refuse with ``BudgetExhausted``), ``on_request`` after it."""

    gate: Callable[[str, str], None]
    on_request: Callable[[RequestEvent], None]
    pool: int  # HTTP connections to keep (parallel transfers + 2)
    patient: bool = True  # False: one try per request, no retries (`syncd check`)


Connect = Callable[[AccountConfig, Wiring, Echo], tuple[Client, Backend]]


def _exavault(acct: AccountConfig, wiring: Wiring, echo: Echo) -> tuple[Client, Backend]:
    one_try = {} if wiring.patient else {"retry": RetryPolicy(attempts=1)}
    client = ExaVaultClient(acct.url, acct.api_key, acct.access_token,
                            timeout=(10.0, acct.timeout), pool_size=wiring.pool,
                            gate=wiring.gate, on_request=wiring.on_request, **one_try)
    return client, ExaVaultBackend(client, echo=echo)


EXAVAULT_BASE = "/api/v2"


def _exavault_hint(url: str) -> str:
    """How an ExaVault API base looks, and the likely fix of ``url``."""
    hint = ("account.url must be the account's API v2 base, like "
            f"https://ACCOUNT.exavault.com{EXAVAULT_BASE}")
    if not url.rstrip("/").endswith(EXAVAULT_BASE):
        hint += f" (did you mean {url.rstrip('/')}{EXAVAULT_BASE}?)"
    return hint


def _any_hint(url: str) -> str:
    return "account.url must be the service's API base URL"


@dataclass(frozen=True)
class Service:
    """One service syncd speaks to: how to connect, its webhook pushes, the hint
    shown when ``account.url`` is not its API base, and the day its daily quota
    counts over (``budget.ROLLING`` 24 h, or ``budget.UTC_DAY`` for a quota that
    resets at 00:00 UTC, like Egnyte's)."""

    connect: Connect
    push: PushFormat
    url_hint: Callable[[str], str] = _any_hint
    budget_window: str = ROLLING


SERVICES: dict[str, Service] = {"exavault": Service(_exavault, EXAVAULT_PUSH, _exavault_hint)}
DEFAULT_SERVICE = "exavault"


def service_of(acct: AccountConfig) -> str:
    """The account's service: a key of ``SERVICES``. The config has no type key
    yet, so every account is ``DEFAULT_SERVICE``; a type key would be read here."""
    return DEFAULT_SERVICE


def push_format(acct: AccountConfig) -> PushFormat:
    """How the account's service signs and spells webhook pushes."""
    return SERVICES[service_of(acct)].push


def not_an_api(exc: BaseException, url: str,
               hint: Callable[[str], str] = SERVICES[DEFAULT_SERVICE].url_hint
               ) -> NotAnApiError | None:
    """The ``NotAnApiError`` that ``exc``, the failure of ``GET /account`` on
    ``url``, means; ``None`` when it says nothing about the URL (refused
    credentials, budget, server down, ...). Every account answers that request,
    so a 404, a redirect or an answer that is not the API's means a wrong URL
    (`syncd check` and the passes decide by this one function)."""
    if isinstance(exc, NotAnApiError):
        return exc
    if not isinstance(exc, RemoteError):
        return None
    status = exc.status
    if isinstance(exc, NotFoundError):
        what = f"answered {status} to GET /account, which every account has"
    elif status is not None and 300 <= status < 400:
        what = f"answered GET /account with a redirect ({status})"
    elif exc.foreign and (status is None or status < 500):
        what = f"did not answer GET /account as the API does ({exc})"
    else:
        return None
    return NotAnApiError(f"{url} is not an API base: it {what}; {hint(url)}", cause=exc)


class UrlProof:
    """Whether ``account.url`` is proven an API base (see the module docstring).
    ``observe`` sees every answer (any thread); ``confirm`` runs between requests
    on the pass's thread."""

    def __init__(self, index: Index, url: str, now: Callable[[], float],
                 hint: Callable[[str], str] = _any_hint):
        self.index = index
        self.url = url
        self.now = now
        self.hint = hint
        self.backend: Backend | None = None
        self.suspect = False  # an answer no API base gives was seen before a proof
        self._proven = False

    def observe(self, event: RequestEvent) -> None:
        status = event.status
        if status is not None and not self._proven and (
                status in (404, 405) or 300 <= status < 400):
            self.suspect = True

    @property
    def proven(self) -> bool:
        if not self._proven:
            state = self.index.account_state(self.url)
            self._proven = bool(state.api_base) or state.feed == "yes"
        return self._proven

    def prove(self) -> AccountInfo:
        """Send ``GET /account``: the account, recorded as proof; ``NotAnApiError``
        when the answer says the URL is wrong; any other error as raised."""
        assert self.backend is not None
        try:
            info = self.backend.account()
        except RemoteError as exc:
            raise (not_an_api(exc, self.url, self.hint) or exc) from None
        self.index.account_state(self.url).api_base = self.now()
        self._proven, self.suspect = True, False
        return info

    def confirm(self, exc: BaseException | None = None) -> BaseException | None:
        """After answers of a pass (and with the error that stopped it, if any):
        while the URL is unproven and an answer looked like no API base's, prove
        it. Returns what stopped the pass: ``NotAnApiError`` when the proof failed,
        else ``exc``; without ``exc`` a failed proof is raised. A proof that fails
        for another reason (budget, server) leaves the question for the next pass."""
        if isinstance(exc, NotAnApiError):
            return exc
        foreign = isinstance(exc, RemoteError) and exc.foreign
        if not (self.suspect or foreign) or self.proven:
            return exc
        try:
            self.prove()
        except NotAnApiError as wrong:
            if exc is None:
                raise
            return wrong
        except (RemoteError, BudgetExhausted):  # unknown yet: asked at the next suspect
            pass
        return exc


@dataclass
class AccountSession:
    """What passes over one account share: the index, the transaction budget, the
    service's client, its backend and the remote tracker. One-shot syncs open one
    per run; the daemon keeps one for its lifetime (a new one after a config reload)."""

    index: Index
    budget: Budget
    client: Client
    backend: Backend
    tracker: RemoteTracker
    url: UrlProof

    @classmethod
    def open(cls, config: Config, index: Index, *, now: Callable[[], float] = time.time,
             pool: int = 6, patient: bool = True) -> AccountSession:
        acct = config.account
        service = SERVICES[service_of(acct)]
        budget = Budget(index, acct.url, budget=acct.budget, reserve=acct.reserve, now=now,
                        window=service.budget_window)
        proof = UrlProof(index, acct.url, now, service.url_hint)

        def observe(event: RequestEvent) -> None:
            budget.observe(event)
            proof.observe(event)
        client, backend = service.connect(
            acct, Wiring(budget.gate, observe, pool, patient),
            lambda op, path: index.expect_echo(acct.url, now(), op, path))
        proof.backend = backend
        tracker = RemoteTracker(backend, index, acct.url, now=now)
        return cls(index, budget, client, backend, tracker, proof)

    def close(self) -> None:
        self.client.close()
