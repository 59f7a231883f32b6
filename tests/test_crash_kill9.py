"""kill -9 at every named crash point (issue 5, item 3).

Each test runs the real CLI, ``python -m syncd sync --config FILE``, as a
subprocess against an emulator on 127.0.0.1 with ``SYNCD_CRASH_AT=POINT[:N]``,
so syncd SIGKILLs itself there (the return code must be -9: a point that is
never reached fails the test). Then, with :class:`tests.crash_helpers.World`:

(a) no partial file under a user's name on either side (``.syncd-*.part``
    temp files are tolerated right after the crash, not after the next run);
(b) ``PRAGMA integrity_check`` on the index is ``ok``;
(c) the next run exits 0 and converges: local == remote, every version a user
    wrote and did not delete or overwrite is there (conflict copies count),
    nothing deleted or moved away comes back, and a further run sends no
    upload, download, move, delete or mkdir request.

Also: random crash moments (``*:N``, seeded: ``SYNCD_CRASH_SEED`` replays one,
``SYNCD_SOAK=COUNT`` runs that many), asynchronous SIGKILLs during a
bandwidth-limited sync, and a SIGKILL of the daemon (``syncd run``) mid-upload.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncd import crashpoints
from tests.crash_helpers import World, changing_requests, is_part, new_world

MIB = 1 << 20
BIG = 3 * MIB  # three client chunks: a crash at *.body lands mid-transfer


# ----------------------------------------------------------------------------- scenarios
# Each takes a World whose baseline is synced and makes the users' changes that
# lead the next `syncd sync` to the crash point under test.

def base_files(w: World) -> None:
    w.local_write("keep.txt", 100)
    w.local_write("other.txt", 120)
    w.local_write("dir/inner.txt", 90)
    w.local_write("dir/sub/deep.txt", 70)


def sc_upload_new(w):
    w.local_write("new.txt", 200)


def sc_upload_overwrite(w):
    w.local_write("keep.txt", 150)


def sc_upload_big(w):
    w.local_write("big.bin", BIG)


def sc_upload_overwrite_big(w):
    w.local_write("keep.txt", BIG)


def sc_download_new(w):
    w.remote_write("fresh.txt", 200)


def sc_download_overwrite(w):
    w.remote_write("keep.txt", 150)


def sc_download_big(w):
    w.remote_write("big.bin", BIG)


def sc_download_overwrite_big(w):
    w.remote_write("keep.txt", BIG)


def sc_both_edited(w):
    # rule C: local version renamed to its conflict name (MoveLocal), uploaded;
    # the server's version downloaded under the name
    w.local_write("keep.txt", 130)
    w.remote_write("keep.txt", 170)


def sc_both_created_same_size(w):
    # rule 3: equal sizes -> Compare: download, compare, conflict.aside/replaced
    w.local_write("twin.txt", 180)
    w.remote_write("twin.txt", 180)


def sc_local_rename(w):
    w.local_move("keep.txt", "renamed.txt")


def sc_local_move_into_folder(w):
    w.local_move("keep.txt", "dir/keep.txt")


def sc_local_moves_batch(w):
    w.local_move("keep.txt", "dir/sub/keep.txt")
    w.local_move("other.txt", "dir/sub/other.txt")


def sc_local_folder_move(w):
    w.local_move("dir", "moved/dir")


def sc_remote_rename(w):
    w.remote_move("keep.txt", "renamed.txt")


def sc_remote_move_into_folder(w):
    w.remote_move("other.txt", "dir/other.txt")


def sc_remote_folder_move(w):
    w.remote_move("dir", "elsewhere/dir")


def sc_local_mkdir(w):
    w.local_mkdir("empty-local")


def sc_remote_mkdir(w):
    w.remote_mkdir("empty-remote")


def sc_local_delete(w):
    w.local_delete("keep.txt")


def sc_local_delete_two(w):
    w.local_delete("keep.txt")
    w.local_delete("dir/inner.txt")


def sc_remote_delete(w):
    w.remote_delete("keep.txt")


def sc_mixed(w, rng: random.Random | None = None):
    """Edits on both sides, new files, moves and deletes on both sides, folders."""
    size = (lambda lo, hi: rng.randrange(lo, hi)) if rng else (lambda lo, hi: lo)
    w.local_write("keep.txt", size(100, 400))         # local edit
    w.remote_write("other.txt", size(100, 400))       # remote edit
    w.local_write("l-new.txt", size(50, 300))         # local new
    w.remote_write("r-new/file.txt", size(50, 300))   # remote new in a new folder
    w.local_move("dir/inner.txt", "inner-moved.txt")  # local move
    w.remote_move("dir/sub/deep.txt", "deep-renamed.txt")  # remote move + rename
    w.local_delete("x1.txt")                          # local delete
    w.remote_delete("x2.txt")                         # remote delete
    w.local_mkdir("l-empty")
    w.remote_mkdir("r-empty")


def mixed_base(w: World) -> None:
    base_files(w)
    w.local_write("x1.txt", 60)
    w.local_write("x2.txt", 61)


CASES = [
    # point, scenario, N
    ("upload.start", sc_upload_new, 1),
    ("upload.start", sc_upload_overwrite, 1),
    ("upload.body", sc_upload_new, 1),
    ("upload.body", sc_upload_big, 1),
    ("upload.body", sc_upload_overwrite_big, 1),
    ("upload.sent", sc_upload_new, 1),
    ("upload.sent", sc_upload_overwrite, 1),
    ("upload.sent", sc_both_edited, 1),
    ("download.body", sc_download_new, 1),
    ("download.body", sc_download_big, 1),
    ("download.body", sc_download_overwrite_big, 1),
    ("download.fetched", sc_download_new, 1),
    ("download.fetched", sc_download_overwrite, 1),
    ("download.fetched", sc_both_created_same_size, 1),
    ("download.replaced", sc_download_new, 1),
    ("download.replaced", sc_download_overwrite, 1),
    ("download.replaced", sc_both_edited, 1),
    ("conflict.aside", sc_both_created_same_size, 1),
    ("conflict.replaced", sc_both_created_same_size, 1),
    ("move.local.done", sc_remote_rename, 1),
    ("move.local.done", sc_remote_move_into_folder, 1),
    ("move.local.done", sc_remote_folder_move, 1),
    ("move.local.done", sc_both_edited, 1),
    ("move.remote.done", sc_local_rename, 1),
    ("move.remote.done", sc_local_move_into_folder, 1),
    ("move.remote.done", sc_local_moves_batch, 1),
    ("move.remote.done", sc_local_folder_move, 1),
    ("mkdir.local.done", sc_remote_mkdir, 1),
    ("mkdir.remote.done", sc_local_mkdir, 1),
    ("delete.local.done", sc_remote_delete, 1),
    ("delete.remote.done", sc_local_delete, 1),
    ("delete.remote.done", sc_local_delete_two, 1),
    ("index.commit", sc_mixed, 1),
    ("index.commit", sc_mixed, 2),
    ("index.commit", sc_mixed, 4),
    ("index.commit", sc_mixed, 7),
    ("index.commit", sc_mixed, 11),
    ("pass.queued", sc_mixed, 1),
    ("pass.refreshed", sc_mixed, 1),
    ("pass.refreshed", sc_download_new, 1),
]


def _case_id(case) -> str:
    point, sc, n = case
    return f"{point}{'' if n == 1 else f':{n}'}-{sc.__name__[3:]}"


# The backend records the activity-feed echo of a server change (index.expect_echo,
# its own committed write) as soon as the request returns, before the worker records
# the change itself. Killed in between, the next run's feed refresh consumes the echo
# as "ours, already recorded", so the remote snapshot never learns of the change:
# the upload is repeated (lands elsewhere: a spurious conflicted copy, no convergence),
# a move is repeated (400 destination exists, every run, until the daily full
# listing).
ECHO_BUG = ("BUG: echo committed before the worker records a server change; after a crash "
            "the next refresh skips the change (snapshot stale, no convergence)")
XFAIL = {
    "upload.sent-upload_new": ECHO_BUG,
    "upload.sent-both_edited": ECHO_BUG,
    "move.remote.done-local_rename": ECHO_BUG,
    "move.remote.done-local_move_into_folder": ECHO_BUG,
    "move.remote.done-local_moves_batch": ECHO_BUG,
    "move.remote.done-local_folder_move": ECHO_BUG,
    # delete.remote.done has the same cause but converges: the repeated delete's 404
    # counts as done (worker._deletes)
}


def _params():
    for case in CASES:
        cid = _case_id(case)
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[cid])] if cid in XFAIL else []
        yield pytest.param(case, id=cid, marks=marks)


def make_world(make_emulator, tmp_path, scenario, **kw) -> World:
    w = new_world(make_emulator, tmp_path, **kw)
    (mixed_base if scenario is sc_mixed else base_files)(w)
    w.baseline()
    return w


def test_every_point_has_a_case():
    # upload.aside needs a name taken on the server between the plan and the
    # upload: the daemon's focused pass does that (test_daemon_kill9_upload_aside)
    assert {p for p, _, _ in CASES} | {"upload.aside"} == set(crashpoints.POINTS)


@pytest.mark.parametrize("case", list(_params()))
def test_kill9_at_point(make_emulator, tmp_path, case):
    point, scenario, n = case
    w = make_world(make_emulator, tmp_path, scenario)
    scenario(w)
    w.crash(point if n == 1 else f"{point}:{n}")
    w.check_after_crash()
    w.recover()


def test_kill9_remote_delete_mode(make_emulator, tmp_path):
    """``remote_delete: delete`` (no trash): killed after the server deleted."""
    w = make_world(make_emulator, tmp_path, sc_local_delete,
                   mirror_opts={"remote_delete": "delete"})
    sc_local_delete_two(w)
    w.crash("delete.remote.done")
    w.check_after_crash()
    w.recover()
