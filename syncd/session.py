"""The account session: the one place that knows which service an account is.

``AccountSession.open`` builds, from the config, what passes over one account
share: the transaction budget, the service's client, the ``Backend`` over it and
the remote tracker. The service is picked from ``SERVICES`` by the account's type;
the config has no type key yet, so every account is ``DEFAULT_SERVICE``
(ExaVault). A second service is one more entry in ``SERVICES``: a ``Service``
that builds its client and ``Backend`` and says how its webhook pushes are
signed and spelled (the rest of syncd only sees ``Backend`` and ``PushFormat``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from syncd.config.loader import AccountConfig, Config
from syncd.remote.backend import Backend, Echo, RequestEvent
from syncd.remote.exavault.api import ExaVaultClient, RetryPolicy
from syncd.remote.exavault.backend import ExaVaultBackend
from syncd.remote.exavault.webhook import FORMAT as EXAVAULT_PUSH
from syncd.remote.tracker import RemoteTracker
from syncd.remote.webhook import PushFormat
from syncd.state.budget import Budget
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


@dataclass(frozen=True)
class Service:
    """One service syncd speaks to: how to connect, and its webhook pushes."""

    connect: Connect
    push: PushFormat


SERVICES: dict[str, Service] = {"exavault": Service(_exavault, EXAVAULT_PUSH)}
DEFAULT_SERVICE = "exavault"


def service_of(acct: AccountConfig) -> str:
    """The account's service: a key of ``SERVICES``. The config has no type key
    yet, so every account is ``DEFAULT_SERVICE``; a type key would be read here."""
    return DEFAULT_SERVICE


def push_format(acct: AccountConfig) -> PushFormat:
    """How the account's service signs and spells webhook pushes."""
    return SERVICES[service_of(acct)].push


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

    @classmethod
    def open(cls, config: Config, index: Index, *, now: Callable[[], float] = time.time,
             pool: int = 6, patient: bool = True) -> AccountSession:
        acct = config.account
        budget = Budget(index, acct.url, budget=acct.budget, reserve=acct.reserve, now=now)
        connect = SERVICES[service_of(acct)].connect
        client, backend = connect(
            acct, Wiring(budget.gate, budget.observe, pool, patient),
            lambda op, path: index.expect_echo(acct.url, now(), op, path))
        tracker = RemoteTracker(backend, index, acct.url, now=now)
        return cls(index, budget, client, backend, tracker)

    def close(self) -> None:
        self.client.close()
