"""The OFFICIAL Egnyte SDK (egnyte==0.5.3) against ``syncd emulator --service egnyte`` run as a
process, with its default limits (2 calls/s, 1,000/day): the way an outside check drives it.

The SDK must be paced below the emulator's 2 calls/s (its ``requests_per_second`` setting):
its retry after ``ERR_403_DEVELOPER_OVER_QPS`` re-sends an upload's file object after it was
read to the end (``Content-length`` N and no bytes), which hangs until the read timeout against
any server. JSON calls are retried correctly.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.helpers.egnyte_sdk import Sdk, composite_checksum, payload, sha512_hex

TOKEN = "cli-token"
ROOT = "/Shared/cli"
CHUNK = 4096


class Served:
    """``syncd emulator --service egnyte`` in a child process (stopped with SIGTERM)."""

    def __init__(self, root, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncd", "emulator", "--service", "egnyte", "--root", str(root),
             "--port", "0", "--access-token", TOKEN, "--min-chunk", str(CHUNK), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, (line, self.proc.stderr.read() if not line else "")
        url = line.split(" on ", 1)[1].split()[0]
        self.base_url = url.removesuffix("/pubapi/v1")
        self.token = TOKEN

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, err


@pytest.fixture
def served(tmp_path):
    started: list[Served] = []

    def start(*extra: str) -> Served:
        s = Served(tmp_path / "root", *extra)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.stop()


def paced(emu) -> Sdk:
    return Sdk(emu, timeout=10, requests_per_second=1.8)


def test_the_sdk_drives_the_served_emulator_and_the_store_survives_a_restart(served):
    emu = served()
    sdk = paced(emu)
    sdk.mkdir(ROOT)
    small = b"small file"
    big = payload(3 * CHUNK + 10, seed=7)
    sdk.upload(ROOT + "/small.txt", small)
    sdk.upload(ROOT + "/big.bin", big, chunk_size=CHUNK)
    sdk.client.file(ROOT + "/small.txt").move(ROOT + "/renamed.txt")
    note = sdk.client.notes.create(ROOT + "/renamed.txt", "kept")
    before = {f.name: (f.group_id, f.entry_id, f.checksum) for f in sdk.listing(ROOT).files}
    assert before["renamed.txt"][2] == sha512_hex(small)
    assert before["big.bin"][2] == composite_checksum(big, CHUNK)
    cursor = sdk.client.events.latest_event_id
    assert sdk.download(ROOT + "/big.bin", (CHUNK, 2 * CHUNK - 1)) == big[CHUNK : 2 * CHUNK]
    sdk.close()
    emu.stop()

    emu = served()
    sdk = paced(emu)
    after = {f.name: (f.group_id, f.entry_id, f.checksum) for f in sdk.listing(ROOT).files}
    assert after == before
    assert sdk.download(ROOT + "/renamed.txt") == small
    assert sdk.download(ROOT + "/big.bin") == big
    assert [n.id for n in sdk.client.file(ROOT + "/renamed.txt").get_notes()] == [note.id]
    assert sdk.client.events.latest_event_id == cursor
    assert sdk.client.events.list(cursor) == ()
    sdk.mkdir(ROOT + "/later")
    (ev,) = sdk.client.events.list(cursor)
    assert ev.id == cursor + 1 and ev.data["target_path"] == ROOT + "/later"
    sdk.close()


def test_the_served_emulator_throttles_an_unpaced_sdk_which_retries_json_calls(served):
    emu = served()
    sdk = Sdk(emu, timeout=10)
    for i in range(6):  # back to back: more than 2 within a second
        sdk.mkdir(f"{ROOT}{i}")
    assert [a.status for a in sdk.wire.answers].count(201) == 6
    refused = [a for a in sdk.wire.answers if a.status == 403]
    assert refused and all(a.headers["x-mashery-error-code"] == "ERR_403_DEVELOPER_OVER_QPS" for a in refused)
    assert all(a.headers["x-accesstoken-qps-allotted"] == "2" for a in sdk.wire.answers)
    assert all(a.headers["x-accesstoken-quota-allotted"] == "1000" for a in sdk.wire.answers)
    sdk.close()
