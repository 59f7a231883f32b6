"""docs/operations.md's recovery stories, run for real: a corrupt index gives the
documented message and recovery, and a lost index deletes nothing."""

from __future__ import annotations

from pathlib import Path

from syncd.cli import exitcodes
from tests.helpers.sync import make_setup


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _conflict_copies(tree: dict, stem: str) -> list[str]:
    return [p for p in tree if p.startswith(f"{stem} (conflicted copy ")]


def test_operations_lost_index_deletes_nothing_and_keeps_both_versions(make_emulator, tmp_path):
    """What docs/operations.md says a sync does after the index was lost."""
    s = make_setup(make_emulator, tmp_path)
    root = s.local()
    for rel, text in {"same.txt": "same", "dir/in.txt": "in", "ledit.txt": "aaaa",
                      "redit.txt": "bbbb", "eqsize.txt": "1234", "ldel.txt": "x",
                      "rdel.txt": "y"}.items():
        _write(root / rel, text)
    r = s.sync()
    assert r.exit_code == 0, r.message
    # changes on both sides while the index is lost
    _write(root / "ledit.txt", "aaaa, edited here")
    s.emu.other.write("/docs/redit.txt", b"bbbb, edited there")
    _write(root / "eqsize.txt", "5678")           # same size, other content
    (root / "ldel.txt").unlink()
    s.emu.other.delete("/docs/rdel.txt")
    moved = tmp_path / "broken"                    # the recovery steps of operations.md
    moved.mkdir()
    for f in s.state.glob("index.sqlite3*"):
        f.rename(moved / f.name)
    n = len(s.emu.request_log)

    r = s.sync()
    assert r.exit_code == 0, r.message
    local, remote = s.local_tree(), s.remote_tree()
    assert local == remote
    # a file on one side only is copied across: deletions made meanwhile come back
    assert local["ldel.txt"] == b"x" and local["rdel.txt"] == b"y"
    # unchanged files and folders are recorded, nothing else
    assert local["same.txt"] == b"same" and local["dir/in.txt"] == b"in"
    # a file edited on either side: both versions, the server's under the name
    for stem, server, here in (("ledit", b"aaaa", b"aaaa, edited here"),
                               ("redit", b"bbbb, edited there", b"bbbb"),
                               ("eqsize", b"1234", b"5678")):
        copies = _conflict_copies(local, stem)
        assert len(copies) == 1, (stem, sorted(local))
        assert (local[f"{stem}.txt"], local[copies[0]]) == (server, here)
    assert len(local) == 8 + 3  # 7 files, a folder, 3 conflict copies
    # the cost: a full listing, and one download per file on both sides with equal size
    # (same, dir/in, eqsize: compared) besides the ones that had to come down anyway
    requests = [(q.method, q.path.removeprefix("/api/v2")) for q in s.emu.request_log[n:]]
    assert ("GET", "/resources/list") in requests
    assert requests.count(("GET", "/resources/download")) == 3 + 3  # + ldel, ledit, redit
    assert not any(m == "DELETE" for m, _ in requests)
    r = s.sync()
    assert r.exit_code == 0 and "no changes" in s.output, s.output


def test_operations_corrupt_index_message_and_recovery(make_emulator, tmp_path):
    s = make_setup(make_emulator, tmp_path)
    _write(s.local() / "a.txt", "a")
    assert s.sync().exit_code == 0
    for f in s.state.glob("index.sqlite3*"):
        f.unlink()
    (s.state / "index.sqlite3").write_bytes(b"not sqlite at all " * 200)
    p = s.cli("sync", "--config", str(s.config_path))
    assert p.returncode == exitcodes.SOFTWARE
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert "is not a usable syncd index" in p.stderr and "move it aside" in p.stderr
    (s.state / "broken").mkdir()
    for f in s.state.glob("index.sqlite3*"):
        f.rename(s.state / "broken" / f.name)
    p = s.cli("sync", "--config", str(s.config_path))
    assert p.returncode == 0, p.stderr
    assert s.local_tree() == s.remote_tree() == {"a.txt": b"a"}
