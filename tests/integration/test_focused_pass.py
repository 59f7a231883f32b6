"""Focused passes (what the daemon runs on watcher events): only the changed paths
are scanned and planned, and the result is the same as a full pass for them."""

from __future__ import annotations

import os
import unicodedata

from tests.helpers.sync import focused, make_setup


def test_only_the_reported_paths_are_planned(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path)
    setup.sync()
    (setup.local() / "seen.txt").write_text("reported by the watcher")
    (setup.local() / "unseen.txt").write_text("not reported")
    setup.emu.clear_request_log()
    result = focused(setup, {"docs": {"seen.txt"}})
    assert result.exit_code == 0
    assert setup.remote_tree() == {"seen.txt": b"reported by the watcher"}
    # A local-only pass learns nothing from the server: the upload is the only request.
    assert [r.method for r in setup.requests()] == ["POST"]
    # A full pass later picks up the rest.
    setup.sync()
    assert set(setup.remote_tree()) == {"seen.txt", "unseen.txt"}


def test_a_folder_path_covers_everything_under_it(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path)
    setup.sync()
    deep = setup.local() / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "x.txt").write_text("x")
    (setup.local() / "a" / "y.txt").write_text("y")
    result = focused(setup, {"docs": {"a"}})
    assert result.exit_code == 0
    assert setup.remote_tree() == {"a": None, "a/b": None, "a/b/c": None,
                                   "a/b/c/x.txt": b"x", "a/y.txt": b"y"}


def test_a_move_reported_as_two_paths_is_one_remote_move(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path)
    (setup.local() / "old").mkdir()
    (setup.local() / "old" / "f.txt").write_text("content")
    (setup.local() / "other.txt").write_text("untouched")
    setup.sync()
    os.rename(setup.local() / "old", setup.local() / "new")
    setup.emu.clear_request_log()
    result = focused(setup, {"docs": {"old", "new"}})
    assert result.exit_code == 0
    assert setup.remote_tree() == {"new": None, "new/f.txt": b"content",
                                   "other.txt": b"untouched"}
    methods = [(r.method, r.path.rsplit("/", 1)[-1]) for r in setup.requests()]
    assert ("POST", "upload") not in methods  # moved, not uploaded again


def test_deleting_a_reported_path_goes_to_the_trash(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path)
    (setup.local() / "gone.txt").write_text("bye")
    (setup.local() / "kept.txt").write_text("stay")
    setup.sync()
    os.unlink(setup.local() / "gone.txt")
    result = focused(setup, {"docs": {"gone.txt"}})
    assert result.exit_code == 0
    assert setup.remote_tree() == {"kept.txt": b"stay"}


def test_remote_change_to_an_nfd_named_local_file_is_not_duplicated(make_emulator, tmp_path):
    # On disk the name is decomposed (as macOS tools write it), on the server composed.
    setup = make_setup(make_emulator, tmp_path)
    nfd = unicodedata.normalize("NFD", "café.txt")
    (setup.local() / nfd).write_text("v1")
    setup.sync()
    nfc = unicodedata.normalize("NFC", "café.txt")
    remote_name = next(iter(setup.remote_tree()))
    setup.emu.other.write(f"/docs/{remote_name}", b"v2 from the server")
    # The remote poll reports the composed name; the local scan must find the
    # decomposed file under it, not take it for deleted or download a twin.
    result = focused(setup, {}, refresh=True)
    assert result.exit_code == 0
    names = os.listdir(setup.local())
    assert names == [nfd]
    assert (setup.local() / nfd).read_bytes() == b"v2 from the server"
    assert unicodedata.normalize("NFC", remote_name) == nfc


def test_nothing_changed_anywhere_plans_nothing_and_costs_one_request(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path)
    (setup.local() / "a.txt").write_text("a")
    setup.sync()
    setup.emu.clear_request_log()
    result = focused(setup, {}, refresh=True)
    assert result.exit_code == 0
    assert [r.path.rsplit("/", 1)[-1] for r in setup.requests()] == ["session"]
    assert result.mirrors[0].finished and not result.mirrors[0].counts
