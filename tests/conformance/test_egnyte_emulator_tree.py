"""Egnyte emulator: move, copy, rename, trash, locks, notes, userinfo, stats, another user."""

from __future__ import annotations

import pytest

from tests.helpers.egnyte import EgnyteApi


@pytest.fixture
def api(egnyte_api):
    egnyte_api.mkdir("/Shared/t")
    return egnyte_api


def _since(api, start):
    return [(e["action"], e["data"]) for e in api.event_list(start)]


def test_move_keeps_ids_and_is_one_event_rename_within_a_folder(api):
    api.mkdir("/Shared/t/sub")
    up = api.upload("/Shared/t/a.txt", b"a").json()
    start = api.cursor()
    r = api.move("/Shared/t/a.txt", "/Shared/t/sub/b.txt")
    assert r.status_code == 200 and r.json()["path"] == "/Shared/t/sub/b.txt"
    assert r.json()["group_id"] == up["group_id"] and r.json()["entry_id"] == up["entry_id"]
    api.move("/Shared/t/sub/b.txt", "/Shared/t/sub/c.txt")
    (a1, d1), (a2, d2) = _since(api, start)
    assert (a1, a2) == ("move", "rename")
    assert d1 == {"source_path": "/Shared/t/a.txt", "target_path": "/Shared/t/sub/b.txt",
                  "is_folder": False, "source_id": up["entry_id"], "target_id": up["entry_id"],
                  "source_group_id": up["group_id"], "target_group_id": up["group_id"]}
    assert d2["source_path"] == "/Shared/t/sub/b.txt"


def test_a_folder_move_is_one_event_and_children_follow(api):
    fid = api.mkdir("/Shared/t/f").json()["folder_id"]
    api.upload("/Shared/t/f/x", b"x")
    api.mkdir("/Shared/u")
    start = api.cursor()
    assert api.move("/Shared/t/f", "/Shared/u/g").status_code == 200
    assert _since(api, start) == [("move", {
        "source_path": "/Shared/t/f", "target_path": "/Shared/u/g", "is_folder": True,
        "source_id": fid, "target_id": fid})]
    assert api.download("/Shared/u/g/x").content == b"x"
    assert api.get(f"/fs/ids/folder/{fid}").json()["path"] == "/Shared/u/g"


def test_move_and_copy_refusals(api):
    api.upload("/Shared/t/a", b"a")
    api.upload("/Shared/t/b", b"b")
    api.mkdir("/Shared/t/d")
    assert api.move("/Shared/t/a", "/Shared/t/B").status_code == 409
    assert api.copy("/Shared/t/a", "/Shared/t/b").status_code == 409
    assert api.move("/Shared/t/a", "/Shared/t/nope/a").status_code == 404
    assert api.move("/Shared/t/missing", "/Shared/t/z").status_code == 404
    assert api.move("/Shared/t/d", "/Shared/t/d/inner").status_code == 400
    assert api.move("/Shared/t/a", "/Shared/t/bad|name").status_code == 400
    assert api.action("/Shared/t/a", "explode").status_code == 400
    assert api.download("/Shared/t/b").content == b"b"


def test_a_case_only_rename_is_allowed(api):
    api.upload("/Shared/t/readme", b"r")
    assert api.move("/Shared/t/readme", "/Shared/t/README").status_code == 200
    assert api.names("/Shared/t") == ["README"]


def test_copy_makes_a_new_file_and_a_folder_copy_copies_its_contents(api):
    up = api.upload("/Shared/t/a", b"a").json()
    r = api.copy("/Shared/t/a", "/Shared/t/a2")
    assert r.status_code == 200
    assert r.json()["group_id"] != up["group_id"]
    api.upload("/Shared/t/a", b"changed")
    assert api.download("/Shared/t/a2").content == b"a"
    api.mkdir("/Shared/t/src")
    api.upload("/Shared/t/src/in", b"in")
    assert api.copy("/Shared/t/src", "/Shared/t/dst").status_code == 200
    assert api.download("/Shared/t/dst/in").content == b"in"
    assert api.download("/Shared/t/src/in").content == b"in"


def test_trash_lists_restores_and_purges(api):
    api.mkdir("/Shared/t/gone")
    api.upload("/Shared/t/gone/f", b"f")
    api.upload("/Shared/t/file", b"1")
    api.remove("/Shared/t/gone")
    api.remove("/Shared/t/file")
    items = api.get("/fs/trash").json()["items"]
    assert {i["path"] for i in items} == {"/Shared/t/gone", "/Shared/t/file"}
    by_path = {i["path"]: i["id"] for i in items}
    start = api.cursor()
    r = api.post("/fs/trash", json={"action": "RESTORE", "ids": [by_path["/Shared/t/gone"]]})
    assert r.status_code == 200, r.text
    assert api.download("/Shared/t/gone/f").content == b"f"
    assert [a for a, _ in _since(api, start)] == ["restore"]
    r = api.post("/fs/trash", json={"action": "PURGE", "ids": [by_path["/Shared/t/file"], "x"]})
    assert r.status_code == 207
    assert [x["status"] for x in r.json()["results"]] == [200, 404]
    assert api.get("/fs/trash").json()["total_count"] == 0
    assert api.s.get(api.emu.base_url + "/pubapi/v2/fs/trash/totalcount",
                     timeout=5).json() == {"total_count": 0}


def test_delete_one_version_by_entry_id(api):
    first = api.upload("/Shared/t/v", b"1").json()
    api.upload("/Shared/t/v", b"22")
    assert api.remove("/Shared/t/v", entry_id=first["entry_id"]).status_code == 200
    info = api.info("/Shared/t/v").json()
    assert info["num_versions"] == 1 and info["size"] == 2


def test_a_file_locked_by_another_user_refuses_changes(api, egnyte):
    api.upload("/Shared/t/doc", b"d")
    token = egnyte.other.lock("/Shared/t/doc")
    assert api.info("/Shared/t/doc").json()["locked"] is True
    for r in (api.upload("/Shared/t/doc", b"new"), api.move("/Shared/t/doc", "/Shared/t/d2"),
              api.remove("/Shared/t/doc"), api.remove("/Shared/t")):
        assert r.status_code == 403
        assert "locked" in r.json()["errorMessage"]
        assert "X-Mashery-Error-Code" not in r.headers
    assert api.download("/Shared/t/doc").content == b"d"
    egnyte.other.unlock("/Shared/t/doc", token)
    assert api.upload("/Shared/t/doc", b"new").status_code == 200


def test_lock_and_unlock_over_http_and_lock_timeout(api, egnyte):
    api.upload("/Shared/t/doc", b"d")
    r = api.action("/Shared/t/doc", "lock", lock_timeout=60)
    assert r.status_code == 200
    token = r.json()["lock_token"]
    assert api.upload("/Shared/t/doc", b"mine").status_code == 200  # own lock
    other = EgnyteApi(egnyte, token=egnyte.other_token)
    assert other.upload("/Shared/t/doc", b"theirs").status_code == 403
    assert other.action("/Shared/t/doc", "unlock", lock_token="wrong").status_code == 403
    assert api.action("/Shared/t/doc", "unlock", lock_token=token).status_code == 200
    api.action("/Shared/t/doc", "lock", lock_timeout=60)
    egnyte.advance_clock(61)
    assert other.upload("/Shared/t/doc", b"theirs").status_code == 200


def test_another_user_shows_as_another_actor(api, egnyte):
    start = api.cursor()
    egnyte.other.upload("/Shared/t/theirs.txt", b"t")
    egnyte.other.mkdir("/Shared/t/theirs")
    events = api.event_list(start)
    assert [(e["actor"], e["action_source"]) for e in events] == [(2, "WebUI")] * 2
    other = EgnyteApi(egnyte, token=egnyte.other_token)
    assert other.get("/userinfo").json()["username"] == "other"
    other.upload("/Shared/t/by-api", b"x")
    assert api.event_list(start + 2)[0]["actor"] == 2
    assert api.info("/Shared/t/by-api").json()["uploaded_by"] == "other"


def test_notes_create_get_list_delete(api):
    api.upload("/Shared/t/n.txt", b"n")
    start = api.cursor()
    r = api.post("/notes", json={"path": "/Shared/t/n.txt", "body": "hello"})
    assert r.status_code == 201
    ident = r.json()["id"]
    note = api.get(f"/notes/{ident}").json()
    assert note["message"] == "hello" and note["file_path"] == "/Shared/t/n.txt"
    listed = api.get("/notes", params={"file": "/Shared/t/n.txt"}).json()
    assert listed["total_results"] == 1 and listed["notes"][0]["id"] == ident
    assert api.get("/notes", params={"folder": "/Shared/other"}).json()["total_results"] == 0
    assert api.event_list(start)[0]["type"] == "note"
    assert api.delete(f"/notes/{ident}").status_code == 200
    assert api.get(f"/notes/{ident}").status_code == 404
    assert api.post("/notes", json={"path": "/Shared/t/none", "body": "x"}).status_code == 404


def test_userinfo_and_folder_stats(api):
    me = api.get("/userinfo").json()
    assert me["username"] == "syncd" and me["id"] == 1
    fid = api.info("/Shared/t").json()["folder_id"]
    api.upload("/Shared/t/a", b"12")
    api.upload("/Shared/t/a", b"345")
    api.mkdir("/Shared/t/s")
    stats = api.get(f"/fs/ids/folder/{fid}/stats").json()
    assert stats["numOfFiles"] == 1 and stats["numOfVersions"] == 2
    assert stats["totalSizeOfFiles"] == 3 and stats["totalSizeOfVersions"] == 5
    assert stats["numOfFolders"] == 1
