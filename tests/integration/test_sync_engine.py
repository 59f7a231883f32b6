"""End-to-end `syncd sync` behaviour: real emulator over HTTP on 127.0.0.1, real
temp folders, real config files. Request counts come from the emulator's log."""

from __future__ import annotations

import os
import time

import pytest

from tests.helpers.sync import make_setup, write


@pytest.fixture
def s(make_emulator, tmp_path):
    return make_setup(make_emulator, tmp_path)


def ops(setup, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path.removeprefix("/api/v2")) for r in setup.emu.request_log[since:]]


def assert_same(setup, mirror="docs"):
    assert setup.local_tree(mirror) == setup.remote_tree(mirror)


# --------------------------------------------------------------------- first syncs

def test_initial_upload_then_a_quiet_second_sync_costs_one_request(s):
    write(s.local() / "a.txt", "alpha")
    write(s.local() / "nested/deeper/b.txt", "beta")
    write(s.local() / "Überblick ünïcode.txt", "u")
    (s.local() / "empty").mkdir()
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert_same(s)
    assert s.remote_tree()["nested/deeper/b.txt"] == b"beta"
    assert "empty" in s.remote_tree()

    n = len(s.emu.request_log)
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert ops(s, n) == [("GET", "/activity/session")]
    assert r.transactions == 1


def test_initial_download(s):
    s.emu.other.write("/docs/x/y/z.txt", b"zed")
    s.emu.other.write("/docs/top.bin", bytes(range(256)) * 100)
    s.emu.other.mkdir("/docs/emptydir")
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert (s.local() / "x/y/z.txt").read_bytes() == b"zed"
    assert (s.local() / "emptydir").is_dir()
    assert_same(s)
    assert not list(s.local().rglob(".syncd-*")), "no temp files left behind"


def test_both_sides_equal_files_are_compared_not_conflicted(s):
    write(s.local() / "same.txt", "identical content")
    s.emu.other.write("/docs/same.txt", b"identical content")
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert sorted(s.local_tree()) == ["same.txt"]
    assert_same(s)
    downloads = [o for o in ops(s) if o[1] == "/resources/download"]
    uploads = [o for o in ops(s) if o[1] == "/resources/upload"]
    assert len(downloads) == 1 and not uploads


@pytest.mark.parametrize("remote_data", [b"theirs, a different size", b"THEIRS!!"])
def test_both_sides_different_files_conflict_keeping_both_everywhere(s, remote_data):
    write(s.local() / "doc.txt", "mine!!!!")
    s.emu.other.write("/docs/doc.txt", remote_data)
    r = s.sync()
    assert r.exit_code == 0, r.message
    local = s.local_tree()
    ccs = [p for p in local if "conflicted copy testhost" in p]
    assert len(ccs) == 1 and ccs[0].startswith("doc (conflicted copy testhost ")
    assert ccs[0].endswith(").txt")
    assert local["doc.txt"] == remote_data
    assert local[ccs[0]] == b"mine!!!!"
    assert_same(s)
    assert s.sync().exit_code == 0
    assert_same(s)


# --------------------------------------------------------------------- ongoing changes

def synced(s, files: dict[str, str]):
    for rel, text in files.items():
        write(s.local() / rel, text)
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert_same(s)
    return len(s.emu.request_log)


def test_local_edit_uploads_and_remote_edit_downloads(s):
    synced(s, {"a.txt": "one", "b.txt": "two"})
    time.sleep(0.01)
    write(s.local() / "a.txt", "one, edited locally")
    s.emu.other.write("/docs/b.txt", b"two, edited remotely")
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert s.remote_tree()["a.txt"] == b"one, edited locally"
    assert (s.local() / "b.txt").read_bytes() == b"two, edited remotely"


def test_touch_without_content_change_uploads_nothing(s):
    n = synced(s, {"a.txt": "same"})
    os.utime(s.local() / "a.txt", (1, 1))
    r = s.sync()
    assert r.exit_code == 0
    assert ("POST", "/resources/upload") not in ops(s, n)


def test_deletes_propagate_to_the_trashes(s):
    synced(s, {"gone-here.txt": "1", "gone-there.txt": "2", "keep.txt": "3"})
    (s.local() / "gone-here.txt").unlink()
    s.emu.other.delete("/docs/gone-there.txt")
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert sorted(s.local_tree()) == ["keep.txt"]
    assert_same(s)
    trashed = [p for p in s.emu.other.tree() if p.startswith("/.syncd-trash/docs/")]
    assert any(p.endswith("/gone-here.txt") for p in trashed)
    local_trash = list((s.state / "trash" / "docs").rglob("gone-there.txt"))
    assert len(local_trash) == 1 and local_trash[0].read_bytes() == b"2"


def test_edit_beats_delete_on_both_sides(s):
    synced(s, {"a.txt": "a", "b.txt": "b"})
    (s.local() / "a.txt").unlink()
    s.emu.other.write("/docs/a.txt", b"a edited remotely")
    s.emu.other.delete("/docs/b.txt")
    time.sleep(0.01)
    write(s.local() / "b.txt", "b edited locally")
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert (s.local() / "a.txt").read_bytes() == b"a edited remotely"
    assert s.remote_tree()["b.txt"] == b"b edited locally"


def test_both_modified_is_a_conflict_with_both_versions_on_both_sides(s):
    synced(s, {"report.md": "v1"})
    write(s.local() / "report.md", "v2 local")
    s.emu.other.write("/docs/report.md", b"v2 remote")
    r = s.sync()
    assert r.exit_code == 0, r.message
    local = s.local_tree()
    cc = [p for p in local if "conflicted copy" in p]
    assert local["report.md"] == b"v2 remote" and local[cc[0]] == b"v2 local"
    assert_same(s)


def test_type_change_file_to_folder(s):
    synced(s, {"thing": "a file"})
    (s.local() / "thing").unlink()
    write(s.local() / "thing/inside.txt", "now a folder")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.remote_tree()["thing/inside.txt"] == b"now a folder"
    assert_same(s)


# --------------------------------------------------------------------- moves

def test_offline_local_folder_move_is_one_server_move_and_no_upload(s):
    n = synced(s, {f"project/file{i}.txt": f"data {i}" for i in range(5)}
               | {"archive/.keep": ""})
    os.rename(s.local() / "project", s.local() / "archive" / "project-2026")
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert_same(s)
    after = ops(s, n)
    assert ("POST", "/resources/upload") not in after
    moves = [o for o in after if o in (("POST", "/resources/move",),) or o[0] == "PATCH"]
    assert len(moves) == 2, after  # a move to a new parent under a new name = move + rename


def test_offline_local_rename_is_one_rename_request(s):
    n = synced(s, {"old name.txt": "content"})
    os.rename(s.local() / "old name.txt", s.local() / "new name.txt")
    r = s.sync()
    assert r.exit_code == 0, r.message
    after = ops(s, n)
    assert [o for o in after if o[0] != "GET"] == [("PATCH", after[-1][1])] or \
        sum(o[0] == "PATCH" for o in after) == 1
    assert ("POST", "/resources/upload") not in after
    assert_same(s)


def test_remote_folder_move_is_a_local_rename_without_download(s):
    n = synced(s, {"src/a.txt": "a", "src/b.txt": "b", "dest/.keep": "k"})
    s.emu.other.move("/docs/src", "/docs/dest")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert (s.local() / "dest/src/a.txt").read_bytes() == b"a"
    assert not (s.local() / "src").exists()
    assert ("GET", "/resources/download") not in ops(s, n)
    assert_same(s)


def test_local_move_keeps_a_remote_edit(s):
    synced(s, {"a.txt": "v1", "sub/.keep": ""})
    os.rename(s.local() / "a.txt", s.local() / "sub" / "a.txt")
    s.emu.other.write("/docs/a.txt", b"v2 from the server")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert (s.local() / "sub/a.txt").read_bytes() == b"v2 from the server"
    assert not (s.local() / "a.txt").exists()
    assert_same(s)


# --------------------------------------------------------------------- economy & limits

def test_budget_exhaustion_defers_then_the_next_run_completes(s):
    for i in range(30):
        write(s.local() / f"f{i:02}.txt", f"file {i}")
    s.emu.set_transaction_limit(s.emu.transactions_used + 12)
    r = s.sync()
    assert r.exit_code == 75
    assert "deferred" in r.message and "budget" in r.message
    remote_now = s.remote_tree()
    assert 0 < len(remote_now) < 30
    s.emu.set_transaction_limit(100000)
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert_same(s)


def test_reserve_is_never_spent(s):
    for i in range(10):
        write(s.local() / f"f{i}.txt", "x")
    s.write_config(reserve=200)
    s.emu.set_transaction_limit(s.emu.transactions_used + 206)
    r = s.sync()
    assert r.exit_code == 75
    assert s.emu.set_transaction_limit  # the server never answered 429:
    assert all(rec.status != 429 for rec in s.emu.request_log)


def test_files_com_account_falls_back_to_listings_once_detected(make_emulator, tmp_path):
    s = make_setup(make_emulator, tmp_path, emu_opts={"files_com": True})
    write(s.local() / "a.txt", "a")
    assert s.sync().exit_code == 0
    n = len(s.emu.request_log)
    s.emu.other.write("/docs/b.txt", b"b")
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert (s.local() / "b.txt").read_bytes() == b"b"
    assert not any("/activity" in p for _, p in ops(s, n))
    assert ("GET", "/resources/list") in ops(s, n)


def test_dry_run_changes_nothing_anywhere(s):
    synced(s, {"a.txt": "a"})
    write(s.local() / "new.txt", "new")
    (s.local() / "a.txt").unlink()
    s.emu.other.write("/docs/remote-new.txt", b"r")
    index_file = s.state / "index.sqlite3"
    before = (index_file.read_bytes(), sorted(s.local_tree()), s.remote_tree())
    r = s.sync(dry_run=True)
    assert r.exit_code == 0, r.message
    assert "would upload new.txt" in s.output
    assert "would delete remote a.txt" in s.output
    assert "would download remote-new.txt" in s.output
    assert sorted(s.local_tree()) == before[1]
    assert s.remote_tree() == before[2]
    assert index_file.read_bytes() == before[0]


def test_deletion_guard_holds_back_mass_deletes_until_forced(s):
    synced(s, {f"f{i:02}.txt": str(i) for i in range(20)})
    for i in range(15):
        (s.local() / f"f{i:02}.txt").unlink()
    r = s.sync()
    assert r.exit_code == 1
    assert "deletions held back" in r.message and "--force" in r.message
    assert len([p for p in s.remote_tree() if p.endswith(".txt")]) == 20
    r = s.sync(force=True)
    assert r.exit_code == 0, r.message
    assert len(s.remote_tree()) == 5


def test_lost_index_deletes_nothing(s):
    synced(s, {"a.txt": "a", "b.txt": "b"})
    (s.local() / "a.txt").unlink()
    for f in s.state.glob("index.sqlite3*"):
        f.unlink()
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert (s.local() / "a.txt").read_bytes() == b"a"  # restored, not deleted remotely
    assert_same(s)


def test_several_files_moved_into_one_folder_are_one_batched_move(s):
    n = synced(s, {"a.txt": "a", "b.txt": "b", "c.txt": "c", "into/.keep": ""})
    for name in ("a.txt", "b.txt", "c.txt"):
        os.rename(s.local() / name, s.local() / "into" / name)
    r = s.sync()
    assert r.exit_code == 0, r.message
    after = ops(s, n)
    assert after.count(("POST", "/resources/move")) == 1, after
    assert ("POST", "/resources/upload") not in after
    assert_same(s)


def test_folder_created_implicitly_by_uploads_is_renamed_in_one_request(s):
    n = synced(s, {"photos/a.txt": "a", "photos/2026/b.txt": "b"})
    s.sync()  # learn what the server created (ids) through the feed
    n = len(s.emu.request_log)
    os.rename(s.local() / "photos", s.local() / "pictures")
    r = s.sync()
    assert r.exit_code == 0, r.message
    after = ops(s, n)
    assert ("POST", "/resources/upload") not in after
    assert sum(m in ("PATCH", "POST") for m, _ in after) == 1, after
    assert_same(s)


def test_move_into_a_new_folder_needs_no_retry(s):
    n = synced(s, {"a.txt": "a"})
    write(s.local() / "new/other.txt", "o")
    os.rename(s.local() / "a.txt", s.local() / "new" / "a.txt")
    r = s.sync()
    assert r.exit_code == 0, r.message
    after = ops(s, n)
    assert all(rec.status < 400 for rec in s.emu.request_log[n:]), after
    assert after.count(("POST", "/resources/upload")) == 1  # only other.txt
    assert_same(s)


@pytest.mark.parametrize("direction", ["upload-only", "download-only"])
def test_first_meeting_with_different_content_in_one_way_mode(s, direction):
    s.set_options(direction=direction)
    write(s.local() / "doc.txt", "LOCAL")
    s.emu.other.write("/docs/doc.txt", b"REMOT")  # same size: compared by download
    r = s.sync()
    assert r.exit_code == 0, r.message
    local, remote = s.local_tree(), s.remote_tree()
    if direction == "upload-only":
        assert local == {"doc.txt": b"LOCAL"}  # local never touched
        assert remote["doc.txt"] == b"LOCAL"
        assert [v for k, v in remote.items() if "conflicted copy" in k] == [b"REMOT"]
    else:
        assert remote == {"doc.txt": b"REMOT"}  # remote never touched
        assert local["doc.txt"] == b"REMOT"
        assert [v for k, v in local.items() if "conflicted copy" in k] == [b"LOCAL"]
    n = len(s.emu.request_log)
    assert s.sync().exit_code == 0
    assert not any(p in ("/resources/upload", "/resources/download") for _, p in ops(s, n))


def test_deleted_on_both_sides_is_simply_forgotten(s):
    synced(s, {"gone.txt": "g", "keep.txt": "k"})
    (s.local() / "gone.txt").unlink()
    s.emu.other.delete("/docs/gone.txt")
    n = len(s.emu.request_log)
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert [m for m, p in ops(s, n) if m != "GET"] == []  # nothing to do on the server
    with s.index() as idx:
        assert "gone.txt" not in idx.base("docs")
    assert_same(s)


def test_remote_type_change_folder_to_file(s):
    synced(s, {"thing/inside.txt": "in a folder"})
    s.emu.other.delete("/docs/thing")
    s.emu.other.write("/docs/thing", b"now a file")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert (s.local() / "thing").read_bytes() == b"now a file"
    trashed = list((s.state / "trash" / "docs").rglob("inside.txt"))
    assert trashed and trashed[0].read_bytes() == b"in a folder"  # recoverable
    assert_same(s)


@pytest.mark.parametrize("inside", [False, True])
def test_seed_10070_remote_type_change_of_an_nfd_named_file(s, inside):
    """e2e seed 10070: the local file is spelled NFD, the server's new folder of
    the same name NFC. The local deletion must run before the folder is made
    (they are one name): before, the folder was made beside the file, the file
    was kept, and the next pass put it back on the server (a resurrection)."""
    nfd = "e\u0301.md"
    write(s.local() / nfd, "a file")
    assert s.sync().exit_code == 0
    assert s.remote_tree() == {"\u00e9.md": b"a file"}  # new server names are NFC
    s.emu.other.delete("/docs/\u00e9.md")
    s.emu.other.mkdir("/docs/\u00e9.md")
    if inside:
        s.emu.other.write("/docs/\u00e9.md/x.txt", b"inside")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    names = os.listdir(s.local())
    assert names == ["\u00e9.md"] and (s.local() / names[0]).is_dir()
    trashed = list((s.state / "trash" / "docs").rglob(nfd))
    assert trashed and trashed[0].read_bytes() == b"a file"  # recoverable
    r = s.sync()
    assert r.exit_code == 0 and not r.mirrors[0].counts, (r.message, s.output)
    assert_same(s)
    assert s.remote_tree() == ({"\u00e9.md": None, "\u00e9.md/x.txt": b"inside"} if inside
                               else {"\u00e9.md": None})


def test_remote_rename_is_a_local_rename_without_download(s):
    n = synced(s, {"draft.txt": "text"})
    s.emu.other.rename("/docs/draft.txt", "final.txt")
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert (s.local() / "final.txt").read_bytes() == b"text"
    assert not (s.local() / "draft.txt").exists()
    assert ("GET", "/resources/download") not in ops(s, n)
    assert_same(s)


def test_a_remote_change_made_during_the_pass_is_synced_in_the_same_pass(s):
    import io

    from syncd.config.loader import load_config
    from syncd.engine import SyncEngine
    from syncd.report import Reporter

    synced(s, {"a.txt": "a"})
    write(s.local() / "b.txt", "b")

    class Meddler(Reporter):
        def start(self, mirror, total, sizes=None):
            if not s.emu.other.info("/docs/during.txt"):
                s.emu.other.write("/docs/during.txt", b"written while syncd worked")

    engine = SyncEngine(load_config(s.config_path), host="testhost",
                        reporter=Meddler(io.StringIO(), fancy=False))
    r = engine.run()
    assert r.exit_code == 0, r.message
    assert (s.local() / "during.txt").read_bytes() == b"written while syncd worked"
    assert_same(s)
    n = len(s.emu.request_log)
    assert s.sync().exit_code == 0
    assert ops(s, n) == [("GET", "/activity/session")]
