"""kill -9 at every named crash point (issue 5, item 3).

Each test runs the real CLI, ``python -m syncd sync --config FILE``, as a
subprocess against an emulator on 127.0.0.1 with ``SYNCD_CRASH_AT=POINT[:N]``,
so syncd SIGKILLs itself there (the return code must be -9: a point that is
never reached fails the test). Then, with :class:`tests.helpers.crash.World`:

(a) no partial file under a user's name on either side (``.syncd-*.part``
    temp files are tolerated right after the crash, not after the next run);
(b) ``PRAGMA integrity_check`` on the index is ``ok``;
(c) the next run exits 0 and converges: local == remote, every version a user
    wrote and did not delete or overwrite is there (conflict copies count),
    nothing deleted or moved away comes back, and a further run sends no
    upload, download, move, delete or mkdir request.

The named-point tests also ask for no false conflict (one version under two
names). Also: random crash moments (``*:N`` over two mixed scenarios, traced so
a failure names the point; seeded: ``SYNCD_CRASH_SEED=S`` replays case S,
``SYNCD_SOAK=COUNT`` runs COUNT of them and COUNT/4 async kills; the seeds are
printed, run with ``-s`` or see the failure message), asynchronous SIGKILLs
during a bandwidth-limited sync, and SIGKILLs of the daemon (``syncd run``)
mid-upload and at ``upload.aside`` (reachable only by the daemon's focused pass).

Known bugs are pinned as strict xfails: test_seed_1019829610_... (see its comment).
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
from tests.helpers.crash import World, is_part, new_world

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
    # edits change the size: a same-size remote edit within the second of the last
    # sync is invisible to syncd even without a crash (see test_seed_1019829610_...)
    size = (lambda lo, hi: rng.randrange(lo, hi)) if rng else (lambda lo, hi: lo)
    w.local_write("keep.txt", size(130, 400))         # local edit (base: 100 B)
    w.remote_write("other.txt", size(130, 400))       # remote edit (base: 120 B)
    w.local_write("l-new.txt", size(50, 300))         # local new
    w.remote_write("r-new/file.txt", size(50, 300))   # remote new in a new folder
    w.local_move("dir/inner.txt", "inner-moved.txt")  # local move
    w.remote_move("dir/sub/deep.txt", "deep-renamed.txt")  # remote move + rename
    w.local_delete("x1.txt")                          # local delete
    w.remote_delete("x2.txt")                         # remote delete
    w.local_mkdir("l-empty")
    w.remote_mkdir("r-empty")


def sc_mixed_conflicts(w, rng: random.Random | None = None):
    """Conflicts of both kinds, a remote folder move, nested new folders."""
    size = (lambda lo, hi: rng.randrange(lo, hi)) if rng else (lambda lo, hi: lo)
    w.local_write("keep.txt", size(130, 250))         # both edited: rule C
    w.remote_write("keep.txt", size(250, 400))
    twin = size(100, 300)
    w.local_write("twin.txt", twin)                   # both created, equal size: Compare
    w.remote_write("twin.txt", twin)
    w.remote_move("dir", "moved/dir")                 # remote folder move
    w.local_delete("x1.txt")
    w.remote_move("x2.txt", "x2-renamed.txt")
    w.local_mkdir("a/b/c")
    w.local_write("newdir/f.txt", size(40, 90))


def mixed_base(w: World) -> None:
    base_files(w)
    w.local_write("x1.txt", 60)
    w.local_write("x2.txt", 61)


CASES = [
    # point, scenario, N
    ("upload.start", sc_upload_new, 1),
    ("upload.start", sc_upload_overwrite, 1),
    ("upload.body", sc_upload_big, 1),
    ("upload.body", sc_upload_overwrite_big, 1),
    ("upload.sent", sc_upload_new, 1),
    ("upload.sent", sc_upload_overwrite, 1),
    ("upload.sent", sc_both_edited, 1),
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
    ("pass.queued", sc_mixed, 1),
    ("pass.refreshed", sc_mixed, 1),
]


def _case_id(case) -> str:
    point, sc, n = case
    return f"{point}{'' if n == 1 else f':{n}'}-{sc.__name__[3:]}"


# Fixed in 2803db2 (found here): the backend committed the feed echo of a server
# change before the worker recorded the change; killed in between, the next refresh
# skipped the change as "ours" (upload.sent, move.remote.done, upload.aside cases
# and seed 830035069 below are its regression tests).
# Fixed in issue 16, item 8 (these were strict xfails): killed after an overwrite
# reached its target (upload.sent / download.replaced) but before the index recorded
# it, both sides differ from the base; rule 6 made a conflicted copy holding the very
# same bytes as the file itself. Equal-size M/M is now compared first (one download).
XFAIL: dict[str, str] = {}


def _params():
    for case in CASES:
        cid = _case_id(case)
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[cid])] if cid in XFAIL else []
        yield pytest.param(case, id=cid, marks=marks)


def make_world(make_emulator, tmp_path, scenario, **kw) -> World:
    w = new_world(make_emulator, tmp_path, **kw)
    (mixed_base if scenario in (sc_mixed, sc_mixed_conflicts) else base_files)(w)
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
    if point in ("download.body", "download.fetched"):
        # the temp file is there: the next run must clean it up
        assert any(is_part(p) for p in w.setup.local_tree()), w.setup.local_tree().keys()
    w.recover(no_copies=True)


def test_kill9_remote_delete_mode(make_emulator, tmp_path):
    """``remote_delete: delete`` (no trash): killed after the server deleted."""
    w = make_world(make_emulator, tmp_path, sc_local_delete,
                   mirror_opts={"remote_delete": "delete"})
    sc_local_delete_two(w)
    w.crash("delete.remote.done")
    w.check_after_crash()
    w.recover()


# ----------------------------------------------------------------------------- random moments

def _random_seeds() -> list[int]:
    """``SYNCD_CRASH_SEED=S`` replays the one case S; else ``SYNCD_SOAK`` (default 20)
    cases, seeds S0, S0+1, ... from a fresh S0 each run."""
    if os.environ.get("SYNCD_CRASH_SEED"):
        return [int(os.environ["SYNCD_CRASH_SEED"])]
    count = int(os.environ.get("SYNCD_SOAK") or 20)
    first = random.SystemRandom().randrange(1, 1 << 30)
    return [first + i for i in range(count)]


RANDOM_SEEDS = _random_seeds()
_TRACES: dict[str, list[str]] = {}


def scenario_trace(make_emulator, tmp_path_factory, scenario) -> list[str]:
    """The crash points one `syncd sync` of a mixed scenario reaches, in order
    (traced once per session, without a crash)."""
    if scenario.__name__ not in _TRACES:
        w = make_world(make_emulator, tmp_path_factory.mktemp("count"), scenario)
        scenario(w)
        out, names = w.traced_sync()
        assert out.returncode == 0, out.stdout + out.stderr
        _TRACES[scenario.__name__] = names
    return _TRACES[scenario.__name__]


MIXED = (sc_mixed, sc_mixed_conflicts)


def run_random_case(make_emulator, tmp_path, tmp_path_factory, seed: int) -> None:
    rng = random.Random(seed)
    scenario = rng.choice(MIXED)
    hits = len(scenario_trace(make_emulator, tmp_path_factory, scenario))
    n = rng.randint(1, hits)
    print(f"SYNCD_CRASH_SEED={seed}: {scenario.__name__}, SYNCD_CRASH_AT=*:{n} of {hits} points")
    w = make_world(make_emulator, tmp_path, scenario)
    w.name = f"s{seed}"
    scenario(w, rng)
    out, names = w.traced_sync(f"*:{n}")
    w.log.append(f"(replay: SYNCD_CRASH_SEED={seed}; {scenario.__name__}; SYNCD_CRASH_AT=*:{n} of {hits}; "
                 f"killed at {names[n - 1:]} after {names[:n - 1]})")
    assert out.returncode == -9, f"*:{n} never reached: {out.stdout}{out.stderr}\n{w.story()}"
    assert len(names) >= n, names
    print(f"killed at {names[n - 1:]}")
    w.check_after_crash()
    w.recover()


@pytest.mark.parametrize("seed", RANDOM_SEEDS, ids=lambda s: f"seed{s}")
def test_kill9_at_a_random_moment(make_emulator, tmp_path, tmp_path_factory, seed):
    run_random_case(make_emulator, tmp_path, tmp_path_factory, seed)


def test_seed_830035069_killed_at_the_commit_after_a_remote_move(make_emulator, tmp_path):
    """Seed 830035069 (*:25 of 102) killed syncd at the index commit that records a
    remote move (local dir/inner.txt -> inner-moved.txt): the next run re-did the move,
    the server refused it (destination exists), exit 75, not converged. Found by
    test_kill9_at_a_random_moment; pinned here to that moment by name, not by N."""
    probe = make_world(make_emulator, tmp_path / "probe", sc_mixed) \
        if (tmp_path / "probe").mkdir() is None else None
    sc_mixed(probe, random.Random(830035069))
    out, names = probe.traced_sync()
    assert out.returncode == 0
    n = names.index("index.commit", names.index("move.remote.done")) + 1
    (tmp_path / "run").mkdir()
    w = make_world(make_emulator, tmp_path / "run", sc_mixed)
    sc_mixed(w, random.Random(830035069))
    out, names = w.traced_sync(f"*:{n}")
    assert out.returncode == -9 and names[-2:] == ["move.remote.done", "index.commit"]
    w.check_after_crash()
    w.recover()


@pytest.mark.xfail(strict=True, reason="BUG: a remote edit of the same size within the same "
                   "second as the last sync is never synced (id, size and updatedAt unchanged)")
def test_seed_1019829610_same_size_remote_edit_in_the_same_second_is_missed(make_emulator,
                                                                             tmp_path):
    """Seed 1019829610 drew 120 B for the remote edit of other.txt, whose synced
    version was 120 B too; killed at pass.queued (no action had run), the next run
    never downloaded it. No crash is needed: the server keeps the id on overwrite and
    updatedAt has 1 s resolution, so the stat equals the base although the activity
    feed reported another user's upload of that path. The local file stays old, and a
    later local edit would be uploaded over the other user's version (the pre-upload
    stat matches the known version)."""
    w = new_world(make_emulator, tmp_path)
    w.local_write("other.txt", 120)
    while time.time() % 1 > 0.3:  # start early in a second: sync and edit within it
        time.sleep(0.02)
    w.baseline()
    before = w.emu.other.info("/docs/other.txt")
    w.remote_write("other.txt", 120)
    after = w.emu.other.info("/docs/other.txt")
    if (before["id"], before["attributes"]["updatedAt"]) != \
            (after["id"], after["attributes"]["updatedAt"]):
        pytest.skip("the edit fell into the next second: nothing to show")
    out = w.cli_sync()
    assert out.returncode == 0, out.stdout + out.stderr
    w.check_converged()


# ----------------------------------------------------------------------------- real SIGKILLs

ASYNC_SEED = int(os.environ.get("SYNCD_CRASH_SEED") or random.SystemRandom().randrange(1 << 30))
ASYNC_CASES = (1 if os.environ.get("SYNCD_CRASH_SEED")
               else max(5, int(os.environ.get("SYNCD_SOAK") or 0) // 4))
BANDWIDTH = 2 * MIB  # bytes/s per request on the emulator


def sc_large(w: World, rng: random.Random) -> None:
    # more than one client chunk each, ~0.7 s each at BANDWIDTH (in parallel)
    w.local_write("up/large.bin", MIB + MIB // 4 + rng.randrange(MIB // 4))
    w.remote_write("down/large.bin", MIB + MIB // 4 + rng.randrange(MIB // 4))
    w.local_write("keep.txt", rng.randrange(80, 300))
    w.remote_write("other.txt", rng.randrange(130, 400))  # not 120 B: see the same-size bug
    w.local_move("dir/inner.txt", "inner-moved.txt")
    w.remote_delete("dir/sub/deep.txt")


@pytest.mark.parametrize("case", range(ASYNC_CASES), ids=lambda i: f"case{i}")
def test_sigkill_at_a_random_time_during_a_large_sync(make_emulator, tmp_path, case):
    seed = ASYNC_SEED + case
    rng = random.Random(seed)
    delay = rng.uniform(0.15, 0.75)  # the whole sync takes >= 0.9 s
    print(f"SYNCD_CRASH_SEED={seed}: SIGKILL after {delay:.2f}s")
    w = make_world(make_emulator, tmp_path, sc_upload_new, emu_opts={"bandwidth": BANDWIDTH})
    sc_large(w, rng)
    w.log.append(f"(replay: SYNCD_CRASH_SEED={seed}; SIGKILL after {delay:.2f}s)")
    proc = w.popen_sync()
    try:
        time.sleep(delay)
        assert proc.poll() is None, f"the sync ended before the kill: {proc.communicate()}"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    w.check_after_crash()
    w.recover()


# ----------------------------------------------------------------------------- the daemon

def wait_for(cond, timeout: float, step: float = 0.05):
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() > end:
            return value
        time.sleep(step)


class Daemon:
    """`syncd run` as a subprocess, with a NOTIFY_SOCKET to learn when it is idle."""

    def __init__(self, w: World, tmp_path: Path, name: str, crash: str | None = None):
        import tempfile
        self.dir = Path(tempfile.mkdtemp(prefix="k9"))  # short: AF_UNIX path limit
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.dir / "n.sock"))
        self.sock.setblocking(False)
        self.messages: list[str] = []
        self.log_path = tmp_path / f"{name}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in close())
        env = {k: v for k, v in os.environ.items() if k != "SYNCD_CRASH_AT"}
        env["NOTIFY_SOCKET"] = str(self.dir / "n.sock")
        if crash:
            env["SYNCD_CRASH_AT"] = crash
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncd", "run", "--config", str(w.setup.config_path),
             "--log-level", "debug"], stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def statuses(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except BlockingIOError:
                break
        return [line[7:] for m in self.messages for line in m.split("\n")
                if line.startswith("STATUS=")]

    def wait_idle(self, after: int = 0, timeout: float = 30.0) -> int:
        def idle():
            s = self.statuses()
            return any(x.startswith("idle") for x in s[after:]) and len(s)
        n = wait_for(idle, timeout)
        assert n, f"daemon never became idle; log:\n{self.log()}"
        return n

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        self.sock.close()


@pytest.fixture
def daemons(tmp_path):
    started: list[Daemon] = []

    def start(w: World, name: str = "daemon", crash: str | None = None) -> Daemon:
        d = Daemon(w, tmp_path, name, crash)
        started.append(d)
        return d

    yield start
    for d in started:
        d.close()


def daemon_world(make_emulator, tmp_path, **emu_opts) -> World:
    w = new_world(make_emulator, tmp_path, emu_opts=emu_opts or None)
    w.setup.daemon_opts = {"settle": "0.2s"}
    w.setup.set_options("docs", poll_interval="1h")
    base_files(w)
    w.baseline()
    return w


def test_daemon_sigkill_during_an_upload_then_restart_converges(make_emulator, tmp_path,
                                                                 daemons):
    seed = ASYNC_SEED
    rng = random.Random(seed)
    w = daemon_world(make_emulator, tmp_path, bandwidth=MIB)
    d = daemons(w)
    d.wait_idle()
    w.local_write("keep.txt", 222)
    w.local_write("video.bin", MIB + MIB // 2)  # ~1.5 s at 1 MiB/s
    uploads = lambda: [r for r in list(w.emu.request_log)
                       if r.method == "POST" and r.path.endswith("/upload")]
    # the small file goes first (smallest first): once it is on the server, the big one is on its way
    assert wait_for(lambda: w.setup.remote_tree().get("keep.txt") ==
                    (w.local_root / "keep.txt").read_bytes(), 10), d.log()
    delay = rng.uniform(0.1, 0.7)
    print(f"SYNCD_CRASH_SEED={seed}: SIGKILL {delay:.2f}s into the upload")
    time.sleep(delay)
    assert d.proc.poll() is None, d.log()
    assert "video.bin" not in w.setup.remote_tree(), "the upload was already done"
    os.kill(d.proc.pid, signal.SIGKILL)
    assert d.proc.wait(10) == -9
    assert not [r for r in uploads() if r.query.get("path") == ["/docs/video.bin"]], \
        "the upload completed before the kill"
    w.check_after_crash()

    d2 = daemons(w, "restarted")
    d2.wait_idle()
    assert wait_for(lambda: w.setup.remote_tree().get("video.bin") ==
                    (w.local_root / "video.bin").read_bytes(), 20), d2.log()
    d2.proc.send_signal(signal.SIGTERM)
    assert d2.proc.wait(15) == 0, d2.log()
    w.check_converged()
    w.check_quiet(cli=True)


def test_daemon_kill9_at_upload_body(make_emulator, tmp_path, daemons):
    """The daemon killed by its own crash point mid-upload; the restarted one converges."""
    w = daemon_world(make_emulator, tmp_path)
    d = daemons(w, crash="upload.body")
    d.wait_idle()
    w.local_write("big.bin", BIG)
    assert wait_for(lambda: d.proc.poll() is not None, 20), d.log()
    assert d.proc.returncode == -9, d.log()
    w.check_after_crash()
    d2 = daemons(w, "restarted")
    d2.wait_idle()
    assert wait_for(lambda: "big.bin" in w.setup.remote_tree(), 20), d2.log()
    d2.proc.send_signal(signal.SIGTERM)
    assert d2.proc.wait(15) == 0, d2.log()
    w.check_converged()
    w.check_quiet(cli=True)


@pytest.mark.parametrize("no_copies", [
    False,
    pytest.param(True, marks=pytest.mark.xfail(strict=True, reason=(
        "BUG: killed at upload.aside, the next run makes a second conflicted copy of our "
        "version (the server already holds it under the first conflict name)"))),
], ids=["converges", "one_copy"])
def test_daemon_kill9_at_upload_aside(make_emulator, tmp_path, daemons, no_copies):
    """upload.aside: someone created the name after our last look at the server, so
    our upload (allowOverwrite=false) landed under another name and was moved to its
    conflict name; the daemon is killed before the index knows. A focused pass (a
    local change, no remote poll) is what uploads without looking first."""
    w = daemon_world(make_emulator, tmp_path)
    d = daemons(w, crash="upload.aside")
    d.wait_idle()
    w.remote_write("race.txt", 300)   # theirs, unseen: no poll for an hour
    w.local_write("race.txt", 140)    # ours
    assert wait_for(lambda: d.proc.poll() is not None, 20), d.log()
    assert d.proc.returncode == -9, d.log()
    w.check_after_crash()
    w.recover(no_copies=no_copies)
