"""``EgnyteBackend`` against the Egnyte emulator over real HTTP: every ``Backend``
method, the calls each costs, never-overwrite uploads, the feed's integer cursor
and its loss."""

from __future__ import annotations

import hashlib
import io

import pytest

from syncd.remote.backend import ContentHash, CursorLost, FeedTooLong
from syncd.remote.errors import AlreadyExistsError, NameRefusedError, NotFoundError
from tests.helpers.egnyte_client import FailsOnce, as_file, backend_for, blob


@pytest.fixture
def emu(make_egnyte):
    return make_egnyte()


@pytest.fixture
def echoes():
    return []


@pytest.fixture
def backend(emu, echoes):
    b = backend_for(emu, echo=lambda op, path: echoes.append((op, path)))
    yield b
    b.client.close()


def test_list_tree_walks_every_folder_with_paging(backend):
    backend.mkdir("/Shared/t/a/b")
    for i in range(3):
        backend.upload(f"/Shared/t/a/f{i}.txt", as_file(b"x" * i), i, replace=False)
    backend.upload("/Shared/t/a/b/deep.txt", as_file(b"deep"), 4, replace=False)
    items = {i.path: i for i in backend.list_tree("/Shared/t")}
    assert sorted(items) == ["/Shared/t/a", "/Shared/t/a/b", "/Shared/t/a/b/deep.txt",
                             "/Shared/t/a/f0.txt", "/Shared/t/a/f1.txt", "/Shared/t/a/f2.txt"]
    deep = items["/Shared/t/a/b/deep.txt"]
    assert deep.kind == "file" and deep.size == 4 and deep.version
    assert deep.hash == ContentHash("sha512", hashlib.sha512(b"deep").hexdigest())
    assert items["/Shared/t/a"].kind == "dir" and items["/Shared/t/a"].version is None


def test_stat_gives_group_id_and_entry_id(backend):
    up = backend.upload("/Shared/s/f.txt", as_file(b"one"), 3, replace=False)
    assert backend.stat("/Shared/S/F.TXT") == backend.stat("/Shared/s/f.txt")
    again = backend.upload("/Shared/s/f.txt", as_file(b"two"), 3, replace=True)
    assert again.id == up.id and again.version != up.version
    assert backend.stat("/Shared/s/f.txt").version == again.version
    with pytest.raises(NotFoundError):
        backend.stat("/Shared/s/missing")


def test_upload_never_replaces_without_replace(backend):
    backend.upload("/Shared/n/Report.txt", as_file(b"theirs"), 6, replace=False)
    mine = backend.upload("/Shared/n/report.txt", as_file(b"mine!"), 5, replace=False)
    assert mine.path == "/Shared/n/report (1).txt"
    out = io.BytesIO()
    backend.download("/Shared/n/Report.txt", out)
    assert out.getvalue() == b"theirs"


def test_upload_creates_missing_parents_and_costs_few_calls(backend, echoes):
    sent = backend.requests_sent
    item = backend.upload("/Shared/p/q/r.txt", as_file(b"r"), 1, replace=True)
    assert item.path == "/Shared/p/q/r.txt" and item.kind == "file"
    # upload 404, add_folder q 404, add_folder p, add_folder q, 2 stats of mkdir, upload
    assert backend.requests_sent - sent <= 8
    assert ("upload", "/Shared/p/q/r.txt") in echoes
    sent = backend.requests_sent
    backend.upload("/Shared/p/q/s.txt", as_file(b"s"), 1, replace=True)
    assert backend.requests_sent - sent == 1  # the common case: one call


def test_a_large_upload_goes_chunked_and_downloads_verified(make_egnyte):
    emu = make_egnyte(min_chunk=1024)
    b = backend_for(emu, threshold=4096, chunk_size=2048, parallel=3)
    data = blob(9000, seed=7)
    item = b.upload("/Shared/big/f.bin", as_file(data), len(data), replace=False)
    assert item.hash.algorithm == "sha512-chunked:2-5-2048"
    assert b.stat("/Shared/big/f.bin").hash == item.hash
    out = io.BytesIO()
    assert b.download("/Shared/big/f.bin", out) == len(data) and out.getvalue() == data


def test_names_egnyte_refuses_cost_no_call(backend):
    sent = backend.requests_sent
    for bad in ("/Shared/x/a:b.txt", "/Shared/x/trailing.", "/Shared/x/Thumbs.db"):
        with pytest.raises(NameRefusedError):
            backend.upload(bad, as_file(b"x"), 1, replace=False)
    with pytest.raises(NameRefusedError):
        backend.mkdir("/Shared/x/emoji\U0001F600")
    assert backend.requests_sent == sent


def test_mkdir_makes_parents_and_accepts_an_existing_folder(backend):
    made = backend.mkdir("/Shared/m1/m2/m3")
    assert made.kind == "dir" and made.path == "/Shared/m1/m2/m3"
    assert backend.mkdir("/Shared/M1/m2").kind == "dir"
    backend.upload("/Shared/m1/file", as_file(b"f"), 1, replace=False)
    with pytest.raises(AlreadyExistsError):
        backend.mkdir("/Shared/m1/file")


def test_move_and_rename_are_one_call(backend, echoes):
    backend.mkdir("/Shared/mv/dst")
    up = backend.upload("/Shared/mv/a.txt", as_file(b"a"), 1, replace=False)
    sent = backend.requests_sent
    moved = backend.move("/Shared/mv/a.txt", "/Shared/mv/dst/b.txt", id=up.id)
    assert moved.path == "/Shared/mv/dst/b.txt" and moved.id == up.id
    assert backend.requests_sent - sent == 2  # the move and the stat of the result
    assert echoes[-1] == ("move", "/Shared/mv/dst/b.txt")
    backend.upload("/Shared/mv/c.txt", as_file(b"c"), 1, replace=False)
    with pytest.raises(AlreadyExistsError):
        backend.move("/Shared/mv/c.txt", "/Shared/mv/dst/b.txt")
    renamed = backend.move("/Shared/mv/c.txt", "/Shared/mv/C.txt")  # case only
    assert renamed.path == "/Shared/mv/C.txt"


def test_delete_and_move_many_one_call_per_item(backend):
    for name in ("a", "b"):
        backend.upload(f"/Shared/d/{name}.txt", as_file(b"x"), 1, replace=False)
    backend.mkdir("/Shared/d/sub/deeper")
    backend.mkdir("/Shared/trash")
    sent = backend.requests_sent
    landed = {}
    got = backend.move_many(["/Shared/d/a.txt", "/Shared/d/gone.txt"], "/Shared/trash",
                            landed=landed)
    assert got["/Shared/d/a.txt"] is None and isinstance(got["/Shared/d/gone.txt"], NotFoundError)
    assert landed["/Shared/d/a.txt"].path == "/Shared/trash/a.txt"
    result = backend.delete(["/Shared/d/b.txt", "/Shared/d/sub", "/Shared/d/never"])
    assert result == {"/Shared/d/b.txt": None, "/Shared/d/sub": None, "/Shared/d/never": None}
    assert [i.path for i in backend.list_tree("/Shared/d")] == []
    assert backend.requests_sent - sent == 2 + 1 + 3 + 1  # moves (+1 stat), deletes, list


def test_changes_page_the_feed_with_an_integer_cursor(backend):
    changes, cursor = backend.changes(None)
    assert changes == [] and isinstance(cursor, int)
    backend.mkdir("/Shared/f")
    backend.upload("/Shared/f/a.txt", as_file(b"a"), 1, replace=False)
    backend.move("/Shared/f/a.txt", "/Shared/f/b.txt")
    backend.delete(["/Shared/f/b.txt"])
    got, reached = backend.changes(cursor)
    assert [(c.op, c.path, c.source) for c in got] == [
        ("mkdir", "/Shared/f", ""), ("upload", "/Shared/f/a.txt", ""),
        ("rename", "/Shared/f/b.txt", "/Shared/f/a.txt"), ("delete", "/Shared/f/b.txt", "")]
    assert reached > cursor and all(backend.seen(reached, c) for c in got)
    assert not backend.seen(cursor, got[0])
    assert backend.advance(cursor, got, reached) == reached
    assert backend.oldest([reached, cursor]) == cursor
    again, same = backend.changes(reached)
    assert again == [] and same == reached


def test_a_long_feed_is_refused_past_the_budget(emu, backend):
    _, cursor = backend.changes(None)
    for i in range(101):
        emu.other.mkdir(f"/Shared/many{i}")
    with pytest.raises(FeedTooLong):
        backend.changes(cursor, budget=1)
    got, _ = backend.changes(cursor, budget=2)
    assert len(got) == 101


def test_a_cursor_older_than_the_retention_is_lost(make_egnyte):
    emu = make_egnyte(event_retention=3)
    b = backend_for(emu)
    _, cursor = b.changes(None)
    for i in range(6):
        b.mkdir(f"/Shared/r{i}")
    with pytest.raises(CursorLost):
        b.changes(cursor)
    _, fresh = b.changes(None)
    assert b.changes(fresh)[0] == []


def test_account_names_the_user_and_the_daily_quota(make_egnyte):
    emu = make_egnyte(daily_limit=1000)
    b = backend_for(emu)
    info = b.account()
    assert (info.name, info.daily_limit) == ("syncd", 1000)  # the emulator's default user
    assert b.has_feed()
    assert b.server_time() is not None


def test_a_failed_chunked_upload_sent_again_sends_only_the_missing_chunks(make_egnyte):
    emu = make_egnyte(min_chunk=1024)
    b = backend_for(emu, threshold=4096, chunk_size=2048, parallel=1)
    data = blob(6 * 2048, seed=12)
    src = FailsOnce(data, 4 * 2048)
    with pytest.raises(OSError):
        b.upload("/Shared/again/f.bin", src, len(data), replace=True)
    src.seek(0)
    emu.reset_log()
    item = b.upload("/Shared/again/f.bin", src, len(data), replace=True)
    chunks = [r for r in emu.requests("POST") if r.path.startswith("/fs-content-chunked/")]
    assert len(chunks) == 2  # chunks 5 and 6 (the last)
    out = io.BytesIO()
    b.download(item.path, out)
    assert out.getvalue() == data
