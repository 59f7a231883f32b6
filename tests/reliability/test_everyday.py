"""Everyday scenarios (issue 16, the held-back set's classes): what careful users
and their colleagues do every week, each run through the real sync engine against
the emulator over HTTP with real temp folders, in both account modes (activity
feed, and Files.com accounts with no feed where every pass lists).

Each scenario asserts what a sync tool owes its users: no version lost, no edit
silently reverted, no deletion resurrected, both sides equal within a few passes,
and the exit codes of docs/sync.md. Continued in tests/reliability/test_everyday_more.py
(several hosts, config changes, budget and faults, listings paged while a
colleague acts, the trashes)."""

from __future__ import annotations

import os
import shutil
import unicodedata

from tests.helpers.everyday import (conflicted, contents, edit, files, files_com, s, settle, synced,
                                    theirs, write)
from tests.helpers.sync import make_setup

# ------------------------------------------------------------------ helpers


# ============================================================ editors saving files

def test_editor_atomic_save_uploads_the_edit(s):
    synced(s, {"notes.txt": "v1"})
    write(s.local() / ".notes.txt.swp", "v2, saved atomically")
    os.replace(s.local() / ".notes.txt.swp", s.local() / "notes.txt")
    assert settle(s) == {"notes.txt": b"v2, saved atomically"}


def test_vim_backup_rename_seen_mid_save(s):
    """vim with backupcopy=no: rename notes.txt -> notes.txt~, write notes.txt,
    delete notes.txt~. A pass runs while the backup still exists."""
    synced(s, {"notes.txt": "v1"})
    os.rename(s.local() / "notes.txt", s.local() / "notes.txt~")
    write(s.local() / "notes.txt", "v2 by vim")
    r = s.sync()
    assert r.exit_code == 0, s.output
    (s.local() / "notes.txt~").unlink()
    tree = settle(s)
    assert tree == {"notes.txt": b"v2 by vim"}, s.output


def test_libreoffice_lock_file_comes_and_goes(s):
    synced(s, {"report.odt": "v1"})
    lock = write(s.local() / ".~lock.report.odt#", "user,host,2026")
    assert s.sync().exit_code == 0, s.output
    edit(s.local() / "report.odt", "v2, longer")
    lock.unlink()
    assert settle(s) == {"report.odt": b"v2, longer"}


def test_touch_without_change_uploads_nothing(s):
    synced(s, {"a.txt": "same"})
    os.utime(s.local() / "a.txt", (1, 1))
    n = len(s.emu.request_log)
    assert settle(s) == {"a.txt": b"same"}
    assert not [r for r in s.emu.request_log[n:] if r.path.endswith("/upload")]


def test_empty_file_both_ways_and_emptied_file(s):
    synced(s, {"empty.txt": "", "full.txt": "content"})
    theirs(s, "their-empty.txt", b"")
    edit(s.local() / "full.txt", "")
    assert settle(s) == {"empty.txt": b"", "full.txt": b"", "their-empty.txt": b""}
    theirs(s, "empty.txt", b"now it has text")
    assert settle(s)["empty.txt"] == b"now it has text"


# ============================================================ same file, same minute

def test_colleague_and_user_edit_the_same_file(s):
    synced(s, {"plan.txt": "v1"})
    edit(s.local() / "plan.txt", "mine: v2")
    theirs(s, "plan.txt", "theirs: version 2")
    tree = settle(s)
    assert tree["plan.txt"] == b"theirs: version 2"
    assert contents(tree) == [b"mine: v2", b"theirs: version 2"]
    assert len(conflicted(tree)) == 1


def test_same_edit_on_both_sides_is_no_conflict(s):
    synced(s, {"plan.txt": "v1"})
    edit(s.local() / "plan.txt", "agreed v2")
    theirs(s, "plan.txt", "agreed v2")
    assert settle(s) == {"plan.txt": b"agreed v2"}


def test_same_new_file_on_both_sides_is_no_conflict(s):
    synced(s, {"keep.txt": "k"})
    write(s.local() / "minutes.txt", "the minutes")
    theirs(s, "minutes.txt", "the minutes")
    assert settle(s) == {"keep.txt": b"k", "minutes.txt": b"the minutes"}


def test_different_new_files_of_one_name_keep_both(s):
    synced(s, {"keep.txt": "k"})
    write(s.local() / "minutes.txt", "my minutes")
    theirs(s, "minutes.txt", "their minutes!")
    tree = settle(s)
    assert contents(tree) == [b"k", b"my minutes", b"their minutes!"]


# ============================================================ delete vs edit

def test_local_delete_remote_edit_keeps_the_edit(s):
    synced(s, {"a.txt": "v1", "b.txt": "b"})
    (s.local() / "a.txt").unlink()
    theirs(s, "a.txt", "their edit")
    assert settle(s) == {"a.txt": b"their edit", "b.txt": b"b"}


def test_remote_delete_local_edit_keeps_the_edit(s):
    synced(s, {"a.txt": "v1", "b.txt": "b"})
    s.emu.other.delete("/docs/a.txt")
    edit(s.local() / "a.txt", "my edit")
    assert settle(s) == {"a.txt": b"my edit", "b.txt": b"b"}


def test_remote_folder_delete_local_new_file_inside_survives(s):
    synced(s, {"proj/a.txt": "a", "other.txt": "o"})
    s.emu.other.delete("/docs/proj")
    write(s.local() / "proj/new.txt", "new work")
    tree = settle(s)
    assert tree.get("proj/new.txt") == b"new work", tree
    assert "proj/a.txt" not in tree


def test_local_folder_delete_remote_new_file_inside_survives(s):
    synced(s, {"proj/a.txt": "a", "other.txt": "o"})
    shutil.rmtree(s.local() / "proj")
    theirs(s, "proj/new.txt", "their new work")
    tree = settle(s)
    assert tree.get("proj/new.txt") == b"their new work", tree
    assert "proj/a.txt" not in tree


def test_remote_folder_delete_local_edit_inside_survives(s):
    synced(s, {"proj/a.txt": "a", "proj/b.txt": "b", "other.txt": "o"})
    s.emu.other.delete("/docs/proj")
    edit(s.local() / "proj/a.txt", "my edit of a")
    tree = settle(s)
    assert tree.get("proj/a.txt") == b"my edit of a", tree
    assert "proj/b.txt" not in tree


def test_local_folder_delete_remote_edit_inside_survives(s):
    synced(s, {"proj/a.txt": "a", "proj/b.txt": "b", "other.txt": "o"})
    shutil.rmtree(s.local() / "proj")
    theirs(s, "proj/a.txt", "their edit of a")
    tree = settle(s)
    assert tree.get("proj/a.txt") == b"their edit of a", tree
    assert "proj/b.txt" not in tree


def test_deletion_is_not_resurrected(s):
    synced(s, {"a.txt": "a", "b.txt": "b", "c.txt": "c"})
    (s.local() / "a.txt").unlink()
    s.emu.other.delete("/docs/b.txt")
    tree = settle(s)
    assert tree == {"c.txt": b"c"}
    s.emu.advance_clock(3600)
    assert settle(s) == {"c.txt": b"c"}


def test_both_delete_the_same_file_and_folder(s):
    synced(s, {"a.txt": "a", "d/x.txt": "x", "keep1": "1", "keep2": "2"})
    (s.local() / "a.txt").unlink()
    shutil.rmtree(s.local() / "d")
    s.emu.other.delete("/docs/a.txt")
    s.emu.other.delete("/docs/d")
    assert settle(s) == {"keep1": b"1", "keep2": b"2"}


# ============================================================ moves and renames

def test_local_folder_rename_while_colleague_adds_inside(s):
    synced(s, {"proj/a.txt": "a", "other.txt": "o"})
    os.rename(s.local() / "proj", s.local() / "project")
    theirs(s, "proj/new.txt", "their new file")
    tree = settle(s)
    assert contents(tree) == [b"a", b"o", b"their new file"], tree
    assert tree.get("project/a.txt") == b"a"


def test_remote_folder_rename_while_user_adds_inside(s):
    synced(s, {"proj/a.txt": "a", "other.txt": "o"})
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/proj", "project")
    write(s.local() / "proj/new.txt", "my new file")
    tree = settle(s)
    assert contents(tree) == [b"a", b"my new file", b"o"], tree
    assert tree.get("project/a.txt") == b"a"


def test_remote_folder_rename_while_user_edits_inside(s):
    synced(s, {"proj/a.txt": "a", "other.txt": "o"})
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/proj", "project")
    edit(s.local() / "proj/a.txt", "my edit of a")
    tree = settle(s)
    assert b"my edit of a" in contents(tree), tree
    assert b"a" not in contents(tree) or tree.get("project/a.txt") != b"a", tree


def test_local_folder_rename_while_colleague_edits_inside(s):
    synced(s, {"proj/a.txt": "a", "other.txt": "o"})
    os.rename(s.local() / "proj", s.local() / "project")
    theirs(s, "proj/a.txt", "their edit of a")
    tree = settle(s)
    assert b"their edit of a" in contents(tree), tree


def test_local_move_into_a_folder_the_colleague_deleted(s):
    synced(s, {"inbox/x.txt": "x", "todo.txt": "do it", "k": "k"})
    os.rename(s.local() / "todo.txt", s.local() / "inbox/todo.txt")
    s.emu.other.delete("/docs/inbox")
    tree = settle(s)
    assert b"do it" in contents(tree), tree


def test_remote_move_into_a_folder_the_user_deleted(s):
    synced(s, {"inbox/x.txt": "x", "todo.txt": "do it", "k": "k"})
    s.emu.advance_clock(2)
    s.emu.other.move("/docs/todo.txt", "/docs/inbox")
    shutil.rmtree(s.local() / "inbox")
    tree = settle(s)
    assert b"do it" in contents(tree), tree


def test_local_move_remote_edit_of_the_moved_file(s):
    synced(s, {"a.txt": "v1", "sub/k": "k"})
    os.rename(s.local() / "a.txt", s.local() / "sub/a.txt")
    theirs(s, "a.txt", "their v2")
    tree = settle(s)
    assert b"their v2" in contents(tree), tree
    assert b"v1" not in contents(tree), tree


def test_remote_move_local_edit_of_the_moved_file(s):
    synced(s, {"a.txt": "v1", "sub/k": "k"})
    s.emu.advance_clock(2)
    s.emu.other.move("/docs/a.txt", "/docs/sub")
    edit(s.local() / "a.txt", "my v2")
    tree = settle(s)
    assert b"my v2" in contents(tree), tree
    assert b"v1" not in contents(tree), tree


def test_case_only_rename_local(s):
    synced(s, {"Report.txt": "r", "k": "k"})
    os.rename(s.local() / "Report.txt", s.local() / "report.txt")
    assert settle(s) == {"report.txt": b"r", "k": b"k"}


def test_case_only_rename_remote(s):
    synced(s, {"Report.txt": "r", "k": "k"})
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/Report.txt", "report.txt")
    assert settle(s) == {"report.txt": b"r", "k": b"k"}


def test_swap_two_names_locally(s):
    synced(s, {"a.txt": "A", "b.txt": "BB"})
    os.rename(s.local() / "a.txt", s.local() / "tmp")
    os.rename(s.local() / "b.txt", s.local() / "a.txt")
    os.rename(s.local() / "tmp", s.local() / "b.txt")
    assert settle(s) == {"a.txt": b"BB", "b.txt": b"A"}


def test_swap_two_names_remotely(s):
    synced(s, {"a.txt": "A", "b.txt": "BB"})
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/a.txt", "tmp")
    s.emu.other.rename("/docs/b.txt", "a.txt")
    s.emu.other.rename("/docs/tmp", "b.txt")
    assert settle(s) == {"a.txt": b"BB", "b.txt": b"A"}


def test_same_rename_on_both_sides_with_remote_edit(s):
    synced(s, {"a.txt": "v1", "k": "k"})
    os.rename(s.local() / "a.txt", s.local() / "b.txt")
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/a.txt", "b.txt")
    theirs(s, "b.txt", "their edit")
    assert settle(s) == {"b.txt": b"their edit", "k": b"k"}


def test_folder_moved_out_of_the_mirror_and_back(s, tmp_path):
    synced(s, {"proj/a.txt": "a", "proj/b.txt": "b", "k1": "1", "k2": "2", "k3": "3"})
    os.rename(s.local() / "proj", tmp_path / "proj-aside")
    assert settle(s) == {"k1": b"1", "k2": b"2", "k3": b"3"}
    os.rename(tmp_path / "proj-aside", s.local() / "proj")
    tree = settle(s)
    assert tree["proj/a.txt"] == b"a" and tree["proj/b.txt"] == b"b"


def test_folder_moved_out_and_back_between_passes(s, tmp_path):
    synced(s, {"proj/a.txt": "a", "k": "k"})
    os.rename(s.local() / "proj", tmp_path / "proj-aside")
    os.rename(tmp_path / "proj-aside", s.local() / "proj")
    edit(s.local() / "proj/a.txt", "edited while away")
    assert settle(s) == {"proj": None, "proj/a.txt": b"edited while away", "k": b"k"}


# ============================================================ type changes

def test_local_file_replaced_by_folder(s):
    synced(s, {"data": "a file", "k": "k"})
    (s.local() / "data").unlink()
    write(s.local() / "data/inside.txt", "now a folder")
    assert settle(s) == {"data": None, "data/inside.txt": b"now a folder", "k": b"k"}


def test_remote_file_replaced_by_folder(s):
    synced(s, {"data": "a file", "k": "k"})
    s.emu.other.delete("/docs/data")
    theirs(s, "data/inside.txt", "now a folder")
    assert settle(s) == {"data": None, "data/inside.txt": b"now a folder", "k": b"k"}


def test_remote_folder_replaced_by_file(s):
    synced(s, {"data/inside.txt": "x", "k": "k"})
    s.emu.other.delete("/docs/data")
    theirs(s, "data", "now a file")
    assert settle(s) == {"data": b"now a file", "k": b"k"}


def test_local_folder_replaced_by_file(s):
    synced(s, {"data/inside.txt": "x", "k": "k"})
    shutil.rmtree(s.local() / "data")
    write(s.local() / "data", "now a file")
    assert settle(s) == {"data": b"now a file", "k": b"k"}


# ============================================================ names

def test_very_deep_path(s):
    deep = "/".join(f"level{i:02}" for i in range(40)) + "/leaf.txt"
    synced(s, {deep: "deep"})
    theirs(s, deep, "their deep edit")
    assert settle(s)[deep] == b"their deep edit"


def test_nfd_local_and_nfc_remote_names_are_one_file(s):
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    write(s.local() / nfd, "same menu")
    s.emu.other.write("/docs/" + nfc, b"same menu")
    r = s.sync()
    assert r.exit_code == 0, s.output
    r = s.sync()
    assert r.exit_code == 0, s.output
    local = files(s.local_tree())
    remote = files(s.remote_tree())
    assert list(local.values()) == [b"same menu"] and list(remote.values()) == [b"same menu"]


def test_long_name_conflict_converges(s):
    name = "x" * 240 + ".txt"
    synced(s, {name: "v1"})
    edit(s.local() / name, "mine")
    theirs(s, name, "theirs!")
    tree = settle(s)
    assert contents(tree) == [b"mine", b"theirs!"]


# ============================================================ ignore / config changes

def test_newly_ignored_synced_files_are_not_deleted_anywhere(s):
    synced(s, {"build/out.bin": "o", "src/a.c": "a", "notes.log": "n"})
    s.set_options(ignore=["build/", "*.log"])
    r = s.sync()
    assert r.exit_code == 0, s.output
    assert (s.local() / "build/out.bin").read_bytes() == b"o"
    assert (s.local() / "notes.log").read_bytes() == b"n"
    remote = s.remote_tree()
    assert remote.get("build/out.bin") == b"o" and remote.get("notes.log") == b"n", remote
    # the ignored files live on separately; removing the rule again loses nothing
    edit(s.local() / "notes.log", "local log, longer")
    s.set_options(ignore=[])
    tree = settle(s)
    assert tree["notes.log"] == b"local log, longer" or b"local log, longer" in contents(tree)
    assert tree["build/out.bin"] == b"o"


def test_ignored_then_deleted_locally_is_not_deleted_remotely(s):
    synced(s, {"cache/x": "x", "a.txt": "a"})
    s.set_options(ignore=["cache/"])
    assert s.sync().exit_code == 0
    shutil.rmtree(s.local() / "cache")
    assert s.sync().exit_code == 0, s.output
    assert s.remote_tree().get("cache/x") == b"x"
    s.set_options(ignore=[])
    tree = settle(s)
    assert tree.get("cache/x") == b"x", tree


def test_ignored_then_deleted_by_colleague_is_not_deleted_locally(s):
    synced(s, {"cache/x": "x", "a.txt": "a"})
    s.set_options(ignore=["cache/"])
    assert s.sync().exit_code == 0
    s.emu.other.delete("/docs/cache")
    assert s.sync().exit_code == 0, s.output
    s.set_options(ignore=[])
    tree = settle(s)
    assert tree.get("cache/x") == b"x", tree


def test_ignored_edits_on_both_sides_meet_as_a_conflict(s):
    synced(s, {"notes.log": "v1", "a.txt": "a"})
    s.set_options(ignore=["*.log"])
    assert s.sync().exit_code == 0
    edit(s.local() / "notes.log", "mine")
    theirs(s, "notes.log", "theirs, longer")
    assert s.sync().exit_code == 0, s.output
    s.set_options(ignore=[])
    tree = settle(s)
    assert b"mine" in contents(tree) and b"theirs, longer" in contents(tree), tree


def test_direction_changes_lose_nothing(s):
    synced(s, {"a.txt": "a", "b.txt": "b"})
    s.set_options(direction="upload-only")
    theirs(s, "remote-new.txt", "theirs")
    write(s.local() / "local-new.txt", "mine")
    assert s.sync().exit_code == 0, s.output
    assert s.remote_tree().get("local-new.txt") == b"mine"
    assert s.remote_tree().get("remote-new.txt") == b"theirs"
    s.set_options(direction="two-way")
    tree = settle(s)
    assert tree["remote-new.txt"] == b"theirs" and tree["local-new.txt"] == b"mine"


def test_lost_state_dir_is_a_first_meeting(s):
    synced(s, {"a.txt": "a", "b.txt": "b", "d/c.txt": "c"})
    shutil.rmtree(s.state)
    edit(s.local() / "a.txt", "my edit")
    theirs(s, "b.txt", "their edit")
    (s.local() / "d/c.txt").unlink()
    tree = settle(s)
    assert b"my edit" in contents(tree) and b"their edit" in contents(tree), tree
    assert tree.get("d/c.txt") == b"c"  # a first meeting deletes nothing
    assert b"a" in contents(tree)


def test_restoring_a_file_from_the_local_trash(s):
    synced(s, {"a.txt": "precious", "k1": "1", "k2": "2"})
    s.emu.other.delete("/docs/a.txt")
    assert settle(s) == {"k1": b"1", "k2": b"2"}
    trashed = [p for p in (s.state / "trash").rglob("a.txt")]
    assert trashed, list((s.state / "trash").rglob("*"))
    shutil.copy2(trashed[0], s.local() / "a.txt")
    assert settle(s)["a.txt"] == b"precious"


def test_restoring_a_file_from_the_remote_trash(s):
    synced(s, {"a.txt": "precious", "k1": "1", "k2": "2"})
    (s.local() / "a.txt").unlink()
    assert settle(s) == {"k1": b"1", "k2": b"2"}
    in_trash = [p for p in s.emu.other.tree() if p.startswith("/.syncd-trash/")
                and p.endswith("/a.txt")]
    assert in_trash, list(s.emu.other.tree())
    s.emu.advance_clock(2)
    s.emu.other.move(in_trash[0], "/docs")
    assert settle(s)["a.txt"] == b"precious"


def test_two_mirrors_moving_a_file_between_them(make_emulator, tmp_path):
    s = make_setup(make_emulator, tmp_path, mirrors=("docs", "pics"))
    write(s.local("docs") / "photo.jpg", "jpeg")
    write(s.local("docs") / "keep.txt", "k")
    write(s.local("pics") / "old.jpg", "old")
    assert s.sync().exit_code == 0, s.output
    os.rename(s.local("docs") / "photo.jpg", s.local("pics") / "photo.jpg")
    for _ in range(2):
        r = s.sync()
    assert r.exit_code == 0, s.output
    assert s.local_tree("docs") == s.remote_tree("docs") == {"keep.txt": b"k"}
    assert s.local_tree("pics") == s.remote_tree("pics") == {"old.jpg": b"old",
                                                             "photo.jpg": b"jpeg"}


# ============================================================ more moves

def test_folders_moved_into_each_other_on_both_sides(s):
    """The user moves A into B while the colleague moves B into A: a cycle. Nothing
    may be lost, and the two sides must agree."""
    synced(s, {"A/a.txt": "a", "B/b.txt": "b", "k": "k"})
    os.rename(s.local() / "A", s.local() / "B/A")
    s.emu.advance_clock(2)
    s.emu.other.move("/docs/B", "/docs/A")
    tree = settle(s, runs=3)
    assert contents(tree) == [b"a", b"b", b"k"], tree


def test_same_folder_renamed_differently_on_both_sides(s):
    synced(s, {"X/a.txt": "a", "X/b.txt": "b", "k": "k"})
    os.rename(s.local() / "X", s.local() / "Mine")
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/X", "Theirs")
    tree = settle(s)
    assert b"a" in contents(tree) and b"b" in contents(tree), tree
    assert "X" not in tree


def test_local_rename_remote_delete_keeps_the_file(s):
    synced(s, {"a.txt": "precious", "k1": "1", "k2": "2"})
    os.rename(s.local() / "a.txt", s.local() / "b.txt")
    s.emu.other.delete("/docs/a.txt")
    tree = settle(s)
    assert b"precious" in contents(tree), tree


def test_remote_rename_local_delete_keeps_the_file(s):
    synced(s, {"a.txt": "precious", "k1": "1", "k2": "2"})
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/a.txt", "b.txt")
    (s.local() / "a.txt").unlink()
    tree = settle(s)
    assert b"precious" in contents(tree), tree


def test_file_moved_out_of_a_folder_the_other_side_deletes_local(s):
    synced(s, {"old/keep.txt": "keep me", "old/junk.txt": "junk", "k1": "1", "k2": "2"})
    os.rename(s.local() / "old/keep.txt", s.local() / "keep.txt")
    s.emu.other.delete("/docs/old")
    tree = settle(s)
    assert tree.get("keep.txt") == b"keep me", tree


def test_file_moved_out_of_a_folder_the_other_side_deletes_remote(s):
    synced(s, {"old/keep.txt": "keep me", "old/junk.txt": "junk", "k1": "1", "k2": "2"})
    s.emu.advance_clock(2)
    s.emu.other.move("/docs/old/keep.txt", "/docs")
    shutil.rmtree(s.local() / "old")
    tree = settle(s)
    assert tree.get("keep.txt") == b"keep me", tree


def test_log_rotation_locally(s):
    synced(s, {"app.log": "day 1", "k": "k"})
    os.rename(s.local() / "app.log", s.local() / "app.log.1")
    write(s.local() / "app.log", "day 2")
    assert settle(s) == {"app.log": b"day 2", "app.log.1": b"day 1", "k": b"k"}


def test_log_rotation_remotely(s):
    synced(s, {"app.log": "day 1", "k": "k"})
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/app.log", "app.log.1")
    theirs(s, "app.log", "day 2")
    assert settle(s) == {"app.log": b"day 2", "app.log.1": b"day 1", "k": b"k"}


def test_rotation_locally_while_colleague_edits(s):
    synced(s, {"app.log": "day 1", "k": "k"})
    os.rename(s.local() / "app.log", s.local() / "app.log.1")
    write(s.local() / "app.log", "day 2")
    theirs(s, "app.log", "day 1 + their note")
    tree = settle(s)
    assert b"day 1 + their note" in contents(tree) and b"day 2" in contents(tree), tree


def test_hard_link_is_not_a_move(s):
    synced(s, {"a.txt": "linked", "k": "k"})
    os.link(s.local() / "a.txt", s.local() / "b.txt")
    assert settle(s) == {"a.txt": b"linked", "b.txt": b"linked", "k": b"k"}
    edit(s.local() / "a.txt", "both change")
    assert settle(s) == {"a.txt": b"both change", "b.txt": b"both change", "k": b"k"}


def test_local_folder_copy(s):
    synced(s, {"proj/a.txt": "a", "proj/sub/b.txt": "b"})
    shutil.copytree(s.local() / "proj", s.local() / "proj copy")
    tree = settle(s)
    assert tree["proj copy/a.txt"] == b"a" and tree["proj copy/sub/b.txt"] == b"b"
    assert tree["proj/a.txt"] == b"a"


def test_remote_folder_copy(s):
    synced(s, {"proj/a.txt": "a", "proj/sub/b.txt": "b", "dst/k": "k"})
    s.emu.advance_clock(2)
    s.emu.other.copy("/docs/proj", "/docs/dst")
    tree = settle(s)
    assert tree["dst/proj/a.txt"] == b"a" and tree["dst/proj/sub/b.txt"] == b"b"
    assert tree["proj/a.txt"] == b"a"


def test_case_only_rename_of_a_folder(s):
    synced(s, {"Photos/a.jpg": "a", "k": "k"})
    os.rename(s.local() / "Photos", s.local() / "photos")
    assert settle(s) == {"photos": None, "photos/a.jpg": b"a", "k": b"k"}
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/photos", "PHOTOS")
    assert settle(s) == {"PHOTOS": None, "PHOTOS/a.jpg": b"a", "k": b"k"}


# ============================================================ names people use

ODD_NAMES = ["Q&A notes.txt", "100% done.txt", "C++ #1.txt", "what?.txt", "a+b=c.txt",
             "semi;colon.txt", "spaces  twice .txt", " leading.txt", "trailing .txt",
             "id:5", "hash:abc", "back\\slash.txt", "日本語.txt", "emoji 🎉.txt",
             "quote'n\"dbl.txt", "~tilde", "-dash.txt", "%2F.txt", "a..b.txt", "...txt"]


def test_odd_names_both_ways(s):
    for i, name in enumerate(ODD_NAMES):
        write(s.local() / "mine" / name, f"mine {i}")
        s.emu.other.write(f"/docs/theirs/{name}", b"theirs %d" % i)
    tree = settle(s)
    for i, name in enumerate(ODD_NAMES):
        assert tree.get(f"mine/{name}") == f"mine {i}".encode(), name
        assert tree.get(f"theirs/{name}") == b"theirs %d" % i, name
    # renamed and edited afterwards, on both sides
    edit(s.local() / "theirs" / "Q&A notes.txt", "my answer")
    theirs(s, "mine/100% done.txt", "their edit")
    os.rename(s.local() / "mine" / "C++ #1.txt", s.local() / "mine" / "C# #2.txt")
    tree = settle(s)
    assert tree["theirs/Q&A notes.txt"] == b"my answer"
    assert tree["mine/100% done.txt"] == b"their edit"
    assert tree["mine/C# #2.txt"] == b"mine 2" and "mine/C++ #1.txt" not in tree


def test_undecodable_local_name_is_one_clear_line(s):
    """An old archive unpacked with Latin-1 names: not valid UTF-8."""
    synced(s, {"k": "k"})
    bad = os.path.join(os.fsencode(s.local()), b"caf\xe9.txt")
    with open(bad, "wb") as f:
        f.write(b"latin-1")
    write(s.local() / "good.txt", "good")
    r = s.sync()
    assert r.exit_code in (0, 1), (r.message, s.output)
    assert "Traceback" not in s.output
    remote = s.remote_tree()
    assert remote.get("good.txt") == b"good"
    assert os.path.exists(bad)
    r2 = s.sync()
    assert r2.exit_code == r.exit_code, s.output
    assert os.path.exists(bad)


def test_symlinked_mirror_root(make_emulator, tmp_path, files_com):
    s = make_setup(make_emulator, tmp_path, emu_opts={"files_com": files_com})
    real = tmp_path / "data" / "docs"
    real.mkdir(parents=True)
    (s.local()).rmdir()
    os.symlink(real, s.local())
    write(real / "a.txt", "a")
    s.emu.other.write("/docs/b.txt", b"b")
    tree = settle(s)
    assert tree == {"a.txt": b"a", "b.txt": b"b"}
    assert (real / "b.txt").read_bytes() == b"b"


def test_file_replaced_by_a_symlink_keeps_the_remote_file(s, tmp_path):
    """A dotfile manager moves a file elsewhere and leaves a symlink to it."""
    synced(s, {"config.ini": "settings", "k1": "1", "k2": "2"})
    target = tmp_path / "elsewhere.ini"
    os.rename(s.local() / "config.ini", target)
    os.symlink(target, s.local() / "config.ini")
    r = s.sync()
    assert r.exit_code == 0, s.output
    assert "skipped config.ini: symbolic link" in s.output
    assert os.path.islink(s.local() / "config.ini")
    assert target.read_bytes() == b"settings"
    assert s.remote_tree().get("config.ini") == b"settings", s.output
    # a colleague's edit is not written through the link, and stays on the server
    theirs(s, "config.ini", "their settings")
    r = s.sync()
    assert r.exit_code == 1 and "config.ini: a symbolic link" in r.message, \
        (r.exit_code, r.message, s.output)
    assert target.read_bytes() == b"settings" and os.path.islink(s.local() / "config.ini")
    assert s.remote_tree().get("config.ini") == b"their settings", s.output


def test_folder_moved_to_another_disk_and_symlinked_back(s, tmp_path):
    """Disk full: the user moves Photos/ elsewhere and leaves a symlink in its place.
    syncd does not follow the link, but the photos are not deleted either: the
    server keeps them."""
    synced(s, {**{f"Photos/p{i}.jpg": f"photo {i}" for i in range(3)},
               **{f"doc{i}.txt": f"doc {i}" for i in range(6)}})
    moved = tmp_path / "bigdisk" / "Photos"
    moved.parent.mkdir()
    shutil.move(s.local() / "Photos", moved)
    os.symlink(moved, s.local() / "Photos")
    r = s.sync()
    assert r.exit_code in (0, 1), s.output
    assert "symbolic link" in s.output
    remote = s.remote_tree()
    assert all(remote.get(f"Photos/p{i}.jpg") == f"photo {i}".encode() for i in range(3)), \
        (remote, s.output)
    assert os.path.islink(s.local() / "Photos")
    assert sorted(p.name for p in moved.iterdir()) == ["p0.jpg", "p1.jpg", "p2.jpg"]
    # a colleague adds a photo meanwhile: nothing is written through the link
    theirs(s, "Photos/p9.jpg", "their photo")
    r = s.sync()
    assert r.exit_code == 1 and "Photos/p9.jpg: Photos is not a folder" in r.message, \
        (r.message, s.output)
    assert sorted(p.name for p in moved.iterdir()) == ["p0.jpg", "p1.jpg", "p2.jpg"]
    remote = s.remote_tree()
    assert remote.get("Photos/p0.jpg") == b"photo 0" and remote.get("Photos/p9.jpg")


# ============================================================ guards, modes, one-way

def test_held_back_deletions_are_not_undone(s):
    synced(s, {f"f{i:02}.txt": f"{i}" for i in range(30)})
    for i in range(20):
        (s.local() / f"f{i:02}.txt").unlink()
    for _ in range(2):
        r = s.sync()
        assert r.exit_code == 1 and "deletions held back" in r.message, (r.message, s.output)
        assert len(files(s.local_tree())) == 10  # nothing downloaded back
        assert len(files(s.remote_tree())) == 30  # nothing deleted
    r = s.sync(force=True)
    assert r.exit_code == 0, (r.message, s.output)
    assert settle(s) == {f"f{i:02}.txt": f"{i}".encode() for i in range(20, 30)}


def test_held_back_remote_deletions_are_not_undone(s):
    synced(s, {f"f{i:02}.txt": f"{i}" for i in range(30)})
    for i in range(20):
        s.emu.other.delete(f"/docs/f{i:02}.txt")
    for _ in range(2):
        r = s.sync()
        assert r.exit_code == 1 and "deletions held back" in r.message, (r.message, s.output)
        assert len(files(s.remote_tree())) == 10  # nothing uploaded back
        assert len(files(s.local_tree())) == 30
    r = s.sync(force=True)
    assert r.exit_code == 0, (r.message, s.output)
    assert settle(s) == {f"f{i:02}.txt": f"{i}".encode() for i in range(20, 30)}


def test_download_keeps_private_and_executable_modes(s):
    synced(s, {"secret.txt": "s", "run.sh": "#!/bin/sh"})
    os.chmod(s.local() / "secret.txt", 0o600)
    os.chmod(s.local() / "run.sh", 0o755)
    theirs(s, "secret.txt", "new secret")
    theirs(s, "run.sh", "#!/bin/sh\necho hi")
    settle(s)
    assert (s.local() / "secret.txt").stat().st_mode & 0o777 == 0o600
    assert (s.local() / "run.sh").stat().st_mode & 0o777 == 0o755


def test_download_only_never_reverts_a_local_edit_silently(s):
    synced(s, {"a.txt": "v1", "k": "k"})
    s.set_options(direction="download-only")
    edit(s.local() / "a.txt", "my local edit")
    r = s.sync()
    assert r.exit_code == 0, s.output
    local = s.local_tree()
    assert b"my local edit" in contents(local), local  # kept (in place or as a copy)
    theirs(s, "a.txt", "their v2")
    r = s.sync()
    assert r.exit_code == 0, s.output
    local = s.local_tree()
    assert local["a.txt"] == b"their v2"
    assert b"my local edit" in contents(local), local


def test_upload_only_never_reverts_a_remote_edit_silently(s):
    synced(s, {"a.txt": "v1", "k": "k"})
    s.set_options(direction="upload-only")
    theirs(s, "a.txt", "their edit")
    assert s.sync().exit_code == 0, s.output
    remote = s.remote_tree()
    assert b"their edit" in contents(remote), remote
    edit(s.local() / "a.txt", "my v2")
    assert s.sync().exit_code == 0, s.output
    remote = s.remote_tree()
    assert remote["a.txt"] == b"my v2"
    assert b"their edit" in contents(remote), remote


def test_user_file_shaped_like_a_temp_name_syncs(s):
    synced(s, {".syncd-notes.part": "mine", "k": "k"})
    assert s.remote_tree()[".syncd-notes.part"] == b"mine"


# ============================================================ a colleague's burst between passes

def test_colleague_creates_and_deletes_between_passes(s):
    synced(s, {"k": "k"})
    theirs(s, "draft.txt", "draft")
    s.emu.other.delete("/docs/draft.txt")
    assert settle(s) == {"k": b"k"}


def test_colleague_creates_then_renames_folder_between_passes(s):
    synced(s, {"k": "k"})
    theirs(s, "new/x.txt", "x")
    s.emu.advance_clock(1)
    s.emu.other.rename("/docs/new", "final")
    theirs(s, "final/y.txt", "y")
    assert settle(s) == {"k": b"k", "final": None, "final/x.txt": b"x", "final/y.txt": b"y"}


def test_colleague_recreates_a_folder_while_user_edits_in_it(s):
    synced(s, {"build/a.txt": "a", "build/b.txt": "b", "k1": "1", "k2": "2"})
    s.emu.other.delete("/docs/build")
    theirs(s, "build/a.txt", "new a")
    theirs(s, "build/c.txt", "c")
    edit(s.local() / "build/b.txt", "my edit of b")
    tree = settle(s)
    assert tree["build/a.txt"] == b"new a" and tree["build/c.txt"] == b"c"
    assert tree.get("build/b.txt") == b"my edit of b", tree


def test_user_recreates_a_folder_rm_rf_and_make(s):
    synced(s, {"out/a.o": "a1", "out/b.o": "b", "k": "k"})
    shutil.rmtree(s.local() / "out")
    write(s.local() / "out/a.o", "a2, rebuilt")
    write(s.local() / "out/b.o", "b")
    write(s.local() / "out/c.o", "c")
    assert settle(s) == {"k": b"k", "out": None, "out/a.o": b"a2, rebuilt", "out/b.o": b"b",
                         "out/c.o": b"c"}
    assert not conflicted(s.remote_tree())


# ============================================================ more of the same on both sides

def test_both_create_the_same_folder_with_some_same_files(s):
    synced(s, {"k": "k"})
    write(s.local() / "trip/day1.txt", "day one")
    write(s.local() / "trip/mine.txt", "mine")
    theirs(s, "trip/day1.txt", "day one")
    theirs(s, "trip/theirs.txt", "theirs")
    tree = settle(s)
    assert tree == {"k": b"k", "trip": None, "trip/day1.txt": b"day one",
                    "trip/mine.txt": b"mine", "trip/theirs.txt": b"theirs"}


def test_both_move_a_file_to_different_folders(s):
    synced(s, {"a.txt": "a", "x/k": "k", "y/k": "k"})
    os.rename(s.local() / "a.txt", s.local() / "x/a.txt")
    s.emu.advance_clock(2)
    s.emu.other.move("/docs/a.txt", "/docs/y")
    tree = settle(s)
    assert b"a" in contents(tree), tree
    assert "a.txt" not in tree


def test_both_move_a_file_into_the_same_new_folder(s):
    synced(s, {"a.txt": "a", "b.txt": "b"})
    write(s.local() / "new/k", "k")
    os.rename(s.local() / "a.txt", s.local() / "new/a.txt")
    s.emu.other.mkdir("/docs/new")
    s.emu.advance_clock(2)
    s.emu.other.move("/docs/a.txt", "/docs/new")
    tree = settle(s)
    assert tree == {"b.txt": b"b", "new": None, "new/a.txt": b"a", "new/k": b"k"}, tree


# ============================================================ ignored things in the way

def test_remote_file_named_like_a_locally_ignored_folder(s):
    """``build/`` is ignored; a colleague adds a file called ``build``. It cannot be
    downloaded over the ignored folder: one line naming it, exit 1 (a human must
    choose), not "files still changing" and exit 75 on every pass."""
    s.set_options(ignore=["cache/"])
    write(s.local() / "cache/big.bin", "local cache")
    write(s.local() / "k", "k")
    assert s.sync().exit_code == 0, s.output
    theirs(s, "cache", "a file called cache")
    r = s.sync()
    assert r.exit_code == 1, (r.exit_code, r.message, s.output)
    assert "cache: an ignored folder is in the way" in r.message and "\n" not in r.message, r.message
    assert s.sync().exit_code in (1, 75)  # (backing off)
    assert (s.local() / "cache/big.bin").read_bytes() == b"local cache"
    assert s.remote_tree()["cache"] == b"a file called cache"


def test_remote_file_where_a_local_symlink_is(s, tmp_path):
    synced(s, {"k": "k"})
    (tmp_path / "target.txt").write_text("the link's target")
    os.symlink(tmp_path / "target.txt", s.local() / "latest")
    theirs(s, "latest", "a file called latest")
    r = s.sync()
    assert r.exit_code == 1, (r.exit_code, r.message, s.output)
    assert "latest: a symbolic link" in r.message and "\n" not in r.message, r.message
    assert s.sync().exit_code in (1, 75)  # (backing off)
    assert (tmp_path / "target.txt").read_text() == "the link's target"
    assert os.path.islink(s.local() / "latest")
    assert s.remote_tree()["latest"] == b"a file called latest"


# ============================================================ rename over an existing file

def test_local_rename_over_an_existing_file(s):
    synced(s, {"a.txt": "old a", "b.txt": "the new a", "k": "k"})
    os.replace(s.local() / "b.txt", s.local() / "a.txt")
    assert settle(s) == {"a.txt": b"the new a", "k": b"k"}


def test_remote_rename_over_an_existing_file(s):
    synced(s, {"a.txt": "old a", "b.txt": "the new a", "k": "k"})
    s.emu.advance_clock(2)
    s.emu.other.delete("/docs/a.txt")
    s.emu.other.rename("/docs/b.txt", "a.txt")
    assert settle(s) == {"a.txt": b"the new a", "k": b"k"}


def test_local_rename_over_a_file_the_colleague_edits(s):
    synced(s, {"a.txt": "old a", "b.txt": "the new a", "k": "k"})
    os.replace(s.local() / "b.txt", s.local() / "a.txt")
    theirs(s, "a.txt", "their edit of old a")
    tree = settle(s)
    assert b"their edit of old a" in contents(tree) and b"the new a" in contents(tree), tree
    assert "b.txt" not in tree or tree["b.txt"] == b"the new a"


def test_empty_folders_both_ways(s):
    synced(s, {"k": "k"})
    (s.local() / "empty-mine").mkdir()
    s.emu.other.mkdir("/docs/empty-theirs")
    assert settle(s) == {"k": b"k", "empty-mine": None, "empty-theirs": None}
    (s.local() / "empty-theirs").rmdir()
    s.emu.other.delete("/docs/empty-mine")
    assert settle(s) == {"k": b"k"}


def test_mac_colleague_long_accented_name(s):
    """A colleague on a Mac uploads a name in NFD spelling that is over 255 bytes in
    NFD but fits in NFC. It is noted or stored, never a traceback or a loop."""
    name = unicodedata.normalize("NFD", "é" * 120 + ".txt")  # 364 bytes NFD, 244 NFC
    synced(s, {"k": "k"})
    theirs(s, name, "from the Mac")
    r = s.sync()
    assert r.exit_code in (0, 1), (r.message, s.output)
    assert "Traceback" not in s.output
    r = s.sync()
    assert r.exit_code in (0, 1), (r.message, s.output)
    assert "name longer than 255 bytes: not synced" in s.output or \
        b"from the Mac" in contents(s.local_tree())
    assert s.emu.other.read("/docs/" + name) == b"from the Mac"


def test_cli_symlink_in_the_way_is_one_line_exit_1(s, tmp_path):
    synced(s, {"k": "k"})
    os.symlink(tmp_path, s.local() / "latest")
    theirs(s, "latest", "a file called latest")
    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 1, (cp.stdout, cp.stderr)
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and "latest: a symbolic link" in lines[0], lines
    assert "Traceback" not in cp.stderr + cp.stdout


def test_download_only_keeps_a_new_local_file(s):
    synced(s, {"a.txt": "a", "k": "k"})
    s.set_options(direction="download-only")
    write(s.local() / "mine.txt", "only here")
    for _ in range(2):
        assert s.sync().exit_code == 0, s.output
    assert (s.local() / "mine.txt").read_bytes() == b"only here"


def test_upload_only_keeps_a_new_remote_file(s):
    synced(s, {"a.txt": "a", "k": "k"})
    s.set_options(direction="upload-only")
    theirs(s, "theirs.txt", "only there")
    for _ in range(2):
        assert s.sync().exit_code == 0, s.output
    assert s.remote_tree()["theirs.txt"] == b"only there"


def test_back_to_two_way_after_one_way_loses_nothing(s):
    synced(s, {"a.txt": "a", "k": "k"})
    s.set_options(direction="download-only")
    write(s.local() / "mine.txt", "only here")
    edit(s.local() / "a.txt", "local edit while download-only")
    assert s.sync().exit_code == 0, s.output
    s.set_options(direction="two-way")
    tree = settle(s)
    assert tree["mine.txt"] == b"only here"
    assert b"local edit while download-only" in contents(tree), tree


def test_case_only_rename_remote_with_local_edit(s):
    synced(s, {"Report.txt": "r1", "k": "k"})
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/Report.txt", "report.txt")
    edit(s.local() / "Report.txt", "my edit of the report")
    assert settle(s) == {"report.txt": b"my edit of the report", "k": b"k"}


def test_case_only_rename_local_with_remote_edit(s):
    synced(s, {"Report.txt": "r1", "k": "k"})
    os.rename(s.local() / "Report.txt", s.local() / "report.txt")
    theirs(s, "Report.txt", "their edit of the report")
    assert settle(s) == {"report.txt": b"their edit of the report", "k": b"k"}
