"""Safety of `syncd sync` end to end: races between planning and execution,
failures mid-transfer, hostile names, vanished roots, the CLI contract, Unicode,
and the one-way directions. Real emulator over HTTP on 127.0.0.1, real temp
folders, real config files; request counts come from the emulator's log.

"Acting between planning and execution" is simulated with a Reporter whose
``start()`` (called by the engine right before the worker runs the plan) changes
files on either side."""

from __future__ import annotations

import io
import os
import threading
import time
import unicodedata
from pathlib import Path

import pytest
import yaml

from syncd.transfer import worker
from syncd.config.loader import load_config
from syncd.engine import SyncEngine
from syncd.remote.exavault.api import RetryPolicy
from syncd.report import Reporter
from tests.helpers.accounts import ACCESS_TOKEN, API_KEY
from tests.helpers.sync import make_setup


@pytest.fixture
def s(make_emulator, tmp_path):
    return make_setup(make_emulator, tmp_path)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def ops(setup, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path.removeprefix("/api/v2")) for r in setup.emu.request_log[since:]]


def transfers(setup, since: int = 0) -> list[tuple[str, str]]:
    return [o for o in ops(setup, since)
            if o[1] in ("/resources/upload", "/resources/download")]


def mentions(setup, needle: str, since: int = 0) -> list:
    """Requests (after ``since``) whose path or query names ``needle``."""
    out = []
    for r in setup.emu.request_log[since:]:
        text = r.path + " " + " ".join(v for vs in r.query.values() for v in vs)
        if needle in text:
            out.append(r)
    return out


def assert_same(setup, mirror="docs"):
    assert setup.local_tree(mirror) == setup.remote_tree(mirror)


def synced(s, files: dict[str, str | bytes]) -> int:
    for rel, data in files.items():
        write(s.local() / rel, data)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert_same(s)
    return len(s.emu.request_log)


def part_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".syncd-*") if p.name.endswith(".part")]


def converge(s, runs: int = 3):
    """Sync until exit 0 (at most ``runs`` passes); returns the last result."""
    for _ in range(runs):
        r = s.sync()
        if r.exit_code == 0:
            return r
    return r


class HookReporter(Reporter):
    """A plain-log Reporter that calls ``on_start()`` the first time the worker is
    about to execute a plan, i.e. between planning and execution."""

    def __init__(self, on_start=None):
        super().__init__(io.StringIO(), fancy=False)
        self.on_start = on_start
        self.starts = 0

    def start(self, mirror, total, sizes=None):
        self.starts += 1
        if self.starts == 1 and self.on_start is not None:
            self.on_start()
        super().start(mirror, total, sizes)


def run_hooked(s, reporter: HookReporter, **kw):
    engine = SyncEngine(load_config(s.config_path), host="testhost", reporter=reporter)
    result = engine.run(**kw)
    s.output = reporter.stream.getvalue()
    return result


def contents(tree: dict) -> list[bytes]:
    return sorted(v for v in tree.values() if v is not None)


# =============================================================== races: plan vs execution

def test_download_never_overwrites_a_local_edit_made_after_planning(s):
    synced(s, {"a.txt": "v1"})
    s.emu.other.write("/docs/a.txt", b"v2 from the server")
    mine = b"the user's local edit, made while syncd was planning"

    def user_edits():
        (s.local() / "a.txt").write_bytes(mine)

    rep = HookReporter(on_start=user_edits)
    r = run_hooked(s, rep)
    assert rep.starts >= 1
    assert r.exit_code in (0, 75), (r.message, s.output)
    assert mine in s.local_tree().values(), "the user's bytes were overwritten"

    r = converge(s)
    assert r.exit_code == 0, (r.message, s.output)
    local, remote = s.local_tree(), s.remote_tree()
    assert local == remote
    assert mine in local.values() and b"v2 from the server" in local.values()
    assert len(local) == 2 and any("conflicted copy testhost" in p for p in local)


def test_upload_never_replaces_a_remote_edit_made_after_planning(s):
    synced(s, {"report.md": "v1"})
    time.sleep(0.01)
    write(s.local() / "report.md", "v2, edited locally")
    theirs = b"v2 from another user, written during the run (longer)"

    def other_user_writes():
        s.emu.other.write("/docs/report.md", theirs)

    rep = HookReporter(on_start=other_user_writes)
    r = run_hooked(s, rep)
    assert r.exit_code in (0, 75), (r.message, s.output)
    assert theirs in s.remote_tree().values(), "the other user's version was replaced"

    r = converge(s)
    assert r.exit_code == 0, (r.message, s.output)
    local = s.local_tree()
    assert local == s.remote_tree()
    assert contents(local) == sorted([theirs, b"v2, edited locally"])
    assert any("conflicted copy testhost" in p for p in local)


def test_new_file_created_remotely_during_its_upload_keeps_both(s):
    synced(s, {"keep.txt": "k"})
    write(s.local() / "plan.txt", "ours: the local new file")
    theirs = b"theirs: created on the server meanwhile"

    def other_user_creates():
        s.emu.other.write("/docs/plan.txt", theirs)

    rep = HookReporter(on_start=other_user_creates)
    r = run_hooked(s, rep)
    assert r.exit_code in (0, 75), (r.message, s.output)
    assert s.emu.other.read("/docs/plan.txt") == theirs, "theirs was replaced"
    everything = list(s.local_tree().values()) + list(s.remote_tree().values())
    assert b"ours: the local new file" in everything

    r = converge(s)
    assert r.exit_code == 0, (r.message, s.output)
    local = s.local_tree()
    assert local == s.remote_tree()
    assert contents(local) == sorted([b"k", theirs, b"ours: the local new file"])
    assert not any("(1)" in p for p in local), local


@pytest.mark.parametrize("change", ["append", "rewrite same size"])
def test_upload_source_changing_while_read_is_not_recorded_as_synced(s, change):
    s.set_options(bandwidth={"up": "16MB"})  # 8 MB take ~0.5 s to send
    big = s.local() / "big.bin"
    write(big, bytes(range(256)) * (8 * 4096))  # 8 MiB
    write(s.local() / "small.txt", "small")
    changed = threading.Event()

    def change_soon():
        def later():
            time.sleep(0.2)
            if change == "append":
                with open(big, "ab") as f:
                    f.write(b"appended while syncd was reading")
            else:
                with open(big, "r+b") as f:  # same size, new bytes at both ends
                    f.write(b"X" * 4096)
                    f.seek(-4096, os.SEEK_END)
                    f.write(b"Y" * 4096)
            changed.set()

        threading.Thread(target=later, daemon=True).start()

    rep = HookReporter(on_start=change_soon)
    r = run_hooked(s, rep)
    assert changed.wait(5)
    assert r.exit_code in (0, 75), (r.message, s.output)

    final = big.read_bytes()
    assert final != bytes(range(256)) * (8 * 4096)
    r = converge(s)
    assert r.exit_code == 0, (r.message, s.output)
    assert s.emu.other.read("/docs/big.bin") == final
    assert_same(s)
    # and it is recorded as synced now: a quiet pass uploads nothing
    n = len(s.emu.request_log)
    assert s.sync().exit_code == 0
    assert not transfers(s, n)
    sends = [r for r in mentions(s, "big.bin") if r.path.endswith("/resources/upload")]
    assert len(sends) >= 2, "the version changed while read went again"


# =============================================================== failures

REFUSED = b"the server will refuse this name"


def refused_item_setup(s):
    """Three new files upload; a fourth (bad.txt) is refused by the server with a
    400 because another user put a FOLDER of that name there during the run.
    Returns the first pass's result."""
    synced(s, {"keep.txt": "k"})
    for i in range(3):
        write(s.local() / f"ok{i}.txt", f"fine {i}")
    write(s.local() / "bad.txt", REFUSED)

    def other_user_takes_the_name():
        s.emu.other.write("/docs/bad.txt/inside.txt", b"theirs")

    return run_hooked(s, HookReporter(on_start=other_user_takes_the_name))


def test_one_refused_item_backs_off_without_blocking_the_rest(s):
    r = refused_item_setup(s)
    assert r.exit_code == 1, (r.message, s.output)
    assert "\n" not in r.message and r.message.startswith("docs: bad.txt: "), r.message
    assert "existing folder" in r.message
    remote = s.remote_tree()
    assert all(remote[f"ok{i}.txt"] == f"fine {i}".encode() for i in range(3))
    assert remote["bad.txt/inside.txt"] == b"theirs"
    assert (s.local() / "bad.txt").read_bytes() == REFUSED

    # Soon after: no request names the bad item (it is backing off); the rest syncs.
    write(s.local() / "later.txt", "a new file after the failure")
    n = len(s.emu.request_log)
    r = s.sync()
    assert r.exit_code in (1, 75), (r.message, s.output)
    assert not mentions(s, "bad.txt", n), ops(s, n)
    assert not mentions(s, "bad (conflicted", n), ops(s, n)
    assert s.remote_tree()["later.txt"] == b"a new file after the failure"
    assert (s.local() / "bad.txt").read_bytes() == REFUSED

    # Once the backoff (30 s) has passed it is tried again: both versions are kept.
    r = s.sync(now=lambda: time.time() + 120)
    if r.exit_code != 0:
        r = s.sync(now=lambda: time.time() + 3600)
    assert r.exit_code == 0, (r.message, s.output)
    local = s.local_tree()
    assert local == s.remote_tree()
    assert local["bad.txt/inside.txt"] == b"theirs"
    assert REFUSED in local.values() and b"a new file after the failure" in local.values()


def test_backed_off_item_does_not_cause_failures_of_its_dependents(s):
    refused_item_setup(s)
    r = s.sync()
    assert r.mirrors[0].failed == [], r.mirrors[0].failed
    assert r.exit_code == 75, r.message


@pytest.mark.parametrize("seed", [2, 6])  # 500-after on a new upload; resets, listing 500s
def test_transient_server_faults_converge_without_loss_or_duplicates(s, seed):
    expected = {}
    for i in range(10):
        expected[f"up/f{i:02}.txt"] = write(s.local() / f"up/f{i:02}.txt",
                                            f"local file {i} " * (i + 1)).read_bytes()
    for i in range(10):
        data = f"remote file {i} ".encode() * (i + 1)
        s.emu.other.write(f"/docs/down/g{i:02}.txt", data)
        expected[f"down/g{i:02}.txt"] = data
    s.set_options(transfers=1)  # one request at a time: the seeded faults are reproducible
    s.emu.set_faults(0.2, seed=seed)
    codes = []
    for _ in range(6):
        r = s.sync()
        codes.append((r.exit_code, r.message))
        everything = {**s.remote_tree(), **s.local_tree()}
        for rel, data in expected.items():  # never lost, on one side at least
            assert everything.get(rel) == data, (rel, codes)
        names = set(s.local_tree()) | set(s.remote_tree())
        assert not [p for p in names if "(1)" in p or "conflicted copy" in p], names
        assert not part_files(s.local()), codes
        if r.exit_code == 0:
            break
        assert r.exit_code == 75, codes
    assert r.exit_code == 0, codes
    s.emu.set_faults(0.0)
    local = s.local_tree()
    assert local == s.remote_tree()
    assert {p: d for p, d in local.items() if d is not None} == expected


def _seed_where_faults_come_after(n: int) -> int:
    """A fault seed whose first ``n`` decisions (rate 1, truncate only) are all in the
    *after* phase: the download really starts and is cut half way."""
    from syncd.emulators.exavault.faults import FaultInjector

    for seed in range(1000):
        inj = FaultInjector(1.0, seed, ("truncate",))
        if all(inj.decide().phase == "after" for _ in range(n)):
            return seed
    raise AssertionError("no such seed")


def test_interrupted_downloads_leave_no_partial_target_and_resume(s):
    old = b"old version " * 1000
    synced(s, {"edited.bin": old})
    # Over 2 MiB each: the cut comes after the client wrote its first 1 MiB block,
    # so the .part file really held partial content (the client does not retry it).
    new_edit = bytes(range(256)) * 12288              # 3 MiB
    new_file = bytes(reversed(range(256))) * 14336    # 3.5 MiB
    s.emu.other.write("/docs/edited.bin", new_edit)
    s.emu.other.write("/docs/sub/new.bin", new_file)
    s.set_options(transfers=2)  # both downloads run (and are cut) in this pass
    seed = _seed_where_faults_come_after(2)

    def cut_every_download():
        s.emu.set_faults(1.0, kinds=["truncate"], seed=seed)

    seen_sizes, seen_new, done = set(), [], threading.Event()

    def watch():  # what a user looking at the folder during the pass could see
        while not done.is_set():
            try:
                seen_sizes.add((s.local() / "edited.bin").stat().st_size)
            except FileNotFoundError:
                seen_sizes.add(None)
            seen_new.append((s.local() / "sub/new.bin").exists())
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    n = len(s.emu.request_log)
    try:
        r = run_hooked(s, HookReporter(on_start=cut_every_download))
    finally:
        done.set()
        watcher.join()
    s.emu.set_faults(0.0)
    assert seen_sizes == {len(old)} and not any(seen_new)
    # each cut download is tried again within the pass on a fresh temp file (the
    # client cannot repeat it: bytes were saved), up to ITEM_ATTEMPTS times; a try
    # cut before any byte arrived is repeated by the client itself, which ends it
    tries = len([o for o in ops(s, n) if o[1] == "/resources/download"])
    assert 2 <= tries <= 2 * (worker.ITEM_ATTEMPTS - 1 + RetryPolicy().attempts), ops(s, n)
    assert r.exit_code == 75, (r.message, s.output)
    assert "nothing was lost" in r.message and "\n" not in r.message
    # What the cut downloads fetched is only in hidden temp files kept to resume them
    # (transfer/downloads.py: recorded in the index, each a prefix of its file).
    index = s.index()
    try:
        partials = index.mirror_state("docs").partials or {}
    finally:
        index.close()
    kept = {str(p.relative_to(s.local())): p.read_bytes() for p in part_files(s.local())}
    assert sorted(kept) == sorted(r["part"] for r in partials.values())
    for rel, data in kept.items():
        assert (new_file if rel.startswith("sub/") else new_edit).startswith(data)
    assert (s.local() / "edited.bin").read_bytes() == old   # untouched, not half new
    assert not (s.local() / "sub/new.bin").exists()          # absent, not half there

    # a body cut short is a per-item failure, retried once its backoff is over
    r = s.sync(now=lambda: time.time() + 3600)
    assert r.exit_code == 0, (r.message, s.output)
    assert (s.local() / "edited.bin").read_bytes() == new_edit
    assert (s.local() / "sub/new.bin").read_bytes() == new_file
    assert not part_files(s.local())
    assert_same(s)


# =============================================================== hostile remote names

def symlink_setup(s, tmp_path) -> Path:
    """A local symlink ``link`` -> a folder outside the root; another user creates a
    remote folder ``link`` with files in it (one named like a file out there)."""
    outside = tmp_path / "outside"
    write(outside / "precious.txt", "outside the mirror")
    synced(s, {"keep.txt": "k"})
    os.symlink(outside, s.local() / "link")
    s.emu.other.write("/docs/link/evil.txt", b"must not land outside the root")
    s.emu.other.write("/docs/link/precious.txt", b"must not overwrite the outside file")
    s.emu.other.write("/docs/fine.txt", b"an ordinary new file")
    return outside


def test_remote_folder_named_like_a_local_symlink_is_never_written_through(s, tmp_path):
    outside = symlink_setup(s, tmp_path)

    def untouched():
        assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
        assert (outside / "precious.txt").read_bytes() == b"outside the mirror"
        assert os.path.islink(s.local() / "link")

    r = s.sync()
    untouched()
    assert (s.local() / "fine.txt").read_bytes() == b"an ordinary new file"
    assert r.exit_code != 0 and "\n" not in r.message, r.message
    assert "Traceback" not in s.output
    assert "link/evil.txt" in s.output  # the plain log names what was not done

    cp = s.cli("sync", "--config", str(s.config_path))
    untouched()
    assert "Traceback" not in cp.stderr + cp.stdout
    assert cp.returncode != 0 and len(cp.stderr.strip().splitlines()) == 1, cp.stderr
    assert s.emu.other.read("/docs/link/evil.txt") == b"must not land outside the root"


def test_a_symlink_in_the_way_is_a_per_item_failure_not_a_change_in_progress(s, tmp_path):
    symlink_setup(s, tmp_path)
    r = s.sync()
    assert r.exit_code == 1 and "link" in r.message, r.message
    r = s.sync()  # soon after: backing off, nothing "still changing"
    assert r.mirrors[0].stale == 0, (r.message, s.output)


def test_a_failure_is_still_reported_when_the_pass_replans(s):
    synced(s, {"keep.txt": "k"})
    write(s.local() / "bad.txt", REFUSED)
    write(s.local() / "busy.txt", "planned for upload, then changed")

    def meanwhile():
        s.emu.other.write("/docs/bad.txt/inside.txt", b"theirs")  # bad.txt will be refused
        write(s.local() / "busy.txt", "changed after planning: this action goes stale")

    r = run_hooked(s, HookReporter(on_start=meanwhile))
    assert s.remote_tree()["busy.txt"] == b"changed after planning: this action goes stale"
    assert r.exit_code == 1, (r.exit_code, r.message, s.output)
    assert r.message.startswith("docs: bad.txt: "), r.message


def test_remote_names_the_local_side_cannot_hold_are_skipped_with_a_note(s):
    long_name = "L" * 296 + ".txt"  # 300 bytes: too long for a local file name
    s.emu.other.write("/docs/" + long_name, b"too long")
    s.emu.other.write("/docs/back\\slash.txt", b"a backslash is an ordinary character here")
    s.emu.other.write("/docs/dir/ok.txt", b"ok")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    notes = dict(r.mirrors[0].notes)
    assert "255 bytes" in notes[long_name]
    local = s.local_tree()
    assert local["dir/ok.txt"] == b"ok"
    assert not [p for p in local if p.startswith("LLLL")]
    # a backslash is not a separator on POSIX: one file, in the root, nothing else
    assert local["back\\slash.txt"] == b"a backslash is an ordinary character here"
    assert not (s.local() / "back").exists()
    # the skipped name stays on the server, untouched, and costs nothing next time
    assert s.emu.other.read("/docs/" + long_name) == b"too long"
    n = len(s.emu.request_log)
    assert s.sync().exit_code == 0
    assert ops(s, n) == [("GET", "/activity/session")]


def test_skipped_names_are_told_to_the_user(s):
    long_name = "L" * 296 + ".txt"
    s.emu.other.write("/docs/" + long_name, b"too long")
    os.symlink("/etc", s.local() / "a-symlink")
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert "longer than 255 bytes" in s.output, s.output
    assert "a-symlink" in s.output, s.output


# =============================================================== vanished roots

def test_local_root_gone_after_a_sync_deletes_nothing_on_the_server(s):
    synced(s, {"a.txt": "a", "sub/b.txt": "b"})
    before = s.remote_tree()
    n = len(s.emu.request_log)
    s.local().rename(s.home / "docs-moved-away")
    r = s.sync()
    assert r.exit_code == 1, (r.message, s.output)
    assert "missing" in r.message and str(s.local()) in r.message and "\n" not in r.message
    assert s.remote_tree() == before
    assert not [o for o in ops(s, n) if o[0] in ("DELETE", "PATCH")
                or o[1] in ("/resources/move", "/resources/upload")], ops(s, n)
    assert not s.local().exists(), "the missing root must not be re-created empty"

    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 1 and "missing" in cp.stderr and "Traceback" not in cp.stderr
    assert s.remote_tree() == before
    # the folder comes back: business as usual, nothing was lost on either side
    (s.home / "docs-moved-away").rename(s.local())
    assert s.sync().exit_code == 0
    assert s.remote_tree() == before == s.local_tree()


def local_trash_files(s) -> list[Path]:
    trash = s.state / "trash" / "docs"
    return [p for p in trash.rglob("*") if p.is_file()] if trash.exists() else []


def test_remote_root_deleted_by_another_user_deletes_nothing_locally(s):
    synced(s, {"a.txt": "a", "sub/b.txt": "b"})
    before = s.local_tree()
    s.emu.other.delete("/docs")
    for _ in range(2):
        r = s.sync()
        assert "Traceback" not in s.output
        assert s.local_tree() == before, (r.message, s.output)
        assert not local_trash_files(s)
        assert s.emu.other.info("/docs") is None, "the deleted root was re-created"
    cp = s.cli("sync", "--config", str(s.config_path))
    assert "Traceback" not in cp.stderr + cp.stdout
    assert s.local_tree() == before


def test_remote_root_deleted_by_another_user_is_reported(s):
    synced(s, {"a.txt": "a", "sub/b.txt": "b"})
    s.emu.other.delete("/docs")
    r = s.sync()
    assert r.exit_code == 1, (r.message, s.output)
    assert "/docs" in r.message and "missing" in r.message and "\n" not in r.message
    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 1 and "missing" in cp.stderr and "Traceback" not in cp.stderr


def test_remote_root_deleted_then_a_local_new_file_deletes_nothing_locally(s):
    synced(s, {"a.txt": "a", "sub/b.txt": "b"})
    s.emu.other.delete("/docs")
    write(s.local() / "new.txt", "created locally meanwhile")
    for _ in range(2):
        s.sync()
        assert {"a.txt", "sub/b.txt", "new.txt"} <= set(s.local_tree()), s.output
        assert not local_trash_files(s), s.output


# =============================================================== the command line

def test_cli_success_prints_a_summary_and_exits_0(s):
    write(s.local() / "a.txt", "a")
    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 0, cp.stderr
    assert "docs: 1 uploaded" in cp.stdout and "in sync" in cp.stdout
    assert cp.stderr == ""
    assert s.remote_tree() == {"a.txt": b"a"}


def test_cli_wrong_token_is_77_one_line_and_never_shows_a_token(s):
    wrong = "wrong-token-3c9d1e7f"
    s.write_config(access_token=wrong)
    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 77, (cp.stdout, cp.stderr)
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and "authentication" in lines[0], cp.stderr
    assert "Traceback" not in cp.stderr + cp.stdout
    assert "in sync" not in cp.stdout and "not synced (authentication refused)" in cp.stdout
    for secret in (wrong, ACCESS_TOKEN, API_KEY):
        assert secret not in cp.stderr + cp.stdout


def test_cli_unknown_config_key_is_78_with_file_and_line(s):
    text = s.config_path.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(text) if line.startswith("state_dir:"))
    text.insert(at, "stat_dir: /typo")  # a typo'd key on line at + 1
    s.config_path.write_text("\n".join(text) + "\n", encoding="utf-8")
    assert yaml.safe_load(s.config_path.read_text(encoding="utf-8"))["stat_dir"]
    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 78, (cp.stdout, cp.stderr)
    assert f"{s.config_path}:{at + 1}:" in cp.stderr and "stat_dir" in cp.stderr
    assert len(cp.stderr.strip().splitlines()) == 1 and "Traceback" not in cp.stderr
    assert not s.emu.request_log


def test_cli_unknown_mirror_is_78(s):
    cp = s.cli("sync", "--config", str(s.config_path), "--mirror", "nosuch")
    assert cp.returncode == 78, (cp.stdout, cp.stderr)
    assert "nosuch" in cp.stderr and len(cp.stderr.strip().splitlines()) == 1
    assert not s.emu.request_log


def test_cli_dry_run_says_what_it_would_do_and_does_nothing(s):
    write(s.local() / "new.txt", "new")
    cp = s.cli("sync", "--config", str(s.config_path), "--dry-run")
    assert cp.returncode == 0, cp.stderr
    assert "would upload new.txt" in cp.stdout
    assert s.remote_tree() == {}
    assert not [r for r in s.emu.request_log if r.method != "GET"]


def test_cli_honours_SYNCD_CONFIG(s):
    write(s.local() / "env.txt", "found through the environment")
    cp = s.cli("sync", env={"SYNCD_CONFIG": str(s.config_path)})
    assert cp.returncode == 0, cp.stderr
    assert s.remote_tree() == {"env.txt": b"found through the environment"}


def test_cli_budget_exhausted_is_75_deferred_with_the_time_it_comes_back(s):
    for i in range(10):
        write(s.local() / f"f{i}.txt", str(i))
    s.emu.set_transaction_limit(s.emu.transactions_used + 4)
    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 75, (cp.stdout, cp.stderr)
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and "deferred" in lines[0] and "budget back at" in lines[0], lines
    assert "Traceback" not in cp.stderr
    assert 0 < len(s.remote_tree()) < 10
    s.emu.set_transaction_limit(100000)
    assert s.cli("sync", "--config", str(s.config_path)).returncode == 0
    assert_same(s)


# =============================================================== --mirror

def test_mirror_option_syncs_only_that_mirror(make_emulator, tmp_path):
    s = make_setup(make_emulator, tmp_path, mirrors=("docs", "photos"))
    write(s.local("docs") / "d.txt", "doc")
    write(s.local("photos") / "p.jpg", "photo")
    s.emu.other.write("/photos/remote.jpg", b"remote photo")
    r = s.sync(mirror="docs")
    assert r.exit_code == 0, r.message
    assert [m.name for m in r.mirrors] == ["docs"]
    assert s.remote_tree("docs") == {"d.txt": b"doc"}
    assert s.remote_tree("photos") == {"remote.jpg": b"remote photo"}
    assert s.local_tree("photos") == {"p.jpg": b"photo"}

    cp = s.cli("sync", "--config", str(s.config_path), "--mirror", "photos")
    assert cp.returncode == 0, cp.stderr
    assert "photos:" in cp.stdout and "docs:" not in cp.stdout
    assert_same(s, "photos")
    assert s.remote_tree("docs") == {"d.txt": b"doc"}


# =============================================================== Unicode and case

def test_nfd_local_and_nfc_remote_names_are_one_file(s):
    nfc = unicodedata.normalize("NFC", "Café Überblick.txt")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    write(s.local() / nfd, "same content")
    s.emu.other.write("/docs/" + nfc, b"same content")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert os.listdir(s.local()) == [nfd]
    assert list(s.remote_tree()) == [nfc]
    assert s.remote_tree()[nfc] == (s.local() / nfd).read_bytes() == b"same content"
    assert not [o for o in ops(s) if o[1] == "/resources/upload"]

    n = len(s.emu.request_log)
    r = s.sync()
    assert r.exit_code == 0, r.message
    assert not transfers(s, n) and ops(s, n) == [("GET", "/activity/session")]
    assert os.listdir(s.local()) == [nfd] and list(s.remote_tree()) == [nfc]


def test_case_only_local_rename_is_one_rename_request(s):
    n = synced(s, {"a.txt": "lower case name", "other.txt": "x"})
    os.rename(s.local() / "a.txt", s.local() / "A.txt")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    changes = [o for o in ops(s, n) if o[0] != "GET"]
    assert len(changes) == 1 and changes[0][0] == "PATCH", ops(s, n)
    assert sorted(s.remote_tree()) == ["A.txt", "other.txt"]
    assert s.remote_tree()["A.txt"] == b"lower case name"
    assert sorted(os.listdir(s.local())) == ["A.txt", "other.txt"]
    n = len(s.emu.request_log)
    assert s.sync().exit_code == 0 and ops(s, n) == [("GET", "/activity/session")]


# =============================================================== one-way directions

def test_upload_only_never_changes_or_deletes_anything_locally(s):
    synced(s, {"mine.txt": "v1", "gone-remotely.txt": "keep me", "stays.txt": "s"})
    s.set_options(direction="upload-only")
    write(s.local() / "mine.txt", "v2, edited locally")
    write(s.local() / "new-local.txt", "new here")
    s.emu.other.write("/docs/remote-new.txt", b"only on the server")
    s.emu.other.write("/docs/stays.txt", b"edited on the server")
    s.emu.other.delete("/docs/gone-remotely.txt")
    local_before = s.local_tree()
    r = converge(s)
    assert r.exit_code == 0, (r.message, s.output)
    assert s.local_tree() == local_before  # nothing downloaded, nothing deleted locally
    assert not (s.local() / "remote-new.txt").exists()
    assert not local_trash_files(s)
    remote = s.remote_tree()
    assert remote["mine.txt"] == b"v2, edited locally"
    assert remote["new-local.txt"] == b"new here"
    assert remote["gone-remotely.txt"] == b"keep me"         # the remote deletion is undone
    assert remote["remote-new.txt"] == b"only on the server"  # left alone, not deleted
    assert b"edited on the server" in remote.values()          # kept (at most renamed aside)


def test_download_only_never_uploads_or_deletes_anything_remotely(s):
    synced(s, {"theirs.txt": "v1", "gone-locally.txt": "keep me", "stays.txt": "s"})
    s.set_options(direction="download-only")
    s.emu.other.write("/docs/theirs.txt", b"v2 from the server")
    s.emu.other.write("/docs/remote-new.txt", b"new there")
    (s.local() / "gone-locally.txt").unlink()
    write(s.local() / "local-new.txt", "only here")
    write(s.local() / "stays.txt", "edited locally")
    remote_before = s.remote_tree()
    n = len(s.emu.request_log)
    r = converge(s)
    assert r.exit_code == 0, (r.message, s.output)
    assert s.remote_tree() == remote_before  # nothing uploaded, moved or deleted remotely
    assert not [o for o in ops(s, n) if o[0] in ("POST", "PATCH", "DELETE")], ops(s, n)
    local = s.local_tree()
    assert local["theirs.txt"] == b"v2 from the server"
    assert local["remote-new.txt"] == b"new there"
    assert local["gone-locally.txt"] == b"keep me"     # the local deletion is undone
    assert local["local-new.txt"] == b"only here"      # left alone, not deleted
    assert b"edited locally" in local.values()          # kept (at most renamed aside)


def test_a_record_about_a_move_that_did_not_happen_is_held_back(s):
    """Found by the planner rounds (test_regression_failed_move_then_record_loses_the_file):
    the remote user renames d.txt to A while the local user touches d.txt; the plan
    is MoveLocal(d.txt -> A) + RecordBase(A). Here the move is stale (a new local A
    appears after planning). The record must not run: with it, the base claimed A
    synced while the file was still at d.txt, and the next pass deleted the file on
    both sides."""
    from syncd import crashpoints

    synced(s, {"d.txt": "the only copy"})
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/d.txt", "A")
    st = os.stat(s.local() / "d.txt")
    os.utime(s.local() / "d.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched

    def in_the_way(point):
        if point == "pass.queued" and not (s.local() / "A").exists():
            write(s.local() / "A", "someone else's A")

    crashpoints.set_hook(in_the_way)
    try:
        s.sync()
    finally:
        crashpoints.set_hook(None)
    for _ in range(3):
        s.sync(now=lambda: time.time() + 3600)
    everywhere = list(s.local_tree().values()) + list(s.remote_tree().values())
    assert b"the only copy" in s.local_tree().values(), s.local_tree()
    assert b"the only copy" in s.remote_tree().values(), s.remote_tree()
    assert b"someone else's A" in everywhere
    assert_same(s)


def test_local_root_vanishing_during_the_pass_is_reported_not_a_traceback(s, tmp_path):
    """Found when a test harness removed a mirror's folder mid-run (CI of issue 5):
    the root checked at the start of the pass was gone when the pass walked it."""
    import shutil

    from syncd import crashpoints

    synced(s, {"a.txt": "a"})
    moved = tmp_path / "unmounted"

    def unmount(point):
        if point == "pass.refreshed" and s.local().exists():
            shutil.move(str(s.local()), moved)

    crashpoints.set_hook(unmount)
    try:
        r = s.sync()
    finally:
        crashpoints.set_hook(None)
    assert r.exit_code == 1 and "does not exist" in r.message, r.message
    assert s.remote_tree() == {"a.txt": b"a"}  # nothing deleted on the server


# ================================================== found by the e2e soak (seeds in names)

NFD_E, NFC_E = unicodedata.normalize("NFD", "é.md"), unicodedata.normalize("NFC", "é.md")


def test_seed_11502_a_file_created_in_a_folder_being_deleted_is_kept(s):
    """The server deleted folder ``f``; while the pass ran, the user created a
    file in the local ``f``. The folder (new file included) went to the local
    trash. Now the deletion waits and the next pass keeps the folder (an edit
    beats a delete) and uploads the file."""
    synced(s, {"f/old.txt": "old", "keep.txt": "k"})
    s.emu.other.delete("/docs/f")
    mine = b"made during the pass"
    rep = HookReporter(on_start=lambda: write(s.local() / "f" / "new.txt", mine))
    r = run_hooked(s, rep)
    assert rep.starts >= 1 and r.exit_code in (0, 75), (r.message, s.output)
    assert (s.local() / "f" / "new.txt").read_bytes() == mine
    r = converge(s)
    assert r.exit_code == 0, (r.message, s.output)
    assert s.remote_tree()["f/new.txt"] == mine
    assert "f/old.txt" not in s.local_tree()  # the server's deletion of it still holds
    assert_same(s)


def test_an_ignored_file_does_not_stop_a_folder_deletion_and_is_never_trashed(s):
    """An ignored file does not make a deletion wait (it never syncs), and it
    is never trashed either (issue 16, item 5): the synced items go, the
    folder stays with the ignored file (tests/integration/test_ignored_kept.py)."""
    s.set_options(ignore=["*.tmp"])
    synced(s, {"f/old.txt": "old", "keep.txt": "k"})
    write(s.local() / "f" / "scratch.tmp", "never synced")
    s.emu.other.delete("/docs/f")
    r = converge(s)
    assert r.exit_code == 0, (r.message, s.output)
    assert sorted(os.listdir(s.local() / "f")) == ["scratch.tmp"]
    assert list((s.state / "trash" / "docs").rglob("old.txt"))  # recoverable


def test_seed_11513_a_download_never_puts_a_second_spelling_beside_a_new_file(s):
    """While ``é.md`` (NFC on the server) downloaded, the user created ``é.md``
    spelled NFD. The download landed beside it: two local files with one name,
    one of them never synced. Now the download is stale and the re-plan makes
    it a conflict."""
    s.emu.other.write("/docs/" + NFC_E, b"the server's")
    mine = b"the user's, NFD"
    rep = HookReporter(on_start=lambda: write(s.local() / NFD_E, mine))
    r = run_hooked(s, rep)
    assert r.exit_code in (0, 75), (r.message, s.output)
    r = converge(s)
    assert r.exit_code == 0, (r.message, s.output)
    names = [unicodedata.normalize("NFC", n) for n in os.listdir(s.local())]
    assert len(names) == len(set(names)) == 2
    assert sorted(s.local_tree().values()) == sorted(
        v for v in s.remote_tree().values()) == sorted([mine, b"the server's"])


def test_seed_12437_a_remote_move_writes_the_new_name_nfc(s):
    """A local move to an NFD name was sent to the server as NFD, beside another
    item's NFC spelling of the same name: two server items with one key."""
    synced(s, {"a": "moved", "c/keep": "k"})
    os.rename(s.local() / "a", s.local() / "c" / NFD_E)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert sorted(s.emu.other.tree()) == sorted(["/docs", "/docs/c", "/docs/c/keep",
                                                 "/docs/c/" + NFC_E])
    assert s.emu.other.read("/docs/c/" + NFC_E) == b"moved"


def test_seed_10587_a_touched_file_does_not_keep_a_deleted_folder(s):
    """The check above must see a file as the planner does: touched (new mtime,
    same bytes) is unchanged. Before, such a folder's deletion waited forever."""
    synced(s, {"f/old.txt": "old", "keep.txt": "k"})
    p = s.local() / "f" / "old.txt"
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 5_000_000_000))
    s.emu.other.delete("/docs/f")
    r = s.sync()
    assert r.exit_code == 0 and r.mirrors[0].counts["deleted locally"] == 1, (r.message,
                                                                             s.output)
    assert not (s.local() / "f").exists()
    assert_same(s)


def _trash_folder_during_pass(s, added: dict[str, str]):
    """Delete the local folder ``c`` (synced, two files), then sync; at pass.queued
    another user writes ``added`` into the remote ``c``."""
    import shutil

    from syncd import crashpoints

    synced(s, {"c/old.txt": "old", "c/sub/older.txt": "older", "keep.txt": "k"})
    shutil.rmtree(s.local() / "c")
    s.emu.advance_clock(2)

    def meanwhile(point):
        if point == "pass.queued":
            for rel, data in added.items():
                s.emu.other.write("/docs/" + rel, data.encode())

    n = len(s.emu.request_log)
    crashpoints.set_hook(meanwhile)
    try:
        r = s.sync()
    finally:
        crashpoints.set_hook(None)
    return r, n


def test_seed_19768_a_file_written_into_a_remote_folder_while_we_trash_it_comes_back(s):
    """Soak seed 19768: the local user deleted a folder; while the pass ran, the
    remote user wrote a new file into it. The folder went to the remote trash with
    the new file, unnoticed (lost to both users). Now the trashed folder is listed,
    the unknown file sends it back, and the next pass deletes only what the local
    user deleted: the new file is kept on both sides."""
    _trash_folder_during_pass(s, {"c/sub/new.txt": "written meanwhile"})
    for _ in range(3):
        r = s.sync(now=lambda: time.time() + 3600)
    assert r.exit_code == 0, (r.message, s.output)
    assert s.local_tree() == {"keep.txt": b"k", "c": None, "c/sub": None,
                              "c/sub/new.txt": b"written meanwhile"}
    trashed = [s.emu.other.read(p) for p, d in s.emu.other.tree().items()
               if p.startswith("/.syncd-trash/") and d["attributes"]["type"] == "file"]
    assert b"old" in trashed and b"older" in trashed  # what the local user deleted
    assert b"written meanwhile" not in trashed
    assert_same(s)


def test_a_folder_trashed_unchanged_costs_one_listing_more_and_stays_deleted(s):
    r, n = _trash_folder_during_pass(s, {})
    assert r.exit_code == 0, (r.message, s.output)
    assert not [p for p in s.remote_tree() if p.startswith("c")]
    assert s.local_tree() == {"keep.txt": b"k"}
    # Without the check: the trash folder, the move. With it, one listing of the
    # trashed copy (plus the pass's own activity reads, before and after).
    assert ops(s, n) == [("GET", "/activity/session"), ("POST", "/resources"),
                         ("POST", "/resources/move"), ("GET", "/resources/list"),
                         ("GET", "/activity/session")]
    listing = [x for x in s.emu.request_log[n:] if x.path.endswith("/resources/list")][0]
    assert listing.query["resource"][0].startswith("/.syncd-trash/docs/")
    assert listing.query["resource"][0].endswith("/c")


def test_a_trashed_folder_whose_listing_fails_goes_back_and_is_deleted_later(s, monkeypatch):
    from syncd.remote.exavault import api as exavault_api
    from syncd.remote.exavault.api import RetryPolicy

    monkeypatch.setitem(exavault_api.ExaVaultClient.__init__.__kwdefaults__, "retry",
                        RetryPolicy(attempts=2, total_seconds=5.0, initial_backoff=0.001,
                                    max_backoff=0.01, jitter=0.001))
    s.emu.set_faults(1.0, ["500"], only=lambda m, p, q: p.endswith("/resources/list") and
                     (q.get("resource") or [""])[0].startswith("/.syncd-trash"))
    r, n = _trash_folder_during_pass(s, {})
    assert r.exit_code != 0 and "\n" not in r.message, r.message
    assert s.emu.other.read("/docs/c/old.txt") == b"old"  # back: we could not tell
    assert s.local_tree() == {"keep.txt": b"k"}
    s.emu.set_faults(0)
    r = s.sync(now=lambda: time.time() + 3600)
    assert r.exit_code == 0, (r.message, s.output)
    assert not [p for p in s.remote_tree() if p.startswith("c")]
    assert_same(s)
