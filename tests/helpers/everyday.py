"""Red-team scenarios' helpers: one synced mirror (fixture ``s``), editing on either side, reading results."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.sync import SyncSetup, make_setup

MODES = [pytest.param(False, id="feed"), pytest.param(True, id="files_com")]


@pytest.fixture(params=MODES)
def files_com(request) -> bool:
    return request.param


@pytest.fixture(params=MODES)
def s(request, make_emulator, tmp_path) -> SyncSetup:
    return make_setup(make_emulator, tmp_path, emu_opts={"files_com": request.param})


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def edit(path: Path, data: str) -> None:
    """An edit in place (same inode)."""
    with open(path, "w") as f:
        f.write(data)


def theirs(s: SyncSetup, path: str, data: bytes | str) -> None:
    """A colleague writes a file on the server (a second later than anything before)."""
    s.emu.advance_clock(2)
    s.emu.other.write("/docs/" + path, data.encode() if isinstance(data, str) else data)


def synced(s: SyncSetup, files: dict[str, str]) -> None:
    for rel, data in files.items():
        write(s.local() / rel, data)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.local_tree() == s.remote_tree()
    s.emu.advance_clock(2)


def settle(s: SyncSetup, runs: int = 2) -> dict:
    """Sync until a pass exits 0, at most ``runs`` passes; then one more pass must
    change nothing (no flip-flop). Returns the (equal) tree."""
    for i in range(runs):
        r = s.sync()
        if r.exit_code == 0:
            break
    assert r.exit_code == 0, (i, r.message, s.output)
    tree = s.local_tree()
    assert tree == s.remote_tree(), s.output
    s.emu.advance_clock(2)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.local_tree() == tree == s.remote_tree(), s.output
    return tree


def files(tree: dict) -> dict:
    return {k: v for k, v in tree.items() if v is not None}


def contents(tree: dict) -> list[bytes]:
    return sorted(v for v in tree.values() if v is not None)


def conflicted(tree: dict) -> list[str]:
    return sorted(k for k in tree if "conflicted copy" in k)
