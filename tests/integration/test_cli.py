"""The `syncd` command line: dispatch, exit codes, the demo."""

from __future__ import annotations

import subprocess
import sys


def syncd(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "syncd", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_demo_runs_a_two_way_sync_with_a_conflict_on_the_embedded_emulator():
    proc = syncd("demo")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "uploaded reports/2026/Überblick.txt" in out
    assert "downloaded shared/日本語/メモ.txt" in out
    assert "conflicts kept on both sides: notes (conflicted copy demo-host " in out
    assert "moved photos -> pictures" in out  # a folder rename is one server move
    assert out.count("; in sync") == 2
    assert "transactions spent: " in out
    assert proc.stderr == ""


def test_no_command_prints_usage_and_exits_64():
    proc = syncd()
    assert proc.returncode == 64
    assert "usage: syncd" in proc.stderr


def test_unknown_command_is_a_usage_error():
    proc = syncd("frobnicate")
    assert proc.returncode == 64
    assert "invalid choice" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_emulator_subcommand_forwards_its_arguments():
    proc = syncd("emulator", "--root", "/tmp/x", "--host", "10.0.0.1")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
