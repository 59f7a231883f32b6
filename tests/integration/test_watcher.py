"""LocalWatcher: real temp dirs and watchdog's real inotify observer.

An injected observer factory is used only to simulate what cannot be produced on
demand: running out of inotify watches/instances, and an emitter thread dying.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import sys
import threading
import time

import pytest
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, EventEmitter

from syncd.local import watcher as watcher_mod
from syncd.local.watcher import LocalWatcher

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="exercises the inotify observer")

SETTLE = 0.25
WAIT = 5.0  # generous upper bound for anything that should happen "soon"


class Recorder:
    """on_change target: records (time, paths) and lets tests wait for calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, set[str] | None]] = []
        self.names: set[str] = set()
        self.threads: set[int] = set()
        self._cond = threading.Condition()

    def __call__(self, name: str, paths: set[str] | None) -> None:
        with self._cond:
            self.names.add(name)
            self.threads.add(threading.get_ident())
            self.calls.append((time.monotonic(), None if paths is None else set(paths)))
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = WAIT) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def wait_calls(self, n: int, timeout: float = WAIT) -> bool:
        return self.wait_for(lambda r: len(r.calls) >= n, timeout)

    @property
    def sets(self) -> list[set[str] | None]:
        with self._cond:
            return [paths for _, paths in self.calls]

    def reported(self) -> set[str]:
        return set().union(*(p for p in self.sets if p is not None))

    def nones(self) -> int:
        return sum(1 for p in self.sets if p is None)


@pytest.fixture
def make_watcher():
    started: list[LocalWatcher] = []

    def make(root, rec: Recorder, *, health_interval: float | None = None, **options):
        options.setdefault("settle", SETTLE)
        w = LocalWatcher("m1", root, rec, **options)
        if health_interval is not None:
            w.health_interval = health_interval
        w.start()
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


def write(path, data: bytes = b"x") -> None:
    with open(path, "wb") as f:
        f.write(data)


def wait_until(predicate, timeout: float = WAIT) -> bool:
    """For conditions no Recorder call signals."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def quiet(seconds: float = 4 * SETTLE) -> None:
    """Let time pass to show that nothing more arrives."""
    time.sleep(seconds)


# ------------------------------------------------------------------- batching


def test_single_save_is_one_call_after_settle(tmp_path, make_watcher):
    write(tmp_path / "a.txt", b"old")
    rec = Recorder()
    make_watcher(tmp_path, rec)
    write(tmp_path / "a.txt", b"new content")
    saved = time.monotonic()
    assert rec.wait_calls(1)
    quiet()
    assert rec.sets == [{"a.txt"}]
    assert rec.calls[0][0] - saved >= SETTLE * 0.9  # released only once quiet
    assert rec.names == {"m1"}


def test_chunked_writes_within_settle_are_one_call_after_the_last(tmp_path, make_watcher):
    rec = Recorder()
    make_watcher(tmp_path, rec)
    with open(tmp_path / "big.bin", "wb") as f:
        for _ in range(6):  # 6 chunks over ~0.6 s: longer than settle, gaps shorter
            f.write(b"y" * 65536)
            f.flush()
            time.sleep(0.1)
    closed = time.monotonic()
    assert rec.wait_calls(1)
    quiet()
    assert rec.sets == [{"big.bin"}]
    assert rec.calls[0][0] - closed >= SETTLE * 0.9


@pytest.mark.parametrize("temp_name", ["f.txt.tmp", ".f.txt.swp"])
def test_atomic_save_is_one_call_containing_the_target(tmp_path, make_watcher, temp_name):
    write(tmp_path / "f.txt", b"v1")
    rec = Recorder()
    make_watcher(tmp_path, rec)
    write(tmp_path / temp_name, b"v2")
    os.replace(tmp_path / temp_name, tmp_path / "f.txt")
    assert rec.wait_calls(1)
    quiet()
    assert rec.sets == [{"f.txt", temp_name}]


def test_vim_backup_dance_is_one_call(tmp_path, make_watcher):
    write(tmp_path / "f.txt", b"v1")
    rec = Recorder()
    make_watcher(tmp_path, rec)
    os.rename(tmp_path / "f.txt", tmp_path / "f.txt~")
    write(tmp_path / "f.txt", b"v2")
    os.remove(tmp_path / "f.txt~")
    assert rec.wait_calls(1)
    quiet()
    assert rec.sets == [{"f.txt", "f.txt~"}]


def test_a_save_whose_last_step_lags_a_little_is_still_one_call(tmp_path, make_watcher):
    # The backup is deleted a few tens of ms after f is closed (a busy disk, a
    # descheduled editor): f settles first, but the batch waits for f~.
    write(tmp_path / "f.txt", b"v1")
    rec = Recorder()
    make_watcher(tmp_path, rec)
    os.rename(tmp_path / "f.txt", tmp_path / "f.txt~")
    write(tmp_path / "f.txt", b"v2")
    time.sleep(SETTLE * 0.12)
    os.remove(tmp_path / "f.txt~")
    assert rec.wait_calls(1)
    quiet()
    assert rec.sets == [{"f.txt", "f.txt~"}]


def test_thousand_files_created_at_once_are_all_reported(tmp_path, make_watcher):
    (tmp_path / "many").mkdir()
    rec = Recorder()
    make_watcher(tmp_path, rec)
    expected = {f"many/file{i:04d}.dat" for i in range(1000)}
    began = time.monotonic()
    for rel in sorted(expected):
        write(tmp_path / rel, rel.encode())
    took = time.monotonic() - began
    assert rec.wait_for(lambda r: expected <= r.reported(), timeout=15.0), \
        f"{len(expected - rec.reported())} paths missing"
    quiet()
    assert rec.reported() == expected
    assert rec.nones() == 0
    # Few calls: at most one per settle period while the files kept coming.
    assert len(rec.calls) <= took / SETTLE + 3, (len(rec.calls), took)
    times = [t for t, _ in rec.calls]
    assert all(b - a >= SETTLE * 0.9 for a, b in itertools.pairwise(times))


def test_long_burst_comes_in_a_few_large_calls(tmp_path, make_watcher):
    # Files keep appearing for 1.5 s (a checkout): each settles on its own, but
    # batches go out at most once per settle period, not every few ms.
    rec = Recorder()
    make_watcher(tmp_path, rec)
    expected = set()
    began = time.monotonic()
    i = 0
    while time.monotonic() - began < 1.5:
        rel = f"burst{i:04d}"
        write(tmp_path / rel)
        expected.add(rel)
        i += 1
        time.sleep(0.01)
    assert rec.wait_for(lambda r: expected <= r.reported())
    quiet()
    assert rec.reported() == expected
    times = [t for t, _ in rec.calls]
    assert 2 <= len(times) <= 1.5 / SETTLE + 3, len(times)  # not all held to the end
    assert all(b - a >= SETTLE * 0.9 for a, b in itertools.pairwise(times))


def test_moved_directory_reports_source_and_destination(tmp_path, make_watcher):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    write(tmp_path / "d" / "a.txt")
    write(tmp_path / "d" / "sub" / "b.txt")
    rec = Recorder()
    make_watcher(tmp_path, rec)
    os.rename(tmp_path / "d", tmp_path / "e")
    assert rec.wait_calls(1)
    quiet()
    assert len(rec.calls) == 1
    assert {"d", "e"} <= rec.sets[0]
    # Paths, not names: both ends are relative to the root, in POSIX form.
    assert all(not p.startswith("/") for p in rec.sets[0])


def test_nested_paths_are_relative_posix(tmp_path, make_watcher):
    (tmp_path / "x" / "y").mkdir(parents=True)
    rec = Recorder()
    make_watcher(tmp_path, rec)
    write(tmp_path / "x" / "y" / "z.txt")
    assert rec.wait_calls(1)
    quiet()
    assert rec.sets == [{"x/y/z.txt"}]


def test_reads_are_not_changes(tmp_path, make_watcher):
    write(tmp_path / "r.txt", b"data")
    rec = Recorder()
    make_watcher(tmp_path, rec)
    for _ in range(3):
        (tmp_path / "r.txt").read_bytes()  # opened + closed-no-write
    quiet()
    assert rec.calls == []


def test_ignored_paths_are_dropped_and_moves_keep_the_other_end(tmp_path, make_watcher):
    (tmp_path / "skip").mkdir()
    asked: list[tuple[str, bool]] = []

    def ignored(rel: str, is_dir: bool) -> bool:
        asked.append((rel, is_dir))
        name = rel.rsplit("/", 1)[-1]
        return (name.startswith(".syncd-") and name.endswith(".part")) \
            or rel == "skip" or rel.startswith("skip/")

    rec = Recorder()
    make_watcher(tmp_path, rec, ignored=ignored)
    write(tmp_path / ".syncd-1.part", b"download")
    write(tmp_path / "skip" / "junk.o")
    quiet()
    assert rec.calls == []
    assert (".syncd-1.part", False) in asked

    # ignored src -> kept dest: the dest is reported
    os.replace(tmp_path / ".syncd-1.part", tmp_path / "doc.txt")
    assert rec.wait_calls(1)
    quiet()
    assert rec.sets == [{"doc.txt"}]

    # kept src -> ignored dest: the src is reported
    os.replace(tmp_path / "doc.txt", tmp_path / "skip" / "doc.txt")
    assert rec.wait_calls(2)
    quiet()
    assert rec.sets == [{"doc.txt"}, {"doc.txt"}]


def test_max_delay_releases_a_file_written_continuously(tmp_path, make_watcher):
    rec = Recorder()
    max_delay = 0.8
    make_watcher(tmp_path, rec, settle=0.3, max_delay=max_delay)
    began = time.monotonic()
    with open(tmp_path / "log.txt", "ab") as f:
        while time.monotonic() - began < 2.6:
            f.write(b"line\n")
            f.flush()
            time.sleep(0.05)
    stopped = time.monotonic()
    assert rec.wait_for(lambda r: r.calls and r.calls[-1][0] > stopped)  # the final settle
    while_writing = [t for t, _ in rec.calls if t < stopped]
    assert len(while_writing) >= 2
    assert max_delay * 0.9 <= while_writing[0] - began <= max_delay + 0.6
    assert all(paths == {"log.txt"} for paths in rec.sets)


def test_unrelated_quiet_file_is_not_held_by_a_busy_one(tmp_path, make_watcher):
    rec = Recorder()
    make_watcher(tmp_path, rec, settle=0.3, max_delay=30.0)
    began = time.monotonic()
    with open(tmp_path / "busy.log", "ab") as f:
        write(tmp_path / "quiet.txt")
        while time.monotonic() - began < 1.5:
            f.write(b"line\n")
            f.flush()
            time.sleep(0.05)
    assert rec.wait_calls(2)
    first_t, first = rec.calls[0]
    assert first == {"quiet.txt"}
    assert first_t - began < 1.0  # while busy.log was still being written
    assert rec.sets[1] == {"busy.log"}


# ----------------------------------------------------------- full rescans


def test_rescan_asks_for_everything_soon(tmp_path, make_watcher):
    rec = Recorder()
    w = make_watcher(tmp_path, rec)
    asked = time.monotonic()
    w.rescan()
    assert rec.wait_calls(1)
    assert rec.sets == [None]
    assert rec.calls[0][0] - asked < 0.5


def test_event_on_the_root_itself_is_a_full_rescan(tmp_path, make_watcher):
    rec = Recorder()
    make_watcher(tmp_path, rec)
    os.utime(tmp_path, (1_000_000_000, 1_000_000_000))
    assert rec.wait_calls(1)
    quiet()
    assert rec.sets == [None]


def test_on_change_errors_are_logged_and_delivery_goes_on(tmp_path, make_watcher, caplog):
    rec = Recorder()
    failed = []

    def on_change(name, paths):
        if not failed:
            failed.append(paths)
            raise RuntimeError("daemon bug")
        rec(name, paths)

    make_watcher(tmp_path, on_change)
    write(tmp_path / "one.txt")
    assert wait_until(lambda: bool(failed))
    quiet()
    write(tmp_path / "two.txt")
    assert rec.wait_calls(1)
    assert failed == [{"one.txt"}]
    assert rec.sets == [{"two.txt"}]
    errors = [r for r in caplog.records if "on_change failed" in r.getMessage()]
    assert len(errors) == 1 and errors[0].exc_info is not None


# ------------------------------------------------------------ watch limits


class _RootWatchFails(EventEmitter):
    """Fails where watchdog's InotifyEmitter does when the root's watch cannot be added."""

    error: OSError = OSError(errno.ENOSPC, "inotify watch limit reached")

    def on_thread_start(self) -> None:
        raise self.error


def _sysctl(name: str) -> str:
    try:
        with open(f"/proc/sys/fs/inotify/{name}") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def test_out_of_watches_polls_and_says_how_to_fix_it_once(tmp_path, make_watcher, caplog):
    observers: list[BaseObserver] = []

    def factory():
        observers.append(BaseObserver(_RootWatchFails))
        return observers[-1]

    rec = Recorder()
    w = make_watcher(tmp_path, rec, observer_factory=factory, fallback_interval=0.2)
    assert w.mode == "polling"
    write(tmp_path / "unseen.txt")  # no events in polling mode
    assert rec.wait_calls(4)
    assert rec.sets[:4] == [None] * 4
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(rec.calls)]
    assert all(0.15 <= g <= 0.6 for g in gaps[:3]), gaps
    lines = [r for r in caplog.records if "inotify" in r.getMessage()]
    assert len(lines) == 1
    msg = lines[0].getMessage()
    assert lines[0].levelno == logging.ERROR
    assert msg.startswith("mirror m1: out of inotify watches (fs.inotify.max_user_watches="
                          f"{_sysctl('max_user_watches')}; this tree needs more)")
    assert "'sudo sysctl fs.inotify.max_user_watches=" in msg
    assert "/etc/sysctl.d/90-syncd.conf" in msg
    assert msg.endswith("scanning every 0.2 s instead")
    assert len(observers) == 1 and not observers[0].is_alive()


def test_out_of_instances_names_max_user_instances(tmp_path, make_watcher, caplog):
    def factory():
        # watchdog's InotifyObserver() raises this from inotify_init().
        raise OSError(errno.EMFILE, "inotify instance limit reached")

    rec = Recorder()
    w = make_watcher(tmp_path, rec, observer_factory=factory, fallback_interval=0.2)
    assert w.mode == "polling"
    assert rec.wait_calls(2)
    assert rec.sets[:2] == [None, None]
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1
    assert ("out of inotify instances (fs.inotify.max_user_instances="
            f"{_sysctl('max_user_instances')};") in lines[0].getMessage()


def test_missing_root_polls_with_one_line(tmp_path, make_watcher, caplog):
    rec = Recorder()
    w = make_watcher(tmp_path / "gone", rec, fallback_interval=0.2)
    assert w.mode == "polling"
    assert rec.wait_calls(2)
    assert rec.sets[:2] == [None, None]
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1
    assert "cannot watch" in lines[0].getMessage()
    assert "does not exist" in lines[0].getMessage()


def test_silently_unwatched_folders_are_caught_by_the_probe(tmp_path, make_watcher, caplog,
                                                            monkeypatch):
    # watchdog 7.1 swallows ENOSPC for sub-folders; the watcher probes for headroom
    # after new folders appear. Simulate the probe failing from now on.
    rec = Recorder()
    w = make_watcher(tmp_path, rec, fallback_interval=30.0)
    assert w.mode == "events"
    monkeypatch.setattr(watcher_mod, "_inotify_watches_exhausted", lambda path: True)
    (tmp_path / "newdir").mkdir()
    assert rec.wait_calls(2)
    assert rec.sets[:2] == [{"newdir"}, None]
    assert w.mode == "polling"
    lines = [r for r in caplog.records if "out of inotify watches" in r.getMessage()]
    assert len(lines) == 1


def test_probe_at_start(tmp_path, make_watcher, caplog, monkeypatch):
    monkeypatch.setattr(watcher_mod, "_inotify_watches_exhausted", lambda path: True)
    observers: list[BaseObserver] = []

    def factory():
        observers.append(Observer())
        return observers[-1]

    w = make_watcher(tmp_path, Recorder(), observer_factory=factory)
    assert w.mode == "polling"
    assert not observers[0].is_alive()
    assert sum("out of inotify watches" in r.getMessage() for r in caplog.records) == 1


def test_probe_finds_headroom_on_this_machine(tmp_path):
    assert watcher_mod._inotify_watches_exhausted(str(tmp_path)) is False


# ------------------------------------------------------------- robustness


def test_dead_emitter_is_restarted_with_a_full_rescan(tmp_path, make_watcher, caplog):
    observers: list[BaseObserver] = []

    def factory():
        observers.append(Observer())
        return observers[-1]

    rec = Recorder()
    w = make_watcher(tmp_path, rec, observer_factory=factory, health_interval=0.2)
    assert w.mode == "events"
    for emitter in list(observers[0].emitters):
        emitter.stop()  # its thread ends
    assert rec.wait_calls(1)
    assert rec.sets == [None]
    assert len(observers) == 2 and not observers[0].is_alive() and observers[1].is_alive()
    assert w.mode == "events"
    assert any("emitter thread died" in r.getMessage() for r in caplog.records)
    write(tmp_path / "after.txt")  # the new observer sees it
    assert rec.wait_calls(2)
    assert rec.sets[1] == {"after.txt"}


def test_dead_emitter_that_cannot_be_restarted_falls_back_to_polling(tmp_path, make_watcher,
                                                                     caplog):
    observers: list[BaseObserver] = []

    def factory():
        if observers:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        observers.append(Observer())
        return observers[-1]

    rec = Recorder()
    w = make_watcher(tmp_path, rec, observer_factory=factory, health_interval=0.2,
                     fallback_interval=0.3)
    for emitter in list(observers[0].emitters):
        emitter.stop()
    assert rec.wait_calls(2)  # at once, then one interval later
    assert rec.sets[:2] == [None, None]
    assert w.mode == "polling"
    assert not observers[0].is_alive()
    assert sum("out of inotify watches" in r.getMessage() for r in caplog.records) == 1


def test_queue_overflow_means_full_rescan_and_restart(tmp_path, make_watcher):
    from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent

    observers: list[BaseObserver] = []

    def factory():
        observers.append(Observer())
        return observers[-1]

    rec = Recorder()
    w = make_watcher(tmp_path, rec, observer_factory=factory)
    reader = getattr(observers[0], "_inotify_fd", None)
    if reader is None or not hasattr(reader, "handle_event"):
        pytest.skip("this watchdog has no InotifyFD to feed an overflow to")
    # What the kernel's IN_Q_OVERFLOW (wd -1) becomes inside watchdog 7.
    reader.handle_event(InotifyEvent(-1, InotifyConstants.IN_Q_OVERFLOW, 0, b""))
    assert rec.wait_calls(1)
    assert rec.sets == [None]
    assert w.mode == "events"
    assert len(observers) == 2 and not observers[0].is_alive()
    write(tmp_path / "after.txt")
    assert rec.wait_calls(2)
    assert rec.sets[1] == {"after.txt"}


def test_deleted_root_ends_in_polling(tmp_path, make_watcher):
    root = tmp_path / "root"
    root.mkdir()
    rec = Recorder()
    w = make_watcher(root, rec, health_interval=0.2, fallback_interval=30.0)
    root.rmdir()
    assert rec.wait_for(lambda r: r.nones() >= 1)
    assert wait_until(lambda: w.mode == "polling")


def test_stop_is_prompt_joins_its_threads_and_is_idempotent(tmp_path):
    before = set(threading.enumerate())
    rec = Recorder()
    w = LocalWatcher("m1", tmp_path, rec, settle=SETTLE)
    w.start()
    assert w.mode == "events"
    write(tmp_path / "pending.txt")  # a batch still settling when stop() comes
    time.sleep(0.05)
    began = time.monotonic()
    w.stop()
    assert time.monotonic() - began < 1.0
    assert w.mode == "stopped"
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == []
    w.stop()
    write(tmp_path / "late.txt")
    quiet()
    assert rec.calls == []


def test_delivery_is_on_one_thread_never_concurrent(tmp_path, make_watcher):
    inside = threading.Semaphore(1)
    overlaps = []
    rec = Recorder()

    def on_change(name, paths):
        if not inside.acquire(blocking=False):
            overlaps.append(paths)
            return
        try:
            time.sleep(0.1)
            rec(name, paths)
        finally:
            inside.release()

    w = make_watcher(tmp_path, on_change)
    for i in range(5):  # settled batches and rescans, while on_change is slow
        write(tmp_path / f"f{i}")
        time.sleep(0.15)
        w.rescan()
    assert rec.wait_for(lambda r: r.nones() >= 2 and len(r.calls) >= 5)
    assert overlaps == []
    assert len(rec.threads) == 1 and threading.get_ident() not in rec.threads
