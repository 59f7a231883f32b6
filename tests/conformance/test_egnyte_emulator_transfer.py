"""Egnyte emulator: chunked uploads (sessions, checksums, composite), corrupt and cut downloads."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.helpers.egnyte import EgnyteApi


@pytest.fixture
def egnyte(make_egnyte):
    return make_egnyte(min_chunk=4)


@pytest.fixture
def api(egnyte_api):
    egnyte_api.mkdir("/Shared/c")
    return egnyte_api


def sha(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def expected_composite(chunks: list[bytes], size: int) -> str:
    joined = "".join(sha(c) for c in chunks).encode()
    return f"2-{len(chunks)}-{size}-{hashlib.sha512(joined).hexdigest()}"


def test_chunked_upload_answers_per_chunk_and_stores_the_composite_checksum(api):
    first = api.chunk("/Shared/c/big", b"aaaa", 1)
    assert first.status_code == 200
    upload_id = first.headers["X-Egnyte-Upload-Id"]
    assert first.headers["X-Egnyte-Chunk-Num"] == "1"
    assert first.headers["X-Egnyte-Chunk-Sha512-Checksum"] == sha(b"aaaa")
    api.chunk("/Shared/c/big", b"bbbb", 2, upload_id)
    assert api.info("/Shared/c/big").status_code == 404  # nothing before the last chunk
    last = api.chunk("/Shared/c/big", b"cc", 3, upload_id, last=True)
    assert last.status_code == 200, last.text
    composite = expected_composite([b"aaaa", b"bbbb", b"cc"], 4)
    assert last.json()["checksum"] == composite
    assert last.headers["ETag"] == last.json()["entry_id"]
    assert api.info("/Shared/c/big").json()["checksum"] == composite
    down = api.download("/Shared/c/big")
    assert down.content == b"aaaabbbbcc"
    assert down.headers["X-Sha512-Checksum"] == composite
    assert api.chunk("/Shared/c/big", b"x", 4, upload_id).status_code == 404  # session gone


def test_chunks_in_parallel_and_resent_and_a_zero_byte_last_chunk_commits(api):
    upload_id = api.chunk("/Shared/c/par", b"1111", 1).headers["X-Egnyte-Upload-Id"]
    parts = {2: b"2222", 3: b"3333", 4: b"44"}
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda n: EgnyteApi(api.emu).chunk(
            "/Shared/c/par", parts[n], n, upload_id), parts))
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert api.chunk("/Shared/c/par", b"2222", 2, upload_id).status_code == 200  # resent
    done = api.chunk("/Shared/c/par", b"", 5, upload_id, last=True)
    assert done.status_code == 200, done.text
    assert done.json()["checksum"] == expected_composite([b"1111", b"2222", b"3333", b"44"], 4)
    assert api.download("/Shared/c/par").content == b"1111222233334444"[:14]


def test_a_missing_chunk_refuses_the_commit_until_it_is_sent(api):
    upload_id = api.chunk("/Shared/c/gap", b"1111", 1).headers["X-Egnyte-Upload-Id"]
    r = api.chunk("/Shared/c/gap", b"33", 3, upload_id, last=True)
    assert r.status_code == 400 and "2" in r.json()["errorMessage"]
    api.chunk("/Shared/c/gap", b"2222", 2, upload_id)
    assert api.chunk("/Shared/c/gap", b"33", 3, upload_id, last=True).status_code == 200
    assert api.download("/Shared/c/gap").content == b"1111222233"


def test_chunk_and_file_checksums_are_checked(api):
    bad = api.chunk("/Shared/c/x", b"1111", 1,
                    headers={"X-Egnyte-Chunk-Sha512-Checksum": sha(b"other")})
    assert bad.status_code == 400
    assert bad.headers["X-Egnyte-Chunk-Sha512-Checksum"] == sha(b"1111")  # the SDK reads it
    assert "X-Egnyte-Upload-Id" not in bad.headers
    upload_id = api.chunk("/Shared/c/x", b"1111", 1, headers={
        "X-Egnyte-Chunk-Sha512-Checksum": sha(b"1111")}).headers["X-Egnyte-Upload-Id"]
    plain = api.chunk("/Shared/c/x", b"22", 2, upload_id, last=True,
                      headers={"X-Sha512-Checksum": sha(b"111122")})
    assert plain.status_code == 400  # the final checksum must be the composite one
    assert plain.headers["X-Egnyte-Chunk-Sha512-Checksum"] == sha(b"22")
    ok = api.chunk("/Shared/c/x", b"22", 2, upload_id, last=True, headers={
        "X-Sha512-Checksum": expected_composite([b"1111", b"22"], 4),
        "Last-Modified": "Mon, 04 Apr 2016 22:33:57 GMT"})
    assert ok.status_code == 200, ok.text
    assert api.info("/Shared/c/x").json()["last_modified"] == "Mon, 04 Apr 2016 22:33:57 GMT"


def test_chunk_sizes_are_enforced(api):
    upload_id = api.chunk("/Shared/c/s", b"123", 1).headers["X-Egnyte-Upload-Id"]
    small = api.chunk("/Shared/c/s", b"4", 2, upload_id, last=True)
    assert small.status_code == 400  # chunk 1 is below the 4-byte minimum
    upload_id = api.chunk("/Shared/c/u", b"1234", 1).headers["X-Egnyte-Upload-Id"]
    api.chunk("/Shared/c/u", b"12345", 2, upload_id)
    assert api.chunk("/Shared/c/u", b"1", 3, upload_id, last=True).status_code == 400
    assert api.chunk("/Shared/c/v", b"1", 2).status_code == 400  # no upload id
    assert api.chunk("/Shared/c/v", b"1", 1, "unknown").status_code == 404
    assert api.post("/fs-content-chunked/Shared/c/v", data=b"1").status_code == 400


def test_a_single_small_chunk_is_a_whole_upload(api):
    r = api.chunk("/Shared/c/one", b"tiny", 1, last=True)
    assert r.status_code == 200
    assert api.download("/Shared/c/one").content == b"tiny"


def test_sessions_expire_after_24_hours(api, egnyte):
    upload_id = api.chunk("/Shared/c/e", b"1111", 1).headers["X-Egnyte-Upload-Id"]
    egnyte.advance_clock(23 * 3600)
    assert api.chunk("/Shared/c/e", b"2222", 2, upload_id).status_code == 200
    egnyte.advance_clock(3600)
    assert api.chunk("/Shared/c/e", b"3", 3, upload_id, last=True).status_code == 404


def test_the_default_minimum_chunk_is_10_mib(make_egnyte):
    emu = make_egnyte(min_chunk=10 * 1024 * 1024)
    api = EgnyteApi(emu)
    api.mkdir("/Shared/m")
    upload_id = api.chunk("/Shared/m/f", b"1" * 1024, 1).headers["X-Egnyte-Upload-Id"]
    r = api.chunk("/Shared/m/f", b"2", 2, upload_id, last=True)
    assert r.status_code == 400 and "10485760" in r.json()["errorMessage"]


def test_a_corrupt_download_differs_from_its_checksum(api, egnyte):
    data = bytes(range(256)) * 4
    api.upload("/Shared/c/f", data)
    egnyte.set_faults(1.0, ["corrupt"], only={"download"})
    r = api.download("/Shared/c/f")
    assert r.status_code == 200 and len(r.content) == len(data)
    assert r.content != data and r.headers["X-Sha512-Checksum"] == sha(data)
    egnyte.set_faults(0.0)
    assert api.download("/Shared/c/f").content == data


def test_a_truncated_download_and_a_ranged_resume(api, egnyte):
    data = b"x" * 1000 + b"y" * 1000
    api.upload("/Shared/c/t", data)
    egnyte.set_faults(1.0, ["truncate"], only={"download"})
    with pytest.raises(requests.exceptions.RequestException):
        api.download("/Shared/c/t").content
    egnyte.set_faults(0.0)
    rest = api.download("/Shared/c/t", headers={"Range": "bytes=1000-"})
    assert rest.status_code == 206 and rest.content == b"y" * 1000


def test_no_range_mode_answers_the_whole_file(make_egnyte):
    emu = make_egnyte(ranges=False)
    api = EgnyteApi(emu)
    api.mkdir("/Shared/n")
    api.upload("/Shared/n/f", b"abc")
    r = api.download("/Shared/n/f", headers={"Range": "bytes=1-"})
    assert r.status_code == 200 and r.content == b"abc"
