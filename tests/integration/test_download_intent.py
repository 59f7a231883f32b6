"""A download killed between putting its file in place and recording it (crash point
``download.replaced``, a real ``kill -9`` of ``syncd sync``) is recorded at the next
start, from the intent the worker committed before the rename (``Worker._download``,
``worker.complete_downloads``). Without it, the next pass saw an unrecorded local
file: a false conflicted copy after another remote edit, or the file uploaded back
after the remote user deleted it (RELIABILITY.md, known limits 4 and 5).

Real emulator on 127.0.0.1, real temp folders, ``syncd sync`` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from syncd.state.index import Index
from syncd.transfer.worker import complete_downloads
from syncd.model import BaseEntry, FILE

from tests.helpers.sync import make_setup


@pytest.fixture
def s(make_emulator, tmp_path):
    return make_setup(make_emulator, tmp_path)


def killed_sync(s, point: str) -> None:
    out = subprocess.run([sys.executable, "-m", "syncd", "sync", "--config", str(s.config_path)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SYNCD_CRASH_AT": point}, check=False)
    assert out.returncode == -9, (out.returncode, out.stdout, out.stderr)


def test_killed_after_a_download_then_a_remote_edit_makes_no_conflicted_copy(s):
    s.emu.other.write("/docs/a.txt", b"one" * 10)
    assert s.sync().exit_code == 0
    s.emu.other.write("/docs/a.txt", b"two" * 20)
    killed_sync(s, "download.replaced")
    assert (s.local() / "a.txt").read_bytes() == b"two" * 20  # in place, not recorded
    s.emu.other.write("/docs/a.txt", b"three" * 30)
    r = s.sync()
    assert r.exit_code == 0, s.output
    assert s.local_tree() == s.remote_tree() == {"a.txt": b"three" * 30}, s.output


def test_killed_after_a_download_then_a_remote_delete_does_not_bring_it_back(s):
    s.emu.other.write("/docs/keep.txt", b"k")
    assert s.sync().exit_code == 0
    s.emu.other.write("/docs/new.txt", b"theirs")
    killed_sync(s, "download.replaced")
    assert (s.local() / "new.txt").exists()
    s.emu.other.delete("/docs/new.txt")
    r = s.sync()
    assert r.exit_code == 0, s.output
    assert s.local_tree() == s.remote_tree() == {"keep.txt": b"k"}, s.output


def test_an_intent_whose_file_changed_or_never_landed_is_dropped(s, tmp_path):
    """Only the exact file the worker put there (inode, size, mtime) is recorded;
    a file the user changed since, or a download that never reached its rename,
    leaves the base alone."""
    root = s.local()
    (root / "mine.txt").write_bytes(b"user's")
    st = os.lstat(root / "mine.txt")
    with Index(tmp_path / "i.sqlite3") as index:
        def row(path, size, mtime, ino):
            return BaseEntry(path, path, FILE, size, mtime, ino, "0" * 64, "id1", size, 1.0)
        landed = row("mine.txt", st.st_size, st.st_mtime_ns, st.st_ino)
        index.put_intent("docs", landed)
        index.put_intent("docs", row("gone.txt", 3, 1, 12345))
        assert complete_downloads(index, "docs", str(root)) == 1
        assert index.base("docs") == {"mine.txt": landed} and index.intents("docs") == []
        os.utime(root / "mine.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        index.drop_base("docs", "mine.txt")
        index.put_intent("docs", landed)
        assert complete_downloads(index, "docs", str(root)) == 0
        assert index.base("docs") == {} and index.intents("docs") == []
