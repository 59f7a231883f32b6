"""Helpers for the guard tests: writing files and reading the emulator's operation log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.sync import make_setup


@pytest.fixture
def s(make_emulator, tmp_path):
    return make_setup(make_emulator, tmp_path)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def ops(s, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path.removeprefix("/api/v2")) for r in s.emu.request_log[since:]]
