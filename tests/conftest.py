"""Shared fixtures: an in-process ExaVault emulator on an ephemeral loopback port."""

from __future__ import annotations

import pytest

from syncd.emulator import Emulator

API_KEY = "test-api-key-5f2a9c"
ACCESS_TOKEN = "test-access-token-81be07"


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
def emulator(make_emulator) -> Emulator:
    return make_emulator()
