"""Emulator: streamed uploads (atomicity, auto-rename, overwrite, resume) and downloads."""

from __future__ import annotations

import io
import os
import random
import time
import zipfile
from urllib.parse import unquote

import pytest

from tests.helpers.emulator import Api, raw_request
from syncd.emulators.exavault import multipart


@pytest.fixture
def api(emulator):
    return Api(emulator)


def _staging_files(emu, prefix=""):
    return [n for n in os.listdir(emu.root / "staging") if n.startswith(prefix)]


def _wait(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def _multipart(data: bytes, boundary: bytes = b"XyZzY") -> tuple[bytes, bytes, str]:
    head = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")
    tail = b"\r\n--" + boundary + b"--\r\n"
    return head, tail, "multipart/form-data; boundary=" + boundary.decode()


def _raw_upload_head(emu, path: str, file_size: int, content_length: int, ctype: str,
                     extra: str = "") -> bytes:
    from urllib.parse import quote
    return (f"POST /api/v2/resources/upload?path={quote(path)}&fileSize={file_size}{extra} HTTP/1.1\r\n"
            f"Host: x\r\nev-api-key: {emu.api_key}\r\nev-access-token: {emu.access_token}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {content_length}\r\n\r\n").encode()


# ------------------------------------------------------------------- uploads
def test_upload_creates_parents_and_auto_renames(api, emulator):
    r = api.upload("/up/deep/report.txt", b"v1")
    assert r.status_code == 201 and r.json()["data"]["attributes"]["path"] == "/up/deep/report.txt"
    assert emulator.other.info("/up/deep")["attributes"]["type"] == "dir"
    r2 = api.upload("/up/deep/report.txt", b"v2")  # allowOverwrite defaults to false
    assert r2.status_code == 201
    a2 = r2.json()["data"]["attributes"]
    assert (a2["path"], a2["name"]) == ("/up/deep/report (1).txt", "report (1).txt")
    r3 = api.upload("/up/deep/report.txt", b"v3", overwrite=False)
    assert r3.json()["data"]["attributes"]["name"] == "report (2).txt"
    r4 = api.upload("/up/deep/README", b"x")
    r5 = api.upload("/up/deep/README", b"y")
    assert r4.status_code == r5.status_code == 201
    assert r5.json()["data"]["attributes"]["name"] == "README (1)"
    assert emulator.other.read("/up/deep/report.txt") == b"v1"
    assert emulator.other.read("/up/deep/report (2).txt") == b"v3"


def test_overwrite_keeps_id_and_hash(api, emulator):
    first = api.upload("/ow.bin", b"short").json()["data"]
    emulator.advance_clock(120)
    r = api.upload("/ow.bin", b"much longer content", overwrite=True)
    assert r.status_code == 201
    again = r.json()["data"]
    assert again["id"] == first["id"] and again["attributes"]["hash"] == first["attributes"]["hash"]
    assert again["attributes"]["size"] == len(b"much longer content")
    assert again["attributes"]["updatedTime"] >= first["attributes"]["updatedTime"] + 120
    assert again["attributes"]["createdAt"] == first["attributes"]["createdAt"]
    assert api.download("/ow.bin").content == b"much longer content"
    assert api.names("/") == ["ow.bin"]


def test_upload_refusals_store_nothing(api, emulator):
    emulator.other.mkdir("/folder")
    emulator.other.write("/afile", b"1")
    assert api.upload("/folder", b"x", overwrite=True).status_code == 400
    assert api.upload("/folder", b"x").status_code == 400
    assert api.upload("/afile/below.txt", b"x").status_code == 400
    r = api.upload("/mismatch.txt", b"12345", file_size=9)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "ERROR_INVALID_PARAMETER"
    r = api.upload("/toolong.txt", b"12345", file_size=2)
    assert r.status_code == 400
    assert api.post("/resources/upload", params={"path": "/nofs.txt"},
                    files={"file": ("f", b"1")}).status_code == 400
    assert api.post("/resources/upload", params={"path": "/nofield.txt", "fileSize": 1},
                    files={"other": ("f", b"1")}).status_code == 400
    assert api.post("/resources/upload", params={"path": "/plain.txt", "fileSize": 1},
                    data=b"1").status_code == 400
    assert sorted(emulator.other.tree()) == ["/afile", "/folder"]
    assert _staging_files(emulator, "tmp-") == []


def test_aborted_upload_is_never_visible(api, emulator):
    data = os.urandom(300_000)
    head, tail, ctype = _multipart(data)
    total = len(head) + len(data) + len(tail)
    req = _raw_upload_head(emulator, "/half.bin", len(data), total, ctype, "&resume=false")
    raw_request(emulator, req + head + data[:100_000], read_reply=False)  # then hang up
    # the server records the request (status 0: no response) once it has cleaned up
    assert _wait(lambda: any(rec.path.endswith("/upload") and rec.status == 0
                             for rec in emulator.request_log))
    assert api.info("/half.bin").status_code == 404
    assert api.names("/", name="*") == []
    assert _staging_files(emulator) == []  # resume=false keeps no partial
    # The server keeps serving other connections normally.
    assert api.upload("/half.bin", data).status_code == 201
    assert api.download("/half.bin").content == data


def test_resume_appends_to_a_partial(api, emulator):
    data = os.urandom(200_000)
    head, tail, ctype = _multipart(data)
    total = len(head) + len(data) + len(tail)
    req = _raw_upload_head(emulator, "/res.bin", len(data), total, ctype)
    raw_request(emulator, req + head + data[:50_000], read_reply=False)
    assert _wait(lambda: _staging_files(emulator, "partial-") and not _staging_files(emulator, "tmp-"))
    assert api.info("/res.bin").status_code == 404 and api.names("/", name="*") == []
    partial = emulator.root / "staging" / _staging_files(emulator, "partial-")[0]
    held = partial.stat().st_size
    assert 0 < held <= 50_000
    wrong = api.upload("/res.bin", data[held + 1:], file_size=len(data),
                       headers={"offsetBytes": str(held + 1)})
    assert wrong.status_code == 400
    r = api.upload("/res.bin", data[held:], file_size=len(data), headers={"offsetBytes": str(held)})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["attributes"]["size"] == len(data)
    assert api.download("/res.bin").content == data
    assert _staging_files(emulator) == []


def test_chunked_request_body(api, emulator):
    data = os.urandom(100_000)
    head, tail, ctype = _multipart(data)

    def gen():
        yield head
        for i in range(0, len(data), 7777):
            yield data[i:i + 7777]
        yield tail

    r = api.post("/resources/upload", params={"path": "/chunked.bin", "fileSize": len(data)},
                 data=gen(), headers={"Content-Type": ctype})
    assert r.status_code == 201, r.text
    assert api.download("/chunked.bin").content == data


def test_multipart_parser_with_tiny_reads_and_boundary_lookalikes():
    boundary = b"----b0undary"
    tricky = (b"\r\n--" + boundary[:-1] + b"X" + b"\r\n-" + b"\r\n--" + boundary[:5]) * 50
    data = tricky + os.urandom(5000) + b"\r\n--" + boundary[:-2]
    body = (b"preamble\r\n--" + boundary + b'\r\nContent-Disposition: form-data; name="meta"\r\n\r\n'
            b"ignored\r\n--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
            b'filename="a;b.txt"\r\n\r\n' + data + b"\r\n--" + boundary + b"--\r\nepilogue")
    rng = random.Random(7)
    for _ in range(20):
        stream = io.BytesIO(body)
        got: dict[str, bytearray] = {}

        def on_part(headers):
            name = multipart.disposition_params(headers["content-disposition"])["name"]
            buf = got.setdefault(name, bytearray())
            return buf.extend

        multipart.parse(lambda n: stream.read(rng.randint(1, 9)), boundary, on_part)
        assert bytes(got["file"]) == data and bytes(got["meta"]) == b"ignored"
    with pytest.raises(multipart.MultipartError):
        multipart.parse(io.BytesIO(body[:-40]).read, boundary, lambda h: None)


# ------------------------------------------------------------------- downloads
NAMES = ["plain.txt", "with space.txt", "hash#q?.txt", "100%+plus&amp.txt", "ünïcödé 日本.txt",
         "e\u0301.txt", "semi;colon\"quote'.txt"]


@pytest.mark.parametrize("name", NAMES)
def test_special_names_round_trip(api, emulator, name):
    body = name.encode("utf-8") * 3
    r = api.upload("/sp/" + name, body)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["attributes"]["name"] == name
    assert api.names("/sp") == [name]
    info = api.info("/sp/" + name).json()["data"]
    d = api.download("/sp/" + name)
    assert d.status_code == 200 and d.content == body
    assert d.headers["Content-Type"] == "application/octet-stream"
    assert d.headers["Content-Length"] == str(len(body))
    cd = d.headers["Content-Disposition"]
    assert cd.startswith("attachment;")
    assert unquote(cd.split("filename*=UTF-8''", 1)[1], encoding="utf-8") == name
    assert api.download(f"id:{info['id']}").content == body
    assert api.names("/", name=name.replace("?", "*")) == [name]
    r = api.patch(f"/resources/{info['id']}", json={"name": "renamed " + name})
    assert r.json()["data"]["attributes"]["name"] == "renamed " + name


def test_download_zip_and_errors(api, emulator):
    emulator.other.write("/z/a.txt", b"A")
    emulator.other.write("/z/sub/b.txt", b"BB")
    emulator.other.mkdir("/z/empty")
    emulator.other.write("/solo.txt", b"S")
    r = api.download("/z")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    assert "filename*=UTF-8''z.zip" in r.headers["Content-Disposition"]
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(zf.namelist()) == ["z/", "z/a.txt", "z/empty/", "z/sub/", "z/sub/b.txt"]
    assert zf.read("z/sub/b.txt") == b"BB"
    r = api.download("/z/a.txt", "/solo.txt", downloadArchiveName="bundle")
    assert "filename*=UTF-8''bundle.zip" in r.headers["Content-Disposition"]
    assert sorted(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == ["a.txt", "solo.txt"]
    r = api.download("/z/a.txt", "/solo.txt")
    assert "filename*=UTF-8''download.zip" in r.headers["Content-Disposition"]
    r = api.download("/nope.txt")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "ERROR_RESOURCE_NOT_FOUND"
    assert "X-RateLimit-Remaining" in r.headers
    assert api.get("/resources/download").status_code == 400


@pytest.mark.parametrize("header, status, body, content_range", [
    ("bytes=3-", 206, b"3456789", "bytes 3-9/10"),
    ("bytes=2-4", 206, b"234", "bytes 2-4/10"),
    ("bytes=8-100", 206, b"89", "bytes 8-9/10"),
    ("bytes=-3", 206, b"789", "bytes 7-9/10"),
    ("bytes=0-0,5-6", 200, b"0123456789", None),  # several ranges: the whole file
    ("lines=1-2", 200, b"0123456789", None),
    ("bytes=5-2", 200, b"0123456789", None),
    ("bytes=10-", 416, None, None),
])
def test_download_honours_one_byte_range(api, emulator, header, status, body, content_range):
    emulator.other.write("/digits.txt", b"0123456789")
    r = api.get("/resources/download", params={"resources[]": "/digits.txt"},
                headers={"Range": header})
    assert r.status_code == status
    if body is not None:
        assert r.content == body and r.headers["Content-Length"] == str(len(body))
    else:
        assert r.json()["errors"][0]["code"] == "ERROR_INVALID_PARAMETER"
    assert r.headers.get("Content-Range") == content_range


def test_download_ignores_range_when_told_to(api, emulator):
    emulator.other.write("/digits.txt", b"0123456789")
    emulator.set_ranges(False)
    r = api.get("/resources/download", params={"resources[]": "/digits.txt"},
                headers={"Range": "bytes=3-"})
    assert r.status_code == 200 and r.content == b"0123456789"
    assert "Content-Range" not in r.headers


def test_download_updates_accessed_at(api, emulator):
    before = emulator.other.write("/acc.txt", b"a")["attributes"]
    emulator.advance_clock(100)
    assert api.download("/acc.txt").status_code == 200
    after = emulator.other.info("/acc.txt")["attributes"]
    assert after["accessedTime"] >= before["accessedTime"] + 100
    assert after["updatedTime"] == before["updatedTime"]


# ------------------------------------------------------------------- latency, bandwidth
def test_latency_and_bandwidth(api, emulator):
    emulator.set_latency(150)
    t = time.monotonic()
    assert api.get("/account").status_code == 200
    assert time.monotonic() - t >= 0.14
    emulator.set_latency(0)
    data = os.urandom(200_000)
    emulator.set_bandwidth(500_000)
    t = time.monotonic()
    assert api.upload("/bw.bin", data).status_code == 201
    up = time.monotonic() - t
    t = time.monotonic()
    assert api.download("/bw.bin").content == data
    down = time.monotonic() - t
    assert up >= 0.3 and down >= 0.3, (up, down)
    emulator.set_bandwidth(None)
    t = time.monotonic()
    assert api.download("/bw.bin").content == data
    assert time.monotonic() - t < 0.3
