"""Emulator: outgoing ExaVault webhooks (payloads, signature, delivery, retries, CLI)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.helpers.emulator import Api

from syncd.emulators.exavault import Emulator
from syncd.emulators.exavault.cli import main
from syncd.emulators.exavault.webhooks import signature, v1_body

TOKEN = "efb7e0030e6cef1b45d3d74a67881a2b"
V1_KEYS = ["accountname", "username", "operation", "protocol", "path", "sourcepath", "attempt"]


# ------------------------------------------------------------------ a real listener
class Listener:
    """An HTTP server on 127.0.0.1 recording every POST; answers ``statuses`` in turn, then 200."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.received: list[tuple[dict, bytes]] = []
        self.cond = threading.Condition()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with listener.cond:
                    listener.received.append((dict(self.headers.items()), body))
                    status = listener.statuses.pop(0) if listener.statuses else 200
                    listener.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/exavault?x=1"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait(self, n: int, timeout: float = 5.0) -> list[tuple[dict, bytes]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.received) >= n, timeout), self.received
            return list(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    made = []

    def make(statuses=()):
        lst = Listener(statuses)
        made.append(lst)
        return lst

    yield make
    for lst in made:
        lst.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def header(headers: dict, name: str) -> str | None:
    return {k.lower(): v for k, v in headers.items()}.get(name.lower())


def v1_events(received) -> list[tuple[str, str, str]]:
    out = []
    for headers, body in received:
        assert header(headers, "X-Exavault-Signature") == hashlib.md5(
            TOKEN.encode() + body).hexdigest()
        assert header(headers, "Content-Type") == "application/json"
        doc = json.loads(body)
        assert list(doc) == V1_KEYS
        assert (doc["accountname"], doc["protocol"], doc["attempt"]) == ("acme", "web", 1)
        out.append((doc["operation"], doc["path"], doc["sourcepath"]))
    return out


# ------------------------------------------------------------------ pure functions
@pytest.mark.parametrize("operation, path, expected", [
    ("Connect", "", "6e13eb14edfd0bd54feff96be131e155"),
    ("Disconnect", "", "186e8c73793666c8b5cfa0b55eee691d"),
    ("Upload", "/7df2beb1c50a8a066493ee47669a4319.jpg", "e86119ce1b679c7b6010d9ac9a843a36"),
])
def test_digest_worked_examples(operation, path, expected):
    body = v1_body("exampleaccount", "exampleaccount", operation, path, "", 1)
    escaped = path.replace("/", "\\/")
    printed = ('{"accountname":"exampleaccount","username":"exampleaccount",'
               f'"operation":"{operation}","protocol":"web","path":"{escaped}",'
               '"sourcepath":"","attempt":1}')
    assert body == printed.encode()
    assert signature(TOKEN, body) == expected
    assert signature(TOKEN.encode(), body) == expected


def test_v1_body_escapes_like_php_and_round_trips():
    body = v1_body("a", "u", "Move", "/dir/ü \"q\" \\/x", "/src/é", 3)
    assert b'", "' not in body and b'": ' not in body and b", " not in body  # compact
    assert b"\\/dir\\/" in body and b"\\u00fc" in body and b"/" not in body.replace(b"\\/", b"")
    doc = json.loads(body)
    assert doc == {"accountname": "a", "username": "u", "operation": "Move", "protocol": "web",
                   "path": "/dir/ü \"q\" \\/x", "sourcepath": "/src/é", "attempt": 3}


# ------------------------------------------------------------------ end to end, v1
def test_v1_webhooks_for_each_change(make_emulator, listener):
    lst = listener()
    emu = make_emulator(webhook_url=lst.url, webhook_token=TOKEN, account_name="acme")
    api = Api(emu)
    r = api.upload("/d/a.txt", b"hello")
    assert r.status_code == 201, r.text
    fid = r.json()["data"]["id"]
    assert api.mkdir("/e").status_code == 201
    assert api.patch(f"/resources/{fid}", json={"name": "b.txt"}).status_code == 200
    assert api.post("/resources/move", json={"resources": ["/d/b.txt"],
                                             "parentResource": "/e"}).status_code == 200
    assert api.post("/resources/copy", json={"resources": ["/e/b.txt"],
                                             "parentResource": "/d"}).status_code == 200
    assert api.download("/e/b.txt").content == b"hello"  # no webhook for downloads by default
    assert api.mkdir("/e").status_code == 400             # failed changes send nothing
    assert api.delete("/resources", json={"resources": ["/e"]}).status_code == 200
    assert emu.wait_for_webhooks(5)
    received = lst.wait(7)
    assert v1_events(received) == [
        ("Create Folder", "/d", ""),
        ("Upload", "/d/a.txt", ""),
        ("Create Folder", "/e", ""),
        ("Rename", "/d/b.txt", "/d/a.txt"),
        ("Move", "/e/b.txt", "/d/b.txt"),
        ("Copy", "/d/b.txt", "/e/b.txt"),
        ("Delete", "/e", ""),
    ]
    assert all(json.loads(b)["username"] == emu.username for _, b in received)
    deliveries = emu.webhook_deliveries
    assert [(d["event"], d["path"], d["attempt"], d["status"]) for d in deliveries] == [
        ("resources.createFolder", "/d", 1, 200), ("resources.upload", "/d/a.txt", 1, 200),
        ("resources.createFolder", "/e", 1, 200), ("resources.rename", "/d/b.txt", 1, 200),
        ("resources.move", "/e/b.txt", 1, 200), ("resources.copy", "/d/b.txt", 1, 200),
        ("resources.delete", "/e", 1, 200)]
    assert [d["body"] for d in deliveries] == [b for _, b in received]


def test_other_user_changes_and_download_opt_in(make_emulator, listener):
    lst = listener()
    emu = make_emulator(webhook_url=lst.url, webhook_token=TOKEN, account_name="acme",
                        webhook_events={"download", "resources.upload"})
    emu.other.write("/x.bin", b"12345")
    emu.other.mkdir("/skipped")  # createFolder not selected
    assert Api(emu).download("/x.bin").content == b"12345"
    assert emu.wait_for_webhooks(5)
    received = lst.wait(2)
    time.sleep(0.05)
    assert len(lst.received) == 2
    assert v1_events(received) == [("Upload", "/x.bin", ""), ("Download", "/x.bin", "")]
    assert [json.loads(b)["username"] for _, b in received] == ["other", emu.username]


# ------------------------------------------------------------------ v2
def test_v2_payload(make_emulator, listener):
    lst = listener()
    emu = make_emulator(webhook_url=lst.url, webhook_token=TOKEN, webhook_format="v2",
                        account_name="acme")
    api = Api(emu)
    assert api.mkdir("/dst").status_code == 201
    up = api.upload("/f.txt", b"abc").json()["data"]
    moved = api.post("/resources/move", json={"resources": ["/f.txt"],
                                              "parentResource": "/dst"}).json()["data"]
    assert api.delete(f"/resources/{up['id']}").status_code == 200
    assert emu.wait_for_webhooks(5)
    received = lst.wait(4)
    docs = []
    for headers, body in received:
        assert header(headers, "X-Exavault-Signature") == signature(TOKEN, body)
        assert b"\\/" in body
        docs.append(json.loads(body))
    assert [d["event"] for d in docs] == ["resources.createFolder", "resources.upload",
                                          "resources.move", "resources.delete"]
    for d in docs:
        assert list(d) == ["accountName", "attemptId", "event", "eventTimestamp", "ipAddress",
                           "protocol", "username", "eventData"]
        assert (d["accountName"], d["protocol"], d["username"], d["ipAddress"]) == (
            "acme", "web", emu.username, "127.0.0.1")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["eventTimestamp"])
        assert d["eventData"]["share"] == [] and d["eventData"]["formDetails"] == []
        assert d["eventData"]["transferStatus"] == "success"
        assert len(d["eventData"]["resources"]) == 1
    assert len({d["attemptId"] for d in docs}) == 4
    folder, upload, move, delete = (d["eventData"]["resources"][0] for d in docs)
    assert folder["type"] == "dir" and folder["path"] == "/dst" and folder["fileCount"] == 0
    assert "sourcePath" not in folder and "sourcePath" not in upload
    attrs = up["attributes"]
    assert upload == {"id": up["id"], "hash": attrs["hash"], "name": "f.txt", "path": "/f.txt",
                      "type": "file", "size": 3, "createdBy": emu.username,
                      "createdAt": attrs["createdAt"], "updatedAt": attrs["updatedAt"],
                      "uploadDate": attrs["uploadDate"], "accessedAt": attrs["accessedAt"],
                      "fileCount": None, "previewable": False}
    assert move["id"] == up["id"] and move["path"] == moved["attributes"]["path"] == "/dst/f.txt"
    assert move["sourcePath"] == "/f.txt"
    assert delete["id"] == up["id"] and delete["path"] == "/dst/f.txt"


# ------------------------------------------------------------------ retries and failures
def test_retries_until_2xx(make_emulator, listener):
    lst = listener(statuses=[500, 503])
    emu = make_emulator(webhook_url=lst.url, webhook_token=TOKEN, account_name="acme",
                        webhook_retry_delays=(0.01, 0.02, 0.03))
    assert Api(emu).mkdir("/a").status_code == 201
    assert emu.wait_for_webhooks(5)
    received = lst.wait(3)
    assert [json.loads(b)["attempt"] for _, b in received] == [1, 2, 3]
    for headers, body in received:
        assert header(headers, "X-Exavault-Signature") == signature(TOKEN, body)
    assert [(d["attempt"], d["status"]) for d in emu.webhook_deliveries] == [
        (1, 500), (2, 503), (3, 200)]


def test_gives_up_after_eight_attempts_and_keeps_order(make_emulator, listener):
    lst = listener(statuses=[500] * 20)
    emu = make_emulator(webhook_url=lst.url, webhook_token=TOKEN, account_name="acme",
                        webhook_retry_delays=(0.0,) * 10)
    emu.other.mkdir("/a")
    emu.other.mkdir("/b")
    assert emu.wait_for_webhooks(5)
    got = [(d["path"], d["attempt"], d["status"]) for d in emu.webhook_deliveries]
    assert got == [("/a", n, 500) for n in range(1, 9)] + [("/b", n, 500) for n in range(1, 9)]
    assert len(lst.received) == 16


def test_listener_down_does_not_slow_changes(make_emulator):
    port = free_port()  # nothing listens there
    emu = make_emulator(webhook_url=f"http://localhost:{port}/", webhook_token=TOKEN)
    api = Api(emu)
    t0 = time.monotonic()
    for i in range(5):
        assert api.upload(f"/f{i}.txt", b"x" * 10).status_code == 201
    assert api.delete("/resources", json={"resources": ["/f0.txt"]}).status_code == 200
    assert time.monotonic() - t0 < 2.0
    assert sorted(api.names("/")) == ["f1.txt", "f2.txt", "f3.txt", "f4.txt"]
    deadline = time.monotonic() + 3
    while not emu.webhook_deliveries and time.monotonic() < deadline:
        time.sleep(0.01)
    first = emu.webhook_deliveries[0]
    assert (first["path"], first["attempt"], first["status"]) == ("/f0.txt", 1, None)
    assert first["error"]
    assert not emu.wait_for_webhooks(0.05)  # now waiting 1 s before the retry
    t0 = time.monotonic()
    emu.stop()
    assert time.monotonic() - t0 < 1.5
    assert emu.wait_for_webhooks(0)


def test_stop_is_prompt_when_listener_never_answers(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (kernel backlog) but never answers
    try:
        emu = Emulator(tmp_path, webhook_url=f"http://127.0.0.1:{silent.getsockname()[1]}/h",
                       webhook_token=TOKEN).start()
        t0 = time.monotonic()
        emu.other.mkdir("/a")
        assert time.monotonic() - t0 < 0.5
        time.sleep(0.2)  # the POST is in flight, waiting for an answer
        t0 = time.monotonic()
        emu.stop()
        assert time.monotonic() - t0 < 1.5
        assert [(d["path"], d["status"]) for d in emu.webhook_deliveries] == [("/a", None)]
    finally:
        silent.close()


def test_concurrent_changes_are_sent_in_commit_order(make_emulator, listener):
    lst = listener()
    emu = make_emulator(webhook_url=lst.url, webhook_token=TOKEN)

    def work(n):
        for i in range(15):
            emu.other.mkdir(f"/t{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert emu.wait_for_webhooks(10)
    logged = [e["attributes"]["fileName"] for e in
              Api(emu).activity(sort="id", limit=100).json()["data"]]
    assert len(logged) == 60
    assert [d["path"] for d in emu.webhook_deliveries] == logged
    assert [json.loads(b)["path"] for _, b in lst.wait(60)] == logged


def test_rolled_back_change_sends_nothing(make_emulator, listener, tmp_path):
    lst = listener()
    emu = make_emulator(webhook_url=lst.url, webhook_token=TOKEN)
    # publish creates the parent folder (logged as MKD), then fails on the missing staged
    # file: the whole transaction, its activity entries and its webhooks are dropped.
    with pytest.raises(FileNotFoundError):
        emu.store.publish("/p/x.txt", tmp_path / "missing", 1, True, "syncd", "127.0.0.1")
    assert emu.other.info("/p") is None
    emu.other.mkdir("/after")
    assert emu.wait_for_webhooks(5)
    assert [d["path"] for d in emu.webhook_deliveries] == ["/after"]
    assert [json.loads(b)["path"] for _, b in lst.wait(1)] == ["/after"]


def test_no_webhooks_without_url(make_emulator):
    emu = make_emulator()
    emu.other.mkdir("/a")
    assert emu.wait_for_webhooks(0) and emu.webhook_deliveries == []


# ------------------------------------------------------------------ validation and CLI
@pytest.mark.parametrize("kwargs, match", [
    ({"webhook_url": "http://127.0.0.1:9/h"}, "token"),
    ({"webhook_url": "http://192.168.1.5/h", "webhook_token": "t"}, "loopback"),
    ({"webhook_url": "http://example.com/h", "webhook_token": "t"}, "loopback"),
    ({"webhook_url": "https://127.0.0.1/h", "webhook_token": "t"}, "http://"),
    ({"webhook_url": "http://127.0.0.1:99999/h", "webhook_token": "t"}, "invalid"),
    ({"webhook_url": "http://127.0.0.1/h", "webhook_token": "t", "webhook_format": "v3"}, "v1"),
    ({"webhook_events": {"upload", "explode"}}, "explode"),
    ({"webhook_retry_delays": (1, -1)}, ">= 0"),
])
def test_constructor_validation(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Emulator(tmp_path, **kwargs)


@pytest.mark.parametrize("extra, match", [
    (["--webhook-url", "http://10.0.0.1:8080/h", "--webhook-token", "t"], "loopback"),
    (["--webhook-url", "http://example.com/h", "--webhook-token", "t"], "loopback"),
    (["--webhook-url", "http://127.0.0.1:8080/h"], "--webhook-token"),
    (["--webhook-url", "ftp://127.0.0.1/h", "--webhook-token", "t"], "http://"),
    (["--webhook-url", "http://127.0.0.1/h", "--webhook-token", "t", "--webhook-format", "v3"],
     "v3"),
])
def test_cli_webhook_usage_errors(tmp_path, capsys, extra, match):
    assert main(["--root", str(tmp_path), *extra]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("syncd emulator: ") and match in err


def test_cli_sends_webhooks(tmp_path, listener):
    lst = listener()
    proc = subprocess.Popen([sys.executable, "-m", "syncd.emulators.exavault", "--root", str(tmp_path),
                             "--webhook-url", lst.url, "--webhook-token", TOKEN,
                             "--webhook-format", "v2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"listening on (\S+)", line).group(1)
        api = Api(type("E", (), {"url": url, "api_key": "emulator-key",
                                 "access_token": "emulator-token"})())
        assert api.mkdir("/via-cli").status_code == 201
        headers, body = lst.wait(1)[0]
        assert header(headers, "X-Exavault-Signature") == signature(TOKEN, body)
        doc = json.loads(body)
        assert doc["event"] == "resources.createFolder"
        assert doc["eventData"]["resources"][0]["path"] == "/via-cli"
    finally:
        proc.terminate()
        assert proc.wait(5) == 0
