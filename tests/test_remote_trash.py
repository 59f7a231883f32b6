"""RemoteTrash against the emulator over HTTP: folders, name clashes, request counts."""

from __future__ import annotations

import pytest

from syncd.index import Index
from syncd.remote.exavault_backend import ExaVaultBackend
from syncd.trash import RemoteTrash

NOW = 1_795_400_000.0


@pytest.fixture
def trash(emulator, make_client, tmp_path):
    index = Index(tmp_path / "index.sqlite3")
    yield RemoteTrash(ExaVaultBackend(make_client(emulator)), index, "m", "/.t",
                      now=lambda: NOW)
    index.close()


def trashed(emu) -> dict[str, bytes]:
    return {p: emu.other.read(p) for p in emu.other.tree()
            if p.startswith("/.t/") and p.count("/") == 4}


def test_one_put_is_one_folder_and_one_move(emulator, trash):
    emulator.other.write("/m/a.txt", b"a")
    emulator.other.write("/m/x/b.txt", b"b")
    emulator.clear_request_log()
    assert trash.put(["/m/a.txt", "/m/x/b.txt"]) == {"/m/a.txt": None, "/m/x/b.txt": None}
    assert len(emulator.request_log) == 2
    assert sorted(trashed(emulator).values()) == [b"a", b"b"]


def test_seed_10313_two_puts_in_one_run_with_the_same_name_do_not_clash(emulator, trash):
    """e2e seed 10313: an early deletion (``d.txt``, clearing the way for a folder)
    and a later one (``b/d.txt``) in the same second went to the same trash folder;
    the second move failed with "already exists" and the file came back."""
    emulator.other.write("/m/d.txt", b"top")
    emulator.other.write("/m/b/d.txt", b"nested")
    emulator.other.write("/m/b/D.TXT", b"case")
    assert trash.put(["/m/d.txt"]) == {"/m/d.txt": None}
    assert trash.put(["/m/b/d.txt", "/m/b/D.TXT"]) == {"/m/b/d.txt": None, "/m/b/D.TXT": None}
    got = trashed(emulator)
    assert sorted(got.values()) == [b"case", b"nested", b"top"]
    assert len({p.rsplit("/", 1)[0] for p in got}) == 3  # three folders, names apart
    assert not [p for p in emulator.other.tree() if p.startswith("/m/") and "d.txt" in p.lower()]


def test_a_clash_with_an_item_we_did_not_put_there_is_tried_elsewhere(emulator, trash):
    emulator.other.write("/m/a.txt", b"mine")
    trash._assign([])  # fix this run's folder name, then someone else uses it
    emulator.other.write(trash._base + "/a.txt", b"someone else's")
    assert trash.put(["/m/a.txt"]) == {"/m/a.txt": None}
    assert emulator.other.read(trash._base + "/a.txt") == b"someone else's"
    assert emulator.other.read(trash._base + " 2/a.txt") == b"mine"


def test_created_folders_are_remembered_for_the_purge(emulator, trash):
    emulator.other.write("/m/a.txt", b"1")
    emulator.other.write("/m/b/a.txt", b"2")
    trash.put(["/m/a.txt", "/m/b/a.txt"])
    trash.now = lambda: NOW + 31 * 86400
    assert trash.purge(30) == 2
    assert [p for p in emulator.other.tree() if p.startswith("/.t/")] == ["/.t/m"]
