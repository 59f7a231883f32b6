"""syncd.local.scan: walking a mirror's local root into LocalEntry rows."""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import unicodedata
from pathlib import Path

import pytest

from syncd.local import scan as local_scan
from syncd.local.ignore import IgnoreRules, new_temp_name
from syncd.local.scan import (
    LocalRootMissing,
    ScanResult,
    clean_temp_files,
    hash_file,
    scan,
)
from syncd.model import DIR, FILE, BaseEntry, LocalEntry, key

AS_ROOT = os.geteuid() == 0
needs_non_root = pytest.mark.skipif(AS_ROOT, reason="root ignores permission bits")

NFC = unicodedata.normalize("NFC", "é.txt")
NFD = unicodedata.normalize("NFD", "é.txt")
NO_RULES = IgnoreRules()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(root: Path, rel: str, data: bytes = b"") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def base_of(root: Path, entries: dict[str, LocalEntry]) -> dict[str, BaseEntry]:
    """A base as the index would hold it after syncing ``entries`` (hashes filled in)."""
    base = {}
    for k, e in entries.items():
        digest = sha((root / e.path).read_bytes()) if e.kind == FILE else None
        base[k] = BaseEntry(local_path=e.path, remote_path=e.path, kind=e.kind, size=e.size,
                            mtime_ns=e.mtime_ns, inode=e.inode, sha256=digest)
    return base


def do_scan(root: Path, base=None, rules=NO_RULES, **kw) -> ScanResult:
    return scan(root, base or {}, rules, **kw)


# ------------------------------------------------------------------------------- tree


def test_nested_folders_and_empty_folders(tmp_path):
    write(tmp_path, "a.txt", b"hello")
    write(tmp_path, "docs/b.md", b"# b")
    write(tmp_path, "docs/deep/er/c.bin", b"\0" * 10)
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs" / "empty2").mkdir()
    result = do_scan(tmp_path)
    assert sorted(result.entries) == ["a.txt", "docs", "docs/b.md", "docs/deep", "docs/deep/er",
                                      "docs/deep/er/c.bin", "docs/empty2", "empty"]
    assert result.entries["empty"].kind == DIR and result.entries["empty"].size == 0
    assert result.entries["docs/deep/er/c.bin"].kind == FILE
    assert result.entries["docs/deep/er/c.bin"].size == 10
    assert result.entries["docs/deep/er/c.bin"].path == "docs/deep/er/c.bin"
    assert all(k == e.path for k, e in result.entries.items())
    assert result.notes == [] and result.unreadable == []
    assert result.hashed == 0 and result.hashed_bytes == 0
    assert "" not in result.entries  # the root is not an entry


def test_empty_root(tmp_path):
    result = do_scan(tmp_path)
    assert result.entries == {} and result.notes == []


def test_stat_fields(tmp_path):
    f = write(tmp_path, "f.dat", b"x" * 1234)
    os.utime(f, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    d = tmp_path / "d"
    d.mkdir()
    result = do_scan(tmp_path)
    fst, dst = os.lstat(f), os.lstat(d)
    assert result.entries["f.dat"] == LocalEntry("f.dat", FILE, 1234, 1_600_000_000_123_456_789,
                                                 fst.st_ino, None)
    assert result.entries["d"] == LocalEntry("d", DIR, 0, dst.st_mtime_ns, dst.st_ino, None)


def test_deep_tree_does_not_recurse(tmp_path):
    # The walk is iterative: with the recursion limit barely above the current stack
    # depth, a tree much deeper than that is still scanned. (A tree deeper than the
    # default limit of 1000 would break pytest's own recursive temp-dir cleanup.)
    depth = 300
    path = str(tmp_path)
    for _ in range(depth):
        path += "/d"
        os.mkdir(path)
    write(Path(path), "leaf", b"x")
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 50)
    try:
        result = do_scan(tmp_path)
    finally:
        sys.setrecursionlimit(old_limit)
    rel = "/".join(["d"] * depth)
    assert len(result.entries) == depth + 1
    assert result.entries[rel + "/leaf"].size == 1


# --------------------------------------------------------------------- things skipped


def test_symlinks_noted_and_not_followed(tmp_path):
    outside = tmp_path / "outside"
    write(outside, "secret.txt", b"s")
    root = tmp_path / "root"
    write(root, "real.txt", b"r")
    (root / "sub").mkdir()
    os.symlink(outside / "secret.txt", root / "link-to-file")
    os.symlink(outside, root / "sub" / "link-to-dir")
    os.symlink(root / "sub", root / "link-to-own-dir")
    os.symlink(root / "nowhere", root / "dangling")
    result = do_scan(root)
    assert sorted(result.entries) == ["real.txt", "sub"]
    assert sorted(result.notes) == [
        ("dangling", "symbolic link: not synced"),
        ("link-to-file", "symbolic link: not synced"),
        ("link-to-own-dir", "symbolic link: not synced"),
        ("sub/link-to-dir", "symbolic link: not synced"),
    ]


def test_fifo_noted(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    write(tmp_path, "x", b"1")
    result = do_scan(tmp_path)
    assert list(result.entries) == ["x"]
    assert result.notes == [("pipe", "special file: not synced")]


def test_socket_noted(tmp_path):
    import socket

    path = tmp_path / "s"
    if len(os.fsencode(path)) > 100:
        pytest.skip("temp path too long for a unix socket")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        result = do_scan(tmp_path)
    finally:
        sock.close()
    assert result.entries == {}
    assert result.notes == [("s", "special file: not synced")]


def test_undecodable_names_noted_and_not_descended(tmp_path):
    root = os.fsencode(tmp_path)
    fd = os.open(root + b"/bad\xff.txt", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    os.mkdir(root + b"/dir\xfe")
    fd = os.open(root + b"/dir\xfe/inner.txt", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    write(tmp_path, "good.txt", b"g")
    result = do_scan(tmp_path)
    assert list(result.entries) == ["good.txt"]
    assert sorted(result.notes) == [
        ("bad\\xff.txt", "name is not valid UTF-8: not synced"),
        ("dir\\xfe", "name is not valid UTF-8: not synced"),
    ]


def test_nfc_nfd_duplicates_keep_first_in_sorted_order(tmp_path):
    write(tmp_path, "sub/" + NFC, b"composed")
    write(tmp_path, "sub/" + NFD, b"decomposed")
    names = os.listdir(tmp_path / "sub")
    if len(names) != 2:
        pytest.skip("this file system normalises names")
    first, second = sorted([NFC, NFD])
    result = do_scan(tmp_path)
    assert sorted(result.entries) == ["sub", key("sub/" + NFC)]
    assert result.entries[key("sub/" + NFC)].path == "sub/" + first
    assert result.notes == [
        ("sub/" + second,
         f"same name as sub/{first} after Unicode normalisation: not synced"),
    ]


def test_nfd_name_keyed_by_nfc_with_disk_spelling(tmp_path):
    folder = unicodedata.normalize("NFD", "Résumés")
    write(tmp_path, f"{folder}/{NFD}", b"x")
    result = do_scan(tmp_path)
    k = key(f"{folder}/{NFD}")
    assert k == unicodedata.normalize("NFC", f"{folder}/{NFD}") and k != f"{folder}/{NFD}"
    assert result.entries[k].path == f"{folder}/{NFD}"
    assert result.entries[key(folder)].path == folder


def test_temp_files_skipped_silently(tmp_path):
    write(tmp_path, new_temp_name(b"k"), b"partial")
    write(tmp_path, "a/" + new_temp_name(b"k"), b"partial")
    write(tmp_path, "b/.syncd-def.part", b"a user's file of a similar name")
    result = do_scan(tmp_path)
    assert sorted(result.entries) == ["a", "b", "b/.syncd-def.part"]
    assert result.notes == []


def test_ignored_paths(tmp_path, monkeypatch):
    write(tmp_path, "keep.txt", b"k")
    write(tmp_path, "x.tmp", b"t")
    write(tmp_path, "keep.tmp", b"t")
    write(tmp_path, "build/out/deep.o", b"o")
    write(tmp_path, "src/build", b"a file named build")
    write(tmp_path, "node_modules/a/b.js", b"")
    write(tmp_path, ".syncdignore", b"node_modules/\n")
    os.symlink("/etc", tmp_path / "ignored-link.tmp")
    rules = IgnoreRules.for_root(tmp_path, ["*.tmp", "!keep.tmp", "build/"])

    listed = []
    real_scandir = os.scandir

    def spy(path):
        listed.append(os.fsdecode(path))
        return real_scandir(path)

    monkeypatch.setattr(local_scan.os, "scandir", spy)
    result = do_scan(tmp_path, rules=rules)
    assert sorted(result.entries) == ["keep.tmp", "keep.txt", "src", "src/build"]
    assert result.notes == []  # an ignored symlink is not worth a note
    assert sorted(listed) == [str(tmp_path), str(tmp_path / "src")]  # no descent


# --------------------------------------------------------------------------- hashing


def test_unchanged_stat_takes_hash_from_base_without_reading(tmp_path):
    write(tmp_path, "a.txt", b"alpha")
    write(tmp_path, "d/b.txt", b"beta")
    base = base_of(tmp_path, do_scan(tmp_path).entries)

    def no_reads(path):
        raise AssertionError(f"read {path}")

    result = do_scan(tmp_path, base, hash_file=no_reads)
    assert result.entries["a.txt"].sha256 == sha(b"alpha")
    assert result.entries["d/b.txt"].sha256 == sha(b"beta")
    assert result.entries["d"].sha256 is None
    assert result.hashed == 0 and result.hashed_bytes == 0


def test_touched_same_size_is_hashed_and_equal(tmp_path):
    f = write(tmp_path, "a.txt", b"alpha")
    base = base_of(tmp_path, do_scan(tmp_path).entries)
    st = os.stat(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    result = do_scan(tmp_path, base)
    assert result.entries["a.txt"].sha256 == sha(b"alpha")
    assert result.entries["a.txt"].mtime_ns == st.st_mtime_ns + 5_000_000_000
    assert result.hashed == 1 and result.hashed_bytes == 5


def test_new_inode_same_size_is_hashed(tmp_path):
    # An editor's save-via-rename: same content, same mtime, another inode.
    f = write(tmp_path, "a.txt", b"alpha")
    base = base_of(tmp_path, do_scan(tmp_path).entries)
    st = os.stat(f)
    tmp = write(tmp_path, "new", b"alpha")
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, f)
    assert os.stat(f).st_ino != st.st_ino
    result = do_scan(tmp_path, base)
    assert result.entries["a.txt"].sha256 == sha(b"alpha")
    assert result.hashed == 1


def test_same_size_different_content_gets_new_hash(tmp_path):
    f = write(tmp_path, "a.txt", b"alpha")
    base = base_of(tmp_path, do_scan(tmp_path).entries)
    st = os.stat(f)
    f.write_bytes(b"ALPHA")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    result = do_scan(tmp_path, base)
    assert result.entries["a.txt"].sha256 == sha(b"ALPHA") != sha(b"alpha")
    assert result.hashed == 1 and result.hashed_bytes == 5


def test_size_change_and_new_files_are_not_hashed(tmp_path):
    f = write(tmp_path, "a.txt", b"alpha")
    base = base_of(tmp_path, do_scan(tmp_path).entries)
    f.write_bytes(b"alpha and more")
    write(tmp_path, "new.txt", b"new")

    def no_reads(path):
        raise AssertionError(f"read {path}")

    result = do_scan(tmp_path, base, hash_file=no_reads)
    assert result.entries["a.txt"].sha256 is None
    assert result.entries["a.txt"].size == 14
    assert result.entries["new.txt"].sha256 is None
    assert result.hashed == 0


def test_base_without_hash_or_of_other_kind_is_not_hashed(tmp_path):
    f = write(tmp_path, "a.txt", b"alpha")
    write(tmp_path, "was-a-dir", b"")
    st = os.stat(f)
    base = {
        "a.txt": BaseEntry("a.txt", "a.txt", FILE, size=5, mtime_ns=1, inode=st.st_ino,
                           sha256=None),
        "was-a-dir": BaseEntry("was-a-dir", "was-a-dir", DIR),
    }

    def no_reads(path):
        raise AssertionError(f"read {path}")

    result = do_scan(tmp_path, base, hash_file=no_reads)
    assert result.entries["a.txt"].sha256 is None
    assert result.entries["was-a-dir"] == LocalEntry(
        "was-a-dir", FILE, 0, os.stat(tmp_path / "was-a-dir").st_mtime_ns,
        os.stat(tmp_path / "was-a-dir").st_ino, None)


def test_hash_file_gets_a_str_path(tmp_path):
    f = write(tmp_path, "a.txt", b"alpha")
    base = base_of(tmp_path, do_scan(tmp_path).entries)
    os.utime(f, ns=(0, 0))
    seen = []

    def spy(path):
        seen.append(path)
        return hash_file(path)

    do_scan(tmp_path, base, hash_file=spy)
    assert seen == [str(f)]


def test_hash_file_reads_large_files(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)
    f = write(tmp_path, "big", data)
    assert hash_file(f) == sha(data)
    assert hash_file(str(f)) == sha(data)
    assert hash_file(write(tmp_path, "empty")) == sha(b"")


# ------------------------------------------------------------------------- unreadable


def _tree_with_base(tmp_path):
    write(tmp_path, "ok.txt", b"ok")
    write(tmp_path, "locked/a.txt", b"a")
    write(tmp_path, "locked/sub/b.txt", b"bb")
    write(tmp_path, "locked-not/c.txt", b"c")  # shares a prefix, not the folder
    base = base_of(tmp_path, do_scan(tmp_path).entries)
    return base


def _expected_carry_over(base, keys):
    return {k: LocalEntry(base[k].local_path, base[k].kind, base[k].size, base[k].mtime_ns,
                          base[k].inode, base[k].sha256) for k in keys}


@needs_non_root
def test_unreadable_folder_carries_base_over(tmp_path):
    base = _tree_with_base(tmp_path)
    write(tmp_path, "locked/new-since-base.txt", b"n")
    (tmp_path / "locked").chmod(0)
    try:
        result = do_scan(tmp_path, base)
    finally:
        (tmp_path / "locked").chmod(0o755)
    carried = _expected_carry_over(base, ["locked", "locked/a.txt", "locked/sub",
                                          "locked/sub/b.txt"])
    for k, e in carried.items():
        assert result.entries[k] == e
    assert "locked/new-since-base.txt" not in result.entries
    assert "locked-not/c.txt" in result.entries
    assert result.unreadable == ["locked"]
    assert result.notes == [("locked", "unreadable: Permission denied")]


def test_unreadable_folder_carries_base_over_simulated(tmp_path, monkeypatch):
    base = _tree_with_base(tmp_path)
    write(tmp_path, "locked/new-since-base.txt", b"n")
    locked = str(tmp_path / "locked")
    real_scandir = os.scandir

    def scandir(path):
        if os.fsdecode(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(local_scan.os, "scandir", scandir)
    result = do_scan(tmp_path, base)
    carried = _expected_carry_over(base, ["locked", "locked/a.txt", "locked/sub",
                                          "locked/sub/b.txt"])
    assert {k: result.entries[k] for k in carried} == carried
    assert sorted(result.entries) == sorted([*carried, "ok.txt", "locked-not",
                                             "locked-not/c.txt"])
    assert result.unreadable == ["locked"]
    assert result.notes == [("locked", "unreadable: Permission denied")]


def test_unreadable_new_folder_without_base_is_absent(tmp_path, monkeypatch):
    write(tmp_path, "fresh/a.txt", b"a")
    real_scandir = os.scandir

    def scandir(path):
        if os.fsdecode(path).endswith("/fresh"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(local_scan.os, "scandir", scandir)
    result = do_scan(tmp_path)
    assert result.entries == {}
    assert result.unreadable == ["fresh"]
    assert result.notes == [("fresh", "unreadable: Permission denied")]


def test_file_failing_to_hash_carries_base_over(tmp_path):
    f = write(tmp_path, "a.txt", b"alpha")
    write(tmp_path, "b.txt", b"beta")
    base = base_of(tmp_path, do_scan(tmp_path).entries)
    f.write_bytes(b"ALPHA")  # same size, changed: would need hashing
    os.utime(f, ns=(0, 0))

    def denied(path):
        raise PermissionError(13, "Permission denied", path)

    result = do_scan(tmp_path, base, hash_file=denied)
    assert result.entries["a.txt"] == _expected_carry_over(base, ["a.txt"])["a.txt"]
    assert result.entries["a.txt"].sha256 == sha(b"alpha")
    assert result.entries["b.txt"].sha256 == sha(b"beta")
    assert result.unreadable == ["a.txt"]
    assert result.notes == [("a.txt", "unreadable: Permission denied")]
    assert result.hashed == 0


@needs_non_root
def test_unreadable_file_carries_base_over(tmp_path):
    f = write(tmp_path, "a.txt", b"alpha")
    base = base_of(tmp_path, do_scan(tmp_path).entries)
    os.utime(f, ns=(0, 0))
    f.chmod(0)
    try:
        result = do_scan(tmp_path, base)
    finally:
        f.chmod(0o644)
    assert result.entries == _expected_carry_over(base, ["a.txt"])
    assert result.unreadable == ["a.txt"]
    assert result.notes == [("a.txt", "unreadable: Permission denied")]


@needs_non_root
def test_folder_listable_but_not_searchable(tmp_path):
    # r-- without x: names can be listed, but nothing inside can be stat'ed.
    base = _tree_with_base(tmp_path)
    (tmp_path / "locked").chmod(0o444)
    try:
        result = do_scan(tmp_path, base)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert {k: result.entries[k] for k in ("locked/a.txt", "locked/sub", "locked/sub/b.txt")} \
        == _expected_carry_over(base, ["locked/a.txt", "locked/sub", "locked/sub/b.txt"])
    assert sorted(result.unreadable) == ["locked/a.txt", "locked/sub"]


# --------------------------------------------------------------------------- vanishing


def _scandir_that_deletes(victim: Path, monkeypatch):
    """os.scandir that lists a folder, then deletes ``victim`` before the caller
    gets to stat the entries (a file removed during the scan)."""
    real_scandir = os.scandir

    class Listing:
        def __init__(self, items):
            self.items = items

        def __enter__(self):
            return iter(self.items)

        def __exit__(self, *exc):
            return False

    def scandir(path):
        with real_scandir(path) as it:
            items = list(it)
        if os.fsdecode(path) == str(victim.parent) and victim.exists():
            if victim.is_dir():
                victim.rmdir()
            else:
                victim.unlink()
        return Listing(items)

    monkeypatch.setattr(local_scan.os, "scandir", scandir)


def test_file_vanishing_between_listing_and_stat(tmp_path, monkeypatch):
    write(tmp_path, "stays.txt", b"s")
    victim = write(tmp_path, "goes.txt", b"g")
    _scandir_that_deletes(victim, monkeypatch)
    result = do_scan(tmp_path)
    assert list(result.entries) == ["stays.txt"]
    assert result.notes == [] and result.unreadable == []


def test_folder_vanishing_before_it_is_listed(tmp_path, monkeypatch):
    write(tmp_path, "stays.txt", b"s")
    (tmp_path / "d" / "e").mkdir(parents=True)
    real_scandir = os.scandir

    def scandir(path):
        if os.fsdecode(path) == str(tmp_path / "d"):
            (tmp_path / "d" / "e").rmdir()
            (tmp_path / "d").rmdir()
        return real_scandir(path)

    monkeypatch.setattr(local_scan.os, "scandir", scandir)
    result = do_scan(tmp_path)
    assert list(result.entries) == ["stays.txt"]
    assert result.notes == [] and result.unreadable == []


def test_file_vanishing_while_hashing(tmp_path):
    f = write(tmp_path, "a.txt", b"alpha")
    base = base_of(tmp_path, do_scan(tmp_path).entries)
    os.utime(f, ns=(0, 0))

    def gone(path):
        os.unlink(path)
        return hash_file(path)

    result = do_scan(tmp_path, base, hash_file=gone)
    assert result.entries == {} and result.notes == [] and result.unreadable == []


# ------------------------------------------------------------------------ root problems


def test_root_missing(tmp_path):
    with pytest.raises(LocalRootMissing) as exc:
        do_scan(tmp_path / "nope")
    assert str(exc.value) == f"local folder {tmp_path / 'nope'} does not exist"


def test_root_is_a_file(tmp_path):
    f = write(tmp_path, "file", b"x")
    with pytest.raises(LocalRootMissing) as exc:
        do_scan(f)
    assert str(exc.value) == f"local folder {f} is not a directory"


def test_root_under_a_file(tmp_path):
    f = write(tmp_path, "file", b"x")
    with pytest.raises(LocalRootMissing) as exc:
        do_scan(f / "sub")
    assert str(exc.value) == f"local folder {f / 'sub'} does not exist"


def test_root_unreadable_simulated(tmp_path, monkeypatch):
    def scandir(path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(local_scan.os, "scandir", scandir)
    with pytest.raises(LocalRootMissing) as exc:
        do_scan(tmp_path)
    assert str(exc.value) == f"cannot read local folder {tmp_path}: Permission denied"


@needs_non_root
def test_root_unreadable(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0)
    try:
        with pytest.raises(LocalRootMissing) as exc:
            do_scan(root)
    finally:
        root.chmod(0o755)
    assert str(exc.value) == f"cannot read local folder {root}: Permission denied"


def test_root_may_be_a_symlink_to_a_folder(tmp_path):
    real = tmp_path / "real"
    write(real, "a.txt", b"a")
    os.symlink(real, tmp_path / "link")
    assert list(do_scan(tmp_path / "link").entries) == ["a.txt"]


# ---------------------------------------------------------------------- temp cleanup


KEY = b"the mirror's temp key"


def test_clean_temp_files(tmp_path):
    root = tmp_path / "root"
    t1, t2, t5, t6, t7 = (new_temp_name(KEY) for _ in range(5))
    write(root, t1, b"x")
    write(root, f"a/b/{t2}", b"x")
    write(root, "a/keep.part", b"k")
    write(root, "a/.syncd-3.partial", b"k")
    write(root, "a/syncd-4.part", b"k")
    (root / "dir" / t5).mkdir(parents=True)  # a folder: not ours
    outside = tmp_path / "outside"
    write(outside, t6, b"x")
    os.symlink(outside, root / "link")
    os.symlink(outside / t6, root / t7)
    removed = clean_temp_files(root, key=KEY)
    assert sorted(removed) == sorted([t1, f"a/b/{t2}"])
    assert not (root / t1).exists()
    assert not (root / f"a/b/{t2}").exists()
    for kept in ("a/keep.part", "a/.syncd-3.partial", "a/syncd-4.part", f"dir/{t5}"):
        assert (root / kept).exists()
    assert (outside / t6).exists()
    assert (root / t7).is_symlink()
    assert clean_temp_files(root, key=KEY) == []


def test_clean_temp_files_skips_ignored_folders(tmp_path):
    t1, t2 = new_temp_name(KEY), new_temp_name(KEY)
    write(tmp_path, f"node_modules/{t1}", b"x")
    write(tmp_path, f"src/{t2}", b"x")
    rules = IgnoreRules(["node_modules/"])
    assert clean_temp_files(tmp_path, rules, key=KEY) == [f"src/{t2}"]
    assert (tmp_path / f"node_modules/{t1}").exists()
    assert clean_temp_files(tmp_path, key=KEY) == [f"node_modules/{t1}"]


def test_clean_temp_files_missing_root(tmp_path):
    with pytest.raises(LocalRootMissing):
        clean_temp_files(tmp_path / "nope", key=KEY)


def test_entry_that_cannot_be_stat_ed_simulated(tmp_path, monkeypatch):
    # The same situation as above (lstat fails with EACCES), also checked as root.
    base = _tree_with_base(tmp_path)
    write(tmp_path, "locked/brand-new.txt", b"n")
    write(tmp_path, "locked/skip.tmp", b"t")
    locked = str(tmp_path / "locked")
    real_scandir = os.scandir

    class Denied:
        def __init__(self, entry):
            self.name, self.path = entry.name, entry.path

        def stat(self, *, follow_symlinks=True):
            raise PermissionError(13, "Permission denied", self.path)

    class Listing:
        def __init__(self, items):
            self.items = items

        def __enter__(self):
            return iter(self.items)

        def __exit__(self, *exc):
            return False

    def scandir(path):
        with real_scandir(path) as it:
            items = list(it)
        if os.fsdecode(path) == locked:
            items = [Denied(e) for e in items]
        return Listing(items)

    monkeypatch.setattr(local_scan.os, "scandir", scandir)
    result = do_scan(tmp_path, base, rules=IgnoreRules(["*.tmp"]))
    carried = ["locked/a.txt", "locked/sub", "locked/sub/b.txt"]
    assert {k: result.entries[k] for k in carried} == _expected_carry_over(base, carried)
    assert "locked/brand-new.txt" not in result.entries  # nothing to protect
    assert result.entries["locked"].kind == DIR
    assert result.unreadable == ["locked/a.txt", "locked/brand-new.txt", "locked/sub"]
    assert result.notes == [(p, "unreadable: Permission denied") for p in result.unreadable]


# ----------------------------------------------------------------------------- focused scans

def test_only_scans_the_given_paths_their_subtrees_and_the_folders_on_the_way(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f.txt").write_text("f")
    (tmp_path / "a" / "sibling.txt").write_text("s")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "deep.txt").write_text("d")
    (tmp_path / "top.txt").write_text("t")
    rules = IgnoreRules.for_root(tmp_path, ())
    result = scan(tmp_path, {}, rules, only={"a/b", "top.txt"})
    assert sorted(result.entries) == ["a", "a/b", "a/b/f.txt", "top.txt"]
    # A path that is not there is simply absent; the root means everything.
    assert scan(tmp_path, {}, rules, only={"nope/x.txt"}).entries == {}
    assert len(scan(tmp_path, {}, rules, only={""}).entries) == 7


def test_only_finds_a_decomposed_name_by_its_composed_key(tmp_path):
    nfd = unicodedata.normalize("NFD", "Résumé")
    (tmp_path / nfd).mkdir()
    (tmp_path / nfd / "cv.txt").write_text("x")
    rules = IgnoreRules.for_root(tmp_path, ())
    k = key(nfd)
    result = scan(tmp_path, {}, rules, only={f"{k}/cv.txt"})
    assert sorted(result.entries) == [k, f"{k}/cv.txt"]
    assert result.entries[f"{k}/cv.txt"].path == f"{nfd}/cv.txt"  # the on-disk spelling
