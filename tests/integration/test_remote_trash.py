"""RemoteTrash against the emulator over HTTP: folders, name clashes, request counts."""

from __future__ import annotations

import pytest

from syncd.state.index import Index
from syncd.model import stamp
from syncd.remote.errors import NotFoundError
from syncd.remote.exavault.backend import ExaVaultBackend
from syncd.remote.trash import RemoteTrash

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


# --- one trash folder per mirror and day -------------------------------------------------

HOUR = 3600.0


@pytest.fixture
def runs(emulator, make_client, tmp_path):
    """``runs(at)``: a new RemoteTrash, as each sync run makes one, on the same index
    (a restart of syncd is the same thing), with its clock at ``at``."""
    index = Index(tmp_path / "index.sqlite3")
    backend = ExaVaultBackend(make_client(emulator))

    def make(at: float = NOW) -> RemoteTrash:
        return RemoteTrash(backend, index, "m", "/.t", now=lambda: at)

    yield make
    index.close()


def calls(emu) -> list[tuple[str, str]]:
    return [(r.method, r.path.removeprefix("/api/v2")) for r in emu.request_log]


def folders(emu) -> list[str]:
    return sorted(p for p in emu.other.tree() if p.startswith("/.t/m/") and p.count("/") == 3)


def where(emu, data: bytes) -> list[str]:
    """The trash folders holding a file with these bytes."""
    return sorted(p.rsplit("/", 1)[0] for p in trashed(emu) if emu.other.read(p) == data)


def test_two_runs_on_one_day_cost_one_mkdir_and_two_moves(emulator, runs):
    emulator.other.write("/m/a.txt", b"a")
    emulator.other.write("/m/b.txt", b"b")
    emulator.other.write("/m/x/c.txt", b"c")
    emulator.clear_request_log()
    assert runs(NOW).put(["/m/a.txt"]) == {"/m/a.txt": None}
    assert runs(NOW + 23 * HOUR).put(["/m/b.txt", "/m/x/c.txt"]) == {
        "/m/b.txt": None, "/m/x/c.txt": None}
    assert calls(emulator) == [("POST", "/resources"), ("POST", "/resources/move"),
                               ("POST", "/resources/move")]
    assert len(folders(emulator)) == 1
    assert where(emulator, b"a") == where(emulator, b"b") == where(emulator, b"c")


def test_a_name_deleted_twice_on_one_day_is_kept_twice(emulator, runs):
    """The server's answer to a move onto an existing name is unspecified (refuse,
    rename or replace): the second run must know the name is taken, not find out."""
    emulator.other.write("/m/a.txt", b"first version")
    runs(NOW).put(["/m/a.txt"])
    emulator.other.write("/m/a.txt", b"second version")
    emulator.other.write("/m/y/A.TXT", b"third, another case")
    emulator.clear_request_log()
    assert runs(NOW + HOUR).put(["/m/a.txt", "/m/y/A.TXT"]) == {
        "/m/a.txt": None, "/m/y/A.TXT": None}
    assert not [r for r in emulator.request_log if r.status >= 400]
    places = where(emulator, b"first version") + where(emulator, b"second version") + \
        where(emulator, b"third, another case")
    assert len(places) == len(set(places)) == 3
    assert not [p for p in emulator.other.tree() if p.startswith("/m/") and p.endswith(".txt")]


def test_a_restart_reuses_the_folder_and_its_siblings_and_knows_their_names(emulator, runs):
    for path in ("/m/a.txt", "/m/b.txt", "/m/1/a.txt", "/m/2/a.txt", "/m/3/b.txt"):
        emulator.other.write(path, path.encode())
    emulator.clear_request_log()
    for n, path in enumerate(("/m/a.txt", "/m/b.txt", "/m/1/a.txt", "/m/2/a.txt",
                              "/m/3/b.txt")):
        assert runs(NOW + n * HOUR).put([path]) == {path: None}
    mkdirs = [c for c in calls(emulator) if c == ("POST", "/resources")]
    assert len(mkdirs) == 3  # the folder, its " 2" and " 3" siblings: each made once
    assert not [r for r in emulator.request_log if r.status >= 400]
    base = where(emulator, b"/m/a.txt")[0]
    assert where(emulator, b"/m/b.txt") == [base]
    assert where(emulator, b"/m/1/a.txt") == [base + " 2"]
    assert where(emulator, b"/m/2/a.txt") == [base + " 3"]
    assert where(emulator, b"/m/3/b.txt") == [base + " 2"]


def test_a_run_25_hours_later_makes_a_new_folder(emulator, runs):
    emulator.other.write("/m/a.txt", b"a")
    emulator.other.write("/m/b.txt", b"b")
    runs(NOW).put(["/m/a.txt"])
    emulator.clear_request_log()
    assert runs(NOW + 25 * HOUR).put(["/m/b.txt"]) == {"/m/b.txt": None}
    assert calls(emulator) == [("POST", "/resources"), ("POST", "/resources/move")]
    assert len(folders(emulator)) == 2
    assert where(emulator, b"a") != where(emulator, b"b")


def test_purge_keeps_a_reused_folder_until_trash_days_after_its_last_use(emulator, runs):
    emulator.other.write("/m/a.txt", b"a")
    emulator.other.write("/m/b.txt", b"b")
    runs(NOW).put(["/m/a.txt"])
    runs(NOW + 20 * HOUR).put(["/m/b.txt"])  # b is 20 h younger than the folder
    assert runs(NOW + 30 * 86400 + 19 * HOUR).purge(30) == 0
    assert sorted(trashed(emulator).values()) == [b"a", b"b"]
    assert runs(NOW + 30 * 86400 + 21 * HOUR).purge(30) == 1
    assert folders(emulator) == []
    assert runs(NOW + 31 * 86400).purge(30) == 0  # forgotten once purged


def test_state_written_before_folders_were_reused_is_purged_and_not_reused(
        emulator, runs, tmp_path):
    old, recent = "/.t/m/2026-01-01 100000", "/.t/m/2026-01-31 090000"
    for folder in (old, recent):
        emulator.other.write(folder + "/a.txt", folder.encode())
    index = Index(tmp_path / "index.sqlite3")
    index.set_state("mirror:m", "remote_trash", [[old, NOW - 31 * 86400], [recent, NOW - HOUR]])
    index.close()
    emulator.other.write("/m/a.txt", b"new")
    assert runs(NOW).purge(30) == 1
    assert emulator.other.info(old) is None
    # The recent folder's names are not known: it takes nothing new, and is kept.
    assert runs(NOW).put(["/m/a.txt"]) == {"/m/a.txt": None}
    assert where(emulator, b"new") != [recent]
    assert emulator.other.read(recent + "/a.txt") == recent.encode()
    assert runs(NOW + 30 * 86400 - 2 * HOUR).purge(30) == 0
    assert runs(NOW + 30 * 86400 + 1).purge(30) == 2  # the recent one, then today's


def test_an_old_entry_with_this_runs_folder_name_takes_nothing(emulator, runs, tmp_path):
    """A folder the old code made in this very second: what it holds is unknown, so
    nothing is moved into it (a move onto a taken name is never risked)."""
    folder = "/.t/m/" + stamp(NOW)
    emulator.other.write(folder + "/a.txt", b"old")
    index = Index(tmp_path / "index.sqlite3")
    index.set_state("mirror:m", "remote_trash", [[folder, NOW]])
    index.close()
    emulator.other.write("/m/a.txt", b"new")
    emulator.clear_request_log()
    assert runs(NOW).put(["/m/a.txt"]) == {"/m/a.txt": None}
    assert not [r for r in emulator.request_log if r.status >= 400]
    assert where(emulator, b"new") == [folder + " 2"]
    assert emulator.other.read(folder + "/a.txt") == b"old"


@pytest.mark.parametrize("later", [0.0, HOUR], ids=["same second", "an hour later"])
@pytest.mark.parametrize("items", [1, 2], ids=["one item", "a batch"])
def test_a_trash_folder_removed_by_someone_else_is_made_again(emulator, runs, later, items):
    emulator.other.write("/m/a.txt", b"a")
    runs(NOW).put(["/m/a.txt"])
    emulator.other.delete(folders(emulator)[0])
    paths = [f"/m/b{n}.txt" for n in range(items)]  # names that go to the removed folder
    for path in paths:
        emulator.other.write(path, path.encode())
    assert runs(NOW + later).put(paths) == dict.fromkeys(paths)
    assert sorted(trashed(emulator).values()) == sorted(p.encode() for p in paths)
    assert not [p for p in emulator.other.tree() if p.startswith("/m/") and p.endswith(".txt")]
    assert runs(NOW + 2 * HOUR).purge(0) == 1  # the new folder is remembered...
    assert folders(emulator) == []  # ...and the removed one was forgotten


def test_items_gone_from_a_reused_folder_leave_the_folder_in_use(emulator, runs):
    emulator.other.write("/m/a.txt", b"a")
    emulator.other.write("/m/b.txt", b"b")
    runs(NOW).put(["/m/a.txt"])
    got = runs(NOW + HOUR).put(["/m/gone.txt"])
    assert isinstance(got["/m/gone.txt"], NotFoundError)
    emulator.clear_request_log()
    runs(NOW + 2 * HOUR).put(["/m/b.txt"])
    assert calls(emulator) == [("POST", "/resources/move")]
    assert where(emulator, b"a") == where(emulator, b"b")
