"""Issue 16, item 3: a mirror whose ``remote:`` or ``local:`` changed in the
config starts over as a first meeting (docs/operations.md).

Before, the index kept the old folder's base rows (keyed by the mirror's name):
every synced file missing from the new folder was taken as deleted there and
trashed on the other side, and a file with the same name was overwritten by the
other folder's version. Now nothing is deleted on either side, a file on one
side only is copied to the other, and a same-named file with other contents is
kept twice (a conflicted copy). Real emulator over HTTP on 127.0.0.1, real temp
folders, a real config file changed between passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.sync import make_setup
from tests.helpers.guard import ops, write


@pytest.fixture
def s(make_emulator, tmp_path):
    return make_setup(make_emulator, tmp_path)


def removals(s, since: int = 0) -> list[tuple[str, str]]:
    """Requests after ``since`` that delete, move or rename on the server."""
    return [o for o in ops(s, since) if o[0] in ("DELETE", "PATCH")
            or o[1].startswith("/resources/move")]


def server_tree(s, root: str) -> dict[str, bytes | None]:
    out = {}
    for path, res in s.emu.other.tree().items():
        if path.startswith(root + "/"):
            out[path[len(root) + 1:]] = (None if res["attributes"]["type"] == "dir"
                                         else s.emu.other.read(path))
    return out


def local_trash(s) -> list[Path]:
    trash = s.state / "trash"
    return [p for p in trash.rglob("*") if p.is_file()] if trash.exists() else []


def files(tree: dict[str, bytes | None]) -> dict[str, bytes]:
    return {k: v for k, v in tree.items() if v is not None}


def copies_of(tree: dict[str, bytes | None], name: str) -> list[bytes]:
    """The contents under ``name`` and its conflicted copies."""
    stem, ext = name.rsplit(".", 1)
    return sorted(v for k, v in files(tree).items()
                  if k == name or (k.startswith(stem + " (conflicted copy ")
                                   and k.endswith("." + ext)))


# Same name, other contents (different sizes, and equal sizes), one side only,
# and one file identical in both folders.
X = {"same.txt": b"X's version", "size.txt": b"x-x", "only-x.txt": b"only in X",
     "sub/deep.txt": b"X deep", "equal.txt": b"identical"}
Y = {"same.txt": b"Y's version, longer", "size.txt": b"y-y", "only-y.txt": b"only in Y",
     "sub/other.txt": b"Y deep", "equal.txt": b"identical"}


def synced_with(s, data: dict[str, bytes]) -> None:
    for rel, body in data.items():
        write(s.local() / rel, body)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.local_tree() == s.remote_tree()


def assert_first_meeting(s, old: dict[str, bytes], new: dict[str, bytes]) -> None:
    """Both folders' files are on both sides, each different version kept once."""
    local, remote = s.local_tree(), s.remote_tree()
    assert local == remote
    for name in ("only-x.txt", "sub/deep.txt", "only-y.txt", "sub/other.txt"):
        assert name in local, (name, sorted(local))
    assert copies_of(local, "same.txt") == sorted([old["same.txt"], new["same.txt"]])
    assert copies_of(local, "size.txt") == sorted([old["size.txt"], new["size.txt"]])
    assert copies_of(local, "equal.txt") == [b"identical"]  # compared, not copied
    assert "first meeting" in s.output, s.output


def test_changed_remote_starts_over_as_a_first_meeting(s):
    synced_with(s, X)
    for rel, body in Y.items():
        s.emu.other.write("/y/" + rel, body)
    old_folder = server_tree(s, "/docs")
    n = len(s.emu.request_log)
    s.mirrors["docs"] = (s.local(), "/y")
    s.write_config()
    r = s.sync()
    assert not removals(s, n), removals(s, n)
    assert not local_trash(s), local_trash(s)
    assert server_tree(s, "/docs") == old_folder, "the old remote folder was touched"
    assert r.exit_code == 0, (r.message, s.output)
    assert_first_meeting(s, X, Y)
    r = s.sync()  # settled: a quiet pass
    assert r.exit_code == 0 and "first meeting" not in s.output, s.output
    assert s.local_tree() == s.remote_tree()


def test_changed_local_starts_over_as_a_first_meeting(s):
    synced_with(s, X)
    old_local = s.local()
    before_local = s.local_tree()
    new_local = s.home / "elsewhere"
    for rel, body in Y.items():
        write(new_local / rel, body)
    n = len(s.emu.request_log)
    s.mirrors["docs"] = (new_local, "/docs")
    s.write_config()
    r = s.sync()
    assert not removals(s, n), removals(s, n)
    assert not local_trash(s), local_trash(s)
    s.mirrors["docs"] = (old_local, "/docs")
    assert s.local_tree() == before_local, "the old local folder was touched"
    s.mirrors["docs"] = (new_local, "/docs")
    assert r.exit_code == 0, (r.message, s.output)
    assert_first_meeting(s, Y, X)


def test_changed_local_that_does_not_exist_yet_gets_the_server_files(s):
    synced_with(s, X)
    n = len(s.emu.request_log)
    s.mirrors["docs"] = (s.home / "new-home" / "docs", "/docs")
    s.write_config()
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert not removals(s, n), removals(s, n)
    assert files(s.local_tree()) == X == files(s.remote_tree())


def test_changed_local_naming_the_same_folder_moved_is_not_a_change(s):
    """The user moved the folder and pointed ``local:`` at its new place: the same
    folder (device and inode), so the index stays and nothing is transferred."""
    synced_with(s, X)
    moved = s.home / "moved-docs"
    s.local().rename(moved)
    s.mirrors["docs"] = (moved, "/docs")
    s.write_config()
    n = len(s.emu.request_log)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert "first meeting" not in s.output
    assert not [o for o in ops(s, n) if "upload" in o[1] or "download" in o[1]], ops(s, n)
    assert files(s.local_tree()) == X == files(s.remote_tree())


def test_changed_remote_and_then_back_deletes_nothing(s):
    """Back and forth: each change is a first meeting again, never a deletion."""
    synced_with(s, X)
    for rel, body in Y.items():
        s.emu.other.write("/y/" + rel, body)
    s.mirrors["docs"] = (s.local(), "/y")
    s.write_config()
    assert s.sync().exit_code == 0, s.output
    n = len(s.emu.request_log)
    s.mirrors["docs"] = (s.local(), "/docs")
    s.write_config()
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert not removals(s, n) and not local_trash(s)
    assert s.local_tree() == s.remote_tree()
    assert set(files(server_tree(s, "/y"))) <= set(files(s.local_tree()))


def test_renamed_mirror_deletes_nothing(s):
    """The mirror's name keys its index rows: a renamed mirror has none, so it
    meets its folders for the first time; nothing may be deleted."""
    synced_with(s, X)
    (s.local() / "only-x.txt").unlink()  # a deletion the new name cannot know of
    s.emu.other.write("/docs/from-colleague.txt", b"new on the server")
    n = len(s.emu.request_log)
    s.mirrors = {"work": s.mirrors.pop("docs")}
    s.write_config()
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert not removals(s, n) and not local_trash(s)
    assert s.local_tree("work") == s.remote_tree("work")
    assert {"only-x.txt", "from-colleague.txt"} <= set(s.local_tree("work"))


def test_forget_trees_keeps_other_mirrors_and_the_mirrors_own_bookkeeping(tmp_path):
    from syncd.state.index import Index
    from syncd.model import BaseEntry, RemoteEntry, RecordBase

    idx = Index(tmp_path / "index.sqlite3")
    try:
        for m in ("a", "b"):
            idx.put_base(m, BaseEntry("x.txt", "x.txt", "file", 1))
            idx.put_remote(m, [RemoteEntry("x.txt", "file", "1", 1)])
            idx.set_queue(m, [RecordBase(BaseEntry("x.txt", "x.txt", "file", 1))])
            idx.note_failure(m, "x.txt", "boom", 0.0)
            for name in ("cursor", "listed_at", "status", "trash_purged_at"):
                idx.set_state("mirror:" + m, name, 1)
        idx.forget_trees("a", ("cursor", "listed_at"))
        assert (idx.base("a"), idx.remote("a"), idx.queue("a"), idx.failures("a")) == (
            {}, {}, [], {})
        assert [idx.get_state("mirror:a", n) for n in ("cursor", "listed_at")] == [None, None]
        assert [idx.get_state("mirror:a", n) for n in ("status", "trash_purged_at")] == [1, 1]
        assert idx.base_count("b") == idx.remote_count("b") == idx.queue_count("b") == 1
        assert idx.failures("b") and idx.get_state("mirror:b", "cursor") == 1
    finally:
        idx.close()
