"""Shared fixtures: in-process ExaVault and Egnyte emulators on ephemeral loopback ports."""

from __future__ import annotations

import pytest

from syncd.emulators.exavault import Emulator
from tests.helpers.accounts import ACCESS_TOKEN, API_KEY, FAST_RETRY


@pytest.fixture
def make_emulator(tmp_path_factory):
    """Factory: ``make_emulator(**options)`` starts an emulator; all are stopped at teardown."""
    started: list[Emulator] = []

    def make(**options) -> Emulator:
        root = options.pop("root", None) or tmp_path_factory.mktemp("emulator")
        options.setdefault("api_key", API_KEY)
        options.setdefault("access_token", ACCESS_TOKEN)
        emu = Emulator(root, **options).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def make_egnyte(tmp_path_factory):
    """Factory: ``make_egnyte(**options)`` starts an Egnyte emulator on 127.0.0.1 (in this
    process, an ephemeral port); all are stopped at teardown. The result has ``.base_url``,
    ``.token``, ``.other_token`` and the test hooks (``.other`` acts as another user,
    ``set_limits``, ``set_event_retention``, ``set_faults``, ``advance_clock``, ``revoke``).
    Unless given: no call limits and 1 KiB chunks allowed (tests/helpers/egnyte.py)."""
    from syncd.emulators.egnyte import Emulator as EgnyteEmulator
    from tests.helpers.egnyte import FIXTURE_DEFAULTS

    started: list[EgnyteEmulator] = []

    def make(**options) -> EgnyteEmulator:
        root = options.pop("root", None) or tmp_path_factory.mktemp("egnyte")
        for name, value in FIXTURE_DEFAULTS.items():
            options.setdefault(name, value)
        emu = EgnyteEmulator(root, **options).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def egnyte(make_egnyte):
    """An Egnyte emulator with the fixture's defaults."""
    return make_egnyte()


@pytest.fixture
def egnyte_api(egnyte):
    """A raw HTTP client (tests/helpers/egnyte.py) bound to ``egnyte`` with its token."""
    from tests.helpers.egnyte import EgnyteApi

    api = EgnyteApi(egnyte)
    yield api
    api.close()


@pytest.fixture
def emulator(make_emulator) -> Emulator:
    return make_emulator()


# --- clients bound to an emulator -------------------------------------------------------


@pytest.fixture
def make_client():
    """Factory: ``make_client(emu, **options)`` -> ExaVaultClient with fast retries."""
    from syncd.remote.exavault.api import ExaVaultClient, RetryPolicy

    clients = []

    def make(emu, *, api_key=API_KEY, access_token=ACCESS_TOKEN, **options):
        options.setdefault("retry", RetryPolicy(**FAST_RETRY))
        options.setdefault("timeout", (5.0, 20.0))
        c = ExaVaultClient(emu.url, api_key, access_token, **options)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(emulator, make_client):
    """An ExaVaultClient talking to the default ``emulator``."""
    return make_client(emulator)
