"""Stopping and resuming, the pure parts: `syncd sync`'s signal handler, the
watch that cuts requests a stop left blocked, the Range arithmetic on both sides,
the writer that may start over, and which kept partial downloads the clean-up
leaves."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import threading

import pytest

from syncd.cli.interrupt import Interrupt
from syncd.emulators.exavault.transfer import byte_range
from syncd.local.ignore import new_temp_name
from syncd.local.scan import clean_temp_files
from syncd.remote.exavault.api import range_start
from syncd.state.index import Index
from syncd.transfer.downloads import RESUME_FOR, ResumeWriter, kept_partials
from syncd.transfer.errors import AbortWatch
from syncd.transfer.streams import Throttle

# --- `syncd sync`'s signals ------------------------------------------------------------


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_first_signal_sets_the_cancel_event_and_says_stopping_once(sig, code):
    read, write = os.pipe()
    before = signal.getsignal(sig)
    try:
        with Interrupt(fd=write) as stop:
            assert not stop.cancel.is_set() and stop.signal is None
            signal.raise_signal(sig)  # the handler runs here, in the main thread
            assert stop.cancel.is_set()
            assert stop.signal == sig and stop.exit_code == code
        assert signal.getsignal(sig) is before  # put back after the pass
        os.close(write)
        said = os.read(read, 4096).decode()
    finally:
        os.close(read)
    assert said.count("stopping") == 1 and said.startswith("syncd: stopping")


def test_handlers_are_put_back_when_the_pass_ends():
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with Interrupt():
        assert all(signal.getsignal(s) is not h for s, h in old.items())
    assert {s: signal.getsignal(s) for s in old} == old


# --- cutting what a stop left blocked ----------------------------------------------------


def test_a_stop_the_pass_does_not_end_by_itself_aborts_its_requests(monkeypatch):
    monkeypatch.setattr("syncd.transfer.errors.ABORT_GRACE", 0.01)
    cancel, aborted = threading.Event(), threading.Event()
    watch = AbortWatch(cancel, aborted.set)
    cancel.set()
    assert aborted.wait(10)
    assert watch.aborted
    watch.stop()


def test_a_pass_that_ends_in_its_grace_is_not_aborted():
    cancel, aborted = threading.Event(), threading.Event()
    watch = AbortWatch(cancel, aborted.set)
    cancel.set()
    watch.stop()  # (the pass ended at its next check)
    watch._thread.join(10)
    assert not watch._thread.is_alive()
    assert not aborted.is_set() and not watch.aborted


def test_no_cancel_event_no_watch():
    watch = AbortWatch(None, lambda: pytest.fail("aborted"))
    watch.stop()
    assert not watch.aborted


# --- Range ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header, answer", [
    (None, None),
    ("bytes=0-", (0, 9)),
    ("bytes=4-", (4, 9)),
    ("bytes=4-6", (4, 6)),
    ("bytes=4-99", (4, 9)),
    ("bytes=-3", (7, 9)),
    ("bytes=-30", (0, 9)),
    ("bytes=10-", "unsatisfiable"),
    ("bytes=-0", "unsatisfiable"),
    ("bytes=6-4", None),
    ("bytes=1-2,4-5", None),
    ("items=1-2", None),
    ("bytes=x-", None),
    ("bytes=-", None),
    ("bytes=1", None),
])
def test_the_emulators_range_rules(header, answer):
    assert byte_range(header, 10) == answer


@pytest.mark.parametrize("header, start", [
    ("bytes 5-9/10", 5), ("bytes 0-0/1", 0), ("BYTES 7-9/*", 7),
    (None, None), ("", None), ("bytes */10", None), ("items 5-9/10", None),
])
def test_where_a_partial_answer_starts(header, start):
    assert range_start(header) == start


def test_a_resumed_writer_hashes_on_and_may_start_over():
    f = io.BytesIO(b"abc")
    f.seek(3)
    w = ResumeWriter(f, Throttle(0), None, have=3, sha=hashlib.sha256(b"abc"))
    w.write(b"def")
    assert (w.count, w.resumed) == (6, 3)
    assert w.sha.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()
    assert w.truncate(0) == 0  # the server sent the whole file instead
    w.write(b"ABCDEF")
    assert f.getvalue() == b"ABCDEF" and (w.count, w.resumed) == (6, 0)
    assert w.sha.hexdigest() == hashlib.sha256(b"ABCDEF").hexdigest()
    with pytest.raises(OSError):
        w.truncate(2)


# --- kept partial downloads ------------------------------------------------------------


def test_the_clean_up_leaves_kept_partials_and_forgets_them_after_a_day(tmp_path):
    key = b"k" * 16
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    kept_name, stray_name = new_temp_name(key), new_temp_name(key)
    (root / "sub" / kept_name).write_bytes(b"x" * 10)
    (root / stray_name).write_bytes(b"y")
    index = Index(tmp_path / "index.sqlite3")
    try:
        index.mirror_state("m").partials = {
            "sub/v.bin": {"part": f"sub/{kept_name}", "id": "1", "size": 99, "updated": 1.0,
                          "have": 10, "at": 1000.0}}
        keep = kept_partials(index, "m", 1000.0 + RESUME_FOR - 1)
        assert keep == {f"sub/{kept_name}"}
        assert clean_temp_files(root, key=key, keep=keep) == [stray_name]
        assert (root / "sub" / kept_name).exists()

        assert kept_partials(index, "m", 1000.0 + RESUME_FOR) == frozenset()
        assert index.mirror_state("m").partials == {}
        assert clean_temp_files(root, key=key) == [f"sub/{kept_name}"]
    finally:
        index.close()
