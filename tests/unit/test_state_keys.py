"""The index's ``state`` table is read and written through state/keys.py only."""

from __future__ import annotations

import re
from pathlib import Path

import syncd
from syncd.state.index import Index
from syncd.state.keys import AccountState, MirrorState

SRC = Path(syncd.__file__).parent


def test_stored_names_never_change():
    # a file format: existing state directories keep working
    assert [v.name for v in MirrorState.values()] == [
        "status", "roots", "cursor", "listed_at", "device", "root_inode", "empty_listing",
        "mounts", "ignore_lines", "trash_purged_at", "temp_key", "kept", "remote_trash",
        "remote_trash_open", "partials"]
    assert [v.name for v in AccountState.values()] == [
        "feed", "pass_open", "daemon", "rate", "detection", "api_base"]
    assert MirrorState.tree_names() == (
        "cursor", "listed_at", "device", "root_inode", "empty_listing")


def test_accessors_store_the_same_rows(tmp_path):
    idx = Index(tmp_path / "index.sqlite3")
    try:
        m = idx.mirror_state("docs")
        assert m.cursor is None
        m.cursor = {"at": "x", "ids": []}
        assert idx.get_state("mirror:docs", "cursor") == {"at": "x", "ids": []}
        idx.account_state("https://a.example").feed = "yes"
        assert idx.get_state("account:https://a.example", "feed") == "yes"
        assert idx.account_state("https://a.example").feed == "yes"
        m.device = None  # stored null reads as None too
        assert idx.mirror_state("docs").device is None
    finally:
        idx.close()


def test_no_module_builds_a_state_key():
    spelled = re.compile(r"""f?["'](mirror|account):""")
    raw = re.compile(r"(?<!status)\.(get|set)_state\(")
    owners = {SRC / "state" / "keys.py", SRC / "state" / "values.py"}
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path in owners:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if spelled.search(line) or raw.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert offenders == []
