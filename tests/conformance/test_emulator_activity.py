"""Emulator: the session activity log and its filters."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers.emulator import Api

CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


@pytest.fixture
def api(emulator):
    return Api(emulator)


def _entries(r):
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["responseStatus"] == 200 and body["totalResults"] == 0
    assert body["returnedResults"] == len(body["data"])
    return [e["attributes"] | {"id": e["id"], "type": e["type"]} for e in body["data"]]


def test_every_operation_is_logged(api, emulator):
    api.mkdir("/a")
    api.upload("/a/f.txt", b"12345")
    api.download("/a/f.txt")
    fid = api.info("/a/f.txt").json()["data"]["id"]
    api.patch(f"/resources/{fid}", json={"name": "g.txt"})
    api.mkdir("/b")
    api.post("/resources/move", json={"resources": ["/a/g.txt"], "parentResource": "/b"})
    api.post("/resources/copy", json={"resources": ["/b/g.txt"], "parentResource": "/a"})
    api.delete("/resources", json={"resources": ["/a"]})
    got = [(e["operation"], e["fileName"], e["fileSource"]) for e in _entries(api.activity(sort="date"))]
    assert got == [("MKD", "/a", ""), ("STOR", "/a/f.txt", ""), ("RETR", "/a/f.txt", ""),
                   ("RNTO", "/a/g.txt", "/a/f.txt"), ("MKD", "/b", ""),
                   ("MOVE", "/b/g.txt", "/a/g.txt"), ("COPY", "/a/g.txt", "/b/g.txt"),
                   ("DELE", "/a", "")]
    e = _entries(api.activity(type="STOR"))[0]
    assert e["type"] == "sessionActivity" and isinstance(e["id"], int)
    assert e["username"] == "syncd" and e["ipAddress"] == "127.0.0.1" and e["protocol"] == "web"
    assert e["status"] == "-" and e["bytesTransferred"] == 5 and isinstance(e["duration"], int)
    assert CREATED.match(e["created"]) and e["sessionId"]
    newest_first = _entries(api.activity())
    assert newest_first[0]["operation"] == "DELE"  # default sort is -date


def test_upload_with_parents_logs_mkd_and_real_name(api, emulator):
    api.upload("/p/q/x.txt", b"1")
    api.upload("/p/q/x.txt", b"2")
    got = [(e["operation"], e["fileName"]) for e in _entries(api.activity(sort="date"))]
    assert got == [("MKD", "/p"), ("MKD", "/p/q"), ("STOR", "/p/q/x.txt"),
                   ("STOR", "/p/q/x (1).txt")]


def test_filters(api, emulator):
    emulator.other.write("/docs/one.txt", b"1")
    emulator.advance_clock(3600)
    t_mid = datetime.fromtimestamp(emulator.now(), timezone.utc).replace(microsecond=0)
    emulator.advance_clock(5)
    api.upload("/docs/two.txt", b"22")
    api.delete("/resources", json={"resources": ["/docs/one.txt"]})
    emulator.other.write("/elsewhere/x", b"x")

    for t in ("Delete", "delete", "DELE", "dele"):
        assert [e["fileName"] for e in _entries(api.activity(type=t))] == ["/docs/one.txt"], t
    assert {e["username"] for e in _entries(api.activity(username="other"))} == {"other"}
    assert [e["operation"] for e in _entries(api.activity(username="syncd", sort="date"))] == [
        "STOR", "DELE"]
    assert {e["fileName"] for e in _entries(api.activity(path="/docs"))} == {
        "/docs", "/docs/one.txt", "/docs/two.txt"}
    assert _entries(api.activity(type="PASS")) == []
    for start in (t_mid.isoformat(), t_mid.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  t_mid.strftime("%Y-%m-%dT%H:%M:%S"), t_mid.strftime("%Y-%m-%d %H:%M:%S"),
                  t_mid.astimezone(timezone(timedelta(hours=-7))).isoformat()):
        got = [e["fileName"] for e in _entries(api.activity(startDate=start, sort="date"))]
        assert got == ["/docs/two.txt", "/docs/one.txt", "/elsewhere", "/elsewhere/x"], start
    early = [e["fileName"] for e in _entries(api.activity(endDate=t_mid.isoformat(), sort="date"))]
    assert early == ["/docs", "/docs/one.txt"]
    page1 = _entries(api.activity(sort="date", limit=2))
    page2 = _entries(api.activity(sort="date", limit=2, offset=2))
    assert len(page1) == 2 and len(page2) == 2 and page1[-1]["id"] < page2[0]["id"]
    by_user = [e["username"] for e in _entries(api.activity(sort="username,date"))]
    assert by_user == sorted(by_user)


@pytest.mark.parametrize("params", [{"offset": -1}, {"limit": -1}, {"sort": "colour"},
                                    {"startDate": "yesterday"}, {"limit": "x"}])
def test_bad_activity_parameters_give_400(api, params):
    r = api.activity(**params)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "ERROR_INVALID_PARAMETER"


def test_webhook_log_is_empty_but_present(api, make_emulator):
    r = api.get("/activity/webhooks", params={"limit": 10})
    assert r.status_code == 200
    assert r.json() == {"responseStatus": 200, "returnedResults": 0, "totalResults": 0, "data": []}
    assert api.get("/activity/webhooks", params={"offset": -1}).status_code == 400
    fc = Api(make_emulator(files_com=True))
    assert fc.get("/activity/webhooks").status_code == 404
    assert fc.activity().status_code == 404
