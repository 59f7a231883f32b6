"""Pure parsing tests for the ExaVault client: no HTTP (these are the answer shapes the
emulator may not produce but an independent server could)."""

from __future__ import annotations

import email.parser
import email.policy
import io
import pickle
from datetime import datetime, timezone

import pytest

from syncd.remote import errors
from syncd.remote.exavault.body import MultipartBody as _MultipartBody
from syncd.remote.exavault.models import (Account, ActivityEntry, Operation, Resource,
                                          _item_results, _pick_time, as_identifier, parse_time)

UTC = timezone.utc


@pytest.mark.parametrize("text, expected", [
    ("2020-07-29T09:53:36-07:00", datetime(2020, 7, 29, 16, 53, 36, tzinfo=UTC)),
    ("2019-05-30T20:48:57Z", datetime(2019, 5, 30, 20, 48, 57, tzinfo=UTC)),
    ("2019-05-30T20:48Z", datetime(2019, 5, 30, 20, 48, tzinfo=UTC)),
    ("2019-05-30T13:48-07:00", datetime(2019, 5, 30, 20, 48, tzinfo=UTC)),
    ("2020-07-29T09:53:36-0700", datetime(2020, 7, 29, 16, 53, 36, tzinfo=UTC)),
    ("2020-07-27 19:32:45", datetime(2020, 7, 27, 19, 32, 45, tzinfo=UTC)),
    ("2020-07-29T09:53:36.250+02:00", datetime(2020, 7, 29, 7, 53, 36, 250000, tzinfo=UTC)),
    (1596041616, datetime(2020, 7, 29, 16, 53, 36, tzinfo=UTC)),
    ("1596041616", datetime(2020, 7, 29, 16, 53, 36, tzinfo=UTC)),
    ("-001-11-29T00:00:00+00:00", None),
    ("", None), (None, None), (0, None), ("garbage", None),
])
def test_parse_time_forms(text, expected):
    got = parse_time(text)
    assert got == expected
    if got is not None:
        assert got.tzinfo is UTC


def test_pick_time_prefers_iso_but_uses_epoch_for_minute_precision():
    # ISO with seconds wins even if the epoch twin disagrees
    assert _pick_time("2020-07-29T16:53:36Z", 1596041600) == datetime(2020, 7, 29, 16, 53, 36,
                                                                        tzinfo=UTC)
    # ISO without seconds: epoch inside that minute gives the finer value
    assert _pick_time("2020-07-29T09:53-07:00", 1596041616) == datetime(2020, 7, 29, 16, 53, 36,
                                                                          tzinfo=UTC)
    # ... but an inconsistent epoch is ignored
    assert _pick_time("2020-07-29T09:53-07:00", 1) == datetime(2020, 7, 29, 16, 53, tzinfo=UTC)
    # missing ISO: the epoch is the fallback
    assert _pick_time(None, 1596041616) == datetime(2020, 7, 29, 16, 53, 36, tzinfo=UTC)


@pytest.mark.parametrize("raw, op", [
    ("STOR", Operation.UPLOAD), ("Upload", Operation.UPLOAD), ("upload", Operation.UPLOAD),
    ("DELE", Operation.DELETE), ("Delete", Operation.DELETE),
    ("MKD", Operation.CREATE_FOLDER), ("Create Folder", Operation.CREATE_FOLDER),
    ("resources.createFolder", Operation.CREATE_FOLDER), ("create_folder", Operation.CREATE_FOLDER),
    ("RNTO", Operation.RENAME), ("Rename", Operation.RENAME),
    ("MOVE", Operation.MOVE), ("Move", Operation.MOVE), ("COPY", Operation.COPY),
    ("Copy", Operation.COPY), ("RETR", Operation.DOWNLOAD), ("Download", Operation.DOWNLOAD),
    ("PASS", Operation.CONNECT), ("Connect", Operation.CONNECT), ("EXIT", Operation.DISCONNECT),
    ("COMPR", Operation.COMPRESS), ("EXTRACT", Operation.EXTRACT),
    ("DELE_SEND", Operation.OTHER), ("SHARE", Operation.OTHER), (None, Operation.OTHER),
    ("something new", Operation.OTHER),
])
def test_operation_codes_and_labels(raw, op):
    assert Operation.parse(raw) is op


def _res(id=7, **attrs):
    base = {"name": "a.txt", "path": "/d/a.txt", "type": "file", "size": 3}
    base.update(attrs)
    return {"id": id, "type": "resource", "attributes": base}


def test_resource_liberal_parsing():
    r = Resource.from_json(_res(id="12", type="folder", size=None, name=None, hash="x9hf",
                                updatedAt="2019-05-30T20:48:57Z", fileCount=4))
    assert (r.id, r.name, r.type, r.size, r.hash, r.file_count) == (12, "a.txt", "dir", 0,
                                                                     "x9hf", 4)
    assert r.is_dir and r.identifier == "id:12"
    assert r.updated_at == datetime(2019, 5, 30, 20, 48, 57, tzinfo=UTC)
    assert r.created_at is None
    with pytest.raises(KeyError):
        Resource.from_json({"id": 1, "attributes": {"name": "x"}})


def test_account_and_activity_parsing():
    acc = Account.from_json({"attributes": {"accountName": "acme", "status": 1, "quota": {
        "diskLimit": 10, "diskUsed": 2, "transactionsLimit": 120000}}})
    assert (acc.name, acc.transactions_limit, acc.disk_used, acc.bandwidth_used) == (
        "acme", 120000, 2, None)
    e = ActivityEntry.from_json({"id": 5, "type": "sessionActivity", "attributes": {
        "created": "2020-07-29T09:53:36-07:00", "operation": "Create Folder",
        "fileName": "/a/b", "fileSource": "", "bytesTransferred": "12"}})
    assert e.operation is Operation.CREATE_FOLDER and e.raw_operation == "Create Folder"
    assert e.created == datetime(2020, 7, 29, 16, 53, 36, tzinfo=UTC)
    assert (e.file_name, e.file_source, e.bytes_transferred) == ("/a/b", None, 12)


def test_item_results_forms():
    sent = ["/a", "/b"]
    # 200 EmptyResponse for a delete: everything succeeded
    ok = _item_results({"responseStatus": 200, "data": []}, 200, sent)
    assert [(r.identifier, r.ok) for r in ok] == [("/a", True), ("/b", True)]
    # 200 ResourceCopyMove single form
    single = _item_results({"responseStatus": 200, "data": _res(),
                            "meta": {"path": "/a", "destinationPath": "/d"}}, 200, ["/a"])
    assert single[0].resource.path == "/d/a.txt" and single[0].destination == "/d"
    # 207: one ok, one missing with null code/detail, meta on the error object
    multi = _item_results({"responses": [
        {"responseStatus": 200, "data": _res(), "meta": {"path": "/a", "destinationPath": "/d"}},
        {"responseStatus": 404, "errors": [{"code": None, "detail": None, "title": None,
                                            "meta": {"path": "/b", "destinationPath": "/d"}}]},
    ]}, 207, sent)
    assert [(r.identifier, r.status, r.ok, r.path) for r in multi] == [
        ("/a", 200, True, "/a"), ("/b", 404, False, "/b")]
    # 207 delete form: data is a stub, not a full resource; fewer entries than sent
    deleted = _item_results({"responses": [
        {"responseStatus": 200, "data": {"id": 2, "type": "resource", "meta": {"path": "/b"}}}]},
        207, sent)
    assert [(r.identifier, r.status, r.resource) for r in deleted] == [("/b", 200, None)]


def test_as_identifier():
    assert as_identifier(5) == "id:5"
    assert as_identifier("id:5") == "id:5"
    assert as_identifier("hash:ab12") == "hash:ab12"
    assert as_identifier("/x y") == "/x y"
    assert as_identifier("id-card.txt") == "/id-card.txt"
    assert as_identifier(Resource.from_json(_res(id=9))) == "id:9"


def test_error_str_is_one_line_and_repr_has_fields():
    e = errors.NotFoundError("Not Found", status=404, code="ERROR_RESOURCE_NOT_FOUND",
                             detail="Resource\nnot found", method="GET", path="/resources")
    assert str(e) == "GET /resources: 404 ERROR_RESOURCE_NOT_FOUND: Resource not found"
    assert "status=404" in repr(e) and "NotFoundError" in repr(e)
    t = errors.TransportError("timed out", method="GET", path="/account")
    assert str(t) == "GET /account: transport error: timed out"
    r = errors.RateLimitedError("", status=429, limit=10, remaining=0, method="GET", path="/a")
    assert "limit=10" in repr(r) and r.remaining == 0
    again = pickle.loads(pickle.dumps(r))
    assert type(again) is errors.RateLimitedError and again.limit == 10 and str(again) == str(r)
    assert errors.RemoteError.scrub("key=abc token=def", ["abc", "def", ""]) == "key=*** token=***"
    assert errors.error_for_status(503) is errors.ServerError
    assert issubclass(errors.NotSupportedError, errors.NotFoundError)


def test_multipart_body_is_valid_and_streams_in_bounded_reads():
    payload = bytes(range(256)) * 5000  # 1.28 MB
    src = io.BytesIO(payload)
    body = _MultipartBody(src, len(payload), 'we"ird\nname é.bin', chunk=64 * 1024)
    raw = bytearray()
    while piece := body.read(10 ** 9):
        assert len(piece) <= 64 * 1024
        raw += piece
    assert len(raw) == len(body)
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + body.content_type.encode() + b"\r\n\r\n" + bytes(raw))
    (part,) = msg.iter_parts()
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_payload(decode=True) == payload
    body.rewind()  # a retry re-sends the same bytes
    again = bytearray()
    while piece := body.read(10 ** 9):
        again += piece
    assert again == raw


def test_multipart_body_detects_a_changed_source():
    body = _MultipartBody(io.BytesIO(b"short"), 10, "x", chunk=4)
    with pytest.raises(errors.SourceChangedError):
        while body.read(4):
            pass
    body = _MultipartBody(io.BytesIO(b"longer than promised"), 6, "x", chunk=100)
    with pytest.raises(errors.SourceChangedError):
        while body.read(100):
            pass
