"""ExaVaultBackend against the emulator over HTTP: paths, request counts, echoes."""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from syncd.remote.backend import FeedUnavailable, RemoteItem
from syncd.remote.errors import InvalidParameterError, NotFoundError
from syncd.remote.exavault.backend import TEMP_PREFIX, ExaVaultBackend

NFD = unicodedata.normalize("NFD", "Café")


@pytest.fixture
def echoes():
    return []


@pytest.fixture
def backend(emulator, make_client, echoes):
    return ExaVaultBackend(make_client(emulator), echo=lambda op, path: echoes.append((op, path)))


def spent(emu, fn):
    """(result, requests the emulator served while running fn)."""
    emu.clear_request_log()
    out = fn()
    return out, len(emu.request_log)


def tree(emu) -> set[str]:
    return set(emu.other.tree())


# ----------------------------------------------------------------------------- reading


def test_list_tree_is_relative_to_root_pages_and_keeps_unicode(emulator, backend):
    other = emulator.other
    for i in range(130):
        other.write(f"/root/many/f{i:03}.txt", b"x" * i)
    other.write("/root/Ünïcödé/日本/ファイル.txt", b"jp")
    other.write(f"/root/{NFD}/x.bin", b"nfd")
    other.mkdir("/root/empty")
    other.write("/rootx/outside.txt", b"no")
    other.write("/other/outside.txt", b"no")

    items, requests = spent(emulator, lambda: list(backend.list_tree("/root")))
    assert requests == 2  # 130 files + 7 folders = 137 items: two pages of 100
    paths = {i.path for i in items}
    expected = {p for p in tree(emulator) if p.startswith("/root/")}
    assert paths == expected
    assert "/root" not in paths and "/rootx/outside.txt" not in paths
    assert f"/root/{NFD}/x.bin" in paths  # spelled exactly as stored (NFD kept)
    assert "/root/Ünïcödé/日本/ファイル.txt" in paths
    by_path = {i.path: i for i in items}
    f = by_path["/root/many/f007.txt"]
    assert f.kind == "file" and f.size == 7 and isinstance(f.id, str)
    assert f.id == str(other.info("/root/many/f007.txt")["id"])
    assert abs(f.updated - emulator.now()) < 60
    assert by_path["/root/empty"].kind == "dir"

    everything = {i.path for i in backend.list_tree("/")}
    assert everything == tree(emulator)
    assert {i.path for i in backend.list_tree("root/")} == expected  # normalised root


def test_list_tree_missing_root_raises_not_found(backend):
    with pytest.raises(NotFoundError):
        list(backend.list_tree("/nope"))


def test_stat(emulator, backend):
    emulator.other.write("/d/a.txt", b"hello")
    item = backend.stat("/d/a.txt")
    assert item == RemoteItem("/d/a.txt", "file", str(emulator.other.info("/d/a.txt")["id"]), 5,
                              item.updated)
    assert backend.stat("/d").kind == "dir"
    with pytest.raises(NotFoundError):
        backend.stat("/d/missing")


# ----------------------------------------------------------------------------- transfers


def test_upload_without_replace_returns_the_real_path(emulator, backend, echoes):
    emulator.other.write("/u/a.txt", b"theirs")
    item = backend.upload("/u/a.txt", io.BytesIO(b"mine!"), 5, replace=False)
    assert item.path == "/u/a (1).txt" and item.size == 5 and item.kind == "file"
    assert emulator.other.read("/u/a.txt") == b"theirs"
    assert emulator.other.read("/u/a (1).txt") == b"mine!"
    assert echoes == [("upload", "/u/a (1).txt")]

    again = backend.upload("/u/a.txt", io.BytesIO(b"replaced"), 8, replace=True)
    assert again.path == "/u/a.txt" and again.size == 8
    assert again.id == str(emulator.other.info("/u/a.txt")["id"])
    assert echoes[-1] == ("upload", "/u/a.txt")

    out = io.BytesIO()
    assert backend.download("/u/a.txt", out) == 8 and out.getvalue() == b"replaced"


def test_mkdir_creates_and_tolerates_an_existing_folder(emulator, backend, echoes):
    made, requests = spent(emulator, lambda: backend.mkdir("/new/sub"))
    assert requests == 1 and made.kind == "dir" and made.path == "/new/sub"
    assert echoes == [("mkdir", "/new/sub")]
    again, requests = spent(emulator, lambda: backend.mkdir("/new/sub"))
    assert again == made and requests == 2  # refused create + one stat, no error
    assert echoes == [("mkdir", "/new/sub")]  # nothing was created: no echo
    emulator.other.write("/new/file", b"x")
    with pytest.raises(InvalidParameterError):
        backend.mkdir("/new/file")


# ----------------------------------------------------------------------------- move


@pytest.fixture
def moves(emulator):
    o = emulator.other
    o.write("/a/x.txt", b"x")
    o.mkdir("/b")
    return int(o.info("/a/x.txt")["id"])


def test_rename_only_is_one_request(emulator, backend, echoes, moves):
    item, requests = spent(emulator, lambda: backend.move("/a/x.txt", "/a/y.txt", id=str(moves)))
    assert requests == 1
    assert item.path == "/a/y.txt" and item.id == str(moves)
    assert "/a/y.txt" in tree(emulator) and "/a/x.txt" not in tree(emulator)
    assert echoes == [("rename", "/a/y.txt")]
    # Without the id a lookup comes first.
    item, requests = spent(emulator, lambda: backend.move("/a/y.txt", "/a/z.txt"))
    assert requests == 2 and item.path == "/a/z.txt"


def test_move_only_is_one_request(emulator, backend, echoes, moves):
    item, requests = spent(emulator, lambda: backend.move("/a/x.txt", "/b/x.txt"))
    assert requests == 1
    assert item.path == "/b/x.txt" and item.id == str(moves)
    assert echoes == [("move", "/b/x.txt")]


@pytest.mark.parametrize("known_id", [True, False])
def test_move_and_rename_is_two_requests(emulator, backend, echoes, moves, known_id):
    rid = str(moves) if known_id else None
    item, requests = spent(emulator, lambda: backend.move("/a/x.txt", "/b/y.txt", id=rid))
    assert requests == 2
    assert item.path == "/b/y.txt" and item.id == str(moves)
    assert {p for p in tree(emulator) if p.endswith(".txt")} == {"/b/y.txt"}
    if known_id:  # rename in place, then move
        assert echoes == [("rename", "/a/y.txt"), ("move", "/b/y.txt")]
    else:  # move first: its answer carries the id the rename needs
        assert echoes == [("move", "/b/x.txt"), ("rename", "/b/y.txt")]


def test_move_and_rename_tries_the_other_order_when_the_name_is_taken(emulator, backend,
                                                                        echoes, moves):
    emulator.other.write("/a/y.txt", b"sibling")  # renaming in place would collide
    item = backend.move("/a/x.txt", "/b/y.txt", id=str(moves))
    assert item.path == "/b/y.txt" and item.id == str(moves)
    assert emulator.other.read("/a/y.txt") == b"sibling"
    assert echoes == [("move", "/b/x.txt"), ("rename", "/b/y.txt")]


@pytest.mark.parametrize("known_id", [True, False])
def test_seed_271_move_and_rename_when_both_orders_collide(emulator, backend, echoes, moves,
                                                           known_id):
    """e2e seed 271: a local ``c.txt -> d/b`` where ``b`` exists beside the source
    and ``c.txt`` exists in ``d``; both two-step orders collide, so the item goes
    through a temporary name (three requests) instead of failing every pass."""
    emulator.other.write("/a/y.txt", b"sibling")  # renaming in place collides
    emulator.other.write("/b/x.txt", b"resident")  # moving first collides
    rid = str(moves) if known_id else None
    item = backend.move("/a/x.txt", "/b/y.txt", id=rid)
    assert item.path == "/b/y.txt" and item.id == str(moves)
    assert emulator.other.read("/b/y.txt") == b"x"
    assert emulator.other.read("/a/y.txt") == b"sibling"
    assert emulator.other.read("/b/x.txt") == b"resident"
    assert not [p for p in tree(emulator) if TEMP_PREFIX in p]
    assert echoes[-1] == ("rename", "/b/y.txt")
    assert [op for op, _ in echoes] == ["rename", "move", "rename"]


def test_move_via_temporary_name_is_undone_when_the_destination_is_taken(emulator, backend,
                                                                         echoes, moves):
    emulator.other.write("/a/y.txt", b"sibling")
    emulator.other.write("/b/x.txt", b"resident")
    emulator.other.write("/b/y.txt", b"taken")
    with pytest.raises(InvalidParameterError):
        backend.move("/a/x.txt", "/b/y.txt", id=str(moves))
    assert emulator.other.read("/a/x.txt") == b"x"
    assert {emulator.other.read(p) for p in ("/a/y.txt", "/b/x.txt", "/b/y.txt")} == {
        b"sibling", b"resident", b"taken"}
    assert not [p for p in tree(emulator) if TEMP_PREFIX in p]


def test_failed_move_and_rename_is_undone(emulator, backend, echoes, moves):
    emulator.other.write("/b/y.txt", b"taken")  # the destination exists
    with pytest.raises(InvalidParameterError):
        backend.move("/a/x.txt", "/b/y.txt", id=str(moves))
    assert emulator.other.read("/a/x.txt") == b"x"  # back where it was
    assert emulator.other.read("/b/y.txt") == b"taken"
    assert "/a/y.txt" not in tree(emulator)


def test_move_folder_keeps_contents(emulator, backend, moves):
    item = backend.move("/a", "/b/a2")
    assert item.kind == "dir" and item.path == "/b/a2"
    assert emulator.other.read("/b/a2/x.txt") == b"x"


def test_case_only_rename_refused_goes_through_a_temporary_name(emulator, backend, echoes,
                                                                moves):
    real = backend.client.rename
    calls = []

    def case_insensitive(rid, name):  # a server that sees x.txt and X.txt as one name
        calls.append(name)
        if name == "X.txt" and len(calls) == 1:
            raise InvalidParameterError("", status=400, code="ERROR_INVALID_PARAMETER")
        return real(rid, name)

    backend.client.rename = case_insensitive
    item = backend.move("/a/x.txt", "/a/X.txt", id=str(moves))
    assert item.path == "/a/X.txt" and item.id == str(moves)
    assert calls[0] == "X.txt" and calls[1].startswith(TEMP_PREFIX) and calls[2] == "X.txt"
    assert {p for p in tree(emulator) if p.startswith("/a/")} == {"/a/X.txt"}
    assert [op for op, _ in echoes] == ["rename", "rename"]
    assert echoes[0][1] == "/a/" + calls[1] and echoes[1] == ("rename", "/a/X.txt")


def test_case_only_rename_on_a_case_sensitive_server_is_one_request(emulator, backend, moves):
    item, requests = spent(emulator, lambda: backend.move("/a/x.txt", "/a/X.txt",
                                                          id=str(moves)))
    assert requests == 1 and item.path == "/a/X.txt"


def test_other_rename_refusals_are_not_retried(emulator, backend, moves):
    emulator.other.write("/a/y.txt", b"taken")
    with pytest.raises(InvalidParameterError):
        backend.move("/a/x.txt", "/a/y.txt", id=str(moves))


# ----------------------------------------------------------------------------- delete


def test_delete_batches_and_counts_missing_as_done(emulator, backend, echoes):
    paths = [f"/del/f{i:03}" for i in range(148)]
    for p in paths:
        emulator.other.write(p, b"1")
    wanted = paths + ["/del/never-there", "/del/gone-too"]
    out, requests = spent(emulator, lambda: backend.delete(wanted))
    assert requests == 2  # 150 identifiers, 100 per request
    assert out == dict.fromkeys(wanted)
    assert not [p for p in tree(emulator) if p.startswith("/del/")]
    assert echoes == [("delete", p) for p in paths]  # only what was really deleted


def test_delete_reports_item_errors(emulator, backend):
    emulator.other.write("/k/a", b"1")
    out = backend.delete(["/k/a", "/"])  # the home folder cannot be deleted
    assert out["/k/a"] is None
    assert isinstance(out["/"], InvalidParameterError) and out["/"].status == 400
    assert backend.delete([]) == {}


def test_delete_single_missing_path(emulator, backend, echoes):
    out, requests = spent(emulator, lambda: backend.delete(["/missing"]))
    assert out == {"/missing": None} and requests == 1 and echoes == []


def test_move_many(emulator, backend, echoes):
    for name in ("a", "b"):
        emulator.other.write(f"/src/{name}.txt", name.encode())
    emulator.other.mkdir("/trash")
    out, requests = spent(emulator, lambda: backend.move_many(
        ["/src/a.txt", "/src/b.txt", "/src/missing"], "/trash"))
    assert requests == 1
    assert out["/src/a.txt"] is None and out["/src/b.txt"] is None
    assert isinstance(out["/src/missing"], NotFoundError)
    assert echoes == [("move", "/trash/a.txt"), ("move", "/trash/b.txt")]
    assert {"/trash/a.txt", "/trash/b.txt"} <= tree(emulator)


# ----------------------------------------------------------------------------- feed


def test_changes_maps_the_activity_feed(emulator, backend):
    since = datetime.fromtimestamp(emulator.now(), UTC) - timedelta(seconds=1)
    o = emulator.other
    o.mkdir("/f")
    o.write("/f/a.txt", b"a")
    o.rename("/f/a.txt", "b.txt")
    o.mkdir("/g")
    o.move("/f/b.txt", "/g")
    o.copy("/g/b.txt", "/f")
    o.delete("/f/b.txt")
    backend.download("/g/b.txt", io.BytesIO())  # a download is not a change

    changes = backend.activity(since)
    got = [(c.op, c.path, c.source, c.user) for c in changes]
    assert got == [
        ("mkdir", "/f", "", "other"),
        ("upload", "/f/a.txt", "", "other"),
        ("rename", "/f/b.txt", "/f/a.txt", "other"),
        ("mkdir", "/g", "", "other"),
        ("move", "/g/b.txt", "/f/b.txt", "other"),
        ("copy", "/f/b.txt", "/g/b.txt", "other"),
        ("delete", "/f/b.txt", "", "other"),
    ]
    assert all(c.id.isdigit() for c in changes) and len({c.id for c in changes}) == 7
    assert all(c.at >= since.replace(microsecond=0) for c in changes)
    assert backend.server_time() is not None


def test_changes_unavailable_on_files_com(make_emulator, make_client):
    emu = make_emulator(files_com=True)
    backend = ExaVaultBackend(make_client(emu))
    with pytest.raises(FeedUnavailable):
        backend.activity(datetime.now(UTC))


def test_no_echo_callback_and_no_credentials_in_repr(emulator, make_client):
    from tests.helpers.accounts import ACCESS_TOKEN, API_KEY
    backend = ExaVaultBackend(make_client(emulator))
    backend.mkdir("/quiet")  # works without an echo callback
    assert API_KEY not in repr(backend) and ACCESS_TOKEN not in repr(backend)
    assert backend.requests_sent == 1
