"""Uploads and downloads through the OFFICIAL Egnyte SDK (egnyte==0.5.3) against the emulator.

What the SDK does (egnyte/resources.py ``File.upload``/``_chunked_upload``/``download``):

* below ``File._upload_chunk_size`` (100 MiB; the tests lower it on the instance) a simple
  upload: ``POST /pubapi/v1/fs-content{path}``, raw body, ``Content-length``, no content type
  and no checksum header; it accepts only 200 and then REQUIRES ``X-Sha512-Checksum`` in the
  answer and compares it with its own SHA-512 (three tries, then ChecksumError).
* at or above it, chunked: ``POST /pubapi/v1/fs-content-chunked{path}`` per chunk with
  ``x-egnyte-chunk-num`` (from 1), ``x-egnyte-upload-id`` from chunk 1's answer on the later
  ones, ``x-egnyte-last-chunk: true`` on the last; it reads ``x-egnyte-chunk-sha512-checksum``
  from every answer BEFORE checking the status (a missing header is a KeyError), compares it
  with the chunk's SHA-512, then accepts only 200.
* ``download()`` accepts only 200, ``download((a, b))`` sends ``Range: bytes=a-b`` and accepts
  only 206; ``len()`` of the download is its ``Content-Length``. It does not check the answer's
  ``X-Sha512-Checksum`` itself; these tests do.
"""

from __future__ import annotations

import pytest
from egnyte import exc

from tests.helpers.egnyte_sdk import Sdk, composite_checksum, download_bytes, payload, sdk_in, sha512_hex

ROOT = "/Shared/xfer"
CHUNK = 64 * 1024  # the tests' chunk size; the emulator's minimum is lowered below it


@pytest.fixture
def sdk(make_egnyte):
    yield from sdk_in(make_egnyte(), ROOT)  # the fixture allows chunks down to 1 KiB


def test_simple_upload_answers_the_checksum_and_the_version(sdk):
    data = payload(100_000)
    mark = sdk.wire.mark()
    sdk.upload(ROOT + "/a.bin", data)
    (answer,) = sdk.wire.since(mark)
    assert answer.method == "POST" and answer.status == 200
    assert "/pubapi/v1/fs-content/Shared/xfer/a.bin" in answer.url
    assert answer.headers["x-sha512-checksum"] == sha512_hex(data)
    info = sdk.info(ROOT + "/a.bin")
    assert answer.headers["etag"].strip('"') == info["entry_id"]
    assert info["checksum"] == sha512_hex(data)
    assert info["size"] == len(data)
    assert info["num_versions"] == 1


def test_an_empty_file_uploads(sdk):
    sdk.upload(ROOT + "/empty", b"")
    info = sdk.info(ROOT + "/empty")
    assert info["size"] == 0 and info["checksum"] == sha512_hex(b"")
    assert sdk.download(ROOT + "/empty") == b""


def test_a_second_upload_is_a_new_version_of_the_same_file(sdk):
    sdk.upload(ROOT + "/v.txt", b"version one")
    first = sdk.info(ROOT + "/v.txt")
    sdk.upload(ROOT + "/v.txt", b"version two!")
    second = sdk.info(ROOT + "/v.txt")
    assert second["num_versions"] == 2
    assert second["group_id"] == first["group_id"]
    assert second["entry_id"] != first["entry_id"]
    assert second["size"] == len(b"version two!")
    assert sdk.download(ROOT + "/v.txt") == b"version two!"


def test_download_answers_the_checksum_and_the_length(sdk):
    data = payload(300_000, seed=1)
    sdk.upload(ROOT + "/d.bin", data)
    got, dl = download_bytes(sdk.client, ROOT + "/d.bin")
    assert got == data
    assert len(dl) == len(data)
    answer = sdk.wire.last()
    assert answer.method == "GET" and answer.status == 200
    assert answer.headers["x-sha512-checksum"] == sha512_hex(data)
    assert answer.headers["etag"].strip('"') == sdk.info(ROOT + "/d.bin")["entry_id"]


@pytest.mark.parametrize("first,last", [(0, 0), (0, 9), (10, 99_999), (99_990, 99_999), (500, 100_500)])
def test_ranged_download_answers_206_with_the_bytes(sdk, first, last):
    data = payload(100_000, seed=2)
    sdk.upload(ROOT + "/r.bin", data)
    got, dl = download_bytes(sdk.client, ROOT + "/r.bin", (first, last))
    end = min(last, len(data) - 1)
    assert got == data[first : end + 1]
    answer = sdk.wire.last()
    assert answer.status == 206
    assert answer.headers["content-range"] == f"bytes {first}-{end}/{len(data)}"
    assert len(dl) == end - first + 1


def test_a_range_past_the_end_is_416(sdk):
    sdk.upload(ROOT + "/short.bin", b"0123456789")
    with pytest.raises(exc.RequestError) as ei:
        sdk.client.file(ROOT + "/short.bin").download((10, 20))
    assert {"http status": 416} in ei.value.args
    assert sdk.wire.last().headers.get("content-range") == "bytes */10"


def test_download_of_a_missing_file_is_not_found(sdk):
    with pytest.raises(exc.NotFound):
        sdk.client.file(ROOT + "/nope.bin").download()
    with pytest.raises(exc.NotFound):
        sdk.client.file(ROOT + "/nope.bin").download((0, 1))


# --------------------------------------------------------------------------- chunked


def chunk_answers(sdk, mark):
    return [a for a in sdk.wire.since(mark) if "/fs-content-chunked/" in a.url]


@pytest.mark.parametrize(
    "size",
    [3 * CHUNK + 100, 2 * CHUNK, CHUNK],  # a short last chunk; exact chunks; one chunk that is also the last
)
def test_chunked_upload_with_small_chunks(sdk, size):
    data = payload(size, seed=size)
    mark = sdk.wire.mark()
    sdk.upload(ROOT + "/big.bin", data, chunk_size=CHUNK)
    answers = chunk_answers(sdk, mark)
    n = -(-size // CHUNK)
    assert [a.status for a in answers] == [200] * n
    for i, a in enumerate(answers):
        assert a.headers["x-egnyte-chunk-sha512-checksum"] == sha512_hex(data[i * CHUNK : (i + 1) * CHUNK])
    upload_id = answers[0].headers["x-egnyte-upload-id"]
    assert upload_id
    assert all(a.headers.get("x-egnyte-upload-id", upload_id) == upload_id for a in answers)
    info = sdk.info(ROOT + "/big.bin")
    assert info["size"] == size
    assert info["checksum"] == composite_checksum(data, CHUNK)
    assert answers[-1].headers["etag"].strip('"') == info["entry_id"]
    got, _ = download_bytes(sdk.client, ROOT + "/big.bin")
    assert got == data
    assert sdk.wire.last().headers["x-sha512-checksum"] in (sha512_hex(data), info["checksum"])


def test_chunked_upload_onto_an_existing_file_is_a_new_version(sdk):
    sdk.upload(ROOT + "/grow.bin", b"small")
    first = sdk.info(ROOT + "/grow.bin")
    data = payload(2 * CHUNK + 1, seed=9)
    sdk.upload(ROOT + "/GROW.bin", data, chunk_size=CHUNK)
    second = sdk.info(ROOT + "/grow.bin")
    assert second["num_versions"] == 2
    assert second["group_id"] == first["group_id"]
    assert second["path"] == ROOT + "/grow.bin"
    assert sdk.download(ROOT + "/grow.bin") == data


def test_chunked_upload_into_a_missing_folder_is_refused(sdk):
    """The SDK reads the chunk checksum header before the status, so a refusal without that
    header surfaces as KeyError (an SDK bug); either way the emulator answered 404."""
    with pytest.raises((exc.EgnyteError, KeyError)):
        sdk.upload(ROOT + "/missing/big.bin", payload(2 * CHUNK), chunk_size=CHUNK)
    assert sdk.wire.last().status == 404
    assert sdk.names(ROOT) == []


# --------------------------------------------------------------------------- locks


def test_a_file_locked_by_another_user_refuses_changes(sdk):
    sdk.upload(ROOT + "/locked.txt", b"mine")
    sdk.emu.other.lock(ROOT + "/locked.txt")
    assert sdk.info(ROOT + "/locked.txt")["locked"] is True
    with pytest.raises(exc.InsufficientPermissions):
        sdk.upload(ROOT + "/locked.txt", b"new version")
    with pytest.raises(exc.InsufficientPermissions):
        sdk.client.file(ROOT + "/locked.txt").move(ROOT + "/moved.txt")
    with pytest.raises(exc.InsufficientPermissions):
        sdk.client.file(ROOT + "/locked.txt").delete()
    assert sdk.download(ROOT + "/locked.txt") == b"mine"
    assert sdk.info(ROOT + "/locked.txt")["num_versions"] == 1


def test_chunks_below_the_real_minimum_are_refused_and_nothing_is_stored(make_egnyte):
    """With Egnyte's 10 MiB minimum the small chunks are taken and the last one is refused
    (400). The refusal still carries the chunk's checksum header, which the SDK reads before
    the status (without it the SDK would raise KeyError instead of its RequestError)."""
    data = payload(3 * CHUNK + 5)
    with Sdk(make_egnyte(min_chunk=10 * 1024 * 1024)) as sdk:
        sdk.mkdir(ROOT)
        with pytest.raises(exc.RequestError):
            sdk.upload(ROOT + "/small-chunks.bin", data, chunk_size=CHUNK)
        refusal = sdk.wire.last()
        assert refusal.status == 400
        assert refusal.headers["x-egnyte-chunk-sha512-checksum"] == sha512_hex(data[3 * CHUNK :])
        assert sdk.names(ROOT) == []
