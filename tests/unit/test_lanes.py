"""The test lanes hold: every test file sits in one lane, and the fast lane refuses servers and processes."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.lanes import LaneViolation

TESTS = Path(__file__).resolve().parents[1]
LANES = {"unit", "integration", "reliability", "conformance"}


def test_every_test_file_is_in_a_lane():
    stray = sorted(p.name for p in TESTS.glob("test_*.py"))
    assert stray == [], f"test files outside a lane folder: {stray}"
    for lane in LANES:
        assert any((TESTS / lane).glob("test_*.py")), f"lane {lane} has no tests"


def test_no_test_module_imports_another_or_conftest():
    for path in TESTS.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            line = line.strip()
            if line.startswith(("from ", "import ")):
                assert "conftest" not in line, f"{path}: {line}"
                assert ".test_" not in line.split(" import ")[0], f"{path}: {line}"


def test_the_fast_lane_refuses_a_network_connection():
    with pytest.raises(LaneViolation):
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)


def test_the_fast_lane_refuses_to_listen():
    with socket.socket() as s, pytest.raises(LaneViolation):
        s.bind(("127.0.0.1", 0))


def test_the_fast_lane_refuses_a_subprocess():
    with pytest.raises(LaneViolation):
        subprocess.run([sys.executable, "-c", "pass"])
