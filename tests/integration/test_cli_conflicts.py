"""`syncd conflicts` and `syncd conflicts resolve` (issue 7, item 4): real
conflicts made against the emulator (both sides edit a file between syncs) are
listed, resolved with each --keep choice, and after the sync both sides agree and
the list is empty."""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd import model
from syncd.cli.conflicts import parse_copy, plain_name
from tests.helpers.sync import make_setup

LOCAL, REMOTE = b"edited here, the local version", b"edited on the server"


@pytest.fixture
def s(make_emulator, tmp_path):
    return make_setup(make_emulator, tmp_path)


def make_conflict(s, name: str = "report.md", mirror: str = "docs") -> str:
    """Sync ``name``, edit it on both sides, sync: returns the copy's relative path."""
    path = s.local(mirror) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"v1")
    assert s.sync().exit_code == 0
    path.write_bytes(LOCAL)
    s.emu.other.write(f"{s.remote(mirror)}/{name}", REMOTE)
    r = s.sync()
    assert r.exit_code == 0, r.message
    copies = [p for p in s.local_tree(mirror) if "conflicted copy" in p]
    assert len(copies) == 1, s.local_tree(mirror)
    assert s.local_tree(mirror) == s.remote_tree(mirror)
    return copies[0]


def conflicts(s, *args: str, cwd=None):
    return s.cli("conflicts", "--config", str(s.config_path), *args)


def listed(s) -> list[dict]:
    proc = conflicts(s, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["conflicts"]


def resolve(s, path: str, keep: str, *args: str):
    return s.cli("conflicts", "resolve", path, "--keep", keep, "--config", str(s.config_path),
                 *args)


# ------------------------------------------------------------------ names

@pytest.mark.parametrize("original", ["report.md", "a.tar.gz", ".bashrc", "Makefile",
                                      "x (1).txt", "dir/sub/Überblick.txt", "a.", "..a"])
def test_parse_copy_inverts_conflict_name(original):
    for taken in (set(), {model.key(model.conflict_name(original, "laptop-2", "2024-05-01 "
                                                                 "101500"))}):
        copy = model.conflict_name(original, "laptop-2", "2024-05-01 101500", taken)
        assert parse_copy(copy) == (original, "laptop-2", "2024-05-01 101500")


@given(st.text(alphabet=string.printable.replace("/", "").replace("\x0b", "") + "ü ()",
               min_size=1, max_size=30).filter(lambda n: n not in (".", "..")),
       st.sampled_from(["h", "my-host_1"]))
def test_parse_copy_inverts_conflict_name_for_any_name(name, host):
    assert parse_copy(model.conflict_name(name, host, "2031-12-31 235959")) == \
        (name, host, "2031-12-31 235959")


@pytest.mark.parametrize("name", ["report.md", "report (copy).md",
                                  "a.b (conflicted copy h 2024-05-01 101500)",  # tag after ext
                                  "a (conflicted copy h 2024-05-01 1015).txt",
                                  "a (conflicted copy h b 2024-05-01 101500).txt"])
def test_other_names_are_not_copies(name):
    assert parse_copy(name) is None


def test_plain_name_drops_the_tag_and_avoids_taken_names():
    copy = "d/a (conflicted copy h 2024-05-01 101500).txt"
    assert plain_name(copy, set()) == "d/a (h 2024-05-01 101500).txt"
    assert plain_name(copy, {"d/a (h 2024-05-01 101500).txt"}) == \
        "d/a (h 2024-05-01 101500 2).txt"


# ------------------------------------------------------------------ listing

def test_lists_a_real_conflict_with_both_paths_sizes_and_times(s):
    copy = make_conflict(s, "notes/report.md")
    proc = conflicts(s)
    assert proc.returncode == 0, proc.stderr
    assert f"docs: 1 conflicted copy in {s.local()}" in proc.stdout
    assert f"  {copy}\n" in proc.stdout
    assert f"copy:     {len(LOCAL)} B, modified " in proc.stdout
    assert f"original: notes/report.md, {len(REMOTE)} B, modified " in proc.stdout
    (item,) = listed(s)
    assert item["mirror"] == "docs" and item["host"] == "testhost"
    assert item["copy"]["path"] == copy
    assert item["copy"]["local_path"] == str(s.local() / copy)
    assert item["original"]["path"] == "notes/report.md"
    assert item["copy"]["local"]["size"] == len(LOCAL)
    assert item["original"]["local"]["size"] == len(REMOTE)
    assert item["copy"]["remote"]["size"] == len(LOCAL)  # from the index: no request
    mtime = os.stat(s.local() / copy).st_mtime
    assert abs(item["copy"]["local"]["time"] - mtime) < 1e-3
    assert item["original"]["remote"]["time"] > 0


def test_no_conflicts_and_an_unknown_mirror(s):
    proc = conflicts(s)
    assert proc.returncode == 0 and proc.stdout == "No conflicted copies in docs.\n"
    proc = conflicts(s, "--mirror", "nope")
    assert proc.returncode == 78 and "no mirror named 'nope'" in proc.stderr


def test_lists_only_the_chosen_mirror(make_emulator, tmp_path):
    s = make_setup(make_emulator, tmp_path, mirrors=("docs", "pics"))
    make_conflict(s, "a.txt", "docs")
    make_conflict(s, "b.txt", "pics")
    assert {c["mirror"] for c in listed(s)} == {"docs", "pics"}
    proc = conflicts(s, "--mirror", "pics", "--json")
    assert [c["original"]["path"] for c in json.loads(proc.stdout)["conflicts"]] == ["b.txt"]


# ------------------------------------------------------------------ resolving

@pytest.mark.parametrize("keep", ["local", "remote", "both"])
@pytest.mark.parametrize("by", ["copy", "original", "absolute"])
def test_resolve_then_sync_makes_both_sides_agree_and_the_list_empty(s, keep, by):
    copy = make_conflict(s)  # the mirror holds only the pair: one deletion is 50% of it
    path = {"copy": copy, "original": "report.md", "absolute": str(s.local() / copy)}[by]
    proc = resolve(s, path, keep)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Syncing mirror docs" in proc.stdout
    local, remote = s.local_tree(), s.remote_tree()
    assert local == remote
    if keep == "local":
        assert local == {"report.md": LOCAL}
    elif keep == "remote":
        assert local == {"report.md": REMOTE}
    else:
        plain = copy.replace("conflicted copy ", "")
        assert local == {"report.md": REMOTE, plain: LOCAL}
    assert listed(s) == []
    # The discarded version is recoverable from the local trash; the copy's name
    # went to the remote trash (for "local" its content lives on in report.md).
    trashed = [p.read_bytes() for p in (s.state / "trash").rglob("*") if p.is_file()]
    remote_trash = [s.emu.other.read(p) for p, r in s.emu.other.tree().items()
                    if p.startswith("/.syncd-trash/") and r["attributes"]["type"] == "file"]
    assert trashed == {"local": [REMOTE], "remote": [LOCAL], "both": []}[keep]
    assert remote_trash == ([] if keep == "both" else [LOCAL])
    assert s.sync().exit_code == 0  # and it stays that way
    assert s.local_tree() == s.remote_tree() == local


def test_resolve_from_inside_the_folder_with_no_sync(s):
    make_conflict(s, "sub/a.txt")
    proc = subprocess.run([sys.executable, "-m", "syncd", "conflicts", "resolve", "a.txt",
                           "--keep", "remote", "--no-sync", "--config", str(s.config_path)],
                          check=False, capture_output=True, text=True, timeout=120,
                          cwd=s.local() / "sub")
    assert proc.returncode == 0, proc.stderr
    assert "next `syncd sync`" in proc.stdout
    assert s.local_tree() != s.remote_tree()  # nothing sent yet
    assert s.sync().exit_code == 0
    assert s.local_tree() == s.remote_tree() == {"sub": None, "sub/a.txt": REMOTE}


def test_resolve_refusals(s, tmp_path):
    copy = make_conflict(s)
    (s.local() / "plain.txt").write_text("p")
    cases = [
        (("/etc/passwd", "local"), 64, "is not inside a mirror's local folder"),
        (("plain.txt", "local"), 64, "is not a conflicted copy and has none"),
        (("missing.txt", "local"), 66, "no such file"),
        (("../outside", "local"), 64, "not a path inside a mirror"),
        ((copy, "local", "--mirror", "nope"), 78, "no mirror named 'nope'"),
    ]
    for args, code, message in cases:
        proc = resolve(s, *args)
        assert proc.returncode == code, (args, proc.stderr)
        assert message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert len(listed(s)) == 1  # nothing changed


def test_several_copies_of_one_original_must_be_named_one_by_one(s):
    first = make_conflict(s)
    time.sleep(1.1)  # the second conflict gets another time stamp
    (s.local() / "report.md").write_bytes(b"local again")
    s.emu.other.write("/docs/report.md", b"server again!")
    assert s.sync().exit_code == 0
    assert len(listed(s)) == 2
    proc = resolve(s, "report.md", "remote")
    assert proc.returncode == 64 and "has 2 conflicted copies" in proc.stderr
    assert resolve(s, first, "remote").returncode == 0
    assert len(listed(s)) == 1


def test_download_only_refuses_keep_local(s):
    s.set_options(direction="download-only")
    (s.local() / "doc.txt").write_bytes(b"LOCAL")
    s.emu.other.write("/docs/doc.txt", b"REMOT")  # a first meeting: compared, then a copy
    assert s.sync().exit_code == 0
    (item,) = listed(s)
    assert item["copy"]["remote"] is None  # download-only keeps it here only
    proc = resolve(s, "doc.txt", "local")
    assert proc.returncode == 64 and "download-only" in proc.stderr
    proc = resolve(s, "doc.txt", "remote")
    assert proc.returncode == 0, proc.stderr
    assert s.local_tree() == s.remote_tree() == {"doc.txt": b"REMOT"}


def test_upload_only_copy_lives_on_the_server_and_is_not_resolved_here(s):
    s.set_options(direction="upload-only")
    (s.local() / "doc.txt").write_bytes(b"LOCAL")
    s.emu.other.write("/docs/doc.txt", b"REMOT")
    assert s.sync().exit_code == 0
    (item,) = listed(s)
    assert item["copy"]["local"] is None and item["copy"]["remote"]["size"] == 5
    assert "not here" in conflicts(s).stdout
    proc = resolve(s, item["copy"]["path"], "remote")
    assert proc.returncode == 1 and "upload-only" in proc.stderr


def test_a_file_folder_conflict_takes_only_keep_both(s):
    (s.local() / "thing").write_text("a file")
    assert s.sync().exit_code == 0
    (s.local() / "thing").unlink()
    (s.local() / "thing").mkdir()
    (s.local() / "thing" / "inside.txt").write_text("now a folder here")
    s.emu.other.write("/docs/thing", b"the file, edited on the server")
    assert s.sync().exit_code == 0
    (item,) = listed(s)
    proc = resolve(s, item["copy"]["path"], "local")
    assert proc.returncode == 64 and "use --keep both" in proc.stderr
    proc = resolve(s, item["copy"]["path"], "both")
    assert proc.returncode == 0, proc.stderr
    assert listed(s) == []
    assert s.local_tree() == s.remote_tree()


def test_a_deletion_guard_holds_back_only_the_copy_and_keeps_the_kept_version(s):
    copy = make_conflict(s)
    s.set_options(max_delete=0)
    proc = resolve(s, copy, "remote")
    assert proc.returncode == 1
    assert "deletions held back" in proc.stderr
    assert (s.local() / "report.md").read_bytes() == REMOTE
    assert s.remote_tree() == {"report.md": REMOTE, copy: LOCAL}  # nothing lost
    assert listed(s)[0]["copy"]["local"] is None
    assert s.sync(force=True).exit_code == 0
    assert s.local_tree() == s.remote_tree() == {"report.md": REMOTE}
    assert listed(s) == []


def test_with_the_daemon_running_resolve_leaves_the_sync_to_it(s, tmp_path):
    from tests.helpers.daemon import DaemonProc, wait_for

    copy = make_conflict(s)
    daemon = DaemonProc(s, tmp_path)
    try:
        daemon.wait_idle()
        proc = resolve(s, copy, "local")
        assert proc.returncode == 0, proc.stderr
        assert f"The running daemon (pid {daemon.proc.pid})" in proc.stdout
        assert "Syncing" not in proc.stdout
        assert wait_for(lambda: s.remote_tree() == {"report.md": LOCAL}, 30), daemon.log()
    finally:
        daemon.stop()
    assert s.local_tree() == {"report.md": LOCAL}
    assert listed(s) == []
