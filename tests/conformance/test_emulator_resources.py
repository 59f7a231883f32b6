"""Emulator: envelopes, auth, listing, search, identifiers, folders, move/copy/rename/delete."""

from __future__ import annotations

import re
import unicodedata

import pytest
import requests

from tests.helpers.emulator import Api, session

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def api(emulator):
    return Api(emulator)


def _ok(r, status=200):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["responseStatus"] == status
    return body


def _err(r, status, code=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["responseStatus"] == status
    assert isinstance(body["errors"], list) and body["errors"]
    if code is not None:
        assert body["errors"][0]["code"] == code
    return body


# ------------------------------------------------------------------- auth, envelopes
@pytest.mark.parametrize("key,token", [("bad", None), (None, "bad"), ("", "")])
def test_bad_credentials_give_401(emulator, key, token):
    s = session(emulator, key=key, token=token)
    r = s.get(emulator.url + "/resources/list", params={"resource": "/"})
    body = _err(r, 401)
    assert body == {"responseStatus": 401,
                    "errors": [{"code": "ERROR_INVALID_CREDENTIALS", "detail": "HTTP_UNAUTHORIZED"}]}
    assert r.headers["X-RateLimit-Limit"] == "120000"


def test_missing_headers_give_401(emulator):
    r = requests.get(emulator.url + "/account", timeout=5)
    _err(r, 401, "ERROR_INVALID_CREDENTIALS")


def test_unknown_endpoint_is_404_envelope(api):
    for r in (api.get("/nope"), api.post("/resources/compress", json={}),
              api.get("/webhooks"), api.s.get(api.emu.url.replace("/api/v2", "/api/v9/x"))):
        _err(r, 404)
        assert "X-RateLimit-Remaining" in r.headers


def test_account(api, emulator):
    emulator.other.write("/f.bin", b"x" * 1234)
    body = _ok(api.get("/account", params={"include": "masterUser"}))
    attrs = body["data"]["attributes"]
    assert attrs["accountName"] == "emulated"
    assert attrs["quota"]["transactionsLimit"] == 120000
    assert attrs["quota"]["diskUsed"] == 1234
    assert body["included"][0]["type"] == "user"


def test_resource_model(api):
    api.mkdir("/docs")
    body = _ok(api.upload("/docs/report.final.txt", b"hello"), 201)
    assert body["included"] == []
    res = body["data"]
    assert isinstance(res["id"], int) and res["type"] == "resource"
    a = res["attributes"]
    assert a["name"] == "report.final.txt" and a["path"] == "/docs/report.final.txt"
    assert a["type"] == "file" and a["extension"] == "txt" and a["size"] == 5
    assert a["fileCount"] is None and a["previewable"] is False and a["createdBy"] == "syncd"
    assert re.fullmatch(r"[0-9a-f]{32}", a["hash"])
    for k in ("uploadDate", "createdAt", "updatedAt", "accessedAt"):
        assert ISO_Z.match(a[k]), a[k]
    for k in ("createdTime", "updatedTime", "accessedTime"):
        assert isinstance(a[k], int)
    folder = _ok(api.info("/docs"))["data"]
    assert res["relationships"]["parentResource"]["data"] == {"id": folder["id"], "type": "resource"}
    fa = folder["attributes"]
    assert fa["type"] == "dir" and fa["fileCount"] == 1 and fa["size"] == 5 and fa["extension"] == ""


# ------------------------------------------------------------------- listing, paging
def test_paging_and_limits(api, emulator):
    for i in range(7):
        emulator.other.write(f"/p/f{i}.txt", b"x")
    emulator.other.mkdir("/p/sub")
    body = _ok(api.ls("/p", limit=3))
    assert body["returnedResults"] == 3 and body["totalResults"] == 8
    assert body["data"][0]["attributes"]["name"] == "sub"  # folders first, then names
    seen = []
    for offset in range(0, 8, 3):
        seen += [d["attributes"]["name"] for d in _ok(api.ls("/p", offset=offset, limit=3))["data"]]
    assert seen == ["sub"] + [f"f{i}.txt" for i in range(7)]
    assert len(_ok(api.ls("/p"))["data"]) == 8  # default limit 100
    _err(api.ls("/p", limit=101), 400, "ERROR_INVALID_PARAMETER")
    _err(api.ls("/p", offset=-1), 400)
    _err(api.ls("/p", limit=-5), 400)
    _err(api.ls("/p", limit="abc"), 400)
    assert _ok(api.ls("/p", type="bogus"))["data"] == []
    assert [d["attributes"]["name"] for d in _ok(api.ls("/p", type="dir"))["data"]] == ["sub"]
    names = [d["attributes"]["name"] for d in _ok(api.ls("/p", sort="-name"))["data"]]
    assert names == sorted(names, reverse=True)
    _err(api.ls("/p", sort="colour"), 400)
    _err(api.ls("/missing"), 404, "ERROR_RESOURCE_NOT_FOUND")
    _err(api.ls("/p/f1.txt"), 400)


def test_list_by_id(api, emulator):
    folder = emulator.other.mkdir("/q")
    emulator.other.write("/q/a", b"1")
    body = _ok(api.get(f"/resources/list/{folder['id']}"))
    assert [d["attributes"]["path"] for d in body["data"]] == ["/q/a"]
    _err(api.get(f"/resources/list/{folder['id']}", params={"limit": 1000}), 400)
    _err(api.get("/resources/list/999999"), 404)


def test_search_mode(api, emulator):
    for p in ("/s/Alpha.TXT", "/s/deep/er/alphabet.txt", "/s/beta.txt", "/other/alpha.txt"):
        emulator.other.write(p, b"z")
    body = _ok(api.ls("/s", name="alpha*"))
    assert sorted(d["attributes"]["path"] for d in body["data"]) == [
        "/s/Alpha.TXT", "/s/deep/er/alphabet.txt"]
    assert body["totalResults"] == 2
    assert [d["attributes"]["name"] for d in _ok(api.ls("/s", name="bet?.txt"))["data"]] == ["beta.txt"]
    everything = _ok(api.ls("/s", name="*", type="file"))["data"]  # type ignored with name
    assert sorted(d["attributes"]["path"] for d in everything) == [
        "/s/Alpha.TXT", "/s/beta.txt", "/s/deep", "/s/deep/er", "/s/deep/er/alphabet.txt"]
    root = _ok(api.ls("/", name="*"))
    assert "/" not in [d["attributes"]["path"] for d in root["data"]]
    assert root["totalResults"] == 8  # /s, 3 below it +1 file, /other and its file


# ------------------------------------------------------------------- identifiers
def test_identifiers(api, emulator):
    made = emulator.other.write("/id/x.txt", b"abc")
    rid, h = made["id"], made["attributes"]["hash"]
    for ident in ("/id/x.txt", "id/x.txt", f"id:{rid}", f"hash:{h}", "//id//x.txt/"):
        assert _ok(api.info(ident))["data"]["id"] == rid, ident
    assert _ok(api.get(f"/resources/{rid}"))["data"]["attributes"]["path"] == "/id/x.txt"
    _err(api.info("id:99999"), 404, "ERROR_RESOURCE_NOT_FOUND")
    _err(api.info("hash:nope"), 404)
    _err(api.get("/resources/99999"), 404)
    _err(api.info("/id/../x"), 400)
    assert _ok(api.info("/"))["data"]["attributes"]["type"] == "dir"


def test_paths_are_case_sensitive_and_unicode_exact(api, emulator):
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    emulator.other.write("/u/" + nfc, b"nfc")
    emulator.other.write("/u/" + nfd, b"nfd")
    emulator.other.write("/u/Readme", b"R")
    emulator.other.write("/u/readme", b"r")
    names = api.names("/u")
    assert sorted(names) == sorted([nfc, nfd, "Readme", "readme"])
    assert api.download("/u/" + nfd).content == b"nfd"
    assert api.download("/u/" + nfc).content == b"nfc"
    assert api.download("/u/README").status_code == 404


# ------------------------------------------------------------------- create folder
def test_create_folder_forms(api, emulator):
    body = _ok(api.mkdir("/x/y/z"), 201)
    assert body["data"]["attributes"]["path"] == "/x/y/z" and body["data"]["attributes"]["type"] == "dir"
    assert api.info("/x/y").status_code == 200
    parent = _ok(api.info("/x"))["data"]
    r = api.post("/resources", json={"name": "n1", "parentResource": f"id:{parent['id']}"})
    assert _ok(r, 201)["data"]["attributes"]["path"] == "/x/n1"
    r = api.post("/resources", json={"folderName": "legacy", "parentResource": "/x"})
    assert _ok(r, 201)["data"]["attributes"]["path"] == "/x/legacy"
    _err(api.mkdir("/x/y"), 400, "ERROR_INVALID_PARAMETER")
    emulator.other.write("/x/file", b"1")
    _err(api.mkdir("/x/file"), 400, "ERROR_INVALID_PARAMETER")
    _err(api.mkdir("/x/file/below"), 400)
    _err(api.post("/resources", json={"name": "a", "parentResource": "/nope"}), 404)
    _err(api.post("/resources", json={}), 400)
    _err(api.post("/resources", data=b"{not json", headers={"Content-Type": "application/json"}), 400)


# ------------------------------------------------------------------- move / copy / rename
def test_move_single_and_ids_stable(api, emulator):
    f = emulator.other.write("/m/a.txt", b"aa")
    emulator.other.mkdir("/dest")
    r = api.post("/resources/move", json={"resources": ["/m/a.txt"], "parentResource": "/dest"})
    body = _ok(r)
    assert body["data"]["id"] == f["id"] and body["data"]["attributes"]["path"] == "/dest/a.txt"
    assert body["data"]["attributes"]["hash"] == f["attributes"]["hash"]
    assert body["meta"] == {"path": "/m/a.txt", "destinationPath": "/dest"}
    assert api.info("/m/a.txt").status_code == 404
    # existing name at the destination -> 400; missing item -> plain 404
    emulator.other.write("/m/a.txt", b"new")
    _err(api.post("/resources/move", json={"resources": ["/m/a.txt"], "parentResource": "/dest"}),
         400, "ERROR_INVALID_PARAMETER")
    _err(api.post("/resources/move", json={"resources": ["/gone"], "parentResource": "/dest"}), 404)
    _err(api.post("/resources/move", json={"resources": ["/m"], "parentResource": "/m"}), 400)
    _err(api.post("/resources/move", json={"resources": ["/m/a.txt"]}), 400)
    _err(api.post("/resources/copy", json={"parentResource": "/dest"}), 400)


def test_move_folder_moves_subtree_and_sizes(api, emulator):
    emulator.other.write("/src/d/one", b"1")
    emulator.other.write("/src/d/sub/two", b"22")
    emulator.other.mkdir("/dst")
    inner = emulator.other.info("/src/d/sub/two")
    _ok(api.post("/resources/move", json={"resources": ["/src/d"], "parentResource": "/dst"}))
    assert emulator.other.info("/dst/d/sub/two")["id"] == inner["id"]
    assert emulator.other.read("/dst/d/sub/two") == b"22"
    assert emulator.other.info("/src")["attributes"]["size"] == 0
    dst = emulator.other.info("/dst")["attributes"]
    assert dst["size"] == 3 and dst["fileCount"] == 2


def test_move_copy_many_give_207(api, emulator):
    emulator.other.write("/mm/a", b"1")
    emulator.other.write("/mm/b", b"2")
    emulator.other.mkdir("/t")
    r = api.post("/resources/move", json={"resources": ["/mm/a", "/mm/missing", "/mm/b"],
                                          "parentResource": "/t"})
    assert r.status_code == 207
    res = r.json()["responses"]
    assert [x["responseStatus"] for x in res] == [200, 404, 200]
    assert res[0]["data"]["attributes"]["path"] == "/t/a"
    assert res[0]["meta"] == {"path": "/mm/a", "destinationPath": "/t"}
    assert res[1]["errors"][0]["code"] is None and res[1]["errors"][0]["detail"] is None
    assert res[1]["errors"][0]["meta"]["path"] == "/mm/missing"
    r = api.post("/resources/copy", json={"resources": ["/t/a", "/t/b"], "parentResource": "/mm"})
    assert r.status_code == 207 and [x["responseStatus"] for x in r.json()["responses"]] == [200, 200]


def test_copy_gives_new_ids_and_same_content(api, emulator):
    orig = emulator.other.write("/c/d/file.bin", b"payload")
    emulator.other.mkdir("/c2")
    body = _ok(api.post("/resources/copy", json={"resources": ["/c/d"], "parentResource": "/c2"}))
    assert body["data"]["attributes"]["path"] == "/c2/d"
    copied = emulator.other.info("/c2/d/file.bin")
    assert copied["id"] != orig["id"] and copied["attributes"]["hash"] != orig["attributes"]["hash"]
    assert api.download("/c2/d/file.bin").content == b"payload"
    assert emulator.other.read("/c/d/file.bin") == b"payload"
    _err(api.post("/resources/copy", json={"resources": ["/c/d"], "parentResource": "/c2"}), 400)
    _err(api.post("/resources/copy", json={"resources": ["/c"], "parentResource": "/c/d"}), 400)


def test_rename(api, emulator):
    f = emulator.other.write("/r/old name.txt", b"o")
    emulator.other.write("/r/taken", b"t")
    body = _ok(api.patch(f"/resources/{f['id']}", json={"name": "new & +%.txt"}))
    assert body["data"]["id"] == f["id"]
    assert body["data"]["attributes"]["path"] == "/r/new & +%.txt"
    assert body["data"]["attributes"]["hash"] == f["attributes"]["hash"]
    _err(api.patch(f"/resources/{f['id']}", json={"name": "taken"}), 400, "ERROR_INVALID_PARAMETER")
    _err(api.patch(f"/resources/{f['id']}", json={"name": "a/b"}), 400)
    _err(api.patch(f"/resources/{f['id']}", json={}), 400)
    _err(api.patch("/resources/424242", json={"name": "x"}), 404)
    folder = emulator.other.mkdir("/r/dir")
    emulator.other.write("/r/dir/inside", b"i")
    _ok(api.patch(f"/resources/{folder['id']}", json={"name": "Dir2"}))
    assert emulator.other.read("/r/Dir2/inside") == b"i"


# ------------------------------------------------------------------- delete
def test_delete_forms(api, emulator):
    a = emulator.other.write("/d/a", b"1")
    emulator.other.write("/d/b", b"2")
    emulator.other.write("/d/sub/c", b"3")
    assert _ok(api.delete(f"/resources/{a['id']}")) == {"responseStatus": 200, "data": []}
    _err(api.delete(f"/resources/{a['id']}"), 404)
    assert _ok(api.delete("/resources", json={"resources": ["/d/b"]})) == {"responseStatus": 200,
                                                                         "data": []}
    _err(api.delete("/resources", json={"resources": ["/d/b"]}), 404)  # plain, not 207
    sub = emulator.other.info("/d/sub")
    r = api.delete("/resources", json={"resources": ["/d/sub", "/d/nope"]})
    assert r.status_code == 207
    res = r.json()["responses"]
    assert res[0] == {"responseStatus": 200,
                      "data": {"id": sub["id"], "type": "resource", "meta": {"path": "/d/sub"}}}
    assert res[1]["responseStatus"] == 404 and res[1]["errors"][0]["meta"] == {"path": "/d/nope"}
    assert emulator.other.info("/d/sub/c") is None
    assert emulator.other.info("/d")["attributes"]["size"] == 0
    _err(api.delete("/resources", json={"resources": []}), 400)
    _err(api.delete("/resources", json={"resources": ["/"]}), 400)


# ------------------------------------------------------------------- files.com, persistence
def test_files_com_mode(make_emulator):
    emu = make_emulator(files_com=True)
    api = Api(emu)
    emu.other.write("/f/x", b"1")
    _err(api.activity(), 404)
    _err(api.get("/webhooks"), 404)
    body = _ok(api.ls("/f", include="parentResource"))
    assert body["included"] == []
    rel = body["data"][0]["relationships"]["parentResource"]["data"]
    assert rel["id"] != emu.other.info("/f")["id"]
    assert _ok(api.info("/f/x"))["included"] == []


def test_persistence_across_restart(make_emulator, tmp_path):
    root = tmp_path / "persist"
    emu = make_emulator(root=root)
    api = Api(emu)
    made = _ok(api.upload("/keep/ü ñ.bin", b"\x00\x01data"), 201)["data"]
    folder = _ok(api.info("/keep"))["data"]
    emu.stop()
    emu2 = make_emulator(root=root)
    api2 = Api(emu2)
    again = _ok(api2.info("/keep/ü ñ.bin"))["data"]
    assert again["id"] == made["id"] and again["attributes"]["hash"] == made["attributes"]["hash"]
    assert _ok(api2.info("/keep"))["data"]["id"] == folder["id"]
    assert api2.download(f"id:{made['id']}").content == b"\x00\x01data"
    new = _ok(api2.upload("/keep/next", b"n"), 201)["data"]
    assert new["id"] > made["id"]
    assert [e["attributes"]["operation"] for e in _ok(api2.activity(sort="date"))["data"]][:2] == [
        "MKD", "STOR"]


def test_account_notice_settings(api):
    r = api.patch("/account", json={"quota": {"noticeEnabled": True, "noticeThreshold": 80}})
    q = _ok(r)["data"]["attributes"]["quota"]
    assert (q["noticeEnabled"], q["noticeThreshold"]) == (True, 80)
    assert _ok(api.get("/account"))["data"]["attributes"]["quota"]["noticeThreshold"] == 80
    _err(api.patch("/account", json={"quota": {"transactionsNoticeThreshold": 69}}), 400,
         "ERROR_INVALID_PARAMETER")


def test_invalid_names_are_400_not_500(api, emulator):
    folder = emulator.other.mkdir("/bad")
    body = '{"name": "x\\ud800y", "parentResource": "/bad"}'
    r = api.post("/resources", data=body, headers={"Content-Type": "application/json"})
    _err(r, 400, "ERROR_INVALID_PARAMETER")
    _err(api.post("/resources", json={"path": 5}), 400)
    _err(api.patch(f"/resources/{folder['id']}", json={"name": ".."}), 400)
    _err(api.post("/resources", json={"path": "/a\x00b"}), 400)
    assert emulator.other.tree() == {"/bad": emulator.other.info("/bad")}
