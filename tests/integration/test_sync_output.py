"""What `syncd sync` and `syncd run` tell the user (issue 18, items 1, 2 and 7):
every new conflict announced with both paths and counted; each action listed
(plain lines off a terminal, `-v` on one); bytes, speed and time left on a real
terminal (a pty); `sync --json`; the daemon's JSON log lines. Against the
emulator on 127.0.0.1 with real temp folders."""

from __future__ import annotations

import io
import json
import os
import re

import pytest

from syncd.config.loader import load_config
from syncd.engine import SyncEngine
from syncd.report import Reporter
from tests.helpers import ttyrun
from tests.helpers.daemon import daemon_setup, start  # noqa: F401 - fixture
from tests.helpers.sync import make_setup, write

HINT = "(see `syncd conflicts`)"


@pytest.fixture
def s(make_emulator, tmp_path):
    return make_setup(make_emulator, tmp_path)


def synced(s, files: dict[str, str]) -> None:
    for rel, text in files.items():
        write(s.local() / rel, text)
    r = s.sync()
    assert r.exit_code == 0, r.message


def both_edited(s, path: str, local: str, remote: bytes) -> None:
    """``path`` synced, then edited on both sides."""
    synced(s, {path: "v1"})
    write(s.local() / path, local)
    s.emu.other.write(f"/docs/{path}", remote)


def copies(tree: dict, name: str) -> list[str]:
    return [p for p in tree if p.startswith(name) and "(conflicted copy " in p]


def conflict_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if ": conflict: " in line]


# ----------------------------------------------------------------- conflicts are announced

def test_the_issues_conflict_is_announced_and_counted_not_just_1_up_1_down(s):
    """The issue's case: `docs: 1 uploaded, 1 downloaded; in sync` hid a conflict
    (the worker counted the conflicted copy under a name the summary never printed)."""
    both_edited(s, "report.md", "v2, edited here", b"v2 remote")
    r = s.sync()
    assert r.exit_code == 0, r.message
    [cc] = copies(s.local_tree(), "report")
    assert s.remote_tree()[cc] == b"v2, edited here"
    assert conflict_lines(s.output) == [
        f"docs: conflict: report.md was changed on both sides; both kept, your version as "
        f"{cc} {HINT}"]
    summary = [line for line in s.output.splitlines() if line.startswith("docs: 1 uploaded")]
    assert summary == [f"docs: 1 uploaded, 1 downloaded, 15 B up, 9 B down, 1 conflict, "
                       f"both versions kept {HINT}; in sync"]
    mirror = r.to_dict()["mirrors"][0]
    assert mirror["conflicts"] == [{"path": "report.md", "copy": cc, "renamed": "local"}]
    assert mirror["counts"]["conflicts"] == 1


def test_a_conflict_found_by_comparing_equal_sizes_is_announced(s):
    both_edited(s, "same-size.txt", "AAAA", b"BBBB")
    r = s.sync()
    assert r.exit_code == 0, r.message
    [cc] = copies(s.local_tree(), "same-size")
    assert conflict_lines(s.output) == [
        f"docs: conflict: same-size.txt was changed on both sides; both kept, your version "
        f"as {cc} {HINT}"]
    assert "1 conflict, both versions kept" in s.output


def test_upload_only_says_the_servers_version_took_the_copys_name(s):
    s.set_options(direction="upload-only")
    both_edited(s, "r.txt", "local edit", b"remote edit, longer")
    r = s.sync()
    assert r.exit_code == 0, r.message
    [cc] = copies(s.remote_tree(), "r")
    [line] = conflict_lines(s.output)
    assert line.endswith(f"both kept, the server's version as {cc} {HINT}")
    assert r.to_dict()["mirrors"][0]["conflicts"][0]["renamed"] == "remote"


def test_held_back_deletions_are_said_in_words(s):
    synced(s, {"a": "1", "b": "2", "c": "3", "kept": "4"})
    s.set_options(max_delete=1)
    for name in "abc":
        (s.local() / name).unlink()
    r = s.sync()
    assert r.exit_code == 1
    [summary] = [line for line in s.output.splitlines() if line.startswith("docs: ")]
    assert "no changes" not in summary
    assert summary == ("docs: deletions held back (3 entries would be deleted (max_delete: "
                       "1)): nothing was deleted, run `syncd sync --force --mirror docs` if "
                       "this is intended; NOT in sync")


def test_every_byte_of_uploads_and_downloads_reaches_the_reporter(s):
    """MirrorRun.on_bytes: the stream wrappers report each chunk, keyed by the
    action's path, for uploads and downloads alike."""
    class Counting(Reporter):
        def __init__(self):
            super().__init__(io.StringIO(), fancy=False)
            self.moved: dict[str, int] = {}
            self.planned: dict[str, int] = {}

        def start(self, mirror, total, sizes=None):
            self.planned.update(sizes or {})
            super().start(mirror, total, sizes)

        def bytes(self, mirror, path, n):
            self.moved[path] = self.moved.get(path, 0) + n
            super().bytes(mirror, path, n)

    write(s.local() / "up/big.bin", os.urandom(3_000_000))
    s.emu.other.write("/docs/down.bin", os.urandom(2_500_000))
    counting = Counting()
    engine = SyncEngine(load_config(s.config_path), host=s.host, reporter=counting)
    r = engine.run()
    assert r.exit_code == 0, r.message
    assert counting.moved == counting.planned == {"up/big.bin": 3_000_000,
                                                  "down.bin": 2_500_000}


# ------------------------------------------------------------------ the terminal (a pty)

def test_a_terminal_shows_bytes_speed_time_left_and_each_large_file(s):
    s.set_options(bandwidth={"up": "2MB"})
    write(s.local() / "big.bin", os.urandom(6_000_000))
    write(s.local() / "small.txt", "tiny")
    code, raw = ttyrun.run(["sync", "--config", str(s.config_path)])
    text = ttyrun.plain(raw)
    assert code == 0, text
    rows = [line for line in text.splitlines() if re.match(r"\s*(docs|big\.bin) ", line)]
    # the pass: actions done of those planned, bytes of bytes, speed, time left
    assert any(re.search(r"^docs .* [0-2]/2 \d\.\d/6\.0 MB +[0-9.]+ [kM]?B/s +\d:\d\d:\d\d$",
                         line) for line in rows), rows
    # the large file in flight, on a line of its own
    assert any(re.search(r"^  big\.bin .* \d\.\d/6\.0 MB +[0-9.]+ [kM]?B/s +\d:\d\d:\d\d$",
                         line) for line in rows), rows
    assert not any("small.txt" in line for line in rows)  # small files get no line
    assert "\x1b[" in raw  # drawn with terminal escapes ...
    # ... and erased at the end: what stays is the summary, not a line per file
    assert "docs: 2 uploaded, 6.0 MB up, 0 B down; in sync" in text
    assert "uploaded big.bin" not in text


def test_verbose_lists_each_action_on_a_terminal_and_conflicts_always_show(s):
    both_edited(s, "report.md", "v2, edited here", b"v2 remote")
    write(s.local() / "new.txt", "new")
    code, raw = ttyrun.run(["sync", "--config", str(s.config_path)])
    text = ttyrun.plain(raw)
    assert code == 0, text
    assert "docs: uploaded new.txt" not in text  # no list without -v on a terminal
    [line] = set(conflict_lines(text))
    [cc] = copies(s.local_tree(), "report")
    assert line == (f"docs: conflict: report.md was changed on both sides; both kept, your "
                    f"version as {cc} {HINT}")
    assert f"1 conflict, both versions kept {HINT}; in sync" in text

    write(s.local() / "more.txt", "more")
    (s.local() / "new.txt").rename(s.local() / "renamed.txt")
    code, raw = ttyrun.run(["sync", "-v", "--config", str(s.config_path)])
    text = ttyrun.plain(raw)
    assert code == 0, text
    assert "docs: uploaded more.txt (4 B)" in text.splitlines()
    assert "docs: moved new.txt -> renamed.txt" in text.splitlines()


def test_off_a_terminal_plain_lines_and_no_display(s):
    write(s.local() / "a.txt", "alpha")
    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 0, cp.stderr
    assert "\x1b" not in cp.stdout + cp.stderr and "/s" not in cp.stdout
    assert cp.stdout.splitlines()[:2] == ["docs: uploaded a.txt (5 B)",
                                         "docs: 1 uploaded, 5 B up, 0 B down; in sync"]
    write(s.local() / "b.txt", "beta")
    cp = s.cli("sync", "-q", "--config", str(s.config_path))
    assert cp.stdout.splitlines()[0] == "docs: 1 uploaded, 4 B up, 0 B down; in sync"


# ------------------------------------------------------------------ machine-readable

def test_sync_json_lists_outcome_actions_conflicts_bytes_and_transactions(s):
    synced(s, {"old.txt": "old"})
    both_edited(s, "report.md", "v2, edited here", b"v2 remote")
    (s.local() / "old.txt").unlink()
    cp = s.cli("sync", "--json", "--config", str(s.config_path))
    assert cp.returncode == 0, cp.stderr
    doc = json.loads(cp.stdout)  # stdout is the document only
    [cc] = copies(s.local_tree(), "report")
    assert {k: doc[k] for k in ("version", "outcome", "exit_code", "message", "dry_run")} == \
        {"version": 1, "outcome": "ok", "exit_code": 0, "message": None, "dry_run": False}
    assert doc["transactions"] > 0
    [m] = doc["mirrors"]
    assert m["name"] == "docs" and m["outcome"] == "in_sync"
    assert m["conflicts"] == [{"path": "report.md", "copy": cc, "renamed": "local"}]
    assert sorted((a["action"], a["path"], a["bytes"]) for a in m["actions"]) == [
        ("deleted_remotely", "old.txt", 0), ("downloaded", "report.md", 9),
        (("uploaded", cc, 15))]
    assert (m["bytes_up"], m["bytes_down"]) == (15, 9)
    assert m["counts"] == {"conflicts": 1, "deleted_remotely": 1, "downloaded": 1,
                           "uploaded": 1}
    assert 0 < m["transactions"] <= doc["transactions"]
    assert m["summary"] in cp.stderr and "docs: conflict: report.md" in cp.stderr


def test_sync_json_when_deletions_are_held_back(s):
    synced(s, {"a": "1", "b": "2", "kept": "3"})
    s.set_options(max_delete=1)
    (s.local() / "a").unlink()
    (s.local() / "b").unlink()
    cp = s.cli("sync", "--json", "--config", str(s.config_path))
    assert cp.returncode == 1
    doc = json.loads(cp.stdout)
    assert doc["outcome"] == "failed" and doc["exit_code"] == 1
    assert doc["message"].startswith("docs: deletions held back")
    [m] = doc["mirrors"]
    assert m["outcome"] == "not_in_sync"
    assert m["deletions_held_back"] == "2 entries would be deleted (max_delete: 1)"
    assert cp.stderr.splitlines()[-1].startswith("syncd: docs: deletions held back")


# ------------------------------------------------------------------ the daemon's log

def test_the_daemon_logs_each_action_and_each_conflict_as_json(make_emulator, tmp_path,
                                                               start):  # noqa: F811
    setup = daemon_setup(make_emulator, tmp_path)
    setup.daemon_opts["log_format"] = "json"
    setup.write_config()
    write(setup.local() / "mine.txt", "only here")
    write(setup.local() / "both.txt", "the local one")
    setup.emu.other.write("/docs/both.txt", b"the server's, longer")
    d = start(setup)
    d.wait_idle()
    rc, _ = d.stop()
    assert rc == 0
    lines = d.log().splitlines()
    docs = [json.loads(line) for line in lines]  # every line is one JSON object
    acts = {(x["action"], x["path"]) for x in docs if x.get("mirror") == "docs"}
    [cc] = copies(setup.local_tree(), "both")
    assert {("uploaded", "mine.txt"), ("uploaded", cc), ("downloaded", "both.txt"),
            ("conflict", "both.txt")} <= acts
    [conflict] = [x for x in docs if x.get("action") == "conflict"]
    assert conflict["level"] == "warning" and conflict["copy"] == cc
    assert f"both kept, your version as {cc} {HINT}" in conflict["message"]
    summaries = [x["message"] for x in docs if x["message"].startswith("docs: 2 uploaded")]
    assert summaries and f"1 conflict, both versions kept {HINT}; in sync" in summaries[0]


def test_sync_json_dry_run_lists_the_plan_and_changes_nothing(s):
    write(s.local() / "a.txt", "alpha")
    cp = s.cli("sync", "--json", "--dry-run", "--config", str(s.config_path))
    assert cp.returncode == 0, cp.stderr
    doc = json.loads(cp.stdout)
    assert doc["dry_run"] is True
    [m] = doc["mirrors"]
    assert m["outcome"] == "dry_run" and m["actions"] == []
    assert m["planned"] == ["upload a.txt (5 B)"]
    assert s.remote_tree() == {}
