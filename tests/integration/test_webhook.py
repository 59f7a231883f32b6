"""The webhook receiver: a real listener on a loopback port (the signature vectors and
payload parsing, which need no server: tests/unit/test_webhook_payloads.py)."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time

import pytest
import requests

from syncd.remote.exavault.webhook import FORMAT, SIGNATURE_HEADER, signature
from syncd.remote.webhook import WebhookEvent, WebhookServer
from tests.helpers.webhook import CONNECT, TOKEN, UPLOAD, UPLOAD_EVENT, v1, v2


# ----------------------------------------------------------------------- server
class Recorder:
    def __init__(self):
        self.calls: list[list[WebhookEvent]] = []
        self.fail = False
        self.lock = threading.Lock()

    def __call__(self, events):
        with self.lock:
            self.calls.append(events)
        if self.fail:
            raise RuntimeError("handler broke")


@pytest.fixture
def make_server():
    servers: list[WebhookServer] = []

    def make(**options) -> tuple[WebhookServer, Recorder]:
        recorder = Recorder()
        server = WebhookServer("127.0.0.1", options.pop("port", 0), TOKEN, recorder, push=FORMAT,
                               **options).start()
        servers.append(server)
        return server, recorder

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def served(make_server):
    return make_server(path="/hooks/exavault", max_body=4096, timeout=2.0)


def post(server, body, sig="auto", path=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if sig == "auto":
        sig = signature(TOKEN, body)
    if sig is not None:
        headers[SIGNATURE_HEADER] = sig
    url = server.url if path is None else server.url.rsplit("/hooks/exavault", 1)[0] + path
    return requests.post(url, data=body, headers=headers, timeout=5, **kwargs)


def raw_request(server, data: bytes, *, read_timeout=5.0, close_write=False) -> bytes:
    """Send raw bytes and return everything the server answers before closing."""
    with socket.create_connection(server.address, timeout=read_timeout) as sock:
        sock.sendall(data)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def test_valid_request_is_delivered(served):
    server, rec = served
    resp = post(server, UPLOAD)
    assert resp.status_code == 200
    assert resp.json() == {"ok": True, "events": 1}
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Server"] == "syncd-webhook"
    assert rec.calls == [[UPLOAD_EVENT]]


def test_v2_request_and_query_string_and_uppercase_signature(served):
    server, rec = served
    body = v2("resources.move", {"path": "/n/a", "sourcePath": "/o/a"}, {"path": "/n/b"})
    resp = post(server, body, sig=signature(TOKEN, body).upper(),
                path="/hooks/exavault?source=exavault")
    assert resp.status_code == 200
    assert rec.calls == [[WebhookEvent("move", "/n/a", "/o/a", "acme"),
                          WebhookEvent("move", "/n/b", account="acme")]]


def test_event_that_changes_nothing_is_still_200(served):
    server, rec = served
    assert post(server, CONNECT).status_code == 200
    assert rec.calls == [[WebhookEvent("other", "", account="exampleaccount")]]


@pytest.mark.parametrize("sig", [None, "", "e86119ce1b679c7b6010d9ac9a843a37", "garbage",
                                 signature(TOKEN[:-1], UPLOAD)])
def test_bad_signature_is_403_and_not_delivered(served, sig):
    server, rec = served
    resp = post(server, UPLOAD, sig=sig)
    assert resp.status_code == 403
    assert "error" in resp.json()
    assert rec.calls == []


def test_body_is_hashed_as_received(served):
    server, rec = served
    reserialised = json.dumps(json.loads(UPLOAD), separators=(",", ":")).encode()
    assert post(server, reserialised, sig=signature(TOKEN, UPLOAD)).status_code == 403
    assert rec.calls == []


def test_wrong_path_is_404(served):
    server, rec = served
    assert post(server, UPLOAD, path="/").status_code == 404
    assert post(server, UPLOAD, path="/hooks/exavault/extra").status_code == 404
    assert rec.calls == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"])
def test_other_methods_are_405(served, method):
    server, rec = served
    resp = requests.request(method, server.url, data=UPLOAD,
                            headers={SIGNATURE_HEADER: signature(TOKEN, UPLOAD)}, timeout=5)
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "POST"
    assert rec.calls == []


def test_oversize_body_is_413(served):
    server, rec = served
    body = b'{"operation":"Upload","path":"/' + b"a" * 5000 + b'"}'
    assert post(server, body).status_code == 413
    assert rec.calls == []


def test_oversize_answer_reaches_a_client_still_sending(served):
    """The unread body is discarded before closing, so a plain http.client sender (as
    ExaVault's would be) reads the 413 instead of a connection reset."""
    server, rec = served
    for _ in range(3):
        conn = http.client.HTTPConnection(*server.address, timeout=5)
        try:
            conn.request("POST", "/hooks/exavault", body=b"x" * (512 * 1024))
            assert conn.getresponse().status == 413
        finally:
            conn.close()
    assert rec.calls == []


def test_oversize_is_refused_without_reading_the_body(served):
    server, rec = served
    started = time.monotonic()
    answer = raw_request(server, b"POST /hooks/exavault HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: 1000000000\r\n\r\n{", read_timeout=3)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert time.monotonic() - started < 1.5
    assert rec.calls == []


def test_missing_content_length_is_411(served):
    server, rec = served
    answer = raw_request(server, b"POST /hooks/exavault HTTP/1.1\r\nHost: x\r\n"
                                 b"X-Exavault-Signature: " + signature(TOKEN, b"").encode()
                                 + b"\r\n\r\n", close_write=True)
    assert answer.startswith(b"HTTP/1.1 411 ")
    chunked = raw_request(server, b"POST /hooks/exavault HTTP/1.1\r\nHost: x\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", close_write=True)
    assert chunked.startswith(b"HTTP/1.1 411 ")
    assert rec.calls == []


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1e3", b"+5"])
def test_bad_content_length_is_400(served, length):
    server, rec = served
    answer = raw_request(server, b"POST /hooks/exavault HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: " + length + b"\r\n\r\n", close_write=True)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert rec.calls == []


def signed_raw(target: bytes, body: bytes = UPLOAD) -> bytes:
    return (b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + SIGNATURE_HEADER.encode() + b": "
            + signature(TOKEN, body).encode() + b"\r\n\r\n" + body)


def test_request_targets(served):
    server, rec = served
    assert raw_request(server, signed_raw(b"http://x/hooks/exavault?a=1")).startswith(
        b"HTTP/1.1 200 ")
    for target in (b"/hooks", b"http://[x/hooks/exavault", b"*", b"hooks/exavault"):
        assert raw_request(server, signed_raw(target)).startswith(b"HTTP/1.1 404 "), target
    assert rec.calls == [[UPLOAD_EVENT]]
    answer = raw_request(server, b"POST /hooks/exavault BOGUS/9\r\n\r\n",
                         close_write=True)
    assert answer.startswith(b"HTTP/1.1 400 ") and answer.endswith(b"}")
    assert raw_request(server, b"GET /\r\n", close_write=True).startswith(b"HTTP/1.1 405 ")  # HTTP/0.9
    assert rec.calls == [[UPLOAD_EVENT]]


def test_garbage_signed_body_is_400(served):
    server, rec = served
    for body in (b"not json at all", b"[1,2]", json.dumps({"operation": "Upload"}).encode()):
        resp = post(server, body)
        assert resp.status_code == 400
        assert resp.json()["error"]
    assert rec.calls == []


def test_short_body_is_400(served):
    server, rec = served
    head = (b"POST /hooks/exavault HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
            + SIGNATURE_HEADER.encode() + b": " + signature(TOKEN, UPLOAD).encode() + b"\r\n\r\n")
    answer = raw_request(server, head + UPLOAD, close_write=True)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert rec.calls == []


def test_slow_body_is_408(make_server):
    server, rec = make_server(timeout=0.3)
    started = time.monotonic()
    answer = raw_request(server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 2
    assert rec.calls == []


def test_trickling_client_is_cut_off(make_server):
    """A client that keeps sending a byte now and then must not hold a thread forever."""
    server, rec = make_server(timeout=0.4)
    started = time.monotonic()
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\n")
        with pytest.raises(OSError):
            for _ in range(40):             # 4 s of one header byte every 0.1 s
                sock.sendall(b"X")
                time.sleep(0.1)
                sock.setblocking(False)
                try:
                    if sock.recv(1) == b"":
                        raise ConnectionResetError("closed by server")
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
    assert time.monotonic() - started < 2
    assert rec.calls == []


def test_expect_100_continue(served):
    server, rec = served
    head = (b"POST /hooks/exavault HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: " + str(len(UPLOAD)).encode() + b"\r\n"
            + SIGNATURE_HEADER.encode() + b": " + signature(TOKEN, UPLOAD).encode() + b"\r\n\r\n")
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
        sock.sendall(UPLOAD)
        assert sock.recv(1000).startswith(b"HTTP/1.1 200 ")
    assert rec.calls == [[UPLOAD_EVENT]]
    big = raw_request(server, b"POST /hooks/exavault HTTP/1.1\r\nHost: x\r\n"
                              b"Expect: 100-continue\r\nContent-Length: 99999\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 413 ")


def test_callback_error_is_500_and_server_keeps_serving(served, caplog):
    server, rec = served
    rec.fail = True
    with caplog.at_level(logging.ERROR, logger="syncd.remote.webhook"):
        assert post(server, UPLOAD).status_code == 500
    assert "handler broke" in caplog.text and "event handler failed" in caplog.text
    rec.fail = False
    assert post(server, UPLOAD).status_code == 200
    assert rec.calls == [[UPLOAD_EVENT], [UPLOAD_EVENT]]


def test_concurrent_requests(served):
    server, rec = served
    results = []
    threads = [threading.Thread(target=lambda: results.append(post(server, UPLOAD).status_code))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8
    assert len(rec.calls) == 8


def test_stop_is_prompt_releases_the_port_and_is_idempotent(make_server):
    server, rec = make_server(timeout=5.0)
    host, port = server.address
    assert port != 0 and server.url == f"http://127.0.0.1:{port}/"
    idle = socket.create_connection((host, port), timeout=3)  # an idle client holding a thread
    try:
        assert post(server, UPLOAD, path="/").status_code == 200
        assert rec.calls == [[UPLOAD_EVENT]]
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        server.stop()
        with pytest.raises(OSError):
            socket.create_connection((host, port), timeout=1).close()
        assert idle.recv(10) == b""            # the idle connection was cut
    finally:
        idle.close()
    again, rec2 = make_server(port=port)        # the port is free for a new listener
    assert again.address == (host, port)
    assert requests.post(again.url, data=UPLOAD,
                         headers={SIGNATURE_HEADER: signature(TOKEN, UPLOAD)},
                         timeout=5).status_code == 200
    assert rec2.calls == [[UPLOAD_EVENT]]


def test_stop_waits_for_a_running_callback_and_then_refuses(make_server):
    entered, release = threading.Event(), threading.Event()
    calls = []

    def slow(events):
        calls.append(events)
        entered.set()
        release.wait(5)

    server = WebhookServer("127.0.0.1", 0, TOKEN, slow, push=FORMAT).start()
    try:
        answers = []
        sender = threading.Thread(target=lambda: answers.append(
            _quiet_post(server.url, UPLOAD)))
        sender.start()
        assert entered.wait(5)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        stopper.join(0.3)
        assert stopper.is_alive()           # still waiting for on_events
        release.set()
        stopper.join(5)
        assert not stopper.is_alive()
        sender.join(5)
        assert len(calls) == 1
        assert server._deliver([UPLOAD_EVENT]) is False   # never again after stop()
        assert len(calls) == 1
    finally:
        release.set()
        server.stop()


def test_stop_from_inside_the_callback(make_server):
    holder: list[WebhookServer] = []
    took: list[float] = []
    done = threading.Event()

    def stop_now(events):
        started = time.monotonic()
        holder[0].stop()
        took.append(time.monotonic() - started)
        done.set()

    server = WebhookServer("127.0.0.1", 0, TOKEN, stop_now, push=FORMAT)
    holder.append(server.start())
    _quiet_post(server.url, UPLOAD)
    assert done.wait(5) and took[0] < 1.0
    with pytest.raises(OSError):
        socket.create_connection(server.address, timeout=1).close()


def _quiet_post(url, body):
    try:
        return requests.post(url, data=body, headers={SIGNATURE_HEADER: signature(TOKEN, body)},
                             timeout=5).status_code
    except requests.RequestException as exc:
        return type(exc).__name__


def test_bind_failure_propagates(make_server):
    server, _ = make_server()
    with pytest.raises(OSError):
        WebhookServer("127.0.0.1", server.address[1], TOKEN, lambda events: None, push=FORMAT).start()


def test_logs_never_show_the_token_or_body(served, caplog, capfd):
    server, rec = served
    secret_path = "/c0ffee-secret-name.txt"
    body = v1("Upload", secret_path)
    with caplog.at_level(logging.DEBUG, logger="syncd.remote.webhook"):
        assert post(server, body).status_code == 200
        assert post(server, body, sig="0" * 32).status_code == 403
        assert post(server, b"{nope", sig=signature(TOKEN, b"{nope")).status_code == 400
        rec.fail = True
        assert post(server, body).status_code == 500
        assert requests.get(server.url, timeout=5).status_code == 405
    text = caplog.text
    assert TOKEN not in text and TOKEN.upper() not in text
    assert secret_path not in text and body.decode() not in text
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("127.0.0.1" in r.getMessage() and SIGNATURE_HEADER in r.getMessage()
               for r in warnings)
    debug_lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG
                   and " -> " in r.getMessage()]
    assert [line.split(" -> ")[1].split()[0] for line in debug_lines] == \
        ["200", "403", "400", "500", "405"]
    assert TOKEN not in repr(server)
    out, err = capfd.readouterr()
    assert err == "" and TOKEN not in out


def test_custom_logger_is_used(make_server, caplog):
    log = logging.getLogger("test.webhook.custom")
    server, _ = make_server(log=log)
    with caplog.at_level(logging.DEBUG, logger="test.webhook.custom"):
        post(server, UPLOAD, sig="bad", path="/")
    assert any(r.name == "test.webhook.custom" and r.levelno == logging.WARNING
               for r in caplog.records)


def test_ipv6_loopback(make_server):
    try:
        server, rec = make_server()  # IPv4 first, to keep the fixture's signature simple
        server.stop()
        v6 = WebhookServer("::1", 0, TOKEN, rec, push=FORMAT).start()
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        assert v6.url.startswith("http://[::1]:")
        assert requests.post(v6.url, data=UPLOAD,
                             headers={SIGNATURE_HEADER: signature(TOKEN, UPLOAD)},
                             timeout=5).status_code == 200
        assert rec.calls == [[UPLOAD_EVENT]]
    finally:
        v6.stop()
