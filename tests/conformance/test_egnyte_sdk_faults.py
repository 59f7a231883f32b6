"""The emulator's injected faults as the OFFICIAL Egnyte SDK (egnyte==0.5.3) meets them.

The SDK has no network retries: a 500/503 is an EgnyteError, a reset or a cut answer is a
``requests`` exception, and a download is never checked against its ``X-Sha512-Checksum``.
These tests pin what a client sees and what state each fault leaves behind.
"""

from __future__ import annotations

import io

import pytest
import requests
from egnyte import exc

from tests.helpers.egnyte_sdk import payload, sdk_in, sha512_hex

ROOT = "/Shared/faults"


@pytest.fixture
def sdk(make_egnyte):
    yield from sdk_in(make_egnyte(), ROOT, timeout=10)


def faulty(sdk, kind: str, endpoint: str) -> None:
    sdk.emu.set_faults(1.0, [kind], only=[endpoint])


def healthy(sdk) -> None:
    sdk.emu.set_faults(0.0)


@pytest.mark.parametrize("kind", ["500", "503"])
def test_a_server_error_is_an_sdk_error_and_stores_nothing(sdk, kind):
    faulty(sdk, kind, "upload")
    with pytest.raises(exc.RequestError) as ei:
        sdk.upload(ROOT + "/a.txt", b"a")
    assert {"http status": int(kind)} in ei.value.args
    healthy(sdk)
    assert sdk.names(ROOT) == []


def test_a_reset_before_a_move_leaves_the_source(sdk):
    sdk.upload(ROOT + "/a.txt", b"a")
    faulty(sdk, "reset", "fs_action")
    with pytest.raises(requests.ConnectionError):
        sdk.client.file(ROOT + "/a.txt").move(ROOT + "/b.txt")
    healthy(sdk)
    assert sdk.names(ROOT) == ["a.txt"]


def test_a_lost_answer_after_an_upload_is_settled_by_a_stat(sdk):
    faulty(sdk, "lost", "upload")
    with pytest.raises(requests.ConnectionError):
        sdk.upload(ROOT + "/a.txt", b"stored anyway")
    healthy(sdk)
    info = sdk.info(ROOT + "/a.txt")
    assert info["checksum"] == sha512_hex(b"stored anyway") and info["num_versions"] == 1


def test_a_truncated_download_is_resumed_with_a_range(sdk):
    data = payload(200_000, seed=3)
    sdk.upload(ROOT + "/t.bin", data)
    faulty(sdk, "truncate", "download")
    buf = io.BytesIO()
    with pytest.raises(requests.RequestException):
        sdk.client.file(ROOT + "/t.bin").download().write_to(buf)
    got = buf.getvalue()
    assert 0 < len(got) < len(data) and data.startswith(got)
    healthy(sdk)
    rest = sdk.download(ROOT + "/t.bin", (len(got), len(data) - 1))
    assert sdk.wire.last().status == 206
    assert got + rest == data


def test_a_corrupt_download_is_caught_only_by_its_checksum_header(sdk):
    data = payload(50_000, seed=4)
    sdk.upload(ROOT + "/c.bin", data)
    faulty(sdk, "corrupt", "download")
    got = sdk.download(ROOT + "/c.bin")  # the SDK accepts it
    assert len(got) == len(data) and got != data
    assert sdk.wire.last().headers["x-sha512-checksum"] == sha512_hex(data) != sha512_hex(got)
    healthy(sdk)
    assert sdk.download(ROOT + "/c.bin") == data
