"""Issue 16, item 8: smaller defects, each with a test that fails without its fix.

(a) a download replacing a file keeps its permission bits; new files follow the umask;
(b) a user's files named like syncd's temporary names are synced, never deleted
    (local and remote);
(c) a download's temp file is removed on every exit, also after the user renamed
    its folder meanwhile, and after a crash at the next full scan;
(d) a corrupt index (damaged pages, found at the first query, not at open) gives
    the documented line naming the file, exit 70, no traceback;
(e) the same edit on both sides (same size) is compared, not made a conflict.

All against the emulator on 127.0.0.1 with real folders (tests/helpers/sync.py).
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from syncd import crashpoints

from syncd.cli import exitcodes

from syncd.local import ignore

from syncd.local import scan as local_scan
from tests.helpers.sync import make_setup


@pytest.fixture
def s(make_emulator, tmp_path):
    return make_setup(make_emulator, tmp_path)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def hook():
    """Install a crash-point hook for one test (removed afterwards)."""
    yield crashpoints.set_hook
    crashpoints.set_hook(None)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def temp_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.startswith(".syncd-") and p.name.endswith(".part"))


def conflict_copies(tree: dict, stem: str) -> list[str]:
    return sorted(p for p in tree if p.startswith(f"{stem} (conflicted copy "))


def remote_edit(s, rel: str, data: bytes) -> None:
    """A colleague's edit on the server; a second later, so that its time differs
    from the version syncd knows (the server's times are in whole seconds)."""
    time.sleep(1.1)
    s.emu.other.write(f"{s.remote()}/{rel}", data)


# --------------------------------------------------------------- (a) permission bits

def test_download_over_a_file_keeps_its_permission_bits(s, umask_022):
    local = s.local()
    (local / "private.txt").write_bytes(b"secret v1")
    (local / "run.sh").write_bytes(b"#!/bin/sh\necho v1\n")
    (local / "group.txt").write_bytes(b"shared v1")
    assert s.sync().exit_code == 0
    os.chmod(local / "private.txt", 0o600)
    os.chmod(local / "run.sh", 0o755)
    os.chmod(local / "group.txt", 0o664)
    remote_edit(s, "private.txt", b"secret v2, longer")
    s.emu.other.write(f"{s.remote()}/run.sh", b"#!/bin/sh\necho v2 longer\n")
    s.emu.other.write(f"{s.remote()}/group.txt", b"shared v2, longer")
    s.emu.other.write(f"{s.remote()}/new.txt", b"a new file")
    assert s.sync().exit_code == 0, s.output
    assert (local / "private.txt").read_bytes() == b"secret v2, longer"
    assert (local / "run.sh").read_bytes() == b"#!/bin/sh\necho v2 longer\n"
    assert mode(local / "private.txt") == 0o600
    assert mode(local / "run.sh") == 0o755
    assert mode(local / "group.txt") == 0o664
    assert mode(local / "new.txt") == 0o644  # a new file follows the umask


def test_download_never_copies_setuid_bits_onto_server_bytes(s, umask_022):
    local = s.local()
    (local / "tool").write_bytes(b"v1")
    assert s.sync().exit_code == 0
    os.chmod(local / "tool", 0o4755)
    remote_edit(s, "tool", b"v2 from the server")
    assert s.sync().exit_code == 0, s.output
    assert mode(local / "tool") == 0o755


@pytest.mark.parametrize("theirs", [b"v2 remote!", b"version 2 from the server"],
                         ids=["same-size-compared", "other-size-rule-C"])
def test_conflict_the_name_keeps_its_mode_and_the_copy_keeps_its_own(s, umask_022, theirs):
    """Decision (docs/sync.md): after a conflict the server's version under the
    name keeps the mode the file had; the conflicted copy is the old file itself."""
    local = s.local()
    (local / "key.txt").write_bytes(b"v1")
    assert s.sync().exit_code == 0
    os.chmod(local / "key.txt", 0o600)
    (local / "key.txt").write_bytes(b"v2 local!!")
    remote_edit(s, "key.txt", theirs)
    assert s.sync().exit_code == 0, s.output
    tree = s.local_tree()
    [copy] = conflict_copies(tree, "key")
    assert tree["key.txt"] == theirs and tree[copy] == b"v2 local!!"
    assert mode(local / "key.txt") == 0o600
    assert mode(local / copy) == 0o600


# ------------------------------------------------- (b) names like syncd's temp names

USER_NAMES = [".syncd-notes.part", ".syncd-.part", ".syncd-report.pdf.x9.part",
              ".syncd-rename-0123456789ab", "sub/.syncd-abc.part"]
SHAPE = ".syncd-0123456789abcdef0123456789abcdef.part"  # exactly the shape, not signed


def test_a_users_files_named_like_temp_files_sync_and_are_never_deleted(s):
    local = s.local()
    (local / "sub").mkdir()
    for i, name in enumerate(USER_NAMES):
        (local / name).write_bytes(b"mine %d" % i)
    (local / SHAPE).write_bytes(b"has the very shape of a temp name")
    assert s.sync().exit_code == 0, s.output
    assert s.sync().exit_code == 0, s.output
    for i, name in enumerate(USER_NAMES):
        assert (local / name).read_bytes() == b"mine %d" % i, name
        assert s.remote_tree()[name] == b"mine %d" % i, name  # synced like any other file
    # the exact shape is left out of syncing (it could be a download of ours) but
    # never deleted: it was not signed with this mirror's key
    assert (local / SHAPE).read_bytes() == b"has the very shape of a temp name"
    assert SHAPE not in s.remote_tree()


def test_a_remote_users_files_named_like_temp_names_are_downloaded_never_deleted(s):
    remote = s.remote()
    for i, name in enumerate(USER_NAMES):
        s.emu.other.write(f"{remote}/{name}", b"theirs %d" % i)
    assert s.sync().exit_code == 0, s.output
    assert s.sync().exit_code == 0, s.output
    for i, name in enumerate(USER_NAMES):
        assert s.remote_tree()[name] == b"theirs %d" % i, name
        assert (s.local() / name).read_bytes() == b"theirs %d" % i, name


def test_syncd_temp_names_are_signed_by_the_mirror_key(s, hook):
    """What the worker creates is a name only this mirror's key makes."""
    (s.local() / "x").mkdir()
    s.emu.other.write(f"{s.remote()}/x/f.txt", b"data")
    seen = []
    hook(lambda point: seen.extend(temp_files(s.local())) if point == "download.fetched"
         else None)
    assert s.sync().exit_code == 0, s.output
    assert len(seen) == 1 and ignore.is_temp_name(Path(seen[0]).name)
    with s.index() as index:
        key = local_scan.temp_key(index, "docs")
    assert ignore.is_own_temp_name(Path(seen[0]).name, key)
    assert not ignore.is_own_temp_name(Path(seen[0]).name, b"another mirror's key")


# ---------------------------------------------------------- (c) temp files on exit

@pytest.mark.parametrize("how", ["replace-fails", "error-after-fetch", "cancel"])
def test_temp_file_removed_when_its_folder_was_renamed_during_the_download(s, hook, how):
    local = s.local()
    (local / "proj").mkdir()
    (local / "proj" / "keep.txt").write_bytes(b"k")
    assert s.sync().exit_code == 0
    s.emu.other.write(f"{s.remote()}/proj/big.bin", b"x" * 200_000)

    def at(point):
        if point == "download.body" and (local / "proj").exists():
            os.rename(local / "proj", local / "renamed")  # the user, mid-download
        if point == "download.fetched" and how == "error-after-fetch":
            raise RuntimeError("simulated failure after the temp file was complete")
        if point == "download.fetched" and how == "cancel":
            from syncd.transfer.worker import Cancelled
            raise Cancelled("stopping")
    hook(at)
    s.sync()
    hook(None)
    assert (local / "renamed" / "keep.txt").exists()
    assert temp_files(local) == [], "a temp file was left behind"
    assert not (local / "proj" / "big.bin").exists() or how == "replace-fails"


def test_crash_leftover_in_a_renamed_folder_is_removed_by_the_next_full_scan(s):
    local = s.local()
    (local / "a").mkdir()
    (local / "a" / "doc.txt").write_bytes(b"d")
    assert s.sync().exit_code == 0
    with s.index() as index:
        key = local_scan.temp_key(index, "docs")
    (local / "a" / ignore.new_temp_name(key)).write_bytes(b"half a download")
    (local / "a" / SHAPE).write_bytes(b"not ours")
    os.rename(local / "a", local / "b")  # the user renamed the folder after the crash
    assert s.sync().exit_code == 0, s.output
    assert temp_files(local) == [f"b/{SHAPE}"]


# ---------------------------------------------------------------- (d) corrupt index

def _damage_pages(index_file: Path, byte: int) -> None:
    """Overwrite bytes inside every page after the first two: a damaged disk, not
    a file of garbage (the header is intact, so SQLite opens it; the damage shows
    only when a query reads such a page)."""
    size = index_file.stat().st_size
    assert size > 8 * 4096, size
    with open(index_file, "r+b") as f:
        for offset in range(2 * 4096, size, 4096):
            f.seek(offset + 100)
            f.write(bytes([byte]) * 200)


@pytest.mark.parametrize("command, byte", [
    ("sync", 0xFF), ("status", 0xFF), ("run", 0xFF),  # "database disk image is malformed"
    ("sync", 0xA5),  # text cells that are no longer UTF-8 (Python's decode error)
])
def test_damaged_index_pages_give_the_documented_line(s, command, byte):
    for i in range(300):
        (s.local() / f"f{i:03}.txt").write_bytes(b"content %d " % i * 5)
    assert s.sync().exit_code == 0
    index_file = s.state / "index.sqlite3"
    assert not (s.state / "index.sqlite3-wal").exists() or \
        (s.state / "index.sqlite3-wal").stat().st_size == 0
    _damage_pages(index_file, byte)
    p = s.cli(command, "--config", str(s.config_path))
    assert p.returncode == exitcodes.SOFTWARE, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    lines = [line for line in p.stderr.splitlines() if "usable syncd index" in line]
    assert len(lines) == 1, p.stderr
    assert f"{index_file} is not a usable syncd index (SQLite: " in lines[0]
    assert lines[0].endswith("move it aside to start from an empty index")
    if command != "run":
        assert p.stderr.count("\n") == 1, p.stderr


def test_index_error_classification():
    import sqlite3

    from syncd.state.index import IndexCorruptError, as_corrupt, is_corrupt

    malformed = sqlite3.DatabaseError("database disk image is malformed")
    assert is_corrupt(malformed) and is_corrupt(sqlite3.DatabaseError("file is not a database"))
    assert not is_corrupt(sqlite3.OperationalError("database is locked"))
    assert not is_corrupt(sqlite3.OperationalError("database or disk is full"))
    assert not is_corrupt(ValueError("malformed"))
    err = as_corrupt("/s/index.sqlite3", malformed)
    assert isinstance(err, IndexCorruptError)
    assert str(err) == ("/s/index.sqlite3 is not a usable syncd index (SQLite: database disk "
                        "image is malformed); move it aside to start from an empty index")
    assert as_corrupt("/s/index.sqlite3", err) is err
    assert as_corrupt("/s/index.sqlite3", sqlite3.OperationalError("locked")) is None


# ------------------------------------------------------- (e) the same edit on both sides

def test_the_same_edit_on_both_sides_converges_without_a_conflicted_copy(s):
    local = s.local()
    (local / "notes.txt").write_bytes(b"version one")
    assert s.sync().exit_code == 0
    (local / "notes.txt").write_bytes(b"version TWO")  # same size, same bytes on both sides
    remote_edit(s, "notes.txt", b"version TWO")
    s.emu.clear_request_log()
    assert s.sync().exit_code == 0, s.output
    tree = s.local_tree()
    assert conflict_copies(tree, "notes") == [] and tree == s.remote_tree()
    assert tree["notes.txt"] == b"version TWO"
    requests = [(q.method, q.path.removeprefix("/api/v2")) for q in s.emu.request_log]
    assert requests.count(("GET", "/resources/download")) == 1  # one download compares
    assert not any(m == "POST" and "upload" in p for m, p in requests), requests
    assert s.sync().exit_code == 0 and "no changes" in s.output, s.output


def test_different_edits_of_the_same_size_are_still_a_conflict(s):
    local = s.local()
    (local / "notes.txt").write_bytes(b"version one")
    assert s.sync().exit_code == 0
    (local / "notes.txt").write_bytes(b"version LOC")
    remote_edit(s, "notes.txt", b"version REM")
    assert s.sync().exit_code == 0, s.output
    tree = s.local_tree()
    [copy] = conflict_copies(tree, "notes")
    assert tree["notes.txt"] == b"version REM" and tree[copy] == b"version LOC"
    assert s.remote_tree() == tree


def test_daemon_damage_found_mid_run_is_the_documented_line_not_a_traceback(s, caplog):
    """``syncd run`` finds a damaged page while it runs (a pass's query): the sync
    thread ends with the documented line and exit 70, not "internal error" and a
    traceback. (A query's error is raised here directly: damage on disk that an
    open connection notices is not reproducible on demand.)"""
    import sqlite3

    from syncd.config.loader import load_config
    from syncd.daemon.service import Daemon

    d = Daemon(load_config(s.config_path))

    def broken_pass(work):
        raise sqlite3.DatabaseError("database disk image is malformed")

    d._pass = broken_pass
    d.inbox.put_local("docs", None)
    with caplog.at_level("DEBUG"):
        d._loop()
    assert d.fatal is not None and d.fatal.code == exitcodes.SOFTWARE
    assert str(d.fatal) == (f"{s.state / 'index.sqlite3'} is not a usable syncd index (SQLite: "
                            "database disk image is malformed); move it aside to start from "
                            "an empty index")
    assert "Traceback" not in caplog.text and "internal error" not in caplog.text
