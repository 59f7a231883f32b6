"""Disk full (issue 5, item 5): a real ENOSPC from a small tmpfs.

The mirror's local folder (or the state directory) is a 2 MiB tmpfs mounted for
the test, so the kernel itself answers "No space left on device". Mounting needs
root (CAP_SYS_ADMIN); elsewhere these tests skip and say why. RLIMIT_FSIZE was
rejected as a stand-in: it raises EFBIG ("File too large"), a different error on
a different code path, so it would not prove what users see.

What is shown: the download that does not fit leaves no file under the user's
name and no temp file; the error is one clear line naming the path and "No
space left on device"; the exit code says "not everything synced"; the rest of
the mirror syncs; once space is back the next run syncs the item exactly once;
``PRAGMA integrity_check`` is ok throughout. With the *state directory* full,
the run stops with one clear line, no traceback, and loses nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from syncd import crashpoints

from syncd.cli import app as cli
from syncd.local.ignore import new_temp_name
from syncd.local.scan import temp_key
from tests.helpers.sync import make_setup

MiB = 1 << 20


def _mount(path: Path, size: str) -> None:
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                           str(path)], capture_output=True, text=True, check=False)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode}); "
                    "a real ENOSPC needs root")


def _resize(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True,
                   capture_output=True)


@pytest.fixture
def small_fs():
    """small_fs(path, size) mounts a tmpfs of ``size`` on the existing ``path``;
    all are unmounted at teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; a real ENOSPC cannot be made otherwise")
    mounted: list[Path] = []

    def mount(path: Path, size: str = "2m") -> Path:
        path.mkdir(parents=True, exist_ok=True)
        _mount(path, size)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def _integrity(setup) -> str:
    db = sqlite3.connect(setup.state / "index.sqlite3")
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def _names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _downloads(setup) -> list[str]:
    return [r.query for r in setup.requests()
            if r.method == "GET" and r.path.endswith("/resources/download")]


def _one_error_line(proc) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_download_that_does_not_fit_is_retried_once_space_is_back(make_emulator, tmp_path,
                                                                  small_fs):
    setup = make_setup(make_emulator, tmp_path)
    local = small_fs(setup.local(), "2m")
    big = os.urandom(3 * MiB)
    setup.emu.other.write("/docs/big.bin", big)
    setup.emu.other.write("/docs/small.txt", b"small")
    setup.emu.other.write("/docs/sub/note.txt", b"note")

    proc = setup.cli("sync", "--config", str(setup.config_path))
    line = _one_error_line(proc)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)  # not in sync, needs a look
    assert line == "syncd: docs: big.bin: No space left on device"
    assert "failed big.bin" in proc.stdout
    # no partial file under the user's name, no temp file; the rest synced
    assert _names(local) == ["small.txt", "sub", "sub/note.txt"]
    assert (local / "small.txt").read_bytes() == b"small"
    assert _integrity(setup) == "ok"
    assert "big.bin" not in {p for p, _ in setup.index().base("docs").items()}

    # status shows it as an error of the mirror (and never a traceback)
    st = setup.cli("status", "--json", "--config", str(setup.config_path))
    assert st.returncode == 0 and st.stderr == ""
    mirror = json.loads(st.stdout)["mirrors"][0]
    assert mirror["state"] == "error"
    assert any("big.bin" in json.dumps(e) and "No space left on device" in json.dumps(e)
               for e in mirror["errors"]), mirror

    # a crash would leave a temp file behind: the next run removes it, and (still
    # full, the backoff over) fails the same clean way
    with setup.index() as index:
        crashed = new_temp_name(temp_key(index, "docs"))
    (local / crashed).write_bytes(b"x" * 1000)
    result = setup.sync(now=lambda: time.time() + 120)
    assert result.exit_code == 1
    assert _names(local) == ["small.txt", "sub", "sub/note.txt"]

    # space is back: the next run (after the backoff) downloads it, once
    _resize(local, "8m")
    setup.emu.clear_request_log()
    result = setup.sync(now=lambda: time.time() + 600)
    assert result.exit_code == 0, setup.output
    assert (local / "big.bin").read_bytes() == big
    assert _names(local) == ["big.bin", "small.txt", "sub", "sub/note.txt"]
    assert len(_downloads(setup)) == 1
    assert _integrity(setup) == "ok"
    setup.emu.clear_request_log()
    assert setup.sync(now=lambda: time.time() + 700).exit_code == 0
    assert _downloads(setup) == []


def test_full_state_directory_stops_cleanly_and_loses_nothing(make_emulator, tmp_path,
                                                              small_fs):
    setup = make_setup(make_emulator, tmp_path)
    state = small_fs(setup.state, "1m")
    (setup.local() / "mine.txt").write_bytes(b"local work")
    setup.emu.other.write("/docs/theirs.txt", b"remote work")
    assert setup.sync().exit_code == 0  # index created while there is room

    # fill the state directory's disk, then change both sides
    filler = state / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    (setup.local() / "mine2.txt").write_bytes(b"more local work")
    setup.emu.other.write("/docs/theirs2.txt", b"more remote work")
    proc = setup.cli("sync", "--config", str(setup.config_path))
    line = _one_error_line(proc)
    # was: "cannot open index ...: disk I/O error" and exit 70 (SQLite's words for
    # a WAL it cannot grow), which does not tell the user the disk is full
    assert proc.returncode == 73, (proc.returncode, proc.stderr)
    assert "No space left on device" in line and str(state) in line, line
    assert line.endswith("nothing was lost, run again once there is room")
    # nothing lost on either side
    assert (setup.local() / "mine.txt").read_bytes() == b"local work"
    assert (setup.local() / "mine2.txt").read_bytes() == b"more local work"
    assert setup.emu.other.read("/docs/theirs.txt") == b"remote work"
    assert setup.emu.other.read("/docs/theirs2.txt") == b"more remote work"
    st = setup.cli("status", "--config", str(setup.config_path))
    assert "Traceback" not in st.stderr + st.stdout

    # room again: the next run converges, the index is intact
    filler.unlink()
    result = setup.sync()
    assert result.exit_code == 0, setup.output
    assert _integrity(setup) == "ok"
    assert setup.local_tree() == setup.remote_tree()
    assert set(setup.local_tree()) == {"mine.txt", "mine2.txt", "theirs.txt", "theirs2.txt"}


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass


def _state_fills_up_at(point: str, make_emulator, tmp_path, small_fs, capsys):
    """Sync once, change both sides, then run ``syncd sync`` in-process with the
    state directory's disk filling up when ``point`` is reached."""
    setup = make_setup(make_emulator, tmp_path)
    state = small_fs(setup.state, "1m")
    (setup.local() / "mine.txt").write_bytes(b"local work")
    setup.emu.other.write("/docs/theirs.txt", b"remote work")
    assert setup.sync().exit_code == 0
    (setup.local() / "mine2.txt").write_bytes(b"more local work")
    setup.emu.other.write("/docs/theirs2.txt", b"more remote work")

    def hook(name: str) -> None:
        if name == point and not (state / "filler").exists():
            _fill(state)

    capsys.readouterr()
    crashpoints.set_hook(hook)
    try:
        rc = cli.main(["sync", "--config", str(setup.config_path)])
    finally:
        crashpoints.set_hook(None)
    err = capsys.readouterr().err
    (state / "filler").unlink()
    return setup, rc, err


@pytest.mark.parametrize("point", ["pass.queued", "index.commit", "download.fetched"])
def test_state_directory_filling_up_during_a_pass(make_emulator, tmp_path, small_fs, capsys,
                                                  point):
    # was: sqlite3.OperationalError "database or disk is full" escaped as a traceback
    setup, rc, err = _state_fills_up_at(point, make_emulator, tmp_path, small_fs, capsys)
    ours = [line for line in err.splitlines() if line.startswith("syncd:")]
    assert rc == 73, err
    assert len(ours) == 1 and "OperationalError" not in err, err
    assert "No space left on device" in ours[0] and "nothing was lost" in ours[0]
    assert setup.sync().exit_code == 0, setup.output
    assert _integrity(setup) == "ok"
    assert setup.local_tree() == setup.remote_tree()
    assert set(setup.local_tree()) == {"mine.txt", "mine2.txt", "theirs.txt", "theirs2.txt"}


def test_state_directory_filling_up_after_an_upload_landed(make_emulator, tmp_path, small_fs,
                                                           capsys):
    # The index cannot record an upload the server already stored. This failed
    # (strict xfail) until the worker's "did it land?" handling changed on main:
    # the next passes used to skip the upload's feed entry as our own echo, turn
    # the local file into a conflicted copy and report "in sync" while the server
    # kept the original name the local side no longer had.
    setup, rc, err = _state_fills_up_at("upload.sent", make_emulator, tmp_path, small_fs,
                                        capsys)
    assert rc == 73, err
    setup.sync()
    assert setup.sync().exit_code == 0, setup.output
    assert setup.local_tree() == setup.remote_tree()
    assert set(setup.local_tree()) == {"mine.txt", "mine2.txt", "theirs.txt", "theirs2.txt"}
    assert _integrity(setup) == "ok"
