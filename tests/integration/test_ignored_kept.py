"""Ignored items are never deleted, trashed or moved away with their folder
(issue 16, item 5). A folder deleted on one side whose copy on the other side
holds ignored items (a ``.env``, a ``cache/``, a colleague's ``*.tmp``) loses
only its synced items; the folder stays with the ignored ones, is not synced
any more (not re-created on the side that deleted it, not deleted again), and
the pass's report and `syncd status` say why it remains.

Real emulator over HTTP, real temp folders (tests/helpers/sync.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from syncd.local import kept
from tests.helpers.sync import make_setup

IGNORE = ["*.tmp", ".env", "cache/"]


@pytest.fixture
def s(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path)
    setup.set_options(ignore=IGNORE)
    return setup


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def synced(s, files: dict[str, str]) -> None:
    for rel, data in files.items():
        write(s.local() / rel, data)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)


def remote_files(s) -> dict[str, bytes | None]:
    return s.remote_tree()


def theirs_beside_synced(s) -> None:
    """The server holds folder ``d`` with a colleague's ignored file and a synced
    one, and two more files (so one folder's deletion trips no guard); synced."""
    for path, data in {"d/colleague.tmp": b"theirs", "d/x.txt": b"x", "k1": b"1",
                       "k2": b"2"}.items():
        s.emu.other.write("/docs/" + path, data)
    assert s.sync().exit_code == 0


def sync_ok(s) -> None:
    """One pass settles it (a re-plan inside the pass, if any, is free)."""
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)


def status_json(s) -> dict:
    proc = s.cli("status", "--json", "--config", str(s.config_path))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def quiet(s) -> None:
    """Nothing left to do: one request (the activity feed), nothing planned."""
    n = len(s.emu.request_log)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert len(s.emu.request_log) == n + 1, [x.path for x in s.emu.request_log[n:]]


# ------------------------------------------------- (b) the server deletes the folder

def test_a_server_side_folder_deletion_keeps_local_ignored_items(s):
    synced(s, {"d/a.txt": "a", "d/sub/b.txt": "b", "d/gone/c.txt": "c", "keep.txt": "k"})
    env = write(s.local() / "d/.env", "SECRET=1")
    write(s.local() / "d/cache/blob", "cached")
    write(s.local() / "d/sub/scratch.tmp", "scratch")
    before = {p: os.lstat(s.local() / p) for p in ("d/.env", "d/cache/blob",
                                                    "d/sub/scratch.tmp")}
    s.emu.other.delete("/docs/d")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    local = s.local_tree()
    # the ignored items are where they were, untouched
    for p, st in before.items():
        now = os.lstat(s.local() / p)
        assert (now.st_ino, now.st_mtime_ns, now.st_size) == (st.st_ino, st.st_mtime_ns,
                                                              st.st_size), p
    assert env.read_bytes() == b"SECRET=1"
    # the synced ones went to the local trash, recoverable
    assert "d/a.txt" not in local and "d/sub/b.txt" not in local and "d/gone" not in local
    trashed = {p.name: p.read_bytes() for p in (s.state / "trash" / "docs").rglob("*")
               if p.is_file()}
    assert trashed == {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"}
    # the report says why the folder remains
    assert "d: kept: holds ignored items" in s.output, s.output
    assert "1 folder kept: it holds ignored items" in s.output
    # the folder is not re-created on the server, nor deleted later
    assert remote_files(s) == {"keep.txt": b"k"}
    quiet(s)
    assert (s.local() / "d/.env").exists() and (s.local() / "d/sub/scratch.tmp").exists()
    assert remote_files(s) == {"keep.txt": b"k"}
    st = status_json(s)["mirrors"][0]
    assert st["kept"] == [{"path": "d", "why": kept.WHY[kept.LOCAL]}]
    proc = s.cli("status", "--config", str(s.config_path))
    assert "docs: d: kept: holds ignored items" in proc.stdout, proc.stdout


def test_a_kept_folder_syncs_again_once_it_holds_a_synced_file(s):
    synced(s, {"d/a.txt": "a", "k1": "1", "k2": "2"})
    write(s.local() / "d/.env", "x")
    s.emu.other.delete("/docs/d")
    assert s.sync().exit_code == 0
    assert remote_files(s) == {"k1": b"1", "k2": b"2"}
    write(s.local() / "d/new.txt", "new")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert remote_files(s) == {"d": None, "d/new.txt": b"new", "k1": b"1",
                               "k2": b"2"}  # .env never goes up
    assert status_json(s)["mirrors"][0]["kept"] == []
    quiet(s)


def test_a_kept_folder_the_user_removes_is_forgotten(s):
    synced(s, {"d/a.txt": "a", "k1": "1", "k2": "2"})
    write(s.local() / "d/.env", "x")
    s.emu.other.delete("/docs/d")
    assert s.sync().exit_code == 0
    shutil.rmtree(s.local() / "d")
    quiet(s)
    assert status_json(s)["mirrors"][0]["kept"] == []


# ------------------------------------------------- (a) the user deletes the folder locally

@pytest.mark.parametrize("remote_delete", ["trash", "delete"])
def test_a_local_folder_deletion_keeps_the_servers_ignored_items(s, remote_delete):
    s.set_options(ignore=IGNORE, remote_delete=remote_delete)
    s.emu.other.write("/docs/d/colleague.tmp", b"theirs, never synced")
    s.emu.other.write("/docs/d/deep/more.tmp", b"also theirs")
    s.emu.other.write("/docs/d/deep/cache/blob", b"an ignored folder")
    s.emu.other.write("/docs/d/deep/syncd.txt", b"synced")
    s.emu.other.write("/docs/d/x.txt", b"synced too")
    s.emu.other.write("/docs/z.txt", b"z")
    for k in range(4):
        s.emu.other.write(f"/docs/k{k}", b"k")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert sorted(s.local_tree())[:5] == ["d", "d/deep", "d/deep/syncd.txt", "d/x.txt", "k0"]
    shutil.rmtree(s.local() / "d")
    os.unlink(s.local() / "z.txt")
    n = len(s.emu.request_log)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert remote_files(s) == {"d": None, "d/colleague.tmp": b"theirs, never synced",
                               "d/deep": None, "d/deep/more.tmp": b"also theirs",
                               "d/deep/cache": None, "d/deep/cache/blob": b"an ignored folder",
                               **{f"k{k}": b"k" for k in range(4)}}
    assert "d: kept on the server: holds ignored items" in s.output, s.output
    # the three synced items went in one batched request
    deletes = [x for x in s.emu.request_log[n:] if x.method in ("DELETE", "PUT")
               or x.path.endswith("/resources/move")]
    assert len(deletes) == 1, [(x.method, x.path) for x in s.emu.request_log[n:]]
    # not re-created locally, not deleted again
    quiet(s)
    assert not (s.local() / "d").exists()
    assert "d/colleague.tmp" in remote_files(s)
    assert status_json(s)["mirrors"][0]["kept"] == [
        {"path": "d", "why": kept.WHY[kept.REMOTE]}]


def test_a_kept_server_folder_syncs_again_when_the_user_recreates_it(s):
    theirs_beside_synced(s)
    shutil.rmtree(s.local() / "d")
    assert s.sync().exit_code == 0
    write(s.local() / "d/mine.txt", "mine")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert remote_files(s) == {"d": None, "d/colleague.tmp": b"theirs", "d/mine.txt": b"mine",
                               "k1": b"1", "k2": b"2"}
    assert sorted(s.local_tree()) == ["d", "d/mine.txt", "k1", "k2"]
    quiet(s)


# ------------------------------------------------- type changes (file <-> folder)

def test_server_replaces_a_folder_by_a_file_local_ignored_items_stay(s):
    synced(s, {"d/a.txt": "a", "k1": "1", "k2": "2"})
    write(s.local() / "d/.env", "SECRET")
    s.emu.other.delete("/docs/d")
    s.emu.other.write("/docs/d", b"now a file")
    sync_ok(s)
    assert (s.local() / "d/.env").read_bytes() == b"SECRET"
    local, remote = s.local_tree(), remote_files(s)
    # the server's file is kept under a conflict name on both sides
    copies = [p for p in local if p.startswith("d (conflicted copy")]
    assert len(copies) == 1 and local[copies[0]] == b"now a file" == remote[copies[0]]
    assert {p: v for p, v in local.items() if p != "d/.env"} == remote
    quiet(s)


def test_local_replaces_a_folder_by_a_file_server_ignored_items_stay(s):
    theirs_beside_synced(s)
    shutil.rmtree(s.local() / "d")
    write(s.local() / "d", "now a file")
    sync_ok(s)
    remote = remote_files(s)
    assert remote["d/colleague.tmp"] == b"theirs"  # never trashed
    assert "d/x.txt" not in remote
    # the local file is kept (under a conflict name beside the server's folder)
    assert sorted(v for v in remote.values() if v) == [b"1", b"2", b"now a file", b"theirs"]
    assert sorted(v for v in s.local_tree().values() if v) == [b"1", b"2", b"now a file"]
    quiet(s)


# ------------------------------------------------- moves

@pytest.mark.parametrize("made_on", ["server", "here"])
def test_a_server_side_folder_move_carries_local_ignored_items_along(s, made_on):
    """A folder the colleague moved moves locally as a whole (one rename): its
    ignored items stay inside it, in the user's tree. When the folder's server id
    is not known yet (folders made here by uploads get theirs at the next full
    listing), the files move one by one and the old folder is kept for its
    ignored items. Either way nothing ignored is trashed or left unsaid."""
    files = {"d/a.txt": "a", "e/keep.txt": "k", "k1": "1"}
    if made_on == "server":
        for p, data in files.items():
            s.emu.other.write("/docs/" + p, data.encode())
        assert s.sync().exit_code == 0
    else:
        synced(s, files)
    write(s.local() / "d/.env", "SECRET")
    s.emu.other.move("/docs/d", "/docs/e")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert (s.local() / "e/d/a.txt").read_bytes() == b"a"
    if made_on == "server":
        assert (s.local() / "e/d/.env").read_bytes() == b"SECRET"
        assert not (s.local() / "d").exists()
    else:
        assert (s.local() / "d/.env").read_bytes() == b"SECRET"
        assert "d: kept: holds ignored items" in s.output
    assert not list((s.state / "trash").rglob("*.env"))
    quiet(s)


# ------------------------------------------------- kept.hide on its own

def test_hide_keeps_what_a_focused_pass_did_not_look_at(tmp_path):
    from syncd.state.index import Index
    from syncd.model import DIR, LocalEntry, RemoteEntry

    index = Index(tmp_path / "index.sqlite3")
    kept.add(index, "m", kept.LOCAL, ["d", "d/sub"])
    kept.add(index, "m", kept.REMOTE, ["r"])
    local = {"d": LocalEntry("d", DIR), "d/sub": LocalEntry("d/sub", DIR),
             "x": LocalEntry("x", DIR)}
    remote = {"r": RemoteEntry("r", DIR, "1"), "y": RemoteEntry("y", DIR, "2")}
    shown, rshown, notes = kept.hide(index, "m", local, remote, {}, complete=True)
    assert sorted(shown) == ["x"] and sorted(rshown) == ["y"]
    assert notes == [("d", kept.WHY[kept.LOCAL]), ("r", kept.WHY[kept.REMOTE])]
    # a focused pass that did not look at d or r forgets neither
    kept.hide(index, "m", {}, {}, {}, complete=False)
    assert len(kept.load(index, "m")) == 3
    # a synced item inside d makes d plain again (d/sub, still ignored-only, stays kept)
    local["d/new.txt"] = LocalEntry("d/new.txt", "file", 1)
    shown, _, _ = kept.hide(index, "m", local, remote, {}, complete=True)
    assert sorted(shown) == ["d", "d/new.txt", "x"]
    assert sorted(kept.load(index, "m")) == [(kept.LOCAL, "d/sub"), (kept.REMOTE, "r")]
    # the other side has r again: r is synced again; d/sub is gone from its side
    shown, rshown, notes = kept.hide(index, "m", {"r": LocalEntry("r", DIR)}, remote, {},
                                     complete=True)
    assert "r" in shown and "r" in rshown and notes == []
    assert kept.load(index, "m") == []
    index.close()
