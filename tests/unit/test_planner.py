"""One test per planner rule (see the table in ``syncd/reconcile/planner.py``)."""

from __future__ import annotations

import copy
import dataclasses
import random
import re
import unicodedata

import pytest

from syncd.model import (DIR, FILE, Compare, DeleteLocal, DeleteRemote, Download, ForgetBase,
                         LocalEntry, MakeLocalDir, MakeRemoteDir, MoveLocal, MoveRemote,
                         PlanOptions, RecordBase, RemoteEntry, Upload, is_under, key)
from syncd.reconcile.planner import plan
from tests.helpers.planner import CC, HOST, STAMP, World, of, only

MOVES = (MoveLocal, MoveRemote)
TRANSFERS = (Upload, Download, Compare)
DELETES = (DeleteLocal, DeleteRemote)


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def kinds(p) -> list[str]:
    return [type(a).__name__ for a in p.actions]


# ============================================================== 1, 2: one side new


def test_rule1_new_local_file_is_uploaded_to_a_free_path():
    w = World().lnew("a.txt", size=5)
    up = only(w.plan(), Upload)
    assert (up.path, up.remote_path, up.replace) == ("a.txt", "a.txt", None)
    assert w.plan().actions == [up]


def test_rule1_new_local_folders_get_mkdir_only_where_no_upload_creates_them():
    w = (World().lnew("docs", DIR).lnew("docs/a.txt")  # created by the upload
         .lnew("empty", DIR)  # leaf: needs a mkdir
         .lnew("deep", DIR).lnew("deep/er", DIR).lnew("deep/er/est", DIR))  # only the leaf
    p = w.plan()
    assert sorted(a.remote_path for a in of(p, MakeRemoteDir)) == ["deep/er/est", "empty"]
    assert [a.remote_path for a in of(p, Upload)] == ["docs/a.txt"]
    assert not of(p, RecordBase)  # non-leaf folders are recorded on a later pass (rule 3)


def test_rule1_later_pass_records_folders_created_by_uploads():
    w = World().lnew("docs", DIR).rnew("docs", DIR)
    rec = only(w.plan(), RecordBase).base
    assert (rec.local_path, rec.remote_path, rec.kind, rec.remote_id) == (
        "docs", "docs", DIR, w.remote["docs"].id)


def test_rule2_new_remote_file_is_downloaded():
    w = World().rnew("b.bin", size=7)
    down = only(w.plan(), Download)
    assert (down.remote_path, down.path, down.replace) == ("b.bin", "b.bin", None)


def test_rule2_every_new_remote_folder_gets_a_local_mkdir_parents_first():
    w = World().rnew("x", DIR).rnew("x/y", DIR).rnew("x/y/z", DIR).rnew("x/y/f.txt")
    p = w.plan()
    assert [a.path for a in of(p, MakeLocalDir)] == ["x", "x/y", "x/y/z"]
    assert kinds(p) == ["MakeLocalDir"] * 3 + ["Download"]


# =================================================================== 3: first sync


def test_rule3_first_sync_folders_on_both_sides_are_recorded():
    w = World().lnew("d", DIR).rnew("d", DIR)
    assert kinds(w.plan()) == ["RecordBase"]


def test_rule3_first_sync_equal_size_files_are_compared():
    w = World().lnew("a.txt", size=4).rnew("a.txt", size=4)
    cmp_ = only(w.plan(), Compare)
    assert (cmp_.path, cmp_.remote_path) == ("a.txt", "a.txt")
    assert cmp_.conflict_path == f"a {CC}.txt"
    assert len(w.plan().actions) == 1


def test_rule3_first_sync_different_size_files_are_a_conflict():
    w = World().lnew("a.txt", size=4).rnew("a.txt", size=5)
    p = w.plan()
    assert p.conflicts == ["a.txt"]
    assert kinds(p) == ["MoveLocal", "Upload", "Download"]


def test_rule3_first_sync_local_file_vs_remote_folder_renames_the_file():
    w = World().lnew("x").rnew("x", DIR).rnew("x/in.txt")
    p = w.plan()
    mv = only(p, MoveLocal)
    assert (mv.src, mv.dst) == ("x", f"x {CC}")
    up = only(p, Upload)
    assert (up.path, up.remote_path, up.local.path) == (f"x {CC}", f"x {CC}", f"x {CC}")
    assert only(p, MakeLocalDir).path == "x"
    assert only(p, Download).path == "x/in.txt"
    assert p.conflicts == ["x"]
    assert kinds(p) == ["MoveLocal", "MakeLocalDir", "Upload", "Download"]  # (ties by path)


def test_rule3_first_sync_local_folder_vs_remote_file_renames_the_remote_file():
    w = World().lnew("x", DIR).lnew("x/in.txt").rnew("x", size=3)
    p = w.plan()
    mv = only(p, MoveRemote)
    assert (mv.src, mv.dst) == ("x", f"x {CC}")
    down = only(p, Download)
    assert (down.remote_path, down.path) == (f"x {CC}", f"x {CC}")
    assert only(p, Upload).remote_path == "x/in.txt"  # creates the folder x
    assert not of(p, MakeRemoteDir)
    assert p.actions[0] == mv


# ================================================================= 4, 5, 6: edits


def test_rule4_unchanged_needs_nothing():
    w = World().tree("d/", "d/a.txt", "b.txt")
    assert w.plan().actions == []


def test_rule4_touched_file_with_equal_hash_records_the_new_stat_without_upload():
    w = World().tree("a.txt")
    e = w.local["a.txt"]
    w.local["a.txt"] = LocalEntry("a.txt", FILE, e.size, e.mtime_ns + 5, e.inode + 1, e.sha256)
    rec = only(w.plan(), RecordBase).base
    assert len(w.plan().actions) == 1
    assert (rec.mtime_ns, rec.inode, rec.sha256) == (e.mtime_ns + 5, e.inode + 1, e.sha256)
    assert rec.remote_id == w.base["a.txt"].remote_id


def test_rule4_touched_file_with_unknown_hash_counts_as_modified():
    w = World().tree("a.txt")
    e = w.local["a.txt"]
    w.local["a.txt"] = LocalEntry("a.txt", FILE, e.size, e.mtime_ns + 5, e.inode, None)
    assert kinds(w.plan()) == ["Upload"]


def test_rule4_touched_file_with_a_different_hash_counts_as_modified():
    w = World().tree("a.txt")
    e = w.local["a.txt"]
    w.local["a.txt"] = LocalEntry("a.txt", FILE, e.size, e.mtime_ns + 5, e.inode, "other")
    assert kinds(w.plan()) == ["Upload"]


def test_rule4_remote_folder_with_new_id_gets_it_recorded():
    w = World().tree("d/")
    w.remote["d"] = RemoteEntry("d", DIR, "new-id", 0, 99.0)
    rec = only(w.plan(), RecordBase).base
    assert rec.remote_id == "new-id" and len(w.plan().actions) == 1


def test_rule4_remote_folder_updated_time_alone_is_ignored():
    w = World().tree("d/")
    w.remote["d"] = RemoteEntry("d", DIR, w.remote["d"].id, 0, 12345.0)
    assert w.plan().actions == []


def test_rule5_local_edit_uploads_replacing_the_known_remote_version():
    w = World().tree("a.txt").ledit("a.txt")
    up = only(w.plan(), Upload)
    assert up.replace == w.remote["a.txt"] and up.local == w.local["a.txt"]
    assert len(w.plan().actions) == 1


def test_rule5_remote_edit_downloads_replacing_the_known_local_version():
    w = World().tree("a.txt").redit("a.txt")
    down = only(w.plan(), Download)
    assert down.replace == w.local["a.txt"] and down.remote == w.remote["a.txt"]
    assert len(w.plan().actions) == 1


def test_rule5_remote_replaced_with_new_id_is_a_remote_edit():
    w = World().tree("a.txt")
    e = w.remote["a.txt"]
    w.remote["a.txt"] = RemoteEntry("a.txt", FILE, "fresh", e.size, e.updated)
    assert kinds(w.plan()) == ["Download"]


def test_rule6_both_modified_is_a_conflict_keeping_both_versions_on_both_sides():
    w = World().tree("dir/", "dir/report.pdf").ledit("dir/report.pdf", size=20) \
        .redit("dir/report.pdf", size=30)
    p = w.plan()
    local, remote = w.local["dir/report.pdf"], w.remote["dir/report.pdf"]
    cc = f"dir/report {CC}.pdf"
    assert re.fullmatch(r"dir/report \(conflicted copy box \d{4}-\d\d-\d\d \d{6}\)\.pdf", cc)
    assert p.actions == [
        MoveLocal(src="dir/report.pdf", dst=cc, local=local, forget_base=True),
        Upload(path=cc, remote_path=cc, local=LocalEntry(cc, FILE, local.size, local.mtime_ns,
                                                         local.inode, local.sha256)),
        Download(remote_path="dir/report.pdf", path="dir/report.pdf", remote=remote),
    ]
    assert p.conflicts == ["dir/report.pdf"]


@pytest.mark.parametrize("direction", ["two-way", "upload-only", "download-only"])
def test_rule6_both_modified_to_equal_sizes_is_compared_first(direction):
    """Issue 16, item 8: the same edit on both sides (equal size) is compared (one
    download) before it is called a conflict; different content still is one."""
    w = World().tree("a.txt").ledit("a.txt", size=50).redit("a.txt", size=50)
    p = w.plan(direction=direction)
    cmp = only(p, Compare)
    assert (cmp.local, cmp.remote) == (w.local["a.txt"], w.remote["a.txt"])
    assert cmp.conflict_path == f"a {CC}.txt"
    assert len(p.actions) == 1 and p.conflicts == []


def test_rule6_remote_file_of_the_base_size_is_compared_with_the_base():
    """Another client re-sent the synced bytes (new updatedAt, the base's size)
    while the user edited the file: one download tells (the base's SHA-256); the
    worker then lets the local edit go up instead of calling it a conflict."""
    w = World().tree("a.txt").ledit("a.txt", size=20).redit("a.txt", size=10)
    p = w.plan()
    cmp = only(p, Compare)
    assert cmp.base == w.base["a.txt"] and cmp.remote == w.remote["a.txt"]
    assert len(p.actions) == 1 and p.conflicts == []


def test_rule8_remote_file_of_the_base_size_is_checked_before_it_beats_a_delete():
    """E2e seed 11058: a server "edit" of the synced size may be the synced bytes
    (re-sent, or recorded under an older version while a listing was read): the
    restoring download carries the base, so the worker can tell and let the
    deletion go on. Another size is an edit for sure: a plain restore."""
    w = World().tree("a.txt").ldel("a.txt").redit("a.txt", size=10)
    down = only(w.plan(), Download)
    assert down.base == w.base["a.txt"] and down.replace is None
    w = World().tree("a.txt").ldel("a.txt").redit("a.txt", size=11)
    assert only(w.plan(), Download).base is None


@pytest.mark.parametrize("path, cc", [
    (".bashrc", f".bashrc {CC}"),
    ("Makefile", f"Makefile {CC}"),
    ("a.tar.gz", f"a.tar {CC}.gz"),
    ("d/notes.txt", f"d/notes {CC}.txt"),
])
def test_rule_c_conflict_names_dotfiles_and_names_without_extension(path, cc):
    w = World()
    if "/" in path:
        w.tree("d/")
    w.tree(path).ledit(path).redit(path)
    assert only(w.plan(), MoveLocal).dst == cc


def test_rule_c_conflict_name_skips_names_already_taken():
    w = World().tree("a.txt").ledit("a.txt").redit("a.txt").rnew(f"a {CC}.txt")
    assert only(w.plan(), MoveLocal).dst == f"a (conflicted copy {HOST} {STAMP} 2).txt"


def test_rule_c_conflict_upload_goes_under_the_remote_folder_spelling():
    folder = nfd("café")
    w = World().synced(folder, DIR, rpath=nfc("café")).synced(
        f"{folder}/a.txt", rpath=f"{nfc('café')}/a.txt")
    w.ledit(f"{folder}/a.txt").redit(f"{nfc('café')}/a.txt")
    up = only(w.plan(), Upload)
    assert up.path == f"{folder}/a {CC}.txt" and up.remote_path == f"{nfc('café')}/a {CC}.txt"


# ==================================================================== 7: deletes


def test_rule7_local_delete_is_propagated():
    w = World().tree("a.txt").ldel("a.txt")
    d = only(w.plan(), DeleteRemote)
    assert (d.remote_path, d.remote) == ("a.txt", w.remote["a.txt"])


def test_rule7_remote_delete_is_propagated():
    w = World().tree("a.txt").rdel("a.txt")
    d = only(w.plan(), DeleteLocal)
    assert (d.path, d.local) == ("a.txt", w.local["a.txt"])


def test_rule7_local_folder_delete_is_one_delete_of_the_top_folder():
    w = World().tree("d/", "d/a", "d/e/", "d/e/b", "keep").ldel("d")
    p = w.plan()
    assert p.actions == [DeleteRemote("d", w.remote["d"])]


def test_rule7_remote_folder_delete_is_one_delete_of_the_top_folder():
    w = World().tree("d/", "d/a", "d/e/", "d/e/b").rdel("d")
    assert w.plan().actions == [DeleteLocal("d", w.local["d"])]


# ============================================================ 8: edit beats delete


def test_rule8_local_delete_loses_to_a_remote_edit():
    w = World().tree("a.txt").ldel("a.txt").redit("a.txt")
    down = only(w.plan(), Download)
    assert down.replace is None and not of(w.plan(), DELETES)


def test_rule8_remote_delete_loses_to_a_local_edit():
    w = World().tree("a.txt").rdel("a.txt").ledit("a.txt")
    up = only(w.plan(), Upload)
    assert up.replace is None and not of(w.plan(), DELETES)


def test_rule8_local_folder_delete_keeps_remote_edits_and_deletes_untouched_siblings():
    w = World().tree("d/", "d/edited", "d/same", "d/sub/", "d/sub/same2", "d/gone/", "d/gone/x")
    w.ldel("d").redit("d/edited").rnew("d/gone/new")
    p = w.plan()
    assert [a.path for a in of(p, MakeLocalDir)] == ["d", "d/gone"]
    assert sorted(a.path for a in of(p, Download)) == ["d/edited", "d/gone/new"]
    assert all(a.replace is None for a in of(p, Download))
    # untouched descendants ARE deleted (top-most of each untouched subtree only)
    assert sorted(a.remote_path for a in of(p, DeleteRemote)) == ["d/gone/x", "d/same", "d/sub"]
    assert not of(p, DeleteLocal)


def test_rule8_remote_folder_delete_keeps_local_edits_and_deletes_untouched_siblings():
    w = World().tree("d/", "d/edited", "d/same", "d/sub/", "d/sub/same2")
    w.rdel("d").ledit("d/edited").lnew("d/sub/new")
    p = w.plan()
    ups = of(p, Upload)
    assert sorted(a.remote_path for a in ups) == ["d/edited", "d/sub/new"]
    assert all(a.replace is None for a in ups)
    assert sorted(a.path for a in of(p, DeleteLocal)) == ["d/same", "d/sub/same2"]
    assert not of(p, MakeRemoteDir)  # the uploads create d and d/sub
    assert not of(p, DeleteRemote)


def test_rule8_new_empty_folder_inside_a_remotely_deleted_folder_is_kept():
    w = World().tree("d/", "d/old").rdel("d").lnew("d/fresh", DIR)
    p = w.plan()
    assert [a.remote_path for a in of(p, MakeRemoteDir)] == ["d/fresh"]
    assert [a.path for a in of(p, DeleteLocal)] == ["d/old"]


# ============================================================ 9: both deleted


def test_rule9_both_deleted_forgets_the_top_most_row():
    w = World().tree("d/", "d/a", "d/b", "x").ldel("d").rdel("d").ldel("x").rdel("x")
    assert w.plan().actions == [ForgetBase("d"), ForgetBase("x")]


# ================================================================ 10: kind changes


def test_rule10_local_file_became_folder():
    w = World().tree("x").ldel("x").lnew("x", DIR).lnew("x/in.txt")
    p = w.plan()
    assert kinds(p) == ["DeleteRemote", "Upload"]  # the delete frees the path first
    assert p.actions[0] == DeleteRemote("x", w.remote["x"])
    assert p.actions[1].remote_path == "x/in.txt"


def test_rule10_local_file_became_empty_folder():
    w = World().tree("x").ldel("x").lnew("x", DIR)
    assert kinds(w.plan()) == ["DeleteRemote", "MakeRemoteDir"]


def test_rule10_remote_file_became_folder():
    w = World().tree("x").rdel("x").rnew("x", DIR).rnew("x/in.txt")
    p = w.plan()
    assert kinds(p) == ["DeleteLocal", "MakeLocalDir", "Download"]
    assert p.actions[0] == DeleteLocal("x", w.local["x"])


def test_rule10_local_folder_became_file_while_remote_folder_untouched():
    w = World().tree("x/", "x/a").ldel("x").lnew("x", size=3)
    p = w.plan()
    assert p.actions == [DeleteRemote("x", w.remote["x"]),
                         Upload("x", "x", w.local["x"], None)]


def test_rule10_local_folder_became_file_while_remote_changed_inside_keeps_both():
    w = World().tree("x/", "x/a", "x/b").ldel("x").lnew("x", size=3).redit("x/a")
    p = w.plan()
    mv = only(p, MoveLocal)
    assert (mv.src, mv.dst, mv.forget_base) == ("x", f"x {CC}", False)
    assert only(p, Upload).remote_path == f"x {CC}"
    assert only(p, MakeLocalDir).path == "x"
    assert only(p, Download).path == "x/a"
    assert [a.remote_path for a in of(p, DeleteRemote)] == ["x/b"]
    assert p.conflicts == ["x"]


def test_rule10_kind_change_against_an_edit_renames_the_file_side():
    w = World().tree("x").ldel("x").lnew("x", DIR).lnew("x/in").redit("x")
    p = w.plan()
    mv = only(p, MoveRemote)
    assert (mv.src, mv.dst) == ("x", f"x {CC}")
    assert {(a.remote_path, a.path) for a in of(p, Download)} == {(f"x {CC}", f"x {CC}")}
    assert only(p, Upload).remote_path == "x/in"
    assert not of(p, DELETES)


def test_rule10_remote_kind_change_against_a_local_edit_renames_the_local_file():
    w = World().tree("x").rdel("x").rnew("x", DIR).ledit("x")
    p = w.plan()
    mv = only(p, MoveLocal)
    assert (mv.src, mv.dst, mv.forget_base) == ("x", f"x {CC}", True)
    assert only(p, Upload).remote_path == f"x {CC}"
    assert only(p, MakeLocalDir).path == "x"
    assert not of(p, DELETES)


def test_rule10_both_changed_kind_the_same_way_is_a_first_meeting():
    w = World().tree("x").ldel("x").lnew("x", DIR).rdel("x").rnew("x", DIR)
    rec = only(w.plan(), RecordBase).base
    assert rec.kind == DIR and len(w.plan().actions) == 1


def test_rule10_kind_change_against_a_deletion_just_creates():
    w = World().tree("x").ldel("x").lnew("x", DIR).lnew("x/f").rdel("x")
    assert kinds(w.plan()) == ["Upload"]


# ==================================================================== moves


def test_move_local_file_rename_is_one_remote_move():
    w = World().tree("a.txt").lmove("a.txt", "b.txt")
    p = w.plan()
    assert p.actions == [MoveRemote("a.txt", "b.txt", w.remote["a.txt"])]


def test_move_local_file_into_another_folder():
    w = World().tree("a.txt", "d/").lmove("a.txt", "d/a.txt")
    assert w.plan().actions == [MoveRemote("a.txt", "d/a.txt", w.remote["a.txt"])]


def test_move_local_folder_is_one_remote_move_without_transfers_or_deletes():
    w = World().tree("src/", "src/a", "src/sub/", "src/sub/b", "dst/").lmove("src", "dst/src2")
    p = w.plan()
    assert p.actions == [MoveRemote("src", "dst/src2", w.remote["src"])]


def test_move_local_file_into_new_folder_creates_it_first():
    w = World().tree("a.txt").lnew("new", DIR).lnew("new/deeper", DIR)
    w.lmove("a.txt", "new/deeper/a.txt")
    p = w.plan()
    assert kinds(p) == ["MakeRemoteDir", "MoveRemote"]
    assert p.actions[0].remote_path == "new/deeper"
    assert p.actions[1] == MoveRemote("a.txt", "new/deeper/a.txt", w.remote["a.txt"])


def test_move_remote_file_into_new_folder_creates_it_first():
    w = World().tree("a.txt").rnew("new", DIR).rmove("a.txt", "new/a.txt")
    p = w.plan()
    assert kinds(p) == ["MakeLocalDir", "MoveLocal"]
    assert p.actions[1] == MoveLocal("a.txt", "new/a.txt", w.local["a.txt"])


def test_move_remote_file_is_one_local_move():
    w = World().tree("a.txt", "d/").rmove("a.txt", "d/b.txt")
    assert w.plan().actions == [MoveLocal("a.txt", "d/b.txt", w.local["a.txt"])]


def test_move_remote_folder_is_one_local_move():
    w = World().tree("src/", "src/a", "src/sub/", "src/sub/b").rmove("src", "renamed")
    assert w.plan().actions == [MoveLocal("src", "renamed", w.local["src"])]


def test_move_local_with_remote_edit_is_one_move_and_one_download():
    w = World().tree("a.txt").lmove("a.txt", "b.txt").redit("a.txt")
    p = w.plan()
    assert kinds(p) == ["MoveRemote", "Download"]
    down = p.actions[1]
    assert (down.remote_path, down.path, down.replace) == ("b.txt", "b.txt", w.local["b.txt"])
    assert down.remote.id == w.remote["a.txt"].id


def test_move_remote_with_local_edit_is_one_move_and_one_upload():
    w = World().tree("a.txt").rmove("a.txt", "b.txt").ledit("a.txt")
    p = w.plan()
    assert kinds(p) == ["MoveLocal", "Upload"]
    up = p.actions[1]
    assert (up.path, up.remote_path, up.replace) == ("b.txt", "b.txt", w.remote["b.txt"])


def test_move_local_folder_with_remote_edits_inside():
    w = World().tree("d/", "d/a", "d/b").lmove("d", "e").redit("d/a").rnew("d/new")
    p = w.plan()
    assert kinds(p) == ["MoveRemote", "Download", "Download"]
    assert sorted(a.path for a in of(p, Download)) == ["e/a", "e/new"]
    assert only(p, MoveRemote).dst == "e"


def test_move_local_folder_while_remote_deleted_a_child():
    w = World().tree("d/", "d/a", "d/b").lmove("d", "e").rdel("d/a")
    p = w.plan()
    assert kinds(p) == ["MoveRemote", "DeleteLocal"]
    assert p.actions[1].path == "e/a"


def test_move_both_sides_same_destination_only_moves_the_base():
    w = World().tree("d/", "d/a", "x").lmove("d", "e").rmove("d", "e")
    w.lmove("x", "y").rmove("x", "y")
    p = w.plan()
    assert not of(p, MOVES + TRANSFERS + DELETES)
    assert sorted(a.path for a in of(p, ForgetBase)) == ["d", "x"]
    assert sorted(a.base.local_path for a in of(p, RecordBase)) == ["e", "e/a", "y"]
    assert kinds(p) == ["ForgetBase"] * 2 + ["RecordBase"] * 3  # forgotten first
    ea = next(a.base for a in of(p, RecordBase) if a.base.local_path == "e/a")
    assert (ea.remote_path, ea.remote_id) == ("e/a", w.remote["e/a"].id)


def test_move_both_sides_different_destinations_the_remote_wins():
    w = World().tree("a.txt").lmove("a.txt", "mine.txt").rmove("a.txt", "theirs.txt")
    p = w.plan()
    assert p.actions[0] == MoveLocal("mine.txt", "theirs.txt", w.local["mine.txt"])
    assert not of(p, TRANSFERS + DELETES + (MoveRemote,))
    assert {a.base.local_path for a in of(p, RecordBase)} == {"theirs.txt"}


def test_move_local_destination_taken_remotely_falls_back_without_loss():
    w = World().tree("a.txt").lmove("a.txt", "b.txt").rnew("b.txt", size=99)
    p = w.plan()
    assert not of(p, MoveRemote)
    assert p.conflicts == ["b.txt"]  # both versions of b.txt survive
    assert [a.remote_path for a in of(p, DeleteRemote)] == ["a.txt"]  # it left a.txt locally


def test_move_remote_destination_taken_locally_falls_back_without_loss():
    w = World().tree("a.txt").rmove("a.txt", "b.txt").lnew("b.txt", size=10)
    p = w.plan()
    assert not of(p, MoveLocal)  # never a move over the local b.txt
    assert only(p, Compare).path == "b.txt"  # equal size: compare, never overwrite
    assert [a.path for a in of(p, DeleteLocal)] == ["a.txt"]


def test_move_local_source_gone_remotely_uploads_instead():
    w = World().tree("a.txt").lmove("a.txt", "b.txt").rdel("a.txt")
    p = w.plan()
    assert kinds(p) == ["Upload", "ForgetBase"]


def test_case_only_rename_is_a_move():
    w = World().tree("a.txt", "dir/").lmove("a.txt", "A.txt").rmove("dir", "Dir")
    p = w.plan()
    assert p.actions == [MoveRemote("a.txt", "A.txt", w.remote["a.txt"]),
                         MoveLocal("dir", "Dir", w.local["dir"])]


def test_hard_links_are_not_taken_for_a_move():
    w = World().tree("a.txt")
    ino = w.local["a.txt"].inode
    w.ldel("a.txt").lnew("b.txt", ino=ino).lnew("c.txt", ino=ino)
    p = w.plan()
    assert not of(p, MOVES)
    assert sorted(a.remote_path for a in of(p, Upload)) == ["b.txt", "c.txt"]


def test_local_move_with_a_size_change_is_not_a_move():
    w = World().tree("a.txt").lmove("a.txt", "b.txt").ledit("b.txt")
    p = w.plan()
    assert not of(p, MOVES) and kinds(p) == ["Upload", "DeleteRemote"]


def test_remote_move_when_the_local_file_was_replaced_falls_back():
    w = World().tree("a.txt").rmove("a.txt", "b.txt")
    e = w.local["a.txt"]
    w.local["a.txt"] = LocalEntry("a.txt", FILE, e.size + 1, e.mtime_ns + 1, e.inode + 999)
    p = w.plan()
    assert not of(p, MoveLocal)
    assert sorted(kinds(p)) == ["Download", "Upload"]  # both versions survive


def test_move_into_a_folder_that_moved_too():
    w = World().tree("z/", "a.txt").lmove("z", "b").lmove("a.txt", "b/a.txt")
    p = w.plan()
    # shallow destinations first, so b exists when a.txt goes into it
    assert p.actions == [MoveRemote("z", "b", w.remote["z"]),
                         MoveRemote("a.txt", "b/a.txt", w.remote["a.txt"])]


def test_child_renamed_inside_a_moved_folder():
    w = World().tree("d/", "d/x").lmove("d", "e").lmove("e/x", "e/y")
    p = w.plan()
    # the second move's source is where the first one put it
    assert p.actions == [MoveRemote("d", "e", w.remote["d"]),
                         MoveRemote("e/x", "e/y", dataclasses.replace(w.remote["d/x"],
                                                                      path="e/x"))]


def test_move_remote_folder_into_new_nested_folders_creates_them_first():
    w = World().tree("d/", "d/x").rnew("n", DIR).rnew("n/m", DIR).rmove("d", "n/m/d")
    p = w.plan()
    assert kinds(p) == ["MakeLocalDir", "MakeLocalDir", "MoveLocal"]
    assert [a.path for a in p.actions[:2]] == ["n", "n/m"]
    assert p.actions[2] == MoveLocal("d", "n/m/d", w.local["d"])


def test_move_local_into_new_folder_with_other_new_files_needs_one_mkdir_only():
    w = World().tree("a.txt").lnew("n", DIR).lnew("n/new.txt").lmove("a.txt", "n/a.txt")
    p = w.plan()
    assert kinds(p) == ["MakeRemoteDir", "MoveRemote", "Upload"]


def test_move_remote_folder_spelled_nfd_locally_moves_the_local_spelling():
    w = World().synced(nfd("é"), DIR, rpath=nfc("é")).synced(nfd("é") + "/f",
                                                               rpath=nfc("é") + "/f")
    w.rmove(nfc("é"), "plain")
    p = w.plan()
    assert p.actions == [MoveLocal(nfd("é"), "plain", w.local[key(nfd("é"))])]


def test_move_local_folder_spelled_nfd_moves_the_remote_spelling():
    w = World().synced(nfd("é"), DIR, rpath=nfc("é")).lmove(nfd("é"), "plain")
    assert w.plan().actions == [MoveRemote(nfc("é"), "plain", w.remote[nfc("é")])]


def test_upload_only_both_moved_to_different_places_the_local_move_wins():
    w = World().tree("a.txt").lmove("a.txt", "mine.txt").rmove("a.txt", "theirs.txt")
    p = w.plan("upload-only")
    assert p.actions[0] == MoveRemote("theirs.txt", "mine.txt", w.remote["theirs.txt"])
    assert not of(p, TRANSFERS + DELETES + (MoveLocal,))


def test_download_only_both_moved_to_different_places_the_remote_move_wins():
    w = World().tree("a.txt").lmove("a.txt", "mine.txt").rmove("a.txt", "theirs.txt")
    p = w.plan("download-only")
    assert p.actions[0] == MoveLocal("mine.txt", "theirs.txt", w.local["mine.txt"])
    assert not of(p, TRANSFERS + DELETES + (MoveRemote,))


def test_both_moved_same_place_and_a_new_item_took_the_old_name():
    # the old rows are not forgotten in phase 4 (that would drop the new row)
    w = World().tree("a").lmove("a", "b").rmove("a", "b").rnew("a", size=3)
    p = w.plan()
    assert kinds(p) == ["Download", "RecordBase"]
    assert only(p, RecordBase).base.local_path == "b"


def test_folder_recreated_remotely_is_not_deleted_for_a_local_delete():
    # another folder than the one local deleted (new id): restored, not deleted
    w = World().tree("d/").ldel("d")
    w.remote["d"] = RemoteEntry("d", DIR, "recreated", 0, 0.0)
    p = w.plan()
    assert not of(p, DELETES) and [a.path for a in of(p, MakeLocalDir)] == ["d"]


def test_folder_moved_onto_a_deleted_folders_name_survives():
    # remote: deleted a, renamed b to a; local: deleted a
    w = World().tree("a/", "b/").ldel("a").rdel("a").rmove("b", "a")
    p = w.plan()
    assert [a.path for a in of(p, MakeLocalDir)] == ["a"]
    assert [a.path for a in of(p, DeleteLocal)] == ["b"]
    assert not of(p, DeleteRemote)


# ============================================ both sides moved: the re-recorded rows


def next_run(w: World, p) -> World:
    """``w`` after ``p`` ran (it may only move, delete or write rows here), scanned
    again as ``local_scan`` does: rows are found by PATH, and a file with its row's
    size but another stat is hashed (the files in these tests were only touched,
    so the hash is the row's)."""
    out = copy.deepcopy(w)
    for a in p.actions:
        if isinstance(a, MoveLocal):
            out.lmove(a.src, a.dst)
        elif isinstance(a, DeleteLocal):
            out.ldel(a.path)
            out.base = {k: b for k, b in out.base.items() if not is_under(k, key(a.path))}
        elif isinstance(a, ForgetBase):
            out.base = {k: b for k, b in out.base.items() if not is_under(k, key(a.path))}
        elif isinstance(a, RecordBase):
            out.base[a.base.key] = a.base
        else:  # pragma: no cover
            pytest.fail(f"next_run cannot run {a}")
    for k, e in out.local.items():
        b = out.base.get(k)
        sha = None
        if e.kind == FILE and b is not None and b.kind == FILE and b.size == e.size:
            sha = b.sha256
        out.local[k] = dataclasses.replace(e, sha256=sha)
    return out


def test_download_only_both_moved_child_touched_here_deleted_there_settles_in_one_plan():
    # Both sides moved d to e; the remote deleted e/a; locally e/a got a new mtime.
    # It was scanned without its row (that was still at d/a): hash unknown, so it
    # may be an edit (same-size edits look exactly the same) and is left alone.
    # Its row goes to e/a without the hash: the next scan, finding the row there,
    # must not prove it unchanged and have the next plan delete it.
    w = World().tree("d/", "d/a", "d/b").lmove("d", "e").rmove("d", "e").rdel("e/a")
    w.ledit("e/a", size=10)
    p = w.plan("download-only")
    assert kinds(p) == ["ForgetBase"] + ["RecordBase"] * 3
    assert p.notes == [("e/a", "local change ignored (download-only)")]
    rows = {a.base.local_path: a.base for a in of(p, RecordBase)}
    assert rows["e/a"].sha256 is None
    assert rows["e/b"] == dataclasses.replace(w.base["d/b"], local_path="e/b",
                                              remote_path="e/b")  # kept as it was
    again = next_run(w, p).plan("download-only")
    assert again.actions == [] and again.notes == p.notes


def test_download_only_remote_move_wins_child_touched_here_deleted_there_settles():
    # as above, but local moved d elsewhere: the remote's move wins (MoveLocal)
    w = World().tree("d/", "d/a", "d/b").lmove("d", "mine").rmove("d", "e").rdel("e/a")
    w.ledit("mine/a", size=10)
    p = w.plan("download-only")
    assert p.actions[0] == MoveLocal("mine", "e", w.local["mine"])
    assert not of(p, TRANSFERS + DELETES + (MoveRemote,))
    assert only(p, ForgetBase).path == "d"
    rows = {a.base.local_path: a.base for a in of(p, RecordBase)}
    assert sorted(rows) == ["e", "e/a", "e/b"] and rows["e/a"].sha256 is None
    again = next_run(w, p).plan("download-only")
    assert again.actions == [] and again.notes == p.notes


def test_download_only_both_moved_untouched_child_deleted_there_is_deleted_at_once():
    # same stat as the row: unchanged without a hash, so the deletion propagates now
    w = World().tree("d/", "d/a", "d/b").lmove("d", "e").rmove("d", "e").rdel("e/a")
    w.local["e/a"] = dataclasses.replace(w.local["e/a"], sha256=None)  # no row at e/a
    p = w.plan("download-only")
    assert only(p, DeleteLocal).path == "e/a"
    assert next_run(w, p).plan("download-only").actions == []


def test_two_way_both_moved_child_touched_here_deleted_there_is_uploaded_back():
    # two-way analogue: hash unknown, so edit beats delete -- one upload, no delete
    # (the upload records a fresh row: nothing left for the next plan)
    w = World().tree("d/", "d/a", "d/b").lmove("d", "e").rmove("d", "e").rdel("e/a")
    w.ledit("e/a", size=10)
    p = w.plan()
    up = only(p, Upload)
    assert (up.path, up.remote_path, up.replace) == ("e/a", "e/a", None)
    assert not of(p, DELETES + MOVES)
    assert sorted(a.base.local_path for a in of(p, RecordBase)) == ["e", "e/b"]


def test_upload_only_both_moved_child_touched_there_deleted_here_settles_in_one_plan():
    # upload-only analogue: a remote touch is a change by (id, size, updated) alone,
    # so keeping the row (hash and all) leads the next plan to the same note
    w = World().tree("d/", "d/a", "d/b").lmove("d", "e").rmove("d", "e").ldel("e/a")
    w.redit("e/a", size=10)
    p = w.plan("upload-only")
    assert kinds(p) == ["ForgetBase"] + ["RecordBase"] * 3
    assert p.notes == [("e/a", "remote change ignored (upload-only)")]
    rows = {a.base.local_path: a.base for a in of(p, RecordBase)}
    assert rows["e/a"].sha256 == w.base["d/a"].sha256
    again = next_run(w, p).plan("upload-only")
    assert again.actions == [] and again.notes == p.notes


# =========================================================== 11: Unicode spelling


def test_rule11_nfd_local_and_nfc_remote_are_one_item():
    name = "Ämter/résumé.txt"
    w = World().synced(nfd("Ämter"), DIR, rpath=nfc("Ämter")).synced(nfd(name),
                                                                       rpath=nfc(name))
    assert w.plan().actions == []


def test_rule11_nfd_local_and_nfc_remote_meet_as_one_on_first_sync():
    w = World().lnew(nfd("é.txt"), size=3).rnew(nfc("é.txt"), size=3)
    cmp_ = only(w.plan(), Compare)
    assert (cmp_.path, cmp_.remote_path) == (nfd("é.txt"), nfc("é.txt"))


def test_rule11_base_records_each_sides_own_spelling():
    w = World().lnew(nfd("é"), DIR).rnew(nfc("é"), DIR)
    rec = only(w.plan(), RecordBase).base
    assert (rec.local_path, rec.remote_path) == (nfd("é"), nfc("é"))


def test_rule11_new_local_file_goes_under_the_remote_folder_spelling():
    w = World().synced(nfd("é"), DIR, rpath=nfc("é")).lnew(nfd("é") + "/n.txt")
    up = only(w.plan(), Upload)
    assert (up.path, up.remote_path) == (nfd("é") + "/n.txt", nfc("é") + "/n.txt")


def test_remote_names_equal_after_normalisation_keep_the_first_and_note_the_other():
    w = World().rnew(nfc("é.txt"), size=1).rnew(nfd("é.txt"), size=2)
    # NFD "u+combining diaeresis" sorts before NFC "ü": the NFD folder is kept and
    # the NFC one is left alone with everything inside it
    w.rnew(nfd("ü"), DIR).rnew(nfc("ü"), DIR).rnew(nfc("ü") + "/in", size=1)
    p = w.plan()
    first, second = sorted([nfc("é.txt"), nfd("é.txt")])
    assert [a.remote_path for a in of(p, Download)] == [first]
    assert [a.remote.path for a in of(p, MakeLocalDir)] == [nfd("ü")]
    assert p.notes == sorted([
        (second, f"same name as {first} after Unicode normalisation: not synced"),
        (nfc("ü"), f"same name as {nfd('ü')} after Unicode normalisation: not synced")])


# ================================================================ directions


def test_upload_only_ignores_remote_changes_and_never_touches_local():
    w = World().tree("a", "b", "c", "d/").redit("a").rnew("new").rmove("c", "d/c2")
    p = w.plan("upload-only")
    assert not of(p, (Download, MakeLocalDir, MoveLocal, DeleteLocal))
    assert ("a", "remote change ignored (upload-only)") in p.notes
    assert ("new", "remote change ignored (upload-only)") in p.notes
    # the remote move is a remote change too: the mirror gets c back, d/c2 stays
    assert [a.remote_path for a in of(p, Upload)] == ["c"]


def test_upload_only_re_uploads_remote_deletions_of_unchanged_files():
    w = World().tree("a", "d/", "d/b").rdel("a").rdel("d")
    p = w.plan("upload-only")
    assert sorted(a.remote_path for a in of(p, Upload)) == ["a", "d/b"]
    assert not of(p, DELETES)


def test_upload_only_propagates_local_changes_moves_and_deletes():
    w = World().tree("a", "b", "c").ledit("a").lmove("b", "b2").ldel("c").lnew("n")
    p = w.plan("upload-only")
    assert kinds(p) == ["MoveRemote", "Upload", "Upload", "DeleteRemote"]


def test_upload_only_conflict_keeps_local_untouched_and_both_versions_remotely():
    w = World().tree("a.txt").ledit("a.txt").redit("a.txt")
    p = w.plan("upload-only")
    assert p.actions == [
        MoveRemote("a.txt", f"a {CC}.txt", w.remote["a.txt"], forget_base=True),
        Upload("a.txt", "a.txt", w.local["a.txt"], None),
        ForgetBase(f"a {CC}.txt"),
    ]
    assert p.conflicts == ["a.txt"]


def test_upload_only_local_delete_of_a_remotely_edited_file_is_not_propagated():
    w = World().tree("a").ldel("a").redit("a")
    p = w.plan("upload-only")
    assert p.actions == [] and p.notes == [("a", "remote change ignored (upload-only)")]


def test_download_only_ignores_local_changes_and_never_touches_remote():
    w = World().tree("a", "b").ledit("a").lnew("new").lmove("b", "b2")
    p = w.plan("download-only")
    assert not of(p, (Upload, MakeRemoteDir, MoveRemote, DeleteRemote))
    assert ("a", "local change ignored (download-only)") in p.notes
    assert ("new", "local change ignored (download-only)") in p.notes
    assert [a.path for a in of(p, Download)] == ["b"]  # the mirror gets b back


def test_download_only_re_downloads_local_deletions_of_unchanged_files():
    w = World().tree("a", "d/", "d/b").ldel("a").ldel("d")
    p = w.plan("download-only")
    assert [a.path for a in of(p, MakeLocalDir)] == ["d"]
    assert sorted(a.path for a in of(p, Download)) == ["a", "d/b"]


def test_download_only_conflict_sets_the_local_version_aside_and_downloads():
    w = World().tree("a.txt").ledit("a.txt").redit("a.txt")
    p = w.plan("download-only")
    assert p.actions == [
        MoveLocal("a.txt", f"a {CC}.txt", w.local["a.txt"], forget_base=True),
        Download("a.txt", "a.txt", w.remote["a.txt"], None),
        ForgetBase(f"a {CC}.txt"),
    ]


def test_download_only_propagates_remote_changes():
    w = World().tree("a", "b", "c").redit("a").rmove("b", "b2").rdel("c").rnew("n")
    p = w.plan("download-only")
    assert kinds(p) == ["MoveLocal", "Download", "Download", "DeleteLocal"]


@pytest.mark.parametrize("direction, banned", [
    ("upload-only", (Download, MakeLocalDir, MoveLocal, DeleteLocal)),
    ("download-only", (Upload, MakeRemoteDir, MoveRemote, DeleteRemote)),
])
def test_one_way_modes_never_change_the_master(direction, banned):
    w = busy_world()
    p = w.plan(direction)
    assert p.actions and not of(p, banned)


# ============================================================ ordering, purity


def busy_world() -> World:
    w = World().tree("m/", "m/a", "m/b", "big", "small", "gone/", "gone/x", "c", "k", "r/")
    w.lmove("m", "m2").ledit("big", 1000).redit("small", 1).ldel("gone").ledit("c").redit("c")
    w.lnew("newdir", DIR).lnew("newdir/leaf", DIR).rnew("rdir", DIR).rnew("rdir/f", size=5)
    w.ldel("k").lnew("k", DIR).lnew("k/in", size=3).lnew("t", size=50)
    w.remote["r"] = RemoteEntry("r", DIR, "renewed-id", 0, 0.0)
    return w


PHASE = {MoveLocal: 1, MoveRemote: 1, MakeLocalDir: 2, MakeRemoteDir: 2, Upload: 3,
         Download: 3, Compare: 3, ForgetBase: 4, RecordBase: 4, DeleteLocal: 5,
         DeleteRemote: 5}


def test_actions_come_in_phase_order():
    p = busy_world().plan()
    phases = []
    for a in p.actions:
        ph = PHASE[type(a)]
        if isinstance(a, DeleteRemote) and a.remote_path == "k":
            ph = 1  # frees the path for the kind change: end of phase 1
        phases.append(ph)
    assert phases == sorted(phases), kinds(p)
    assert {1, 2, 3, 4, 5} <= set(phases)
    kinds_ = kinds(p)
    assert kinds_.index("MoveLocal") < kinds_.index("DeleteRemote")  # conflict rename first


def test_transfers_run_smallest_first_ties_by_path():
    w = World().lnew("b", size=5).lnew("a", size=5).rnew("c", size=1).lnew("z", size=500)
    p = w.plan()
    assert [(type(a).__name__, a.path) for a in p.actions] == [
        ("Download", "c"), ("Upload", "a"), ("Upload", "b"), ("Upload", "z")]


def test_folders_are_created_parents_first():
    w = World().rnew("a", DIR).rnew("a/b", DIR).rnew("a-b", DIR).rnew("a/b/c", DIR)
    assert [a.path for a in w.plan().actions] == ["a", "a-b", "a/b", "a/b/c"]


def test_same_input_gives_the_same_plan_whatever_the_mapping_order():
    w = busy_world()
    first = w.plan()
    assert w.plan() == first
    rng = random.Random(7)
    for _ in range(5):
        items = [list(w.local.items()), list(w.remote.items()), list(w.base.items())]
        for it in items:
            rng.shuffle(it)
        again = plan(dict(items[0]), dict(items[1]), dict(items[2]),
                     PlanOptions(host=HOST, timestamp=STAMP))
        assert again == first


def test_plan_does_not_mutate_its_inputs():
    w = busy_world()
    before = copy.deepcopy((w.local, w.remote, w.base))
    w.plan()
    w.plan("upload-only")
    assert (w.local, w.remote, w.base) == before


def test_busy_world_plan_is_what_the_rules_say():
    p = busy_world().plan()
    assert only(p, MoveRemote).dst == "m2"
    assert p.conflicts == ["c"]
    assert {a.remote_path for a in of(p, DeleteRemote)} == {"gone", "k"}
    assert {a.remote_path for a in of(p, MakeRemoteDir)} == {"newdir/leaf"}
    assert {a.path for a in of(p, MakeLocalDir)} == {"rdir"}
    assert any(a.base.local_path == "r" and a.base.remote_id == "renewed-id"
               for a in of(p, RecordBase))


def test_a_new_file_on_a_reused_inode_is_not_a_move():
    """e2e seed 13987: the user deleted ``x`` and created ``y`` of the same size,
    which got ``x``'s freed inode back. Taken for a move, ``x``'s server copy
    (edited there meanwhile) was moved onto ``y``. A rename keeps the mtime; a
    new file does not: now it is a deletion and a new file."""
    w = World().tree("x", size=40)
    ino = w.local["x"].inode
    w.ldel("x").lnew("y", size=40, ino=ino)
    p = w.plan()
    assert not of(p, (MoveRemote, MoveLocal))
    assert [a.path for a in of(p, Upload)] == ["y"]
    assert [a.remote_path for a in of(p, DeleteRemote)] == ["x"]
    # a real rename (same inode, size and mtime) is still one move
    w = World().tree("x", size=40).lmove("x", "y")
    assert kinds(w.plan()) == ["MoveRemote"]
