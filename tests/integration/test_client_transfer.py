"""Streaming upload and download against the emulator: special names, auto-rename with
allowOverwrite=false, bounded memory, short bodies."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import tracemalloc
import unicodedata

import pytest

from syncd.remote.errors import InvalidParameterError, TransportError
from syncd.remote.exavault.api import ExaVaultClient, RetryPolicy
from tests.helpers.accounts import ACCESS_TOKEN, API_KEY, FAST_RETRY

NFC = unicodedata.normalize("NFC", "café.txt")
NFD = unicodedata.normalize("NFD", "café.txt")
SPECIAL = ["with space.txt", NFC, NFD, "h#sh.txt", "qu?stion.txt", "per%25cent%.txt",
           "plus+sign.txt", "a&b=c.txt", "日本語 ファイル.txt", "semi;colon,comma.txt",
           "quote'\"s.txt", "id:7.txt", "hash:abc.txt"]


def test_special_names_round_trip(emulator, client):
    assert NFC != NFD
    client.create_folder("/spé cial #1")
    stored = {}
    for i, name in enumerate(SPECIAL):
        payload = f"{i}:{name}".encode()
        res = client.upload(f"/spé cial #1/{name}", io.BytesIO(payload))
        assert res.name == name and res.path == f"/spé cial #1/{name}"
        stored[name] = payload
    listed = {r.name: r for r in client.list_folder("/spé cial #1")}
    assert set(listed) == set(SPECIAL)  # NFC and NFD stay two distinct files
    for name, payload in stored.items():
        out = io.BytesIO()
        assert client.download(f"/spé cial #1/{name}", out) == len(payload)
        assert out.getvalue() == payload
        assert client.info(f"/spé cial #1/{name}").id == listed[name].id
        assert emulator.other.read(f"/spé cial #1/{name}") == payload
    found = {r.name for r in client.search("/spé cial #1", "*.txt")}
    assert found == set(SPECIAL)


def test_allow_overwrite_false_returns_the_real_stored_path(emulator, client):
    first = client.upload("/d/report.pdf", io.BytesIO(b"one"))
    second = client.upload("/d/report.pdf", io.BytesIO(b"two"), allow_overwrite=False)
    assert first.path == "/d/report.pdf"
    assert second.path != first.path and second.path.startswith("/d/report")
    assert second.path.endswith(".pdf") and second.name == second.path.rsplit("/", 1)[1]
    assert second.path == "/d/report (1).pdf"  # the emulator's rename pattern
    assert emulator.other.read("/d/report.pdf") == b"one"
    assert emulator.other.read(second.path) == b"two"
    third = client.upload("/d/report.pdf", io.BytesIO(b"three"), allow_overwrite=True)
    assert third.path == "/d/report.pdf" and third.size == 5
    assert emulator.other.read("/d/report.pdf") == b"three"
    assert emulator.other.info("/d/report (1).pdf") is not None


def test_upload_sends_exact_query_and_empty_file(emulator, client):
    emulator.clear_request_log()
    res = client.upload("/empty.bin", io.BytesIO(b""))
    assert res.size == 0
    (row,) = emulator.request_log
    method, path, query, status = row
    assert (method, status) == ("POST", 201) and path.endswith("/resources/upload")
    flat = {k: (v[0] if isinstance(v, list) else v) for k, v in query.items()}
    assert flat["path"] == "/empty.bin" and str(flat["fileSize"]) == "0"
    assert str(flat["allowOverwrite"]).lower() == "false"


def test_upload_onto_a_folder_is_invalid_parameter(client):
    client.create_folder("/taken")
    with pytest.raises(InvalidParameterError):
        client.upload("/taken", io.BytesIO(b"x"), allow_overwrite=True)


class _GuardedSource(io.RawIOBase):
    """A generated, non-seekable stream of ``size`` bytes that fails the test if anyone
    asks for everything at once or for more than ``max_read`` bytes."""

    def __init__(self, size: int, max_read: int = 4 << 20):
        self.left, self.max_read, self.largest = size, max_read, 0
        self.digest = hashlib.sha256()
        self.block = os.urandom(1 << 16)

    def readable(self):
        return True

    def read(self, n=-1):
        if n is None or n < 0 or n > self.max_read:
            raise AssertionError(f"upload read({n}) is not streaming")
        n = min(n, self.left)
        data = (self.block * (n // len(self.block) + 1))[:n]
        self.left -= n
        self.largest = max(self.largest, n)
        self.digest.update(data)
        return data


class _HashSink(io.RawIOBase):
    """A non-seekable download target that only hashes what it is given."""

    def __init__(self):
        self.digest, self.count = hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, b):
        self.digest.update(b)
        self.count += len(b)
        return len(b)


@pytest.mark.slow
def test_64_mib_upload_and_download_stream_in_bounded_pieces(emulator, client):
    size = 64 << 20
    src = _GuardedSource(size)
    res = client.upload("/big/blob.bin", src, size=size)
    assert res.size == size and src.left == 0
    assert 0 < src.largest <= 1 << 20  # ~1 MiB reads, never the whole file
    sink = _HashSink()
    assert client.download(res.identifier, sink) == size
    assert sink.digest.hexdigest() == src.digest.hexdigest()


def test_upload_memory_stays_bounded_with_tracemalloc(tmp_path):
    """64 MiB from disk to a raw-socket sink that discards the body without allocating;
    the client's peak traced allocation must stay far below the file size."""
    path = tmp_path / "blob.bin"
    with open(path, "wb") as f:
        f.truncate(64 << 20)  # sparse: cheap to create, still 64 MiB to read
    received = {}
    srv = socket.create_server(("127.0.0.1", 0))

    def sink():
        conn, _ = srv.accept()
        with conn:
            buf, head = bytearray(1 << 20), b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            header, _, rest = head.partition(b"\r\n\r\n")
            length = int([line.split(b":")[1] for line in header.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")][0])
            got = len(rest)
            while got < length:
                n = conn.recv_into(buf)
                if not n:
                    break
                got += n
            received["bytes"], received["header"] = got, header
            body = (b'{"responseStatus":201,"data":{"id":1,"type":"resource","attributes":'
                    b'{"name":"blob.bin","path":"/blob.bin","type":"file","size":%d}}}' % (64 << 20))
            conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)

    t = threading.Thread(target=sink, daemon=True)
    t.start()
    client = ExaVaultClient(f"http://127.0.0.1:{srv.getsockname()[1]}/api/v2", API_KEY,
                            ACCESS_TOKEN, retry=RetryPolicy(**FAST_RETRY))
    tracemalloc.start()
    try:
        with open(path, "rb") as f:
            res = client.upload("/blob.bin", f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        t.join(5)
        srv.close()
    assert res.size == 64 << 20
    assert received["bytes"] > 64 << 20  # body = multipart head + file + tail
    assert b"chunked" not in received["header"].lower()
    assert peak < 8 << 20, f"upload allocated {peak} bytes at peak"


def test_download_short_body_is_transport_error_and_leaves_no_short_file(emulator, client):
    payload = os.urandom(300_000)
    client.upload("/t.bin", io.BytesIO(payload))
    emulator.set_faults(1.0, kinds=("truncate",), seed=1)
    emulator.clear_request_log()
    target = io.BytesIO(b"KEEP")
    target.seek(4)
    with pytest.raises(TransportError) as info:
        client.download("/t.bin", target)
    assert info.value.path == "/resources/download"
    assert target.getvalue() == b"KEEP"  # truncated back to where the download started
    assert len(emulator.request_log) == FAST_RETRY["attempts"]  # a GET: retried, bounded
    emulator.set_faults(0.0)
    target = io.BytesIO()
    assert client.download("/t.bin", target) == len(payload) and target.getvalue() == payload


def test_download_into_non_seekable_target_is_not_retried_after_partial_write(emulator,
                                                                               client):
    client.upload("/t.bin", io.BytesIO(os.urandom(3 << 20)))
    emulator.set_faults(1.0, kinds=("truncate",), seed=2)
    emulator.clear_request_log()
    sink = _HashSink()
    with pytest.raises(TransportError):
        client.download("/t.bin", sink)
    statuses = [row.status for row in emulator.request_log]
    # retried while nothing was written (a truncated error answer), never after the
    # partial 200 body reached the sink: those bytes cannot be taken back
    assert statuses[-1] == 200 and 200 not in statuses[:-1]
    assert sink.count < 3 << 20


def test_download_to_a_real_file(tmp_path, client):
    payload = os.urandom(2_500_000)
    client.upload("/f.bin", io.BytesIO(payload))
    dest = tmp_path / "f.bin"
    with open(dest, "wb") as f:
        assert client.download("/f.bin", f) == len(payload)
    assert dest.read_bytes() == payload
    assert client.rate_limit.remaining is not None  # observed on the download answer too


def test_generated_names_round_trip(make_emulator, make_client):
    """Property: any name without '/' or control characters uploads, lists, reads back
    and downloads unchanged (no normalisation, no quoting artefacts)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    emu = make_emulator()
    client = make_client(emu)
    names = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
                    min_size=1, max_size=40).filter(lambda n: n not in (".", ".."))

    @settings(max_examples=60, deadline=None, database=None, print_blob=True)
    @given(name=names)
    def check(name):
        path = f"/gen/{name}"
        res = client.upload(path, io.BytesIO(name.encode("utf-8")), allow_overwrite=True)
        assert (res.path, res.name) == (path, name)
        assert client.info(path).path == path
        out = io.BytesIO()
        client.download(res.identifier, out)
        assert out.getvalue() == name.encode("utf-8")
        assert name in {r.name for r in client.list_folder("/gen")}
        assert client.delete([path])[0].ok

    check()
