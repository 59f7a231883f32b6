"""Egnyte emulator: auth, info and listing, add_folder, simple upload, download, delete, events."""

from __future__ import annotations

import hashlib

import pytest
import requests

from tests.helpers.egnyte import EgnyteApi


@pytest.fixture
def api(egnyte_api):
    return egnyte_api


def test_a_missing_or_wrong_token_is_401(egnyte):
    assert requests.get(f"{egnyte.base_url}/pubapi/v1/fs/Shared", timeout=5).status_code == 401
    bad = EgnyteApi(egnyte, token="nope")
    assert bad.info("/Shared").status_code == 401
    egnyte.revoke()
    assert EgnyteApi(egnyte).info("/Shared").status_code == 401


def test_the_roots_exist_and_list(api):
    body = api.info("/").json()
    assert body["is_folder"] is True
    assert [f["name"] for f in body["folders"]] == ["Private", "Shared"]
    assert api.names("/Private") == ["other", "syncd"]


def test_add_folder_is_201_then_403_with_the_sdk_message(api):
    r = api.mkdir("/Shared/new dir")
    assert r.status_code == 201 and r.json()["folder_id"]
    again = api.mkdir("/Shared/NEW DIR")
    assert again.status_code == 403
    assert again.json() == {"errorMessage": "Folder already exists at this location"}
    assert api.mkdir("/Shared/missing/child").status_code == 404
    assert api.mkdir("/Shared/a:b").status_code == 400


def test_simple_upload_answers_checksum_headers_and_a_new_version_on_the_same_path(api):
    api.mkdir("/Shared/d")
    first = api.upload("/Shared/d/Report.txt", b"one")
    assert first.status_code == 200, first.text
    digest = hashlib.sha512(b"one").hexdigest()
    assert first.headers["X-Sha512-Checksum"] == digest
    assert first.headers["ETag"] == first.json()["entry_id"]
    second = api.upload("/Shared/d/REPORT.TXT", b"two!")
    assert second.json()["group_id"] == first.json()["group_id"]
    assert second.json()["entry_id"] != first.json()["entry_id"]
    info = api.info("/Shared/d/report.txt").json()
    assert info["name"] == "Report.txt" and info["num_versions"] == 2 and info["size"] == 4
    assert [v["entry_id"] for v in info["versions"]] == [first.json()["entry_id"]]
    old = api.download("/Shared/d/Report.txt", entry_id=first.json()["entry_id"])
    assert old.content == b"one"


def test_upload_checks_a_client_checksum_and_keeps_last_modified(api):
    api.mkdir("/Shared/d")
    bad = api.upload("/Shared/d/x", b"data", headers={"X-Sha512-Checksum": "0" * 128})
    assert bad.status_code == 400
    assert api.info("/Shared/d/x").status_code == 404
    good = api.upload("/Shared/d/x", b"data", headers={
        "X-Sha512-Checksum": hashlib.sha512(b"data").hexdigest(),
        "Last-Modified": "Mon, 04 Apr 2016 22:33:57 GMT"})
    assert good.status_code == 200
    assert api.info("/Shared/d/x").json()["last_modified"] == "Mon, 04 Apr 2016 22:33:57 GMT"


def test_multipart_upload_stores_the_file_part(api):
    api.mkdir("/Shared/d")
    r = api.post("/fs-content/Shared/d/m.bin", files={"file": ("m.bin", b"multi", "x/y")})
    assert r.status_code == 200, r.text
    assert api.download("/Shared/d/m.bin").content == b"multi"


def test_upload_refusals(api):
    assert api.upload("/Shared/nofolder/x", b"1").status_code == 404
    assert api.upload("/Shared/x", b"1").status_code == 409  # digest §1.1/§8.13: not in /Shared itself
    assert api.upload("/x", b"1").status_code == 409
    assert api.upload("/Private/y", b"1").status_code == 409
    for name in ("spam.tmp", "Thumbs.db", "danglingdot.", "emoji\U0001F600", "a" * 246,
                 "trailing ", "q?"):
        assert api.upload("/Shared/" + name, b"1").status_code == 400, name


def test_listing_pages_folders_first_by_name(api):
    api.mkdir("/Shared/p")
    for name in ("b", "A", "c"):
        api.upload(f"/Shared/p/{name}.txt", b"x")
    api.mkdir("/Shared/p/zdir")
    body = api.info("/Shared/p", count=2, offset=1).json()
    assert body["total_count"] == 4 and body["count"] == 2 and body["offset"] == 1
    assert [f["name"] for f in body["files"]] == ["A.txt", "b.txt"]
    assert body["folders"] == []
    assert api.names("/Shared/p") == ["zdir", "A.txt", "b.txt", "c.txt"]
    assert api.info("/Shared/p", count=1001).status_code == 400
    bare = api.info("/Shared/p", list_content="false").json()
    assert "files" not in bare and bare["total_count"] == 4


def test_by_id_info_for_files_and_folders(api):
    folder_id = api.mkdir("/Shared/i").json()["folder_id"]
    group_id = api.upload("/Shared/i/f", b"z").json()["group_id"]
    assert api.get(f"/fs/ids/folder/{folder_id}").json()["path"] == "/Shared/i"
    assert api.get(f"/fs/ids/file/{group_id}").json()["path"] == "/Shared/i/f"
    assert api.get("/fs/ids/file/nope").status_code == 404


def test_download_whole_and_ranges(api):
    api.mkdir("/Shared/r")
    api.upload("/Shared/r/f", b"0123456789")
    whole = api.download("/Shared/r/f")
    assert whole.status_code == 200 and whole.content == b"0123456789"
    assert whole.headers["X-Sha512-Checksum"] == hashlib.sha512(b"0123456789").hexdigest()
    part = api.download("/Shared/r/f", headers={"Range": "bytes=2-4"})
    assert part.status_code == 206 and part.content == b"234"
    assert part.headers["Content-Range"] == "bytes 2-4/10"
    tail = api.download("/Shared/r/f", headers={"Range": "bytes=7-"})
    assert tail.content == b"789"
    suffix = api.download("/Shared/r/f", headers={"Range": "bytes=-2"})
    assert suffix.content == b"89"
    beyond = api.download("/Shared/r/f", headers={"Range": "bytes=10-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == "bytes */10"
    assert api.download("/Shared/r/missing").status_code == 404


def test_delete_is_recursive_200_empty_and_missing_is_404(api):
    api.mkdir("/Shared/del")
    api.upload("/Shared/del/f", b"1")
    r = api.remove("/Shared/DEL")
    assert r.status_code == 200 and r.content == b""
    assert api.info("/Shared/del").status_code == 404
    assert api.info("/Shared/del/f").status_code == 404
    assert api.remove("/Shared/del").status_code == 404
    assert api.remove("/Shared").status_code == 403


def test_events_cursor_list_and_204(api):
    start = api.cursor()
    assert api.events(start).status_code == 204
    fid = api.mkdir("/Shared/ev").json()["folder_id"]
    up = api.upload("/Shared/ev/f.txt", b"1").json()
    api.remove("/Shared/ev/f.txt")
    r = api.events(start)
    assert r.status_code == 200
    body = r.json()
    events = body["events"]
    assert [e["action"] for e in events] == ["create", "create", "delete"]
    assert [e["id"] for e in events] == [start + 1, start + 2, start + 3]
    assert body["latest_id"] == start + 3 and body["count"] == 3
    assert events[0]["data"] == {"target_path": "/Shared/ev", "folder_id": fid,
                                 "is_folder": True}
    assert events[1]["data"] == {"target_path": "/Shared/ev/f.txt",
                                 "target_id": up["entry_id"],
                                 "target_group_id": up["group_id"], "is_folder": False}
    assert events[1]["actor"] == 1 and events[1]["action_source"] == "PublicAPI"
    assert events[1]["type"] == "file_system"
    assert events[1]["object_detail"].endswith("/pubapi/v1/fs/Shared/ev/f.txt")
    assert api.cursor() == start + 3
    assert api.events(start + 3).status_code == 204
    paged = api.events(start, count=2).json()
    assert paged["count"] == 2 and paged["latest_id"] == start + 2


def test_the_store_survives_a_restart(make_egnyte, tmp_path):
    emu = make_egnyte(root=tmp_path / "root")
    api = EgnyteApi(emu)
    api.mkdir("/Shared/keep")
    up = api.upload("/Shared/keep/f", b"kept").json()
    cursor = api.cursor()
    emu.stop()
    again = make_egnyte(root=tmp_path / "root")
    api2 = EgnyteApi(again)
    assert api2.download("/Shared/keep/f").content == b"kept"
    assert api2.info("/Shared/keep/f").json()["entry_id"] == up["entry_id"]
    assert api2.cursor() == cursor
    assert api2.events(cursor).status_code == 204


def test_more_name_rules_and_unicode_forms(api):
    api.mkdir("/Shared/n")
    assert api.upload("/Shared/n/ lead", b"1").status_code == 400
    assert api.upload("/Shared/n/ctl\x01", b"1").status_code == 400
    assert api.upload("/Shared/n/" + "é" * 122, b"1").status_code == 200  # 244 bytes
    deep = "/Shared/n/" + "/".join(["d" * 200] * 25)
    assert api.upload(deep + "/f", b"1").status_code == 400  # over 5,000 bytes
    assert api.upload("/Shared/n/caf\u00e9", b"nfc").status_code == 200
    assert api.upload("/Shared/n/cafe\u0301", b"nfd").status_code == 200
    assert api.names("/Shared/n").count("caf\u00e9") == 1
    assert api.download("/Shared/n/caf\u00e9").content == b"nfd"
    for ok in ("a+b#c%d&e;f{g}[h]~i!$'()=@^`", "dots.in.name"):
        assert api.upload("/Shared/n/" + ok, b"1").status_code == 200, ok


def test_by_id_move_delete_and_content(api):
    api.mkdir("/Shared/b")
    up = api.upload("/Shared/b/f", b"1").json()
    gid = up["group_id"]
    assert api.post(f"/fs/ids/file/{gid}", json={"action": "move",
                                                 "destination": "/Shared/b/g"}).status_code == 200
    assert api.get(f"/fs-content/ids/file/{gid}").content == b"1"
    newer = api.post(f"/fs-content/ids/file/{gid}", data=b"22").json()
    assert newer["group_id"] == gid and newer["path"] == "/Shared/b/g"
    assert api.delete(f"/fs/ids/file/{gid}").status_code == 200
    assert api.get(f"/fs/ids/file/{gid}").status_code == 404


def test_an_empty_file_and_a_new_version_event(api):
    api.mkdir("/Shared/e")
    first = api.upload("/Shared/e/empty", b"").json()
    assert first["size"] == 0
    start = api.cursor()
    second = api.upload("/Shared/e/EMPTY", b"x").json()
    (event,) = api.event_list(start)
    assert event["action"] == "create"
    assert event["data"]["target_group_id"] == first["group_id"]
    assert event["data"]["target_id"] == second["entry_id"] != first["entry_id"]
    assert event["data"]["target_path"] == "/Shared/e/empty"


def test_latency_and_bandwidth_switches_still_carry_the_bytes(make_egnyte):
    emu = make_egnyte(latency_ms=5, bandwidth=200_000)
    api = EgnyteApi(emu)
    api.mkdir("/Shared/s")
    data = bytes(range(256)) * 200
    assert api.upload("/Shared/s/f", data).status_code == 200
    assert api.download("/Shared/s/f").content == data
    assert emu.download_bytes == len(data)


def test_an_open_chunked_upload_survives_a_restart(make_egnyte, tmp_path):
    emu = make_egnyte(root=tmp_path / "root", min_chunk=2)
    api = EgnyteApi(emu)
    api.mkdir("/Shared/c")
    upload_id = api.chunk("/Shared/c/f", b"11", 1).headers["X-Egnyte-Upload-Id"]
    emu.stop()
    api2 = EgnyteApi(make_egnyte(root=tmp_path / "root", min_chunk=2))
    assert api2.chunk("/Shared/c/f", b"2", 2, upload_id, last=True).status_code == 200
    assert api2.download("/Shared/c/f").content == b"112"


def test_bad_requests_are_400(api):
    api.mkdir("/Shared/q")
    assert api.post("/fs/Shared/q", data=b"{not json").status_code == 400
    assert api.post("/fs/Shared/q", json=["add_folder"]).status_code == 400
    assert api.post("/fs/Shared/q", data=b"x" * (2 << 20)).status_code == 400
    assert api.get("/fs/Shared/a%2Fb").status_code == 400
    assert api.info("/Shared/q", count="many").status_code == 400
    assert api.events(-1).status_code == 400
    assert api.get("/nothing").status_code == 404


def test_auto_parents_creates_the_missing_folders_of_an_upload(make_egnyte):
    """The switch of choice 3 (docs/emulator.md): off, an upload into a missing folder is
    404 (test above); on, the folders are made first, one create event each, and a name
    Egnyte refuses still makes nothing."""
    api = EgnyteApi(make_egnyte(auto_parents=True))
    try:
        since = api.cursor()
        assert api.upload("/Shared/a/b/c.txt", b"1").status_code == 200
        assert api.info("/Shared/a/b").json()["is_folder"] is True
        assert api.download("/Shared/a/b/c.txt").content == b"1"
        made = [(e["action"], e["data"]["target_path"]) for e in api.event_list(since)]
        assert made == [("create", "/Shared/a"), ("create", "/Shared/a/b"),
                        ("create", "/Shared/a/b/c.txt")]
        # chunked too: the first chunk is not refused for the missing folder
        first = api.chunk("/Shared/x/y.bin", b"z" * 2048, 1)
        assert first.status_code == 200, first.text
        upload_id = first.headers["X-Egnyte-Upload-Id"]
        assert api.chunk("/Shared/x/y.bin", b"z", 2, upload_id, last=True).status_code == 200
        assert api.download("/Shared/x/y.bin").content == b"z" * 2049
        # a refused name: 400 and no folder made on the way
        assert api.upload("/Shared/new/bad:name.txt", b"1").status_code == 400
        assert api.info("/Shared/new").status_code == 404
    finally:
        api.close()
