"""Error forms: typed errors from the emulator (401, 404, 429, files-com 404, 400) and,
for answers the emulator never gives (malformed JSON, 2xx error bodies, redirects), a
tiny local HTTP server. Credentials must never appear in any error text."""

from __future__ import annotations

import http.server
import io
import json
import socket
import threading
import traceback

import pytest

from syncd.remote.errors import (AuthError, InvalidParameterError, NotFoundError,
                                 NotSupportedError, ProtocolError, RateLimitedError, RemoteError,
                                 ServerError, TransportError)
from syncd.remote.exavault.api import ExaVaultClient, RetryPolicy
from tests.helpers.accounts import ACCESS_TOKEN, API_KEY, FAST_RETRY


def _assert_secret_free(exc: BaseException, *secrets: str) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
    for s in secrets:
        assert s not in text, f"secret leaked into {type(exc).__name__}"
    assert "\n" not in str(exc)


def test_bad_key_is_auth_error_without_secrets(emulator, make_client):
    bad_key = "WRONG-KEY-do-not-leak-123"
    client = make_client(emulator, api_key=bad_key)
    with pytest.raises(AuthError) as info:
        client.account()
    err = info.value
    assert (err.status, err.method, err.path) == (401, "GET", "/account")
    assert err.code
    _assert_secret_free(err, bad_key, ACCESS_TOKEN)
    assert bad_key not in repr(client) and ACCESS_TOKEN not in repr(client)
    assert client.requests_sent == 1  # 401 is not retried


def test_bad_token_is_auth_error(emulator, make_client):
    bad_token = "WRONG-TOKEN-do-not-leak-456"
    with pytest.raises(AuthError) as info:
        make_client(emulator, access_token=bad_token).list_folder("/")
    _assert_secret_free(info.value, bad_token, API_KEY)


def test_not_found_and_rate_limit_headers_after_errors(emulator, client):
    with pytest.raises(NotFoundError) as info:
        client.info("/no/such/thing.txt")
    err = info.value
    assert err.status == 404 and err.path == "/resources" and err.method == "GET"
    assert str(err).startswith("GET /resources: 404")
    _assert_secret_free(err, API_KEY, ACCESS_TOKEN)
    first = client.rate_limit
    assert first is not None and first.limit == 120000 and first.remaining is not None
    with pytest.raises(NotFoundError):
        client.download("/no/such/thing.txt", io.BytesIO())
    assert client.rate_limit.remaining <= first.remaining
    assert client.rate_limit.observed_at >= first.observed_at
    with pytest.raises(NotFoundError):
        client.list_folder("/missing-folder")
    with pytest.raises(NotFoundError):
        client.info_by_id(987654321)


def test_429_after_n_transactions_is_not_retried(make_emulator, make_client):
    emu = make_emulator(transactions=5)
    events = []
    client = make_client(emu, on_request=events.append)
    for _ in range(5):
        client.account()
    assert client.rate_limit.remaining == 0 and client.rate_limit.limit == 5
    emu.clear_request_log()
    with pytest.raises(RateLimitedError) as info:
        client.list_folder("/")
    err = info.value
    assert (err.status, err.limit, err.remaining) == (429, 5, 0)
    assert client.requests_sent == 6 and len(events) == 6
    assert events[-1].status == 429 and events[-1].remaining == 0
    assert len(emu.request_log) == 1  # exactly one attempt: 429 is never retried
    _assert_secret_free(err, API_KEY, ACCESS_TOKEN)
    with pytest.raises(RateLimitedError):  # uploads too, and nothing is stored
        client.upload("/x.txt", io.BytesIO(b"x"), allow_overwrite=True)
    assert len(emu.request_log) == 2


def test_spent_transactions_give_429(make_emulator, make_client):
    emu = make_emulator(transactions=100)
    emu.spend_transactions(100)
    with pytest.raises(RateLimitedError) as info:
        make_client(emu).account()
    assert info.value.limit == 100 and info.value.remaining == 0


def test_activity_on_files_com_account_is_not_supported(make_emulator, make_client):
    from datetime import datetime, timezone
    emu = make_emulator(files_com=True)
    client = make_client(emu)
    with pytest.raises(NotSupportedError) as info:
        client.session_activity(datetime(2020, 1, 1, tzinfo=timezone.utc))
    assert isinstance(info.value, NotFoundError) and info.value.status == 404
    assert len(emu.request_log) == 1  # a 404 is not retried
    assert client.account().name  # resources and account still work
    assert client.list_folder("/") == []


def test_connection_refused_is_transport_error_retried_within_bounds():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ExaVaultClient(f"http://127.0.0.1:{port}/api/v2", API_KEY, ACCESS_TOKEN,
                            retry=RetryPolicy(**{**FAST_RETRY, "attempts": 3}))
    with pytest.raises(TransportError) as info:
        client.account()
    assert client.requests_sent == 3
    assert info.value.status is None and str(info.value).startswith("GET /account: transport")
    _assert_secret_free(info.value, API_KEY, ACCESS_TOKEN)


# ----------------------------------------------------------------------------- tiny server

class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every request with the canned (status, headers, body) for its path."""

    routes: dict = {}
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0].removeprefix("/api/v2")
        route = self.routes[path]
        status, headers, body = route(self.command, sent) if callable(route) else route
        self.send_response(status)
        for k, v in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_PATCH = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def canned():
    """``canned(routes) -> client``: a local server with fixed answers."""
    servers = []

    def make(routes):
        handler = type("H", (_Canned,), {"routes": routes})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return ExaVaultClient(f"http://127.0.0.1:{server.server_port}/api/v2", API_KEY,
                              ACCESS_TOKEN, retry=RetryPolicy(**{**FAST_RETRY, "attempts": 2}))

    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


def _j(obj) -> bytes:
    return json.dumps(obj).encode()


def test_protocol_errors(canned):
    client = canned({
        "/account": (200, {}, b"{not json"),
        "/resources": (200, {}, _j({"responseStatus": 404, "errors": [{"code": "X"}]})),
        "/resources/list": (200, {}, _j({"responseStatus": 200, "data": {"oops": 1}})),
        "/resources/5": (302, {"Location": "http://elsewhere.example/steal"}, b""),
        "/resources/move": (207, {}, _j({"responseStatus": 207, "data": []})),
    })
    for call, path in [(client.account, "/account"),
                       (lambda: client.info("/x"), "/resources"),
                       (lambda: client.list_folder("/"), "/resources/list"),
                       (lambda: client.info_by_id(5), "/resources/5"),
                       (lambda: client.move(["/a"], "/b"), "/resources/move")]:
        with pytest.raises(ProtocolError) as info:
            call()
        assert info.value.path == path
        _assert_secret_free(info.value, API_KEY, ACCESS_TOKEN)
    assert client.requests_sent == 5  # protocol errors are not retried


def test_server_error_envelope_is_retried_then_raised_and_secrets_scrubbed(canned):
    envelope = {"responseStatus": 503, "errors": [
        {"code": "ERROR_BUSY", "detail": f"echo {API_KEY} and {ACCESS_TOKEN}"}]}
    client = canned({"/account": (503, {"X-RateLimit-Limit": "9", "X-RateLimit-Remaining": "4"},
                                  _j(envelope)),
                     "/resources": (400, {}, _j({"responseStatus": 400, "errors": [
                         {"code": "ERROR_INVALID_PARAMETER", "detail": "bad"}]}))})
    with pytest.raises(ServerError) as info:
        client.account()
    err = info.value
    assert (err.status, err.code) == (503, "ERROR_BUSY") and "***" in err.detail
    _assert_secret_free(err, API_KEY, ACCESS_TOKEN)
    assert client.requests_sent == 2  # retried up to the policy's attempts
    assert (client.rate_limit.limit, client.rate_limit.remaining) == (9, 4)
    with pytest.raises(InvalidParameterError) as info:
        client.create_folder("/x")
    assert str(info.value) == "POST /resources: 400 ERROR_INVALID_PARAMETER: bad"
    assert isinstance(info.value, RemoteError)


def test_alternative_answer_forms_are_accepted(canned):
    """Forms an independent server may use: list with totalResults only on later
    pages, 201 for a move, delete 207 with stub records and a string status."""
    res = {"id": 3, "type": "resource", "attributes": {
        "name": "a", "path": "/d/a", "type": "file", "size": 1,
        "updatedAt": "2020-07-29T09:53-07:00", "updatedTime": 1596041616}}
    client = canned({
        "/resources/list": (200, {}, _j({"responseStatus": 200, "returnedResults": 1,
                                         "totalResults": 1, "data": [res]})),
        "/resources/move": (200, {}, _j({"data": res, "meta": {"path": "/a",
                                                               "destinationPath": "/d"}})),
        "/resources": (207, {}, _j({"responses": [
            {"responseStatus": "200", "data": {"id": 2, "type": "resource",
                                               "meta": {"path": "/x"}}},
            {"responseStatus": 404, "errors": [{"code": None, "detail": None,
                                                "meta": {"path": "/y"}}]}]})),
    })
    (item,) = client.list_folder("/d")
    assert item.updated_at.second == 36  # epoch refines a minute-precision ISO value
    (moved,) = client.move(["/a"], "/d")
    assert moved.ok and moved.resource.id == 3 and moved.destination == "/d"
    results = client.delete(["/x", "/y"])
    assert [(r.identifier, r.status) for r in results] == [("/x", 200), ("/y", 404)]
    assert client.requests_sent == 3


def test_plain_404_for_a_delete_batch_is_split_until_each_item_has_a_result(canned):
    """A server that refuses a whole DELETE batch with a plain 404 when one item is
    missing (as the official Java tests saw) and deletes nothing in that case."""
    existing = {"/a", "/b", "/c", "/d", "/e"}
    batches = []

    def delete(method, raw):
        ids = json.loads(raw)["resources"]
        batches.append(ids)
        missing = [i for i in ids if i not in existing]
        if missing:
            return 404, {}, _j({"responseStatus": 404, "errors": [
                {"code": "ERROR_RESOURCE_NOT_FOUND", "detail": f"{missing[0]} not found"}]})
        existing.difference_update(ids)
        return 200, {}, _j({"responseStatus": 200, "data": []})

    client = canned({"/resources": delete, "/resources/7": (204, {}, b"")})
    results = client.delete(["/a", "/b", "/gone", "/c", "/d", "/e"])
    assert [(r.identifier, r.status) for r in results] == [
        ("/a", 200), ("/b", 200), ("/gone", 404), ("/c", 200), ("/d", 200), ("/e", 200)]
    assert existing == set()
    # bisection: whole batch, then halves, down to the missing item
    assert batches == [["/a", "/b", "/gone", "/c", "/d", "/e"], ["/a", "/b", "/gone"], ["/a"],
                       ["/b", "/gone"], ["/b"], ["/gone"], ["/c", "/d", "/e"]]
    client.delete_by_id(7)  # an empty 204 answer is accepted where no data is needed
    with pytest.raises(ProtocolError):
        client.info_by_id(7)  # ... but not where a resource was promised


def test_a_server_that_ignores_offset_cannot_loop_forever(canned):
    page = {"responseStatus": 200, "returnedResults": 100, "totalResults": 0, "data": [
        {"id": i, "type": "resource", "attributes": {"name": f"n{i}", "path": f"/n{i}",
                                                     "type": "file", "size": 1}}
        for i in range(100)]}
    client = canned({"/resources/list": (200, {}, _j(page))})
    with pytest.raises(ProtocolError):
        client.list_folder("/")
    assert client.requests_sent == 2
