"""Everyday scenarios, continued (see tests/reliability/test_everyday.py): several hosts on one
remote folder, config changes, the budget, server faults and lost answers,
concurrent syncs, a colleague acting while syncd pages a listing, the same
account used elsewhere, the trashes. Real emulator over HTTP, real temp folders,
both account modes (activity feed; Files.com, no feed)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path

import pytest

from syncd.config.loader import load_config
from syncd.engine import SyncEngine
from syncd.report import Reporter
from tests.helpers.emulator import Api
from tests.helpers.sync import SyncSetup, make_setup
from tests.helpers.everyday import (  # noqa: F401 (s and files_com are fixtures)
    conflicted, contents, edit, files, files_com, s, settle, synced, theirs, write)
from tests.helpers.listing import after_page, flat, listing_pass
from tests.helpers.listing import start as listed_start


# ============================================================ several hosts, one folder

def second_host(s: SyncSetup, tmp_path: Path, name: str = "laptop") -> SyncSetup:
    """Another syncd (its own local folder and state dir) on the same remote folder
    and account."""
    base = tmp_path / name
    base.mkdir()
    other = SyncSetup(s.emu, base / "home", base / "state", base / "config.yaml", host=name)
    (base / "home").mkdir()
    local = base / "home" / "docs"
    local.mkdir()
    other.mirrors["docs"] = (local, "/docs")
    other.write_config()
    return other


def settle_hosts(hosts: list[SyncSetup], rounds: int = 3) -> dict:
    for _ in range(rounds):
        codes = []
        for h in hosts:
            r = h.sync()
            codes.append(r.exit_code)
            h.emu.advance_clock(2)
        if all(c == 0 for c in codes):
            trees = [h.local_tree() for h in hosts]
            if all(t == hosts[0].remote_tree() for t in trees):
                break
    tree = hosts[0].remote_tree()
    for h in hosts:
        assert h.local_tree() == tree, (h.host, h.output)
    return tree


def test_two_hosts_rename_and_add_inside(s, tmp_path):
    b = second_host(s, tmp_path)
    synced(s, {"proj/a.txt": "a", "k": "k"})
    assert b.sync().exit_code == 0
    os.rename(s.local() / "proj", s.local() / "project")
    write(b.local() / "proj/new.txt", "from the laptop")
    tree = settle_hosts([s, b])
    assert contents(tree) == [b"a", b"from the laptop", b"k"], tree


def test_two_hosts_edit_and_delete(s, tmp_path):
    b = second_host(s, tmp_path)
    synced(s, {"a.txt": "v1", "b.txt": "b", "k": "k"})
    assert b.sync().exit_code == 0
    edit(s.local() / "a.txt", "edited on the server host")
    (b.local() / "a.txt").unlink()
    (b.local() / "b.txt").unlink()
    tree = settle_hosts([b, s])
    assert tree == {"a.txt": b"edited on the server host", "k": b"k"}, tree


def test_two_hosts_edit_the_same_file(s, tmp_path):
    b = second_host(s, tmp_path)
    synced(s, {"a.txt": "v1", "k": "k"})
    assert b.sync().exit_code == 0
    edit(s.local() / "a.txt", "host one")
    edit(b.local() / "a.txt", "laptop, longer")
    tree = settle_hosts([s, b])
    assert contents(tree) == [b"host one", b"k", b"laptop, longer"], tree


def test_two_hosts_same_folder_move(s, tmp_path):
    b = second_host(s, tmp_path)
    synced(s, {"proj/a.txt": "a", "proj/b.txt": "b", "k": "k"})
    assert b.sync().exit_code == 0
    os.rename(s.local() / "proj", s.local() / "archive")
    os.rename(b.local() / "proj", b.local() / "archive")
    edit(b.local() / "archive/a.txt", "edited after the move")
    tree = settle_hosts([s, b])
    assert tree == {"archive": None, "archive/a.txt": b"edited after the move",
                    "archive/b.txt": b"b", "k": b"k"}, tree


# ============================================================ config changes

def test_remote_changed_to_a_new_folder_uploads_all_and_deletes_nothing(s):
    synced(s, {"a.txt": "a", "d/b.txt": "b"})
    s.emu.other.write("/docs2/theirs.txt", b"theirs")
    s.mirrors["docs"] = (s.local(), "/docs2")
    s.write_config()
    tree = settle(s)
    assert tree == {"a.txt": b"a", "d": None, "d/b.txt": b"b", "theirs.txt": b"theirs"}
    s.mirrors["docs"] = (s.local(), "/docs")
    assert s.emu.other.read("/docs/a.txt") == b"a"


def test_local_changed_to_a_new_folder_downloads_all_and_deletes_nothing(s, tmp_path):
    synced(s, {"a.txt": "a", "d/b.txt": "b"})
    old = s.local()
    new = s.home / "docs-new"
    write(new / "mine.txt", "mine")
    s.mirrors["docs"] = (new, "/docs")
    s.write_config()
    tree = settle(s)
    assert tree == {"a.txt": b"a", "d": None, "d/b.txt": b"b", "mine.txt": b"mine"}
    assert (old / "a.txt").read_bytes() == b"a"


# ============================================================ budget, faults, concurrency

class Clock:
    def __init__(self):
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


def test_budget_runs_out_mid_pass_and_resumes_the_next_day(s):
    synced(s, {f"old{i:02}.txt": f"old {i}" for i in range(12)})
    for i in range(20):
        write(s.local() / f"new{i:02}.txt", f"new {i}")
    for i in range(4):
        theirs(s, f"old{i:02}.txt", f"their edit {i}")
    (s.local() / "old10.txt").unlink()
    s.emu.set_transaction_limit(s.emu.transactions_used + 15)
    clock = Clock()
    r = s.sync(now=clock)
    assert r.exit_code == 75, (r.message, s.output)
    assert "deferred" in r.message and "budget back at" in r.message, r.message
    # the next day: the window rolled over on both clocks
    s.emu.advance_clock(86400 + 60)
    clock.shift += 86400 + 60
    for _ in range(2):
        r = s.sync(now=clock)
        if r.exit_code == 0:
            break
    assert r.exit_code == 0, (r.message, s.output)
    tree = s.local_tree()
    assert tree == s.remote_tree()
    assert "old10.txt" not in tree
    for i in range(4):
        assert tree[f"old{i:02}.txt"] == f"their edit {i}".encode()
    for i in range(20):
        assert tree[f"new{i:02}.txt"] == f"new {i}".encode()


def test_occasional_server_errors_converge(s):
    synced(s, {f"f{i:02}.txt": f"v1 {i}" for i in range(10)})
    for i in range(10):
        write(s.local() / f"n{i:02}.txt", f"new {i}")
    for i in range(0, 10, 2):
        edit(s.local() / f"f{i:02}.txt", f"my v2 {i}")
    for i in range(1, 10, 2):
        theirs(s, f"f{i:02}.txt", f"their v2 {i}")
    s.emu.set_faults(0.08, seed=7)
    tree = None
    for _ in range(3):
        r = s.sync()
        if r.exit_code == 0:
            break
        assert r.exit_code == 75, (r.message, s.output)
    s.emu.set_faults(0.0)
    tree = settle(s)
    for i in range(10):
        assert tree[f"n{i:02}.txt"] == f"new {i}".encode()
        want = f"my v2 {i}" if i % 2 == 0 else f"their v2 {i}"
        assert tree[f"f{i:02}.txt"] == want.encode(), (i, tree)
    assert not conflicted(tree)


def test_two_syncs_at_once_one_waits_its_turn(s):
    for i in range(30):
        write(s.local() / f"f{i:02}.txt", f"{i}")
    s.emu.set_latency(150)
    args = [sys.executable, "-m", "syncd", "sync", "--config", str(s.config_path)]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while time.time() < deadline and not s.emu.request_log:
        time.sleep(0.01)
    second = s.cli("sync", "--config", str(s.config_path))
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert second.returncode == 75, (second.stdout, second.stderr)
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "another syncd" in lines[0], lines
    s.emu.set_latency(0)
    assert settle(s) == {f"f{i:02}.txt": f"{i}".encode() for i in range(30)}


def test_file_growing_while_uploaded_ends_with_its_last_version(s):
    synced(s, {"k": "k"})
    big = s.local() / "video.bin"
    write(big, b"a" * 3_000_000)
    s.emu.set_bandwidth(6_000_000)

    def append():
        time.sleep(0.15)
        with open(big, "ab") as f:
            f.write(b"b" * 1000)

    t = threading.Thread(target=append)
    t.start()
    s.sync()
    t.join()
    s.emu.set_bandwidth(None)
    tree = settle(s, runs=3)
    assert tree["video.bin"] == b"a" * 3_000_000 + b"b" * 1000


# ============================================================ a colleague acting while syncd lists

def test_colleague_renames_a_folder_while_listed(make_emulator, tmp_path, files_com):
    files = flat(150)
    files |= {f"b/f{i:02}.txt": b"b%d" % i for i in range(10)}
    s, clock = listed_start(make_emulator, tmp_path, files_com, files)
    fired = after_page(s, 0, lambda: s.emu.other.rename("/docs/b", "zz"))
    r, _ = listing_pass(s, clock, files_com)
    assert fired
    for _ in range(2):
        if r.exit_code == 0:
            break
        r = s.sync(now=clock)
    s.emu.on_list_page(None)
    r = s.sync(now=clock)
    assert r.exit_code == 0, s.output
    tree = s.local_tree()
    assert tree == s.remote_tree()
    assert all(tree.get(f"zz/f{i:02}.txt") == b"b%d" % i for i in range(10)), tree.keys()
    assert not any(k.startswith("b/") or k == "b" for k in tree)


def test_colleague_adds_files_on_a_read_page_while_listed(make_emulator, tmp_path, files_com):
    s, clock = listed_start(make_emulator, tmp_path, files_com, flat(150))

    def add():
        for i in range(5):
            s.emu.other.write(f"/docs/a{i}.txt", b"new %d" % i)
    fired = after_page(s, 0, add)
    r, _ = listing_pass(s, clock, files_com)
    assert fired and r.exit_code == 0, s.output
    s.emu.on_list_page(None)
    r = s.sync(now=clock)
    assert r.exit_code == 0, s.output
    tree = s.local_tree()
    assert tree == s.remote_tree()
    assert len(tree) == 155 and not conflicted(tree)


def test_colleague_edits_while_listed_and_user_deletes(make_emulator, tmp_path, files_com):
    s, clock = listed_start(make_emulator, tmp_path, files_com, flat(150))
    (s.local() / "f005.txt").unlink()

    def act():
        s.emu.other.delete("/docs/f001.txt")
        s.emu.other.write("/docs/f120.txt", b"their edit of 120, longer")
        s.emu.other.write("/docs/f005.txt", b"their edit of 5, longer")
    fired = after_page(s, 0, act)
    r, _ = listing_pass(s, clock, files_com)
    assert fired, s.output
    s.emu.on_list_page(None)
    for _ in range(2):
        r = s.sync(now=clock)
        if r.exit_code == 0:
            break
    assert r.exit_code == 0, s.output
    tree = s.local_tree()
    assert tree == s.remote_tree()
    assert "f001.txt" not in tree
    assert tree["f120.txt"] == b"their edit of 120, longer"
    assert tree["f005.txt"] == b"their edit of 5, longer"  # an edit beats a deletion
    assert len(tree) == 149


# ============================================================ renamed mirror, renamed root

def test_mirror_renamed_in_the_config_loses_nothing(s):
    synced(s, {"a.txt": "a", "b.txt": "b"})
    s.mirrors["documents"] = s.mirrors.pop("docs")
    s.write_config()
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.local_tree("documents") == s.remote_tree("documents") == {"a.txt": b"a",
                                                                       "b.txt": b"b"}
    (s.local("documents") / "a.txt").unlink()
    write(s.local("documents") / "c.txt", "c")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.remote_tree("documents") == {"b.txt": b"b", "c.txt": b"c"}


def test_local_root_renamed_then_config_updated(s):
    synced(s, {"a.txt": "a", "b.txt": "b", "c.txt": "c"})
    new = s.home / "Documents"
    os.rename(s.local(), new)
    r = s.sync()
    assert r.exit_code == 1 and "missing" in r.message, (r.message, s.output)
    assert len(s.remote_tree()) == 3
    s.mirrors["docs"] = (new, "/docs")
    s.write_config()
    (new / "a.txt").unlink()
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.remote_tree() == {"b.txt": b"b", "c.txt": b"c"}  # the same folder: not new


def test_remote_root_renamed_by_colleague(s):
    synced(s, {"a.txt": "a", "b.txt": "b"})
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs", "docs-old")
    r = s.sync()
    assert r.exit_code == 1 and "missing" in r.message, (r.message, s.output)
    assert s.local_tree() == {"a.txt": b"a", "b.txt": b"b"}
    s.emu.other.rename("/docs-old", "docs")
    assert settle(s) == {"a.txt": b"a", "b.txt": b"b"}


# ============================================================ trash names

def test_same_long_name_deleted_twice_in_a_day(s):
    name = "é" * 120 + ".txt"  # 245 bytes in NFC, 365 in NFD
    synced(s, {name: "first", "k1": "1", "k2": "2"})
    s.emu.other.delete("/docs/" + name)
    assert settle(s) == {"k1": b"1", "k2": b"2"}
    theirs(s, name, "second")
    assert settle(s)[name] == b"second"
    s.emu.other.delete("/docs/" + name)
    assert settle(s) == {"k1": b"1", "k2": b"2"}
    kept = sorted(p.read_bytes() for p in (s.state / "trash").rglob("*") if p.is_file())
    assert kept == [b"first", b"second"]


def test_remote_rename_onto_a_locally_ignored_folder(s):
    s.set_options(ignore=["cache/"])
    write(s.local() / "cache/big.bin", "local cache")
    write(s.local() / "notes", "n")
    write(s.local() / "k", "k")
    assert s.sync().exit_code == 0, s.output
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/notes", "cache")
    r = s.sync()
    assert r.exit_code == 1, (r.exit_code, r.message, s.output)
    assert "notes: an ignored folder is in the way at cache" in r.message, r.message
    assert s.sync().exit_code in (1, 75)
    assert (s.local() / "cache/big.bin").read_bytes() == b"local cache"
    assert s.remote_tree()["cache"] == b"n"
    assert (s.local() / "notes").read_bytes() == b"n"


# ============================================================ the remote trash, tidied by others

def test_colleague_empties_the_remote_trash_the_same_day(s):
    synced(s, {"a.txt": "a", "b.txt": "b", "k1": "1", "k2": "2", "k3": "3"})
    (s.local() / "a.txt").unlink()
    assert settle(s) == {"b.txt": b"b", "k1": b"1", "k2": b"2", "k3": b"3"}
    s.emu.other.delete("/.syncd-trash")
    (s.local() / "b.txt").unlink()
    tree = settle(s)
    assert tree == {"k1": b"1", "k2": b"2", "k3": b"3"}, s.output
    trashed = [p for p in s.emu.other.tree() if p.endswith("/b.txt")]
    assert trashed and trashed[0].startswith("/.syncd-trash/"), trashed


def test_same_folder_deleted_twice_in_a_day_keeps_both_in_the_trash(s):
    synced(s, {"tmp/x.txt": "first", "k1": "1", "k2": "2", "k3": "3"})
    shutil.rmtree(s.local() / "tmp")
    settle(s)
    theirs(s, "tmp/x.txt", "second")
    assert settle(s)["tmp/x.txt"] == b"second"
    shutil.rmtree(s.local() / "tmp")
    assert settle(s) == {"k1": b"1", "k2": b"2", "k3": b"3"}
    kept = sorted(s.emu.other.read(p) for p, r in s.emu.other.tree().items()
                  if p.startswith("/.syncd-trash/") and p.endswith("/x.txt"))
    assert kept == [b"first", b"second"]


def test_colleague_reuploads_unchanged_file_while_user_edits(s):
    synced(s, {"a.txt": "v1", "k": "k"})
    edit(s.local() / "a.txt", "my edit, longer")
    theirs(s, "a.txt", "v1")  # a backup tool or another client re-sends the same bytes
    tree = settle(s)
    assert tree == {"a.txt": b"my edit, longer", "k": b"k"}, tree


def test_folder_renamed_then_listed_while_colleague_deletes_in_it(make_emulator, tmp_path,
                                                                  files_com):
    """A colleague renames big/ (150 files); syncd's next listing of it (a full
    listing: in feed mode it is cheaper than the moved folder's stat and pages) is
    paged while the colleague deletes a file of page 1. The file pushed out of
    page 2 (f099) was moved with its folder, not deleted: it must be looked for
    where its folder went, not at its old path (which answers 404)."""
    layout = {f"big/f{i:03}.txt": b"%d" % i for i in range(150)}
    layout |= {"k1": b"1", "k2": b"2"}
    s, clock = listed_start(make_emulator, tmp_path, files_com, layout)
    s.emu.other.rename("/docs/big", "big2")
    fired: list = []

    def hook(page):
        if not fired and page.folder in ("/docs", "/docs/big2") and page.offset == 0:
            fired.append(page)
            s.emu.other.delete("/docs/big2/f005.txt")
    s.emu.on_list_page(hook)
    r = s.sync(now=clock)
    s.emu.on_list_page(None)
    assert fired and r.exit_code == 0, (r.message, s.output)
    assert "f099" not in s.output, s.output
    r = s.sync(now=clock)
    assert r.exit_code == 0, (r.message, s.output)
    tree = s.local_tree()
    assert tree == s.remote_tree()
    assert "big2/f005.txt" not in tree and len(files(tree)) == 151, sorted(tree)[:5]
    assert not any(k.startswith("big/") for k in tree)
    assert [p.name for p in (s.state / "trash").rglob("*.txt")] == ["f005.txt"]

def test_two_local_spellings_of_one_name(s):
    """Linux keeps NFC and NFD spellings apart; the server pairs them as one name.
    One of them syncs, the other is noted and left alone, never deleted."""
    nfc = unicodedata.normalize("NFC", "résumé.txt")
    nfd = unicodedata.normalize("NFD", "résumé.txt")
    synced(s, {"k": "k"})
    write(s.local() / nfc, "typed on Linux")
    write(s.local() / nfd, "copied from a Mac")
    r = s.sync()
    assert r.exit_code in (0, 1), (r.message, s.output)
    assert "Traceback" not in s.output
    remote = files(s.remote_tree())
    assert len(remote) == 2, remote
    theirs(s, nfc, "their edit")
    for _ in range(2):
        r = s.sync()
    assert "Traceback" not in s.output
    assert r.exit_code == 0, (r.message, s.output)
    local = sorted(files(s.local_tree()).values())
    assert local in ([b"copied from a Mac", b"k", b"their edit"],
                     [b"k", b"their edit", b"typed on Linux"]), local


def test_both_rename_a_folder_alike_and_add_different_files(s):
    synced(s, {"x/a.txt": "a", "k": "k"})
    os.rename(s.local() / "x", s.local() / "y")
    write(s.local() / "y/mine.txt", "mine")
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/x", "y")
    theirs(s, "y/theirs.txt", "theirs")
    assert settle(s) == {"k": b"k", "y": None, "y/a.txt": b"a", "y/mine.txt": b"mine",
                         "y/theirs.txt": b"theirs"}


def test_atomic_save_while_colleague_edits(s):
    synced(s, {"doc.txt": "v1", "k": "k"})
    write(s.local() / ".doc.txt.tmp", "my atomic save")
    os.replace(s.local() / ".doc.txt.tmp", s.local() / "doc.txt")
    theirs(s, "doc.txt", "their edit!")
    tree = settle(s)
    assert contents(tree) == [b"k", b"my atomic save", b"their edit!"], tree


def test_colleague_deletes_a_folder_the_user_replaced_by_a_symlink(s, tmp_path):
    """Nothing outside the mirror is touched: the photos on the other disk stay."""
    synced(s, {**{f"Photos/p{i}.jpg": f"photo {i}" for i in range(3)},
               **{f"doc{i}.txt": f"doc {i}" for i in range(6)}})
    moved = tmp_path / "bigdisk" / "Photos"
    moved.parent.mkdir()
    shutil.move(s.local() / "Photos", moved)
    os.symlink(moved, s.local() / "Photos")
    assert s.sync().exit_code == 0, s.output
    s.emu.other.delete("/docs/Photos")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)  # gone on both sides: nothing to do
    assert os.path.islink(s.local() / "Photos")
    assert "Traceback" not in s.output
    assert sorted(p.name for p in moved.iterdir()) == ["p0.jpg", "p1.jpg", "p2.jpg"], s.output
    assert all((moved / f"p{i}.jpg").read_bytes() == f"photo {i}".encode() for i in range(3))


def test_colleague_deletes_a_file_the_user_replaced_by_a_symlink(s, tmp_path):
    synced(s, {"config.ini": "settings", "k1": "1", "k2": "2"})
    target = tmp_path / "elsewhere.ini"
    os.rename(s.local() / "config.ini", target)
    os.symlink(target, s.local() / "config.ini")
    assert s.sync().exit_code == 0, s.output
    s.emu.other.delete("/docs/config.ini")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)  # gone on both sides: nothing to do
    assert os.path.islink(s.local() / "config.ini")
    assert target.read_bytes() == b"settings"
    assert s.sync().exit_code == 0, s.output
    assert s.remote_tree() == {"k1": b"1", "k2": b"2"}
    os.unlink(s.local() / "config.ini")  # the link goes: nothing else happens
    assert settle(s) == {"k1": b"1", "k2": b"2"}


def test_an_ignore_everything_rule_undone_costs_nothing(s):
    """A typo (``*``) in the rules for one pass, then fixed: nothing is deleted,
    and the synced files are not compared again (no download each)."""
    synced(s, {f"f{i}.txt": f"{i}" for i in range(8)})
    s.set_options(ignore=["*"])
    assert s.sync().exit_code == 0, s.output
    s.set_options(ignore=[])
    n = len(s.emu.request_log)
    assert settle(s) == {f"f{i}.txt": f"{i}".encode() for i in range(8)}
    assert not [r for r in s.emu.request_log[n:] if r.path.endswith("/download")]


# ============================================================ the same user, elsewhere

class ActReporter:
    """A plain Reporter that runs ``act`` once, right after the worker reports
    ``verb`` for ``path`` (the pass goes on afterwards)."""

    def __new__(cls, verb: str, path: str, act):
        class _R(Reporter):
            fired = False

            def event(self, mirror, v, p, size=0):
                super().event(mirror, v, p, size)
                if not self.fired and v == verb and p == path:
                    self.fired = True
                    act()
        return _R(io.StringIO(), fancy=False)


def run_with(s: SyncSetup, reporter):
    engine = SyncEngine(load_config(s.config_path), host=s.host, reporter=reporter)
    r = engine.run()
    s.output = reporter.stream.getvalue()
    return r


def test_same_account_in_the_browser_right_after_our_upload(s):
    """The user, logged in to the web interface with syncd's own account, uploads
    a newer a.txt just after syncd uploaded it (before the pass reads its own
    changes back from the feed). The newer version must come down, not be taken
    as syncd's own echo."""
    api = Api(s.emu)
    synced(s, {"k": "k"})
    write(s.local() / "a.txt", "from the laptop")

    def browser():
        s.emu.advance_clock(1)
        assert api.upload("/docs/a.txt", b"newer, from the browser", overwrite=True) \
            .status_code in (200, 201)

    rep = ActReporter("uploaded", "a.txt", browser)
    r = run_with(s, rep)
    assert rep.fired and r.exit_code == 0, (r.message, s.output)
    tree = settle(s)
    assert tree["a.txt"] == b"newer, from the browser", tree


def test_same_account_renames_in_the_browser_right_after_our_rename(s):
    api = Api(s.emu)
    synced(s, {"a.txt": "a", "k": "k"})
    os.rename(s.local() / "a.txt", s.local() / "b.txt")

    def browser():
        s.emu.advance_clock(1)
        rid = api.info("/docs/b.txt").json()["data"]["id"]
        resp = api.patch(f"/resources/{rid}", json={"name": "c.txt"})
        assert resp.status_code == 200, resp.text
    rep = ActReporter("moved", "a.txt -> b.txt", browser)
    r = run_with(s, rep)
    assert r.exit_code == 0, (r.message, s.output)
    tree = settle(s)
    assert tree == {"c.txt": b"a", "k": b"k"}, (rep.fired, tree)


# ============================================================ lost answers to our writes

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lost_answers_to_writes_revert_nothing(s, seed):
    """A day of ordinary work on both sides while a quarter of our writes lose
    their answer (the server did it, or did not). Nothing may be lost, reverted,
    duplicated or resurrected."""
    synced(s, {"proj/a.txt": "a", "proj/b.txt": "b", "old/x.txt": "x", "notes.txt": "n1",
               "k1": "1", "k2": "2", "k3": "3", "k4": "4"})
    os.rename(s.local() / "proj", s.local() / "project")
    edit(s.local() / "project/a.txt", "a edited")
    shutil.rmtree(s.local() / "old")
    write(s.local() / "new/fresh.txt", "fresh")
    os.rename(s.local() / "k1", s.local() / "k1.renamed")
    theirs(s, "notes.txt", "their notes v2")
    s.emu.set_faults(0.25, kinds=["500", "reset"], seed=seed,
                     only=lambda method, path, query: method != "GET")
    for _ in range(4):
        r = s.sync()
        if r.exit_code == 0:
            break
        assert r.exit_code in (1, 75), (r.message, s.output)
    s.emu.set_faults(0.0)
    tree = settle(s, runs=3)
    assert tree == {"project": None, "project/a.txt": b"a edited", "project/b.txt": b"b",
                    "new": None, "new/fresh.txt": b"fresh", "notes.txt": b"their notes v2",
                    "k1.renamed": b"1", "k2": b"2", "k3": b"3", "k4": b"4"}, (tree, s.output)


def test_file_moved_to_a_read_page_while_listed(make_emulator, tmp_path, files_com):
    """During a full listing a colleague moves f120.txt (page 2, not read yet) into
    a/ (page 1, read): no page shows it. It must be back locally, at its new place,
    by the next pass at the latest: not gone for a day."""
    layout = flat(150)
    layout["a/keep.txt"] = b"k"
    s, clock = listed_start(make_emulator, tmp_path, files_com, layout)
    fired = after_page(s, 0, lambda: s.emu.other.move("/docs/f120.txt", "/docs/a"))
    r, _ = listing_pass(s, clock, files_com)
    s.emu.on_list_page(None)
    assert fired and r.exit_code == 0, (r.message, s.output)
    r = s.sync(now=clock)
    assert r.exit_code == 0, (r.message, s.output)
    tree = s.local_tree()
    assert tree == s.remote_tree(), s.output
    assert tree.get("a/f120.txt") == b"120" and "f120.txt" not in tree



def test_two_hosts_and_a_colleague_edit_one_file(s, tmp_path):
    b = second_host(s, tmp_path)
    synced(s, {"plan.txt": "v1", "k": "k"})
    assert b.sync().exit_code == 0
    edit(s.local() / "plan.txt", "server host's edit")
    edit(b.local() / "plan.txt", "laptop's edit, longer")
    theirs(s, "plan.txt", "the colleague's edit, longest")
    tree = settle_hosts([s, b])
    assert contents(tree) == [b"k", b"laptop's edit, longer", b"server host's edit",
                              b"the colleague's edit, longest"], tree
    assert tree["plan.txt"] == b"the colleague's edit, longest"



def test_two_hosts_one_loses_its_index(s, tmp_path):
    b = second_host(s, tmp_path)
    synced(s, {"a.txt": "a", "b.txt": "b", "c.txt": "c"})
    assert b.sync().exit_code == 0
    shutil.rmtree(b.state)
    edit(b.local() / "a.txt", "laptop edit")
    (s.local() / "c.txt").unlink()
    tree = settle_hosts([s, b])
    assert tree.get("a.txt") == b"laptop edit" or b"laptop edit" in contents(tree), tree
    assert b"b" in contents(tree)


def test_colleague_renames_a_folder_the_user_replaced_by_a_symlink(s, tmp_path):
    synced(s, {**{f"Photos/p{i}.jpg": f"photo {i}" for i in range(3)},
               **{f"doc{i}.txt": f"doc {i}" for i in range(6)}})
    moved = tmp_path / "bigdisk" / "Photos"
    moved.parent.mkdir()
    shutil.move(s.local() / "Photos", moved)
    os.symlink(moved, s.local() / "Photos")
    assert s.sync().exit_code == 0, s.output
    s.emu.advance_clock(2)
    s.emu.other.rename("/docs/Photos", "Pictures")
    r = s.sync()
    assert r.exit_code == 1 and "symbolic link" in r.message, (r.message, s.output)
    assert r.message.startswith("docs: Photos") and "\n" not in r.message, r.message
    s.sync()  # (in feed mode the photos may come down again, into a real Pictures/)
    assert sorted(p.name for p in moved.iterdir()) == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert os.path.islink(s.local() / "Photos")
    assert s.remote_tree().get("Pictures/p0.jpg") == b"photo 0"


# ============================================================ a disk mounted inside the mirror

@pytest.fixture
def usb_disk(tmp_path):
    """A separate file system (a tmpfs, "the USB disk") whose folder ``disk`` can be
    mounted at a folder of the mirror and unmounted again, its files kept."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    disk = tmp_path / "usbdisk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    points: list[Path] = []

    def mount(at: Path) -> None:
        at.mkdir(exist_ok=True)
        subprocess.run(["mount", "--bind", str(disk), str(at)], check=True,
                       capture_output=True)
        points.append(at)

    def umount(at: Path) -> None:
        subprocess.run(["umount", str(at)], check=True, capture_output=True)
        points.remove(at)

    yield disk, mount, umount
    for at in reversed(points):
        subprocess.run(["umount", "-l", str(at)], capture_output=True)
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_disk_mounted_inside_the_mirror_goes_away(s, usb_disk):
    """The user's USB disk is mounted at docs/external. It is unplugged; a
    colleague edits one of its files on the server meanwhile. The mirror does
    nothing until the disk is back (as for an unmounted root): the colleague's
    edit is not downloaded into the bare folder and then overwritten by the
    disk's stale copy, nor are the disk's other files trashed on the server."""
    disk, mount, umount = usb_disk
    for i in range(3):
        write(disk / f"e{i}.txt", f"usb {i}")
    ext = s.local() / "external"
    mount(ext)
    synced(s, {f"f{i:02}.txt": f"{i}" for i in range(20)})
    umount(ext)
    s.emu.advance_clock(2)
    s.emu.other.write("/docs/external/e0.txt", b"the colleague's edit of e0")
    r = s.sync()
    assert r.exit_code == 1, (r.message, s.output)
    assert "external in the local folder is no longer mounted" in r.message, r.message
    assert "--force" in r.message and "\n" not in r.message
    assert list(ext.iterdir()) == []  # nothing downloaded into the bare folder
    remote = s.remote_tree()
    assert remote["external/e1.txt"] == b"usb 1" and remote["external/e2.txt"] == b"usb 2"
    mount(ext)
    tree = settle(s)
    assert tree["external/e0.txt"] == b"the colleague's edit of e0", tree
    assert tree["external/e1.txt"] == b"usb 1" and tree["external/e2.txt"] == b"usb 2"
    assert (disk / "e0.txt").read_bytes() == b"the colleague's edit of e0"


def test_disk_inside_the_mirror_unmounted_on_purpose_with_force(s, usb_disk):
    disk, mount, umount = usb_disk
    write(disk / "e0.txt", "usb 0")
    ext = s.local() / "external"
    mount(ext)
    synced(s, {f"f{i:02}.txt": f"{i}" for i in range(20)})
    umount(ext)
    assert s.sync().exit_code == 1
    r = s.sync(force=True)
    assert r.exit_code == 0, (r.message, s.output)
    assert "external/e0.txt" not in s.remote_tree()  # the user meant it: it goes
    assert settle(s)["external"] is None


def test_new_local_folder_forgets_the_old_ones_mount_points(s, usb_disk):
    disk, mount, umount = usb_disk
    write(disk / "e0.txt", "usb 0")
    mount(s.local() / "external")
    synced(s, {"a.txt": "a"})
    new = s.home / "docs-new"
    write(new / "external/plain.txt", "a plain folder here")
    s.mirrors["docs"] = (new, "/docs")
    s.write_config()
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.remote_tree()["external/plain.txt"] == b"a plain folder here"


def test_colleague_moves_a_folder_out_of_the_mirror_and_back(s):
    synced(s, {"proj/a.txt": "a", "proj/b.txt": "b", "k1": "1", "k2": "2", "k3": "3"})
    s.emu.advance_clock(2)
    s.emu.other.mkdir("/elsewhere")
    s.emu.other.move("/docs/proj", "/elsewhere")
    assert settle(s) == {"k1": b"1", "k2": b"2", "k3": b"3"}
    s.emu.advance_clock(2)
    s.emu.other.move("/elsewhere/proj", "/docs")
    tree = settle(s)
    assert tree["proj/a.txt"] == b"a" and tree["proj/b.txt"] == b"b"


def test_colleague_moves_a_folder_between_two_mirrors(make_emulator, tmp_path, files_com):
    s = make_setup(make_emulator, tmp_path, mirrors=("docs", "pics"),
                   emu_opts={"files_com": files_com})
    write(s.local("docs") / "album/p.jpg", "photo")
    write(s.local("docs") / "keep.txt", "k")
    write(s.local("pics") / "old.jpg", "old")
    assert s.sync().exit_code == 0, s.output
    s.emu.advance_clock(2)
    s.emu.other.move("/docs/album", "/pics")
    for _ in range(2):
        r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.local_tree("docs") == s.remote_tree("docs") == {"keep.txt": b"k"}
    assert s.local_tree("pics") == s.remote_tree("pics") == {
        "old.jpg": b"old", "album": None, "album/p.jpg": b"photo"}
