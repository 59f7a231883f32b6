"""Issue 16, item 1: a mirror whose view of one side cannot be trusted does
nothing at all - not only no deletion.

The scenario that lost a colleague's work: the local root is a mount point and
its disk is gone; a colleague edits a file and adds another on the server. The
old guard held back deletions only, so the edit and the new file were
downloaded into the bare mount point and recorded as synced; after the remount
the next pass uploaded the stale local file over the colleague's edit and
trashed the new file on the server.

An unmount is simulated by swapping the local root for another folder (a new
inode) and, where it matters, by recording another device in the index (what a
different ``st_dev`` of the root would look like). Real emulator over HTTP on
127.0.0.1, real temp folders, the engine and the ``syncd`` CLI.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.guard import ops, s, write
from tests.helpers.sync import focused

OLD = b"the version both sides agreed on"
EDIT = b"the colleague's edit, longer than before"
NEW = b"a file the colleague added"


def acting(s, since: int = 0) -> list[tuple[str, str]]:
    """Requests after ``since`` that transfer or change anything."""
    return [o for o in ops(s, since)
            if o[1].startswith(("/resources/upload", "/resources/download", "/resources/move",
                                "/resources/copy"))
            or o[0] in ("DELETE", "PATCH") or (o[0] == "POST" and o[1] == "/resources")]


def synced_state(s) -> tuple:
    """What the index knows of the mirror's two sides: base rows, queue, failures."""
    idx = s.index()
    try:
        return (idx.base("docs"), idx.queue("docs"), idx.failures("docs"),
                idx.get_state("mirror:docs", "device"),
                idx.get_state("mirror:docs", "root_inode"))
    finally:
        idx.close()


def set_state(s, name: str, value) -> None:
    idx = s.index()
    try:
        idx.set_state("mirror:docs", name, value)
    finally:
        idx.close()


def start(s) -> None:
    write(s.local() / "a.txt", OLD)
    write(s.local() / "sub" / "b.txt", b"b")
    write(s.local() / "c.txt", b"c")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.local_tree() == s.remote_tree()


def unmount(s, tmp_path: Path, *, stale: bool) -> Path:
    """The disk goes away: its contents move aside, the bare mount point stays
    (``stale``: holding an old file someone wrote there while unmounted)."""
    disk = tmp_path / "disk"
    s.local().rename(disk)
    s.local().mkdir()
    if stale:
        write(s.local() / "a.txt", b"stale, written into the bare mount point")
    return disk


def remount(s, disk: Path) -> None:
    shutil.rmtree(s.local())
    disk.rename(s.local())


def colleague_works(s) -> None:
    s.emu.other.write("/docs/a.txt", EDIT)
    s.emu.other.write("/docs/new.txt", NEW)


@pytest.mark.parametrize("stale", [False, True], ids=["bare", "stale-file"])
def test_unmounted_root_on_another_device_changes_nothing_until_remounted(s, tmp_path, stale):
    start(s)
    real_device = os.stat(s.local()).st_dev
    disk = unmount(s, tmp_path, stale=stale)
    bare = s.local_tree()
    set_state(s, "device", real_device + 1)  # the mount point is on another device
    before = synced_state(s)
    colleague_works(s)
    remote = s.remote_tree()
    n = len(s.emu.request_log)

    for _ in range(2):  # the next pass still sees it: nothing was re-recorded
        r = s.sync()
        assert not acting(s, n), acting(s, n)
        assert s.local_tree() == bare, "something was written into the bare mount point"
        assert s.remote_tree() == remote
        assert synced_state(s) == before, "the index recorded something"
        assert r.exit_code == 1, (r.message, s.output)
        assert "\n" not in r.message and "different device" in r.message, r.message
        assert "nothing was changed" in r.message and "--force --mirror docs" in r.message

    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 1, (cp.stdout, cp.stderr)
    assert "Traceback" not in cp.stderr + cp.stdout
    assert [line for line in cp.stderr.splitlines() if line.strip()] == [
        line for line in cp.stderr.splitlines() if "different device" in line], cp.stderr
    assert not acting(s, n)
    status = s.cli("status", "--config", str(s.config_path))
    assert "different device" in status.stdout, status.stdout

    # the disk is back (its device is the recorded one again)
    remount(s, disk)
    set_state(s, "device", real_device)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.emu.other.read("/docs/a.txt") == EDIT, "the stale file went over the edit"
    assert s.emu.other.read("/docs/new.txt") == NEW, "the colleague's new file was trashed"
    assert (s.local() / "a.txt").read_bytes() == EDIT
    assert (s.local() / "new.txt").read_bytes() == NEW
    assert s.local_tree() == s.remote_tree()


def test_root_replaced_by_another_folder_on_the_same_device_changes_nothing(s, tmp_path):
    """Not empty, same device, but another folder than the one synced (an old copy
    put in its place): every file in it could be stale."""
    start(s)
    disk = tmp_path / "disk"
    s.local().rename(disk)
    shutil.copytree(disk, s.local())
    write(s.local() / "a.txt", b"an older copy, put back")
    before = synced_state(s)
    colleague_works(s)
    n = len(s.emu.request_log)
    r = s.sync()
    assert not acting(s, n), acting(s, n)
    assert synced_state(s) == before
    assert r.exit_code == 1, (r.message, s.output)
    assert "not the folder synced last time" in r.message and "\n" not in r.message
    assert (s.local() / "a.txt").read_bytes() == b"an older copy, put back"

    remount(s, disk)  # the right folder is back: business as usual
    assert s.sync().exit_code == 0, s.output
    assert s.emu.other.read("/docs/a.txt") == EDIT
    assert s.local_tree() == s.remote_tree()


def test_force_accepts_the_new_folder_and_its_device(s, tmp_path):
    start(s)
    real_device = os.stat(s.local()).st_dev
    unmount(s, tmp_path, stale=True)
    set_state(s, "device", real_device + 1)
    colleague_works(s)
    assert s.sync().exit_code == 1
    r = s.sync(force=True)  # "this folder is right"
    assert r.exit_code == 0, (r.message, s.output)
    state = synced_state(s)
    assert state[3:] == (real_device, os.stat(s.local()).st_ino)
    r = s.sync()  # accepted: no guard any more
    assert r.exit_code == 0, (r.message, s.output)
    assert s.local_tree() == s.remote_tree()
    # both edits of a.txt are kept (the stale one as a conflicted copy), nothing lost
    everywhere = list(s.remote_tree().values())
    assert EDIT in everywhere and NEW in everywhere


def test_empty_root_on_the_same_device_changes_nothing(s):
    """A root emptied in place (e.g. ``rm -rf ~/Sync/*`` by mistake, or a mount
    point on the same file system): no download of the colleague's files into it."""
    start(s)
    for p in sorted(s.local().iterdir()):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    before = synced_state(s)
    colleague_works(s)
    n = len(s.emu.request_log)
    r = s.sync()
    assert not acting(s, n), acting(s, n)
    assert s.local_tree() == {}
    assert synced_state(s) == before
    assert r.exit_code == 1, (r.message, s.output)
    assert "is empty but the index knows" in r.message and "\n" not in r.message


def test_empty_remote_listing_stops_uploads_and_downloads(s):
    """A full listing that comes back empty while the index knows synced entries
    (a failed listing, or everything gone): no upload, no download, no delete."""
    start(s)
    for p in ("/docs/a.txt", "/docs/sub", "/docs/c.txt"):
        s.emu.other.delete(p)
    set_state(s, "listed_at", 0)  # the next refresh is a full listing
    write(s.local() / "a.txt", b"edited locally, longer than it was")
    write(s.local() / "d.txt", b"new locally")
    local = s.local_tree()
    before = synced_state(s)
    n = len(s.emu.request_log)
    r = s.sync()
    assert not acting(s, n), acting(s, n)
    assert s.local_tree() == local and s.remote_tree() == {}
    assert synced_state(s) == before
    assert r.exit_code == 1, (r.message, s.output)
    assert "remote listing is empty" in r.message and "\n" not in r.message
    assert "--force --mirror docs" in r.message

    r = s.sync(force=True)  # the user confirms: the server's deletions are real
    assert r.exit_code == 0, (r.message, s.output)
    assert s.local_tree() == s.remote_tree()
    assert set(s.local_tree()) == {"a.txt", "d.txt"}  # an edit beats a delete


# ------------------------------------------------------------ the daemon's passes

def daemon_pass(s, local, *, refresh: bool):
    """One pass as the daemon runs it: ``engine.sync_pass`` on a kept session,
    focused on the watcher's paths, with or without a remote refresh."""
    return focused(s, local, refresh=refresh)


def test_daemon_watcher_pass_on_an_unmounted_root_changes_nothing(s, tmp_path):
    start(s)
    real_device = os.stat(s.local()).st_dev
    disk = unmount(s, tmp_path, stale=True)
    set_state(s, "device", real_device + 1)
    colleague_works(s)
    before = synced_state(s)
    n = len(s.emu.request_log)
    for refresh in (True, False):
        r = daemon_pass(s, {"docs": {"a.txt"}}, refresh=refresh)
        assert not acting(s, n), acting(s, n)
        assert synced_state(s) == before
        assert "different device" in (r.mirrors[0].error or ""), r.mirrors
    remount(s, disk)
    set_state(s, "device", real_device)
    assert s.sync().exit_code == 0, s.output
    assert s.emu.other.read("/docs/a.txt") == EDIT
    assert s.local_tree() == s.remote_tree()


def test_daemon_local_pass_after_an_empty_listing_uploads_nothing(s):
    """The daemon's local passes do not refresh the remote side: an empty listing
    seen by the last refresh keeps the mirror stopped until a refresh trusts it."""
    start(s)
    for p in ("/docs/a.txt", "/docs/sub", "/docs/c.txt"):
        s.emu.other.delete(p)
    set_state(s, "listed_at", 0)
    r = daemon_pass(s, {}, refresh=True)  # a poll: the listing is empty
    assert "remote listing is empty" in (r.mirrors[0].error or ""), r.mirrors
    write(s.local() / "d.txt", b"new locally")
    os.utime(s.local() / "d.txt", (1e9, 1e9))  # settled: not "still changing"
    n = len(s.emu.request_log)
    r = daemon_pass(s, {"docs": {"d.txt"}}, refresh=False)  # a watcher event
    assert not acting(s, n), acting(s, n)
    assert "remote listing is empty" in (r.mirrors[0].error or ""), r.mirrors
    # the files come back on the server (the listing had failed): business as usual
    for rel in ("a.txt", "sub/b.txt", "c.txt"):
        s.emu.other.write("/docs/" + rel, b"back")
    r = s.sync()
    assert "remote listing is empty" not in (r.message or ""), r.message
    assert s.local_tree() == s.remote_tree()
