"""Emulator: transaction budget, rate-limit headers, 429, fault injection, request log."""

from __future__ import annotations

import errno
import socket

import pytest
import requests

from tests.helpers.emulator import Api, session


def _headers(r):
    return int(r.headers["X-RateLimit-Limit"]), int(r.headers["X-RateLimit-Remaining"])


def test_headers_on_every_kind_of_response(make_emulator):
    emu = make_emulator(transactions=50)
    api = Api(emu)
    emu.other.write("/f", b"x")
    responses = [api.get("/account"), api.download("/f"), api.info("/missing"), api.get("/nope"),
                 api.ls("/", limit=500), session(emu, key="wrong").get(emu.url + "/account")]
    assert [r.status_code for r in responses] == [200, 200, 404, 404, 400, 401]
    assert [_headers(r) for r in responses] == [(50, 49), (50, 48), (50, 47), (50, 46), (50, 45),
                                                (50, 45)]  # 401 does not count
    assert emu.transactions_used == 5


def test_429_and_rolling_window(make_emulator):
    emu = make_emulator(transactions=120000)
    emu.set_transaction_limit(4)
    api = Api(emu)
    emu.spend_transactions(2)  # other clients of the account
    emu.other.write("/x", b"1")  # direct changes are free
    assert emu.transactions_used == 2
    assert [api.get("/account").status_code for _ in range(2)] == [200, 200]
    r = api.get("/account")
    assert r.status_code == 429
    body = r.json()
    assert body["responseStatus"] == 429 and body["errors"][0]["code"]
    assert _headers(r) == (4, 0) and "Retry-After" not in r.headers
    assert api.download("/x").status_code == 429
    assert emu.transactions_used == 4  # rejected requests are not counted
    emu.advance_clock(23 * 3600)
    assert api.get("/account").status_code == 429
    emu.advance_clock(3600 + 1)
    r = api.get("/account")
    assert r.status_code == 200 and _headers(r) == (4, 3)


def test_request_log(emulator):
    api = Api(emulator)
    emulator.clear_request_log()
    api.ls("/", limit=5)
    api.info("/nope")
    log = list(emulator.request_log)
    assert [(m, p, s) for m, p, q, s in log] == [("GET", "/api/v2/resources/list", 200),
                                                  ("GET", "/api/v2/resources", 404)]
    assert log[0].query == {"resource": ["/"], "limit": ["5"]}
    emulator.clear_request_log()
    assert emulator.request_log == []


def _try(fn):
    try:
        return fn().status_code
    except requests.RequestException as exc:
        return type(exc).__name__


@pytest.mark.parametrize("kind", ["500", "503"])
def test_error_faults_before_and_after(emulator, kind):
    api = Api(emulator)
    emulator.set_faults(1.0, kinds=(kind,), seed=3)
    statuses = [_try(lambda i=i: api.mkdir(f"/f{i}")) for i in range(24)]
    assert statuses == [int(kind)] * 24
    emulator.set_faults(0.0)
    r = api.mkdir("/f0")  # detail of an error envelope
    created = [n for n in api.names("/") if n.startswith("f")]
    assert 0 < len(created) < 24, created  # some faults hit before, some after the operation
    assert r.status_code in (201, 400)


def test_reset_fault_is_a_real_rst(emulator):
    emulator.set_faults(1.0, kinds=("reset",), seed=1)
    sock = socket.create_connection((emulator.host, emulator.port), timeout=5)
    try:
        sock.sendall((f"GET /api/v2/account HTTP/1.1\r\nHost: x\r\nev-api-key: {emulator.api_key}\r\n"
                      f"ev-access-token: {emulator.access_token}\r\n\r\n").encode())
        with pytest.raises(ConnectionResetError) as info:
            data = sock.recv(65536)
            assert data == b""  # a FIN would land here; an RST raises
            raise AssertionError("connection closed without RST")
        assert info.value.errno == errno.ECONNRESET
    finally:
        sock.close()
    api = Api(emulator)
    outcomes = [_try(lambda i=i: api.mkdir(f"/r{i}")) for i in range(20)]
    assert set(outcomes) == {"ConnectionError"}
    emulator.set_faults(0.0)
    assert 0 < len(api.names("/")) < 20


def test_truncate_fault(emulator):
    api = Api(emulator)
    emulator.other.write("/big.bin", b"z" * 100_000)
    emulator.set_faults(1.0, kinds=("truncate",), seed=5)
    outcomes = {_try(lambda: api.download("/big.bin")) for _ in range(10)}
    assert outcomes <= {"ChunkedEncodingError", "ConnectionError"} and outcomes
    emulator.set_faults(0.0)
    retr = [e for e in api.activity(type="RETR").json()["data"]]
    assert 0 < len(retr) < 10  # "after" faults did the download, "before" ones did not
    assert api.download("/big.bin").content == b"z" * 100_000


def test_faults_are_seeded_and_mixed(make_emulator):
    def run(seed):
        emu = make_emulator(fault_rate=0.5, seed=seed)
        api = Api(emu)
        out = [_try(lambda: api.get("/account")) for _ in range(40)]
        emu.stop()
        return out

    a, b = run(11), run(11)
    assert a == b
    assert 200 in a and len(set(a)) >= 3
    assert run(12) != a


def test_fault_configuration_is_validated(emulator):
    with pytest.raises(ValueError):
        emulator.set_faults(0.5, kinds=("boom",))
    with pytest.raises(ValueError):
        emulator.set_faults(1.5)
