"""Stopping a pass in-process (its cancel event) and resuming: the client's ranged
download and its abort against the emulator, the kept partial download of one
version only, and its expiry."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time

import pytest

from syncd.config.loader import load_config
from syncd.engine import SyncEngine
from syncd.outcome import Outcome
from syncd.remote.errors import TransportError
from syncd.report import Reporter
from syncd.transfer.downloads import RESUME_FOR, ResumeWriter
from syncd.transfer.streams import Throttle
from tests.helpers.daemon import wait_for
from tests.helpers.stopping import MiB, downloaded, temp_files
from tests.helpers.sync import make_setup

# --- the client ------------------------------------------------------------------------


@pytest.mark.parametrize("ranges", [True, False], ids=["206", "range-ignored"])
def test_download_with_an_offset_appends_or_starts_over(emulator, make_client, tmp_path, ranges):
    data = os.urandom(3 * MiB + 5)
    emulator.other.write("/f.bin", data)
    emulator.set_ranges(ranges)
    client = make_client(emulator)
    with open(tmp_path / "part", "w+b") as f:
        f.write(data[:MiB])  # what a stopped download kept
        writer = ResumeWriter(f, Throttle(0), None, have=MiB, sha=hashlib.sha256(data[:MiB]))
        sent = emulator.download_bytes
        assert client.download("/f.bin", writer, offset=MiB) == len(data)
    assert (tmp_path / "part").read_bytes() == data
    assert emulator.download_bytes - sent == (len(data) - MiB if ranges else len(data))
    assert writer.resumed == (MiB if ranges else 0)


def test_abort_cuts_a_download_in_flight_and_sends_nothing_after(emulator, make_client):
    emulator.other.write("/slow.bin", os.urandom(8 * MiB))
    emulator.set_bandwidth(MiB)  # 8 s for the whole file
    client = make_client(emulator)
    sink = io.BytesIO()
    failed: list[BaseException] = []

    def fetch():
        try:
            client.download("/slow.bin", sink)
        except BaseException as exc:  # noqa: BLE001 - what the test looks at
            failed.append(exc)
    t = threading.Thread(target=fetch)
    t.start()
    assert wait_for(lambda: emulator.download_bytes >= MiB, 20)
    sent = client.requests_sent
    client.abort()
    t.join(30)
    assert not t.is_alive()
    assert failed and isinstance(failed[0], TransportError)
    assert client.requests_sent == sent  # not retried
    with pytest.raises(TransportError, match="stopped"):
        client.account()
    assert client.requests_sent == sent  # refused before it was sent (or counted)


# --- the engine ------------------------------------------------------------------------


def _sync(s, *, cancel_at: int | None = None, now=None):
    """One pass in-process; with ``cancel_at`` its cancel event is set once the
    download's temp file holds that many bytes."""
    cancel = threading.Event()
    done = threading.Event()

    def watch():
        while not done.is_set():
            if downloaded(s.local()) >= cancel_at:
                cancel.set()
                return
            time.sleep(0.02)
    if cancel_at is not None:
        threading.Thread(target=watch, daemon=True).start()
    engine = SyncEngine(load_config(s.config_path), host="t",
                        reporter=Reporter(io.StringIO(), fancy=False),
                        **({"now": now} if now else {}))
    try:
        return engine.run(cancel=cancel)
    finally:
        done.set()


@pytest.fixture
def s(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path)
    setup.set_options(bandwidth={"down": 2 * MiB})
    return setup


def test_a_stopped_pass_is_interrupted_and_keeps_the_bytes(s):
    data = os.urandom(8 * MiB)
    s.emu.other.write("/docs/v.bin", data)
    r = _sync(s, cancel_at=2 * MiB)
    assert r.outcome is Outcome.DEFERRED and "interrupted" in r.message
    assert [m.error for m in r.mirrors] == ["interrupted"]
    assert len(temp_files(s.local())) == 1 and downloaded(s.local()) >= 2 * MiB
    assert not (s.local() / "v.bin").exists()
    r = _sync(s)
    assert r.outcome is Outcome.OK
    assert (s.local() / "v.bin").read_bytes() == data


def test_bytes_kept_of_another_version_are_never_used(s):
    s.emu.other.write("/docs/v.bin", os.urandom(8 * MiB))
    _sync(s, cancel_at=2 * MiB)
    assert len(temp_files(s.local())) == 1
    s.emu.advance_clock(5)
    new = os.urandom(8 * MiB)
    s.emu.other.write("/docs/v.bin", new)  # replaced on the server meanwhile
    sent = s.emu.download_bytes
    assert _sync(s).outcome is Outcome.OK
    assert (s.local() / "v.bin").read_bytes() == new
    assert s.emu.download_bytes - sent == len(new)  # from the first byte
    assert temp_files(s.local()) == []


def test_kept_bytes_are_removed_after_a_day(s):
    data = os.urandom(8 * MiB)
    s.emu.other.write("/docs/v.bin", data)
    _sync(s, cancel_at=2 * MiB)
    later = time.time() + RESUME_FOR + 60
    sent = s.emu.download_bytes
    assert _sync(s, now=lambda: later).outcome is Outcome.OK
    assert (s.local() / "v.bin").read_bytes() == data
    assert s.emu.download_bytes - sent == len(data)  # the old bytes were not used
    assert temp_files(s.local()) == []


def test_a_kept_file_removed_or_replaced_meanwhile_means_a_fresh_download(s):
    data = os.urandom(8 * MiB)
    s.emu.other.write("/docs/v.bin", data)
    _sync(s, cancel_at=2 * MiB)
    [kept] = temp_files(s.local())
    kept.unlink()
    kept.symlink_to("/etc/hostname")  # whatever is there now is not followed
    sent = s.emu.download_bytes
    assert _sync(s).outcome is Outcome.OK
    assert (s.local() / "v.bin").read_bytes() == data
    assert s.emu.download_bytes - sent == len(data)
    assert temp_files(s.local()) == [] or all(p.is_symlink() for p in temp_files(s.local()))
