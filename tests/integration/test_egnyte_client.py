"""The Egnyte client against the Egnyte emulator over real HTTP on 127.0.0.1:
folders, listings with paging, uploads and downloads checked by SHA-512, chunked
uploads and their resumption, ranged downloads, events and the typed errors."""

from __future__ import annotations

import hashlib
import io

import pytest

from syncd.remote.egnyte import transfer
from syncd.remote.egnyte.models import composite
from syncd.remote.errors import (
    AlreadyExistsError,
    AuthError,
    NameRefusedError,
    NotFoundError,
)
from tests.helpers.egnyte_client import FailsOnce, as_file, blob, client_for


@pytest.fixture
def emu(make_egnyte):
    return make_egnyte()


@pytest.fixture
def client(emu):
    c = client_for(emu)
    yield c
    c.close()


def test_folders_are_created_once_and_listed_in_pages(client):
    fid = client.add_folder("/Shared/proj")
    assert fid
    with pytest.raises(AlreadyExistsError):
        client.add_folder("/Shared/PROJ")  # names compare case-insensitively
    for i in range(5):
        client.add_folder(f"/Shared/proj/d{i}")
    transfer.upload(client, "/Shared/proj/f.txt", as_file(b"x"), 1)
    folder, kids = client.list_folder("/Shared/proj", count=2)
    assert folder.id == fid and folder.is_folder
    assert sorted(k.path for k in kids) == [f"/Shared/proj/d{i}" for i in range(5)] + [
        "/Shared/proj/f.txt"]
    assert client.info("/Shared/proj/d3").is_folder


def test_a_simple_upload_is_checked_by_sha512_both_ways(client):
    data = blob(50_000)
    client.add_folder("/Shared/up")
    stored = transfer.upload(client, "/Shared/up/a b#%&.bin", as_file(data), len(data))
    assert stored.checksum == hashlib.sha512(data).hexdigest()
    item = client.info("/Shared/up/a b#%&.bin")
    assert (item.id, item.entry_id, item.size) == (stored.group_id, stored.entry_id, len(data))
    out = io.BytesIO()
    assert transfer.download(client, "/Shared/up/a b#%&.bin", out) == len(data)
    assert out.getvalue() == data


def test_a_streamed_upload_is_checked_against_the_answer(client, monkeypatch):
    monkeypatch.setattr(transfer, "SMALL_BODY", 1000)  # stream, do not read whole
    data = blob(300_000, seed=2)
    client.add_folder("/Shared/s")
    stored = transfer.upload(client, "/Shared/s/big.bin", as_file(data), len(data))
    assert stored.checksum == hashlib.sha512(data).hexdigest()


def test_a_new_upload_to_the_path_is_a_new_version(client):
    client.add_folder("/Shared/v")
    one = transfer.upload(client, "/Shared/v/f.txt", as_file(b"one"), 3)
    two = transfer.upload(client, "/Shared/v/F.TXT", as_file(b"two!"), 4)
    assert two.group_id == one.group_id and two.entry_id != one.entry_id
    item = client.info("/Shared/v/f.txt")
    assert item.path == "/Shared/v/f.txt" and item.entry_id == two.entry_id


def test_a_ranged_download_continues_a_partial_file(client):
    data = blob(200_000, seed=3)
    client.add_folder("/Shared/r")
    transfer.upload(client, "/Shared/r/f.bin", as_file(data), len(data))
    out = io.BytesIO(data[:70_000])
    out.seek(70_000)
    sent = client.requests_sent
    assert transfer.download(client, "/Shared/r/f.bin", out, offset=70_000) == len(data)
    assert out.getvalue() == data and client.requests_sent == sent + 1


def test_a_chunked_upload_reports_the_composite_checksum(make_egnyte):
    emu = make_egnyte(min_chunk=1024)
    client = client_for(emu)
    data = blob(10_000, seed=4)
    client.add_folder("/Shared/c")
    stored = transfer.upload_chunked(client, "/Shared/c/f.bin", as_file(data), len(data),
                                     chunk_size=4096, parallel=2)
    digests = [hashlib.sha512(data[i:i + 4096]).hexdigest() for i in range(0, 10_000, 4096)]
    assert stored.checksum == composite(digests, 4096)
    assert client.info("/Shared/c/f.bin").checksum == stored.checksum
    out = io.BytesIO()
    assert transfer.download(client, "/Shared/c/f.bin", out) == len(data)
    assert out.getvalue() == data


def test_a_chunked_upload_resumes_without_sending_held_chunks_again(make_egnyte):
    emu = make_egnyte(min_chunk=1024)
    client = client_for(emu)
    data = blob(5 * 2048 + 100, seed=5)
    client.add_folder("/Shared/res")
    state = transfer.ChunkState()
    src = FailsOnce(data, 3 * 2048)
    with pytest.raises(OSError):
        transfer.upload_chunked(client, "/Shared/res/f.bin", src, len(data), chunk_size=2048,
                                parallel=1, state=state)
    assert sorted(state.digests) == [1, 2, 3] and state.upload_id
    src.seek(0)
    before = client.requests_sent
    stored = transfer.upload_chunked(client, "/Shared/res/f.bin", src, len(data),
                                     chunk_size=2048, parallel=1, state=state)
    assert client.requests_sent - before == 3  # chunks 4, 5 and the last
    out = io.BytesIO()
    transfer.download(client, "/Shared/res/f.bin", out)
    assert out.getvalue() == data
    assert stored.checksum.startswith("2-6-2048-")


def test_move_rename_copy_and_delete(client):
    client.add_folder("/Shared/m")
    client.add_folder("/Shared/m/into")
    transfer.upload(client, "/Shared/m/a.txt", as_file(b"a"), 1)
    gid = client.info("/Shared/m/a.txt").id
    client.move("/Shared/m/a.txt", "/Shared/m/into/b.txt")  # move and rename, one call
    assert client.info("/Shared/m/into/b.txt").id == gid
    with pytest.raises(NotFoundError):
        client.info("/Shared/m/a.txt")
    client.move("/Shared/m/into/b.txt", "/Shared/m/c.txt", action="copy")
    with pytest.raises(AlreadyExistsError):
        client.move("/Shared/m/c.txt", "/Shared/m/into/b.txt")
    with pytest.raises(NotFoundError):
        client.move("/Shared/m/c.txt", "/Shared/nowhere/c.txt")
    client.delete("/Shared/m/into")
    with pytest.raises(NotFoundError):
        client.info("/Shared/m/into/b.txt")
    with pytest.raises(NotFoundError):
        client.delete("/Shared/m/into")


def test_a_name_egnyte_filters_is_refused_with_400(client):
    client.add_folder("/Shared/n")
    for name in ("spam.tmp", "dangling.", "Thumbs.db"):
        with pytest.raises(NameRefusedError) as err:
            transfer.upload(client, f"/Shared/n/{name}", as_file(b"x"), 1)
        assert err.value.status == 400


def test_a_wrong_token_is_an_auth_error_without_the_token(emu):
    c = client_for(emu, token="not-the-token")
    with pytest.raises(AuthError) as err:
        c.userinfo()
    assert "not-the-token" not in str(err.value) + repr(err.value)


def test_events_cursor_list_and_nothing_newer(client):
    latest, _ = client.events_cursor()
    client.add_folder("/Shared/e")
    transfer.upload(client, "/Shared/e/f.txt", as_file(b"f"), 1)
    client.move("/Shared/e/f.txt", "/Shared/e/g.txt")
    page = client.events(latest)
    assert [(e.action, e.target_path) for e in page.events] == [
        ("create", "/Shared/e"), ("create", "/Shared/e/f.txt"), ("rename", "/Shared/e/g.txt")]
    assert page.latest_id == page.events[-1].id
    assert client.events(page.latest_id).events == []  # 204
    only = client.events(latest, folder="/Shared/e")
    assert len(only.events) == 3
