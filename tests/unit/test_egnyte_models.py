"""The Egnyte client's pure parts: path encoding, name rules, checksums (plain and
the composite of chunked uploads), answers read into items and events, the shared
per-second limiter and the classification of error answers (no server)."""

from __future__ import annotations

import hashlib
import threading

import pytest
import requests

from syncd.remote.backend import ContentHash
from syncd.remote.egnyte.api import EgnyteClient, message
from syncd.remote.egnyte.backend import change_of
from syncd.remote.egnyte.limiter import RateLimiter
from syncd.remote.egnyte.models import (
    Event,
    Hasher,
    Item,
    Listing,
    composite,
    content_hash,
    encode_path,
    fold,
    hasher_for,
    name_problem,
    path_problem,
)
from syncd.remote.errors import (
    AlreadyExistsError,
    AuthError,
    ForbiddenError,
    InvalidParameterError,
    LockedError,
    NameRefusedError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ThrottledError,
)


def test_each_segment_is_percent_encoded_and_the_slashes_stay():
    assert encode_path("/Shared/example?path/$file.txt") == "/Shared/example%3Fpath/%24file.txt"
    assert encode_path("Shared/a b/ü#%") == "/Shared/a%20b/%C3%BC%23%25"


@pytest.mark.parametrize("name", ["a:b", "x?", 'q"', "dangling.", " lead", "trail ",
                                  "spam.tmp", "Thumbs.db", "desktop.ini", "._x", "~$doc.docx",
                                  "smile\U0001F600", "a" * 246, "tab\there", ""])
def test_names_egnyte_refuses(name):
    assert name_problem(name) is not None


@pytest.mark.parametrize("name", ["a+b", "#hash", "50%", "x&y;z", "{a}[b]", "~tilde.txt",
                                  "it's (1).txt", "é" * 122, "Ünïcödé.md"])
def test_names_egnyte_stores(name):
    assert name_problem(name) is None


def test_a_path_over_5000_bytes_is_refused():
    deep = "/Shared" + "/abcdefghij" * 500
    assert path_problem(deep) is not None
    assert path_problem("/Shared/ok/name.txt") is None


def test_names_compare_case_insensitively_and_nfc():
    assert fold("ABC.txt") == fold("abc.TXT")
    assert fold("e\u0301") == fold("\u00e9")


def test_composite_checksum_is_the_hash_of_the_chunk_digests():
    chunks = [b"a" * 10, b"b" * 10, b"c" * 3]
    digests = [hashlib.sha512(c).hexdigest() for c in chunks]
    outer = hashlib.sha512("".join(digests).encode()).hexdigest()
    assert composite(digests, 10) == f"2-3-10-{outer}"


def test_a_hasher_checks_either_form_in_one_pass():
    data = bytes(range(256)) * 9
    plain = hashlib.sha512(data).hexdigest()
    chunked = composite([hashlib.sha512(data[i:i + 1000]).hexdigest()
                         for i in range(0, len(data), 1000)], 1000)
    for checksum in (plain, chunked):
        h = hasher_for(checksum)
        for i in range(0, len(data), 77):  # pieces that straddle chunk ends
            h.update(data[i:i + 77])
        assert h.matches(checksum)
        assert h.count == len(data)
    other = Hasher()
    other.update(data[:-1] + b"x")
    assert not other.matches(plain)


def test_content_hash_keeps_the_composite_parameters():
    assert content_hash("AB" * 64) == ContentHash("sha512", "ab" * 64)
    got = content_hash("2-3-10485761-" + "f" * 128)
    assert got == ContentHash("sha512-chunked:2-3-10485761", "f" * 128)
    assert content_hash(None) is None


def test_a_file_item_has_group_id_as_id_and_entry_id_as_version():
    item = Item.from_json({"name": "a.txt", "path": "/Shared/a.txt", "is_folder": False,
                           "size": 5, "checksum": "0" * 128, "entry_id": "E1",
                           "group_id": "G1", "last_modified": "Mon, 04 Apr 2016 22:33:57 GMT",
                           "locked": False}).remote_item()
    assert (item.path, item.kind, item.id, item.version, item.size) == (
        "/Shared/a.txt", "file", "G1", "E1", 5)
    assert item.hash == ContentHash("sha512", "0" * 128)
    assert item.updated == 1459809237.0


def test_a_listing_pairs_folders_and_files():
    page = Listing.from_json({"name": "d", "path": "/Shared/d", "is_folder": True,
                              "folder_id": "F0", "lastModified": 1500000000000,
                              "total_count": 2,
                              "folders": [{"name": "s", "path": "/Shared/d/s",
                                           "folder_id": "F1", "is_folder": True}],
                              "files": [{"name": "f", "path": "/Shared/d/f", "size": 1,
                                         "group_id": "G", "entry_id": "E"}]}, "/Shared/d")
    assert page.folder.id == "F0" and page.folder.updated == 1500000000.0
    assert [(i.path, i.is_folder, i.id) for i in page.children] == [
        ("/Shared/d/s", True, "F1"), ("/Shared/d/f", False, "G")]
    assert page.total == 2


def _event(action, **data):
    return Event.from_json({"id": 7, "timestamp": "2020-03-17T23:49:31.000Z", "actor": 11,
                            "type": "file_system", "action": action, "data": data})


def test_events_become_changes():
    up = change_of(_event("create", target_path="/Shared/a", is_folder=False,
                          target_group_id="G", target_id="E"))
    assert (up.op, up.path, up.id, up.user) == ("upload", "/Shared/a", "7", "11")
    assert change_of(_event("create", target_path="/Shared/d", is_folder=True)).op == "mkdir"
    mv = change_of(_event("move", source_path="/Shared/a", target_path="/Shared/b/a"))
    assert (mv.op, mv.source, mv.path) == ("move", "/Shared/a", "/Shared/b/a")
    assert change_of(_event("rename", source_path="/S/a", target_path="/S/b")).op == "rename"
    assert change_of(_event("delete", target_path="/S/a")).op == "delete"
    note = Event.from_json({"id": 8, "type": "note", "action": "create", "data": {}})
    assert change_of(note) is None


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, s):
        self.slept.append(s)
        self.now += s


def test_the_limiter_spaces_requests_across_threads():
    fake = FakeClock()
    lim = RateLimiter(2.0, margin=0.0, clock=fake.clock, sleep=lambda s: fake.slept.append(s))
    waits = []
    threads = [threading.Thread(target=lambda: waits.append(lim.acquire())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == [0.0, 0.5, 1.0, 1.5]  # the clock never moved: turns queue up


def test_a_hold_delays_every_next_request():
    fake = FakeClock()
    lim = RateLimiter(2.0, margin=0.0, clock=fake.clock, sleep=fake.sleep)
    lim.acquire()
    lim.hold(3.0)
    assert lim.acquire() == 3.0


def _answer(status, body=b"", **headers):
    resp = requests.Response()
    resp.status_code = status
    resp._content = body
    resp.headers.update(headers)
    return resp


@pytest.mark.parametrize("status,headers,body,cls", [
    (403, {"X-Mashery-Error-Code": "ERR_403_DEVELOPER_OVER_QPS", "Retry-After": "1"},
     b"<h1>Developer Over Qps</h1>", ThrottledError),
    (403, {"X-Mashery-Error-Code": "ERR_403_DEVELOPER_OVER_RATE", "Retry-After": "3600"},
     b"<h1>Developer Over Rate</h1>", RateLimitedError),
    (429, {"Retry-After": "2"}, b"", ThrottledError),
    (429, {"Retry-After": "40000"}, b"", RateLimitedError),
    (403, {"X-Mashery-Error-Code": "ERR_403_DEVELOPER_INACTIVE"}, b"", AuthError),
    (401, {}, b"", AuthError),
    (403, {}, b'{"errorMessage": "Folder already exists at this location"}', AlreadyExistsError),
    (403, {}, b'{"errorMessage": "File is locked by another user"}', LockedError),
    (403, {}, b'{"errorMessage": "Access denied"}', ForbiddenError),
    (404, {}, b'{"Errors": [{"description": "gone", "code": "404"}]}', NotFoundError),
    (409, {}, b'{"errorMessage": "exists"}', AlreadyExistsError),
    (400, {}, b'{"errorMessage": "bad count"}', InvalidParameterError),
    (400, {}, b'{"errorMessage": "The name contains a forbidden character"}', NameRefusedError),
    (503, {}, b"", ServerError),
])
def test_answers_are_classified_by_status_and_headers(status, headers, body, cls):
    client = EgnyteClient("http://127.0.0.1:9", "s3cr3t-token")
    err = client.error("POST", "/fs/Shared/x", _answer(status, body, **headers))
    assert type(err) is cls
    assert "s3cr3t" not in repr(err) + str(err)


def test_a_throttle_refusal_exhausts_the_days_remaining_calls():
    seen = []
    client = EgnyteClient("http://127.0.0.1:9", "t", on_request=seen.append)
    client._observe("GET", "/fs/x", 403, {"X-Mashery-Error-Code": "ERR_403_DEVELOPER_OVER_RATE"})
    client._observe("GET", "/fs/x", 200, {"X-AccessToken-Quota-Allotted": "1000",
                                          "X-AccessToken-Quota-Current": "12"})
    assert [(e.status, e.limit, e.remaining) for e in seen] == [(403, None, 0),
                                                                (200, 1000, 988)]


def test_error_messages_are_read_from_every_body_shape():
    assert message(b'{"errorMessage": "x"}') == "x"
    assert message(b'{"Errors": [{"description": "y", "code": "404"}]}') == "y"
    assert message(b"<h1>Developer Over Qps</h1>") == "Developer Over Qps"
    assert message(b"") is None


def test_the_client_never_shows_its_token():
    client = EgnyteClient("http://127.0.0.1:9", "s3cr3t-token")
    assert "s3cr3t" not in repr(client)
    err = client.error("GET", "/fs/x", _answer(401, b'{"message": "bad s3cr3t-token"}'))
    assert "s3cr3t" not in str(err)
