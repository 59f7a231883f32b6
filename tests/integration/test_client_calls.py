"""Every ExaVault client call against the real emulator over 127.0.0.1."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest

from syncd.remote.backend import RequestEvent
from syncd.remote.errors import InvalidParameterError, NotFoundError
from syncd.remote.exavault.models import Operation, RateLimit, Resource


def _log(emu, method=None, path=None):
    """Request-log rows (method, path, query, status), optionally filtered."""
    return [r for r in emu.request_log
            if (method is None or r[0] == method) and (path is None or r[1].endswith(path))]


def _query(row) -> dict:
    q = row[2]
    return q if isinstance(q, dict) else parse_qs(q, keep_blank_values=True)


def _first(q, key):
    v = q.get(key)
    return v[0] if isinstance(v, list) else v


def test_account_rate_limit_counter_and_hook(emulator, make_client):
    events: list[RequestEvent] = []
    client = make_client(emulator, on_request=events.append)
    acc = client.account()
    assert acc.transactions_limit == 120000
    assert acc.name
    assert client.requests_sent == 1
    rl = client.rate_limit
    assert isinstance(rl, RateLimit) and rl.limit == 120000
    assert rl.remaining is not None and 0 <= rl.remaining < 120000
    assert rl.observed_at.tzinfo is not None
    assert events == [RequestEvent("GET", "/account", 200, rl.limit, rl.remaining)]


def test_create_info_by_identifier_and_id_rename(client):
    folder = client.create_folder("/docs/deep/er")  # missing parents are created
    assert isinstance(folder, Resource) and folder.is_dir and folder.path == "/docs/deep/er"
    f = client.upload("/docs/a.txt", io.BytesIO(b"hello"))
    assert (f.path, f.name, f.size, f.type) == ("/docs/a.txt", "a.txt", 5, "file")
    assert f.updated_at is not None and f.updated_at.tzinfo is not None
    assert client.info("/docs/a.txt") == client.info_by_id(f.id) == client.info(f.id)
    if f.hash:
        assert client.info(f"hash:{f.hash}").id == f.id
    renamed = client.rename(f.id, "b c.txt")
    assert (renamed.id, renamed.path, renamed.name) == (f.id, "/docs/b c.txt", "b c.txt")
    with pytest.raises(NotFoundError):
        client.info("/docs/a.txt")


def test_list_folder_pages_with_limit_100(emulator, client):
    for i in range(205):
        emulator.other.write(f"/many/f{i:03}.txt", b"x")
    emulator.other.mkdir("/many/sub")
    emulator.other.write("/many/sub/inner.txt", b"y")
    emulator.clear_request_log()
    items = client.list_folder("/many")
    assert sorted(r.name for r in items) == sorted([f"f{i:03}.txt" for i in range(205)] + ["sub"])
    rows = _log(emulator, "GET", "/resources/list")
    assert [int(_first(_query(r), "offset")) for r in rows] == [0, 100, 200]
    assert {_first(_query(r), "limit") for r in rows} == {"100"}


def test_search_is_recursive_and_paged(emulator, client):
    for i in range(60):
        emulator.other.write(f"/tree/a/x{i}.bin", b"1")
        emulator.other.write(f"/tree/b/c/y{i}.bin", b"22")
    emulator.clear_request_log()
    found = client.search("/tree")
    paths = {r.path for r in found}
    assert {f"/tree/a/x{i}.bin" for i in range(60)} <= paths
    assert {f"/tree/b/c/y{i}.bin" for i in range(60)} <= paths
    assert {"/tree/a", "/tree/b", "/tree/b/c"} <= paths
    assert len(found) == len(paths) == 123
    rows = _log(emulator, "GET", "/resources/list")
    assert len(rows) == 2 and all(_first(_query(r), "name") == "*" for r in rows)


def test_limit_above_100_is_a_400(client):
    client.create_folder("/p")
    page = client.list_page("/p", limit=100)
    assert page.items == [] and page.returned == 0
    with pytest.raises(InvalidParameterError) as info:
        client.list_page("/p", limit=101)
    assert info.value.status == 400 and info.value.code
    assert info.value.method == "GET" and info.value.path == "/resources/list"


def test_move_copy_single_and_207(emulator, client):
    for name in ("a", "b"):
        client.upload(f"/src/{name}.txt", io.BytesIO(name.encode()))
    client.create_folder("/dst")
    (one,) = client.move(["/src/a.txt"], "/dst")
    assert one.ok and one.identifier == "/src/a.txt" and one.resource.path == "/dst/a.txt"
    results = client.copy(["/dst/a.txt", "/src/missing.txt"], "/src")
    assert [(r.identifier, r.status) for r in results] == [("/dst/a.txt", 200),
                                                           ("/src/missing.txt", 404)]
    assert results[0].resource.path == "/src/a.txt"
    assert emulator.other.read("/src/a.txt") == b"a"
    moved = client.move(["/src/b.txt", "/nope.txt"], "/dst")
    assert [(r.identifier, r.status) for r in moved] == [("/src/b.txt", 200), ("/nope.txt", 404)]
    assert moved[0].resource.path == "/dst/b.txt"
    (missing,) = client.move(["/nope.txt"], "/dst")  # plain 404 for one item -> a result
    assert missing.status == 404 and not missing.ok


def test_delete_batches_and_per_item_results(emulator, make_client):
    client = make_client(emulator, delete_batch=3)
    for i in range(7):
        emulator.other.write(f"/del/f{i}", b"z")
    emulator.clear_request_log()
    results = client.delete([f"/del/f{i}" for i in range(7)])
    assert [r.identifier for r in results] == [f"/del/f{i}" for i in range(7)]
    assert all(r.ok for r in results)
    assert len(_log(emulator, "DELETE", "/resources")) == 3  # 3 + 3 + 1
    assert client.list_folder("/del") == []
    emulator.other.write("/del/g1", b"1")
    emulator.other.write("/del/g2", b"2")
    results = client.delete(["/del/g1", "/del/gone", "/del/g2"])
    assert [(r.identifier, r.ok) for r in results] == [
        ("/del/g1", True), ("/del/gone", False), ("/del/g2", True)]
    assert results[1].status == 404
    assert client.list_folder("/del") == []
    assert client.delete([]) == []


def test_delete_by_id(client):
    f = client.upload("/one.txt", io.BytesIO(b"1"))
    client.delete_by_id(f.id)
    with pytest.raises(NotFoundError):
        client.delete_by_id(f.id)
    with pytest.raises(NotFoundError):
        client.info_by_id(f.id)


def test_session_activity_normalises_and_pages(emulator, client):
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    client.create_folder("/act")
    f = client.upload("/act/a.txt", io.BytesIO(b"abc"))
    client.rename(f.id, "b.txt")
    client.create_folder("/act2")
    client.copy(["/act/b.txt"], "/act2")
    client.create_folder("/act3")
    client.move(["/act2/b.txt"], "/act3")
    client.delete(["/act2"])
    for i in range(12):
        client.upload(f"/act/n{i}", io.BytesIO(b"n"))
    emulator.clear_request_log()
    entries = client.session_activity(start, limit=5)
    rows = _log(emulator, "GET", "/activity/session")
    assert len(rows) >= 4
    assert [int(_first(_query(r), "offset")) for r in rows] == [5 * i for i in range(len(rows))]
    assert all(_first(_query(r), "sort") == "date" for r in rows)
    ops = {e.operation for e in entries}
    assert {Operation.CREATE_FOLDER, Operation.UPLOAD, Operation.RENAME, Operation.COPY,
            Operation.MOVE, Operation.DELETE} <= ops
    assert all(e.created is not None and e.created.utcoffset() == timedelta(0) for e in entries)
    assert all(e.raw_operation for e in entries)
    assert sum(e.operation is Operation.UPLOAD for e in entries) == 13
    # a later start date filters older entries out
    later = client.session_activity(datetime.now(timezone.utc) + timedelta(hours=1))
    assert later == []


def test_parallel_transfers_share_one_client_and_count_every_request(emulator, make_client):
    from concurrent.futures import ThreadPoolExecutor
    import os
    import threading

    lock, events = threading.Lock(), []

    def hook(event):
        with lock:
            events.append(event)

    client = make_client(emulator, pool_size=8, on_request=hook)
    used_before = emulator.transactions_used
    blobs = {f"/par/f{i}.bin": os.urandom(200_000 + i) for i in range(24)}

    def roundtrip(path):
        client.upload(path, io.BytesIO(blobs[path]))
        out = io.BytesIO()
        client.download(path, out)
        return out.getvalue() == blobs[path]

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(roundtrip, blobs))
    assert client.requests_sent == len(events) == 48
    assert emulator.transactions_used - used_before == 48  # the ledger matches the server
    assert sorted({e.path for e in events}) == ["/resources/download", "/resources/upload"]


def test_proxy_and_ca_settings_are_read_once_from_the_environment(emulator, monkeypatch,
                                                                 tmp_path):
    # requests would read them for every request; the client settles them at start,
    # with requests' own rules (NO_PROXY for this base URL, the CA bundle variables).
    from syncd.remote.exavault.api import ExaVaultClient
    from tests.helpers.accounts import ACCESS_TOKEN, API_KEY

    bundle = tmp_path / "ca.pem"
    bundle.write_text("not used against http")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = ExaVaultClient("http://files.example.test/api/v2", "k", "t")
    assert proxied._session.proxies.get("http") == "http://127.0.0.1:9"
    assert proxied._session.verify == str(bundle)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with ExaVaultClient(emulator.url, API_KEY, ACCESS_TOKEN) as client:
        assert not client._session.proxies
        monkeypatch.setenv("NO_PROXY", "")  # read once: later changes do not apply
        client.create_folder("/after-env-change")  # would fail through the dead proxy
    assert emulator.other.info("/after-env-change")
