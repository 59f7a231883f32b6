"""syncd.state.index: the SQLite state file (base, remote snapshot, queue, ledger, echoes, backoff)."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import typing
import unicodedata

import pytest

from syncd import model
from syncd.state.index import (
    SCHEMA_VERSION,
    Index,
    IndexCorruptError,
    IndexError_,
    IndexVersionError,
    decode_action,
    encode_action,
)
from syncd.model import (
    BaseEntry,
    Compare,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetBase,
    LocalEntry,
    MakeLocalDir,
    MakeRemoteDir,
    MoveLocal,
    MoveRemote,
    RecordBase,
    RemoteEntry,
    Upload,
)

NFC = unicodedata.normalize("NFC", "Café")
NFD = unicodedata.normalize("NFD", "Café")
assert NFC != NFD


@pytest.fixture
def index_path(tmp_path):
    return tmp_path / "state" / "index.sqlite3"


@pytest.fixture
def idx(index_path):
    with Index(index_path) as index:
        yield index


def b(path: str, remote_path: str | None = None, kind: str = "file", **kw) -> BaseEntry:
    return BaseEntry(path, path if remote_path is None else remote_path, kind, **kw)


def r(path: str, id: str, kind: str = "file", **kw) -> RemoteEntry:
    return RemoteEntry(path, kind, id, **kw)


def mode(p) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# ----------------------------------------------------------------------------- files, schema


def test_creates_private_dir_and_files(index_path):
    idx = Index(index_path)
    try:
        idx.put_base("m", b("x"))  # a write, so -wal and -shm exist while open
        assert mode(index_path.parent) == 0o700
        assert mode(index_path) == 0o600
        for suffix in ("-wal", "-shm"):
            side = index_path.with_name(index_path.name + suffix)
            assert side.exists()
            assert mode(side) == 0o600
    finally:
        idx.close()


def test_private_modes_despite_permissive_umask(tmp_path):
    path = tmp_path / "a" / "b" / "index.sqlite3"
    old = os.umask(0)
    try:
        with Index(path) as idx:
            idx.set_state("mirror:m", "k", 1)
            assert mode(path) == 0o600
            assert mode(path.with_name(path.name + "-wal")) == 0o600
    finally:
        os.umask(old)
    assert mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700


def test_existing_parent_dir_left_alone(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    with Index(folder / "index.sqlite3"):
        pass
    assert mode(folder) == 0o755


def test_wal_and_pragmas(idx, index_path):
    db = idx._conn
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    # WAL is persistent: a plain connection sees it too.
    other = sqlite3.connect(index_path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_schema_version_set(idx, index_path):
    assert SCHEMA_VERSION >= 1
    assert idx.schema_version == SCHEMA_VERSION
    idx.close()
    raw = sqlite3.connect(index_path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        raw.close()
    assert {"base", "remote", "state", "queue", "ledger", "echo", "failure"} <= tables


def test_reopen_keeps_data(index_path):
    with Index(index_path) as idx:
        idx.put_base("m", b("a/b.txt", size=5, sha256="ab" * 32, inode=2**64 - 1))
        idx.put_remote("m", [r("a/b.txt", "17", size=5, updated=1.5)])
        idx.set_state("account:https://x", "cursor", {"id": 9})
        idx.set_queue("m", [ForgetBase("zz")])
    with Index(index_path) as idx:
        assert idx.schema_version == SCHEMA_VERSION
        assert idx.base("m") == {"a/b.txt": b("a/b.txt", size=5, sha256="ab" * 32,
                                               inode=2**64 - 1)}
        assert idx.remote("m") == {"a/b.txt": r("a/b.txt", "17", size=5, updated=1.5)}
        assert idx.get_state("account:https://x", "cursor") == {"id": 9}
        assert [a for _, a in idx.queue("m")] == [ForgetBase("zz")]


def test_newer_schema_version_refused(index_path):
    with Index(index_path):
        pass
    raw = sqlite3.connect(index_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    with pytest.raises(IndexVersionError) as exc:
        Index(index_path)
    message = str(exc.value)
    assert str(index_path) in message
    assert str(SCHEMA_VERSION + 1) in message and "newer" in message
    assert isinstance(exc.value, IndexError_)


def test_garbage_file_is_corrupt(index_path):
    index_path.parent.mkdir(parents=True)
    index_path.write_bytes(b"this is not a database, just some text" * 200)
    with pytest.raises(IndexCorruptError) as exc:
        Index(index_path)
    assert str(index_path) in str(exc.value)
    assert isinstance(exc.value, IndexError_)


def test_migrations_run_from_older_version(index_path):
    """An empty file (version 0) is migrated to the current version."""
    index_path.parent.mkdir(parents=True)
    sqlite3.connect(index_path).close()
    with Index(index_path) as idx:
        assert idx.schema_version == SCHEMA_VERSION
        idx.put_base("m", b("x"))
        assert idx.base_count("m") == 1


def test_closed_index_raises(index_path):
    idx = Index(index_path)
    idx.close()
    idx.close()  # idempotent
    with pytest.raises(IndexError_):
        idx.base("m")


# ----------------------------------------------------------------------------- base


def test_base_put_get_upsert(idx):
    e = b("dir/f.txt", size=3, mtime_ns=10**18, inode=42, sha256="00" * 32, remote_id="7",
          remote_size=3, remote_updated=1700000000.25)
    idx.put_base("m", e)
    assert idx.base("m") == {"dir/f.txt": e}
    e2 = b("dir/f.txt", size=4, remote_id="8")
    idx.put_base("m", e2)
    assert idx.base("m") == {"dir/f.txt": e2}
    assert idx.base_count("m") == 1
    assert idx.base("other") == {}


def test_base_nfc_nfd_one_key(idx):
    idx.put_base("m", b(f"{NFD}/x", remote_path=f"{NFC}/x"))
    assert list(idx.base("m")) == [f"{NFC}/x"]
    assert idx.base("m")[f"{NFC}/x"].local_path == f"{NFD}/x"
    # The NFC spelling of the same local file replaces the row instead of adding one.
    idx.put_base("m", b(f"{NFC}/x"))
    assert idx.base_count("m") == 1
    assert idx.base("m")[f"{NFC}/x"].local_path == f"{NFC}/x"
    # drop by key works from either spelling.
    idx.drop_base("m", NFD)
    assert idx.base("m") == {}


def test_put_bases_bulk(idx):
    entries = [b(f"d/{i}") for i in range(500)]
    idx.put_bases("m", entries)
    assert idx.base_count("m") == 500
    assert idx.base("m")["d/499"] == entries[-1]
    idx.put_bases("m", iter([]))
    assert idx.base_count("m") == 500


def test_drop_base_subtree_keeps_siblings_and_wildcards(idx):
    paths = ["a", "a/x", "a/y/z", "ab", "ab/x", "a0", "a.txt", "b",
             "%", "%/x", "%a", "_", "_/x", "x_y", "x%y", "x_y/k", "xay"]
    idx.put_bases("m", [b(p, kind="dir" if p in ("a", "ab") else "file") for p in paths])
    idx.drop_base("m", "a")
    assert sorted(idx.base("m")) == sorted(set(paths) - {"a", "a/x", "a/y/z"})
    idx.drop_base("m", "%")
    assert "%a" in idx.base("m") and "%" not in idx.base("m") and "%/x" not in idx.base("m")
    idx.drop_base("m", "_")
    assert "_" not in idx.base("m") and "_/x" not in idx.base("m")
    idx.drop_base("m", "x_y")
    assert sorted(idx.base("m")) == sorted(["ab", "ab/x", "a0", "a.txt", "b", "%a", "x%y", "xay"])
    idx.drop_base("m", "nonexistent")
    assert idx.base_count("m") == 8
    idx.drop_base("m", "")  # the root: everything
    assert idx.base_count("m") == 0


def test_drop_base_only_one_mirror(idx):
    idx.put_base("m1", b("a/x"))
    idx.put_base("m2", b("a/x"))
    idx.drop_base("m1", "a")
    assert idx.base_count("m1") == 0
    assert idx.base_count("m2") == 1


def test_move_base_reroots_subtree(idx):
    idx.put_bases("m", [
        b("a", kind="dir", remote_id="1"),
        b("a/x.txt", size=1, remote_id="2"),
        b("a/sub/y.txt", size=2, remote_id="3"),
        b("ab/keep", remote_id="4"),
        b("c/old", remote_id="5"),      # another row in the destination: kept
        b("c/x.txt", remote_id="7"),    # where a moved row lands: replaced
        b("c", kind="file", remote_id="6"),  # the destination itself: replaced
    ])
    idx.move_base("m", "a", "c", "c")
    base = idx.base("m")
    assert sorted(base) == ["ab/keep", "c", "c/old", "c/sub/y.txt", "c/x.txt"]
    assert base["c/old"] == b("c/old", remote_id="5")
    assert base["c"] == b("c", kind="dir", remote_id="1")
    assert base["c/x.txt"] == b("c/x.txt", size=1, remote_id="2")
    assert base["c/sub/y.txt"] == b("c/sub/y.txt", size=2, remote_id="3")


def test_move_base_separate_spellings(idx):
    """Local and remote spellings are rebased separately; keys are recomputed (NFC)."""
    idx.put_bases("m", [
        b(f"{NFD}", remote_path=f"{NFC}", kind="dir"),
        b(f"{NFD}/{NFD}.txt", remote_path=f"{NFC}/{NFC}.txt"),
        b(f"{NFD}/%_/z", remote_path=f"{NFC}/%_/z"),
    ])
    idx.move_base("m", NFC, f"new/{NFD}2", f"new/{NFC}2")
    base = idx.base("m")
    assert sorted(base) == sorted([f"new/{NFC}2", f"new/{NFC}2/{NFC}.txt", f"new/{NFC}2/%_/z"])
    row = base[f"new/{NFC}2/{NFC}.txt"]
    assert row.local_path == f"new/{NFD}2/{NFD}.txt"
    assert row.remote_path == f"new/{NFC}2/{NFC}.txt"
    assert base[f"new/{NFC}2/%_/z"].local_path == f"new/{NFD}2/%_/z"


def test_move_base_file_and_respelling(idx):
    idx.put_bases("m", [b(f"{NFD}.txt", remote_path=f"{NFC}.txt", size=9), b(f"{NFD}.txt2")])
    # Same key, new local spelling (a normalisation-only rename).
    idx.move_base("m", NFC + ".txt", NFC + ".txt", NFC + ".txt")
    base = idx.base("m")
    assert base[NFC + ".txt"] == b(NFC + ".txt", size=9)
    assert base[NFC + ".txt2"].local_path == NFD + ".txt2"  # not part of the subtree


def test_move_base_rejects_nesting(idx):
    idx.put_base("m", b("a/b"))
    with pytest.raises(ValueError):
        idx.move_base("m", "a", "a/b/c", "a/b/c")
    with pytest.raises(ValueError):
        idx.move_base("m", "a/b", "a", "a")
    with pytest.raises(ValueError):
        idx.move_base("m", "", "x", "x")
    assert idx.base("m") == {"a/b": b("a/b")}


def test_move_base_missing_source_is_noop(idx):
    idx.put_base("m", b("dst/x"))
    idx.move_base("m", "nothing", "dst", "dst")
    assert idx.base("m") == {"dst/x": b("dst/x")}


# ----------------------------------------------------------------------------- remote


def test_remote_put_and_replace_all(idx):
    idx.put_remote("m", [r("a", "1", "dir"), r("a/x", "2", size=3, updated=5.5)])
    idx.put_remote("m", [r("b", "3")])  # incremental: adds
    assert sorted(idx.remote("m")) == ["a", "a/x", "b"]
    idx.put_remote("m", [r("a/x", "2", size=4, updated=6.0)])  # upsert
    assert idx.remote("m")["a/x"] == r("a/x", "2", size=4, updated=6.0)
    idx.put_remote("other", [r("z", "9")])
    idx.put_remote("m", [r("c", "4"), r("a", "1", "dir")], replace_all=True)
    assert idx.remote("m") == {"c": r("c", "4"), "a": r("a", "1", "dir")}
    assert idx.remote("other") == {"z": r("z", "9")}
    idx.put_remote("m", [], replace_all=True)
    assert idx.remote("m") == {}


def test_remote_nfc_and_nfd_are_distinct_paths(idx):
    idx.put_remote("m", [r(NFC, "1"), r(NFD, "2")])
    assert idx.remote("m") == {NFC: r(NFC, "1"), NFD: r(NFD, "2")}
    idx.drop_remote("m", NFD)
    assert idx.remote("m") == {NFC: r(NFC, "1")}


def test_remote_by_id(idx):
    idx.put_remote("m", [r("a/x", "42", size=1), r("b", "43")])
    idx.put_remote("n", [r("other", "42")])
    assert idx.remote_by_id("m", "42") == r("a/x", "42", size=1)
    assert idx.remote_by_id("n", "42") == r("other", "42")
    assert idx.remote_by_id("m", "999") is None
    idx.move_remote("m", "a", "q")
    assert idx.remote_by_id("m", "42") == r("q/x", "42", size=1)


def test_drop_remote_subtree(idx):
    paths = ["a", "a/x", "a/y/z", "ab", "a_b", "a%", "a%/x", "b"]
    idx.put_remote("m", [r(p, str(i)) for i, p in enumerate(paths)])
    idx.drop_remote("m", "a")
    assert sorted(idx.remote("m")) == sorted(["ab", "a_b", "a%", "a%/x", "b"])
    idx.drop_remote("m", "a%")
    assert sorted(idx.remote("m")) == sorted(["ab", "a_b", "b"])
    idx.drop_remote("m", "")
    assert idx.remote("m") == {}


def test_move_remote_reroots_subtree(idx):
    idx.put_remote("m", [
        r("a", "1", "dir"), r("a/x", "2"), r("a/s/y", "3", size=7, updated=2.0),
        r("ab", "4"), r("d/stale", "5"), r("d", "6"),
    ])
    idx.move_remote("m", "a", "d")
    assert idx.remote("m") == {
        "d": r("d", "1", "dir"), "d/x": r("d/x", "2"),
        "d/s/y": r("d/s/y", "3", size=7, updated=2.0), "ab": r("ab", "4"),
    }
    idx.move_remote("m", "d/s", "e/f/g")
    assert sorted(idx.remote("m")) == ["ab", "d", "d/x", "e/f/g/y"]  # no row for d/s itself
    with pytest.raises(ValueError):
        idx.move_remote("m", "d", "d/x/y")


# ----------------------------------------------------------------------------- state


def test_state_roundtrip_and_default(idx):
    assert idx.get_state("mirror:m", "cursor") is None
    assert idx.get_state("mirror:m", "cursor", default=0) == 0
    idx.set_state("mirror:m", "cursor", 12)
    idx.set_state("account:https://a.example", "cursor", {"x": [1, 2.5, "é"]})
    assert idx.get_state("mirror:m", "cursor") == 12
    assert idx.get_state("account:https://a.example", "cursor") == {"x": [1, 2.5, "é"]}
    idx.set_state("mirror:m", "cursor", None)
    assert idx.get_state("mirror:m", "cursor", default=5) is None  # stored null != missing
    with pytest.raises(ValueError):
        idx.set_state("bogus", "x", 1)
    with pytest.raises(TypeError):
        idx.set_state("mirror:m", "x", object())


# ----------------------------------------------------------------------------- queue


def every_action() -> list:
    local = LocalEntry(f"dir/{NFD}.txt", "file", size=10, mtime_ns=1_700_000_000_123_456_789,
                       inode=2**64 - 5, sha256="ff" * 32)
    local_dir = LocalEntry("dir", "dir")
    remote = RemoteEntry(f"dir/{NFC}.txt", "file", "1234", size=10, updated=1700000000.125)
    remote_dir = RemoteEntry("dir", "dir", "99")
    base = BaseEntry(f"dir/{NFD}.txt", f"dir/{NFC}.txt", "file", 10, 5, 6, None, "1234", 10, 0.5)
    actions = [
        Upload("a %_.txt", "a %_.txt", local),
        Upload("a.txt", "a.txt", local, replace=remote),
        Download("r.txt", "r.txt", remote),
        Download("r.txt", "r.txt", remote, replace=local),
        Compare("c.txt", "c.txt", local, remote, "c (conflicted copy h 2024-01-01 000000).txt"),
        MakeRemoteDir("dir", local_dir),
        MakeLocalDir("dir", remote_dir),
        MoveRemote("dir", "dir2", remote_dir),
        MoveLocal("x", "y", local),
        MoveLocal("x", "y", local, forget_base=True),
        DeleteRemote("gone", remote),
        DeleteLocal("gone", local),
        RecordBase(base),
        ForgetBase("old/path"),
    ]
    assert {type(a) for a in actions} == set(typing.get_args(model.Action))
    return actions


@pytest.mark.parametrize("action", every_action(), ids=lambda a: type(a).__name__)
def test_action_json_roundtrip(action):
    text = encode_action(action)
    assert '"type":"' + type(action).__name__ + '"' in text
    back = decode_action(text)
    assert back == action
    assert type(back) is type(action)


def test_encode_decode_reject_non_actions():
    with pytest.raises(TypeError):
        encode_action(LocalEntry("a", "file"))  # an entry, not an action
    with pytest.raises(ValueError):
        decode_action('{"type": "LocalEntry", "path": "a", "kind": "file"}')
    with pytest.raises(ValueError):
        decode_action('{"type": "Nope"}')
    with pytest.raises(ValueError):
        decode_action('{"type": "ForgetBase", "path": "a", "extra": 1}')
    with pytest.raises(ValueError):
        decode_action("not json")


def test_queue_roundtrip_order_finish(idx):
    actions = every_action()
    idx.set_queue("m", actions)
    idx.set_queue("other", [ForgetBase("o")])
    items = idx.queue("m")
    assert [a for _, a in items] == actions
    ids = [i for i, _ in items]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert idx.queue_count("m") == len(actions)
    idx.finish("m", ids[3])
    idx.finish("m", ids[0])
    idx.finish("other", ids[1])  # wrong mirror: no effect
    remaining = idx.queue("m")
    assert [i for i, _ in remaining] == ids[1:3] + ids[4:]
    assert [a for _, a in remaining] == actions[1:3] + actions[4:]
    assert idx.queue_count("m") == len(actions) - 2
    assert idx.queue_count("other") == 1


def test_set_queue_replaces_and_never_reuses_ids(idx):
    idx.set_queue("m", [ForgetBase("a"), ForgetBase("b")])
    old_ids = [i for i, _ in idx.queue("m")]
    idx.set_queue("m", [ForgetBase("c")])
    [(new_id, action)] = idx.queue("m")
    assert action == ForgetBase("c")
    assert new_id > max(old_ids)
    idx.finish("m", old_ids[0])  # a stale id does not touch the new queue
    assert idx.queue_count("m") == 1
    idx.set_queue("m", [])
    assert idx.queue("m") == [] and idx.queue_count("m") == 0


def test_queue_undecodable_row_is_corrupt(idx):
    idx.set_queue("m", [ForgetBase("a")])
    idx._conn.execute("UPDATE queue SET action = '{\"type\": \"Gone\"}'")
    with pytest.raises(IndexCorruptError):
        idx.queue("m")


# ----------------------------------------------------------------------------- ledger


def test_ledger_spent_and_prune(idx):
    acct = "https://acct.example"
    for t in (100.0, 50.0, 200.5, 150.0, 150.0):
        idx.record_request(acct, t, "GET", "/resources/list", 200)
    idx.record_request(acct, 175.0, "POST", "/resources/upload", None)
    idx.record_request("https://other.example", 160.0, "GET", "/x", 500)
    assert idx.spent(acct, 0) == 6
    assert idx.spent(acct, 150.0) == 4  # at >= since
    assert idx.spent(acct, 150.1) == 2
    assert idx.spent_times(acct, 100.0) == [100.0, 150.0, 150.0, 175.0, 200.5]
    idx.prune_ledger(acct, 150.0)  # strictly before
    assert idx.spent_times(acct, 0) == [150.0, 150.0, 175.0, 200.5]
    assert idx.spent("https://other.example", 0) == 1
    idx.prune_ledger(acct, 1e12)
    assert idx.spent(acct, 0) == 0
    assert idx.spent_times(acct, 0) == []


def _committed_ledger(path) -> int:
    """Rows another process (``syncd status``) would see."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    finally:
        db.close()


def test_deferred_writes_share_the_next_transaction(idx, index_path):
    acct = "https://acct.example"
    idx.record_request(acct, 1.0, "GET", "/resources/list", 200)
    idx.expect_echo(acct, 1.0, "upload", "/a")
    assert _committed_ledger(index_path) == 0  # no commit of their own
    assert idx.spent(acct, 0) == 1  # but this object reads its own writes
    assert _committed_ledger(index_path) == 1
    idx.record_request(acct, 2.0, "GET", "/resources/list", 200)
    idx.put_remote("m", [r("x", "1")])  # any transaction takes them along
    assert _committed_ledger(index_path) == 2
    assert idx.take_echo(acct, "upload", "/a") is True


def test_deferred_writes_survive_a_rolled_back_transaction(idx, index_path):
    acct = "https://acct.example"
    idx.record_request(acct, 1.0, "GET", "/resources/list", 200)
    with pytest.raises(RuntimeError):
        with idx.batch():
            idx.put_remote("m", [r("x", "1")])
            raise RuntimeError("boom")
    assert idx.remote("m") == {}
    assert _committed_ledger(index_path) == 0
    idx.flush()
    assert _committed_ledger(index_path) == 1


def test_deferred_write_inside_own_transaction_is_part_of_it(idx, index_path):
    acct = "https://acct.example"
    with pytest.raises(RuntimeError):
        with idx.batch():
            idx.record_request(acct, 1.0, "GET", "/resources/list", 200)
            assert idx.spent(acct, 0) == 1
            raise RuntimeError("boom")
    assert idx.spent(acct, 0) == 0  # all or nothing, as before


def test_deferred_writes_from_other_threads_and_close(index_path):
    acct = "https://acct.example"
    idx = Index(index_path)
    threads = [threading.Thread(target=lambda i=i: [
        idx.record_request(acct, float(i * 100 + k), "GET", "/x", 200) for k in range(50)])
        for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    idx.finish("m", 12345)
    idx.clear_failure("m", "a")
    idx.close()  # flushes
    assert _committed_ledger(index_path) == 200


# ----------------------------------------------------------------------------- echoes


def test_echoes_consumed_once_oldest_first(idx):
    acct = "https://acct.example"
    idx.expect_echo(acct, 20.0, "upload", "/home/a.txt")
    idx.expect_echo(acct, 10.0, "upload", "/home/a.txt")
    idx.expect_echo(acct, 15.0, "delete", "/home/a.txt")
    assert idx.take_echo("https://other.example", "upload", "/home/a.txt") is False
    assert idx.take_echo(acct, "upload", "/home/a.txt") is True
    # The oldest (at=10) went first: pruning before 15 leaves the at=20 one.
    idx.prune_echoes(acct, 15.0)
    assert idx.take_echo(acct, "upload", "/home/a.txt") is True
    assert idx.take_echo(acct, "upload", "/home/a.txt") is False
    assert idx.take_echo(acct, "delete", "/home/a.txt") is True
    assert idx.take_echo(acct, "delete", "/home/a.txt") is False
    assert idx.take_echo(acct, "upload", "/home/b.txt") is False


def test_echo_oldest_taken_is_the_one_pruned_last(idx):
    acct = "a"
    idx.expect_echo(acct, 30.0, "mkdir", "/d")
    idx.expect_echo(acct, 5.0, "mkdir", "/d")
    assert idx.take_echo(acct, "mkdir", "/d")
    idx.prune_echoes(acct, 31.0)  # the remaining one (at=30) is pruned
    assert idx.take_echo(acct, "mkdir", "/d") is False
    idx.expect_echo(acct, 30.0, "rename", "/d")
    idx.expect_echo(acct, 5.0, "move", "/d")
    idx.prune_echoes(acct, 10.0)
    assert idx.take_echo(acct, "move", "/d") is False
    assert idx.take_echo(acct, "rename", "/d") is True


def test_echoes_pruned_under_folders_only(idx):
    # a refresh that skipped a long feed forgets the echoes of its mirrors only
    acct = "a"
    for path in ("/docs", "/docs/x.txt", "/docs2/y.txt", "/photos/z.jpg"):
        idx.expect_echo(acct, 5.0, "upload", path)
    idx.expect_echo(acct, 50.0, "upload", "/docs/late.txt")  # too recent: kept
    idx.prune_echoes(acct, 10.0, under=["/docs"])
    assert [idx.take_echo(acct, "upload", p) for p in (
        "/docs", "/docs/x.txt", "/docs2/y.txt", "/photos/z.jpg", "/docs/late.txt")] == [
        False, False, True, True, True]
    idx.expect_echo(acct, 5.0, "upload", "/photos/z.jpg")
    idx.prune_echoes(acct, 10.0, under=[])  # no folder: nothing
    assert idx.take_echo(acct, "upload", "/photos/z.jpg") is True
    idx.expect_echo(acct, 5.0, "upload", "/photos/z.jpg")
    idx.prune_echoes(acct, 10.0, under=[""])  # the home folder: everything
    assert idx.take_echo(acct, "upload", "/photos/z.jpg") is False


def test_echo_rejects_unknown_op(idx):
    with pytest.raises(ValueError):
        idx.expect_echo("a", 1.0, "copy", "/x")


# ----------------------------------------------------------------------------- failures


def test_failure_backoff_doubles_caps_and_clears(idx):
    nexts = [idx.note_failure("m", "a.txt", f"boom {i}", now=1000.0) for i in range(1, 6)]
    assert nexts == [1030.0, 1060.0, 1120.0, 1240.0, 1480.0]
    assert idx.failures("m") == {"a.txt": (5, 1480.0, "boom 5")}
    # cap
    for _ in range(20):
        last = idx.note_failure("m", "a.txt", "again", now=2000.0, base_delay=30.0, max_delay=600.0)
    assert last == 2600.0
    assert idx.failures("m")["a.txt"] == (25, 2600.0, "again")
    # huge attempt counts do not overflow
    idx._conn.execute("UPDATE failure SET attempts = 5000")
    assert idx.note_failure("m", "a.txt", "x", now=0.0) == 86400.0
    idx.note_failure("m", "b.txt", "other", now=5.0, base_delay=1.0)
    idx.note_failure("n", "a.txt", "other mirror", now=5.0)
    idx.clear_failure("m", "a.txt")
    assert idx.failures("m") == {"b.txt": (1, 6.0, "other")}
    assert idx.note_failure("m", "a.txt", "fresh", now=0.0) == 30.0  # attempts restart at 1
    assert idx.failures("n") == {"a.txt": (1, 35.0, "other mirror")}


# ----------------------------------------------------------------------------- batch, threads


def test_batch_rolls_back_on_exception(idx):
    idx.put_base("m", b("keep"))
    with pytest.raises(RuntimeError), idx.batch():
        idx.put_base("m", b("x"))
        idx.drop_base("m", "keep")
        idx.put_remote("m", [r("x", "1")])
        idx.set_queue("m", [ForgetBase("x")])
        raise RuntimeError("boom")
    assert idx.base("m") == {"keep": b("keep")}
    assert idx.remote("m") == {}
    assert idx.queue_count("m") == 0
    idx.put_base("m", b("after"))  # the index is usable afterwards
    assert idx.base_count("m") == 2


def test_batch_is_one_transaction(index_path):
    with Index(index_path) as writer, Index(index_path) as reader:
        with writer.batch():
            writer.put_base("m", b("a"))
            writer.put_remote("m", [r("a", "1")])
            assert writer.base_count("m") == 1  # own writes visible inside
            assert reader.base_count("m") == 0  # others see nothing yet
            assert reader.remote("m") == {}
        assert reader.base_count("m") == 1
        assert reader.remote("m") == {"a": r("a", "1")}
        # Outside a batch each write commits at once.
        writer.set_state("mirror:m", "k", "v")
        assert reader.get_state("mirror:m", "k") == "v"


def test_nested_batch_inner_failure_rolls_back_inner_only(idx):
    with idx.batch():
        idx.put_base("m", b("outer1"))
        with pytest.raises(KeyError), idx.batch():
            idx.put_base("m", b("inner"))
            with idx.batch():
                idx.put_base("m", b("inner2"))
            raise KeyError("x")
        with idx.batch():
            idx.put_base("m", b("inner_ok"))
        idx.put_base("m", b("outer2"))
    assert sorted(idx.base("m")) == ["inner_ok", "outer1", "outer2"]


def test_failing_write_is_atomic(idx):
    """A bulk write that fails halfway leaves nothing behind (one transaction)."""
    bad = [r("a", "1"), r("b", "2"), RemoteEntry("c", "weird", "3")]  # kind CHECK fails
    idx.put_remote("m", [r("old", "0")])
    with pytest.raises(sqlite3.IntegrityError):
        idx.put_remote("m", bad, replace_all=True)
    assert idx.remote("m") == {"old": r("old", "0")}


def test_concurrent_writes_from_threads(idx):
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(50):
                idx.put_base(f"m{n % 2}", b(f"t{n}/f{i}"))
                idx.record_request("acct", float(i), "GET", f"/{n}/{i}", 200)
                idx.set_state(f"mirror:m{n}", "i", i)
                if i % 10 == 0:
                    with idx.batch():
                        idx.put_remote(f"m{n}", [r(f"f{i}", f"{n}-{i}")])
                        idx.expect_echo("acct", float(i), "upload", f"/{n}/{i}")
                assert idx.base(f"m{n % 2}")[f"t{n}/f{i}"] == b(f"t{n}/f{i}")
                idx.note_failure(f"m{n}", "p", "e", now=0.0)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert idx.base_count("m0") == 200 and idx.base_count("m1") == 200
    assert idx.spent("acct", 0) == 400
    for n in range(8):
        assert idx.get_state(f"mirror:m{n}", "i") == 49
        assert len(idx.remote(f"m{n}")) == 5
        assert idx.failures(f"m{n}")["p"][0] == 50
        assert idx.take_echo("acct", "upload", f"/{n}/40")


# ----------------------------------------------------------------------------- housekeeping


def test_forget_mirror_leaves_others_intact(idx):
    for m in ("gone", "kept"):
        idx.put_base(m, b("a/x"))
        idx.put_remote(m, [r("a/x", "1")])
        idx.set_queue(m, [ForgetBase("q")])
        idx.note_failure(m, "a/x", "err", now=0.0)
        idx.set_state(f"mirror:{m}", "cursor", 3)
    idx.set_state("mirror:gone2", "cursor", 4)  # prefix-similar name: untouched
    idx.set_state("account:u", "cursor", 5)
    idx.record_request("u", 1.0, "GET", "/", 200)
    idx.forget_mirror("gone")
    assert idx.base("gone") == {} and idx.remote("gone") == {}
    assert idx.queue_count("gone") == 0 and idx.failures("gone") == {}
    assert idx.get_state("mirror:gone", "cursor") is None
    assert idx.base("kept") == {"a/x": b("a/x")}
    assert idx.remote("kept") == {"a/x": r("a/x", "1")}
    assert [a for _, a in idx.queue("kept")] == [ForgetBase("q")]
    assert idx.failures("kept") == {"a/x": (1, 30.0, "err")}
    assert idx.get_state("mirror:kept", "cursor") == 3
    assert idx.get_state("mirror:gone2", "cursor") == 4
    assert idx.get_state("account:u", "cursor") == 5
    assert idx.spent("u", 0) == 1


def test_an_echo_has_a_feed_half_and_a_push_half(idx):
    acct = "a"
    idx.expect_echo(acct, 1.0, "upload", "/d/f.txt")
    assert idx.take_echo(acct, "upload", "/d/f.txt") is True              # the feed's half
    assert idx.take_echo(acct, "upload", "/d/f.txt") is False             # only once
    assert idx.take_echo(acct, "upload", "/d/f.txt", push=True) is True   # the push's half
    assert idx.take_echo(acct, "upload", "/d/f.txt", push=True) is False
    # Push first, then feed: same thing the other way round.
    idx.expect_echo(acct, 2.0, "delete", "/d/g.txt")
    assert idx.take_echo(acct, "delete", "/d/g.txt", push=True) is True
    assert idx.take_echo(acct, "delete", "/d/g.txt", push=True) is False
    assert idx.take_echo(acct, "delete", "/d/g.txt") is True
    assert idx.take_echo(acct, "delete", "/d/g.txt") is False


def test_version_1_index_gains_the_echo_halves(index_path):
    from syncd.state.index import MIGRATIONS

    index_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(index_path)
    MIGRATIONS[0](raw)
    raw.execute("PRAGMA user_version = 1")
    raw.execute("INSERT INTO echo(account, at, op, path) VALUES ('a', 1.0, 'mkdir', '/x')")
    raw.commit()
    raw.close()
    with Index(index_path) as idx:
        assert idx.schema_version == SCHEMA_VERSION
        assert idx.take_echo("a", "mkdir", "/x") is True     # the old row kept both halves
        assert idx.take_echo("a", "mkdir", "/x", push=True) is True
        assert idx.take_echo("a", "mkdir", "/x", push=True) is False


def test_remote_count(idx):
    from syncd.model import RemoteEntry

    assert idx.remote_count("m") == 0
    idx.put_remote("m", [RemoteEntry("a", "file", "1", 1, 1.0), RemoteEntry("d", "dir", "2", 0, 1.0)])
    idx.put_remote("other", [RemoteEntry("x", "file", "3", 1, 1.0)])
    assert idx.remote_count("m") == 2
