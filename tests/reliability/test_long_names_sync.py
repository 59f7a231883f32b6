"""Long names end to end: a conflict about a 250-byte name settles in one sync, and
`syncd conflicts` finds the original of a shortened copy (the name rules themselves:
tests/unit/test_long_names.py)."""

from __future__ import annotations

import os

import pytest

from syncd import model
from tests.helpers.sync import make_setup


@pytest.fixture
def s(make_emulator, tmp_path):
    return make_setup(make_emulator, tmp_path)


def test_a_250_byte_name_edited_on_both_sides_converges_in_one_sync(s):
    leaf = "L" * 246 + ".txt"
    assert len(leaf.encode()) == 250
    (s.local() / "dir").mkdir()
    (s.local() / "dir" / leaf).write_bytes(b"v1")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    (s.local() / "dir" / leaf).write_bytes(b"mine, edited locally")
    s.emu.other.write("/docs/dir/" + leaf, b"theirs, edited on the server")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    local, remote = s.local_tree(), s.remote_tree()
    assert local == remote
    assert local["dir/" + leaf] == b"theirs, edited on the server"
    copies = [p for p in local if p.startswith("dir/") and p != "dir/" + leaf]
    assert len(copies) == 1 and local[copies[0]] == b"mine, edited locally"
    assert len(os.fsencode(model.name(copies[0]))) <= 255
    assert model.name(copies[0]).endswith(".txt")
    n = len(s.emu.request_log)
    r = s.sync()
    assert r.exit_code == 0 and r.transactions == 1, (r.message, s.output)
    assert len(s.emu.request_log) == n + 1  # settled: nothing left to do


def test_conflicts_command_finds_the_original_of_a_shortened_copy(s):
    leaf = "R" * 246 + ".md"
    (s.local() / leaf).write_bytes(b"v1")
    (s.local() / "other.md").write_bytes(b"o")
    assert s.sync().exit_code == 0
    (s.local() / leaf).write_bytes(b"mine")
    s.emu.other.write("/docs/" + leaf, b"theirs!")
    assert s.sync().exit_code == 0
    proc = s.cli("conflicts", "--json", "--config", str(s.config_path))
    assert proc.returncode == 0, proc.stderr
    (item,) = __import__("json").loads(proc.stdout)["conflicts"]
    assert item["original"]["path"] == leaf
    proc = s.cli("conflicts", "resolve", leaf, "--keep", "local", "--config",
                 str(s.config_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert s.local_tree() == s.remote_tree() == {leaf: b"mine", "other.md": b"o"}
