"""Hostile and broken remote input (issue 5, item 5, the wire half): listings,
searches and activity entries carrying names that try to leave the mirror root
(``..``, ``.``, absolute paths, separators or NUL inside a name), overlong names,
names that differ only by case, entries whose ``path`` lies outside the listed
folder, and records of the wrong shape. Nothing may be written outside the
mirror root, no traceback, a clear note or error, and the rest of the mirror
still syncs.

The emulator serves such input through two test-only switches:
``emu.other.write_raw`` (a store row whose path and name bypass every check)
and ``emu.set_rewrite`` (rewrites the ``data`` records of JSON answers)."""

from __future__ import annotations

import io
import os
import socket
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from syncd.remote.errors import ProtocolError
from syncd.remote.exavault.api import ExaVaultClient, RetryPolicy
from tests.helpers.accounts import ACCESS_TOKEN, API_KEY
from tests.helpers.sync import make_setup

LONG = "L" * 296 + ".txt"  # 300 bytes


@pytest.fixture
def s(make_emulator, tmp_path):
    return make_setup(make_emulator, tmp_path)


def snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, bytes | None]:
    """Every file (contents) and folder under ``root``, except the subtrees ``skip``."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in skip]
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = None if os.path.islink(p) else Path(p).read_bytes()
    return out


def outside(s, tmp_path: Path) -> dict:
    """What lies outside the mirror root: its parent, a sibling folder, the test dir
    (the state dir excluded: the index changes on every sync)."""
    return {"tmp": snapshot(tmp_path, skip=(s.local(), s.state)),
            "top": sorted(p for p in os.listdir(tmp_path) if p != "state")}


# ============================================================ the emulator switches

def test_write_raw_serves_an_unchecked_name_everywhere(emulator, client, tmp_path):
    emulator.other.mkdir("/docs")
    emulator.other.write_raw("/docs/../escape.txt", b"evil", parent="/docs")
    emulator.other.write_raw("/docs/nul\x00name", b"nul")
    emulator.other.write_raw("/docs/sub/inner", b"x", name="sub/inner")
    children = {r.path: r.name for r in client.list_folder("/docs")}
    assert children == {"/docs/../escape.txt": "escape.txt", "/docs/nul\x00name": "nul\x00name",
                        "/docs/sub/inner": "sub/inner"}
    assert {r.path for r in client.search("/docs")} == set(children)
    by_id = {r.path: r.id for r in client.list_folder("/docs")}
    out = io.BytesIO()
    assert client.download(by_id["/docs/../escape.txt"], out) == 4 and out.getvalue() == b"evil"
    feed = {e.file_name for e in client.session_activity(datetime(2000, 1, 1))}
    assert {"/docs/../escape.txt", "/docs/nul\x00name", "/docs/sub/inner"} <= feed
    # the API itself still refuses such names
    assert emulator.other.info("/docs/escape.txt") is None


def test_rewrite_changes_json_records_and_can_be_switched_off(emulator, client):
    emulator.other.write("/docs/a.txt", b"a")
    seen = []

    def rewrite(endpoint, records):
        seen.append(endpoint)
        if endpoint == "list":
            extra = dict(records[0], id=999, attributes=dict(records[0]["attributes"],
                                                            path="/elsewhere/x.txt"))
            return records + [extra]
        return records

    emulator.set_rewrite(rewrite)
    assert [r.path for r in client.list_folder("/docs")] == ["/docs/a.txt", "/elsewhere/x.txt"]
    assert client.info("/docs/a.txt").path == "/docs/a.txt"
    out = io.BytesIO()
    client.download("/docs/a.txt", out)
    assert out.getvalue() == b"a"  # file bodies are never rewritten
    assert seen == ["list", "info"]
    emulator.set_rewrite(None)
    assert [r.path for r in client.list_folder("/docs")] == ["/docs/a.txt"]


# ============================================================ the client

@pytest.mark.parametrize("bad", [
    {"id": 1.5},                   # not an integer id
    {"id": None},
    {"id": [3]},
    {"attributes": "flat"},        # no attributes object: no path
    {"attributes": {"path": 42}},  # a path that is not text
])
def test_records_of_the_wrong_shape_are_protocol_errors(emulator, client, bad):
    emulator.other.write("/docs/a.txt", b"a")
    emulator.set_rewrite(lambda ep, recs: [dict(r, **bad) for r in recs])
    with pytest.raises(ProtocolError, match="unexpected answer shape"):
        client.list_folder("/docs")
    with pytest.raises(ProtocolError):
        client.info("/docs/a.txt")


def test_odd_fields_never_escape_as_raw_exceptions(emulator, client):
    emulator.other.write("/docs/a.txt", b"abc")

    def rewrite(endpoint, records):
        for r in records:
            a = r["attributes"]
            if endpoint in ("list", "info"):
                a.update(name=["x"], size=float("inf"), hash={"h": 1}, extension=7,
                         createdBy=False, updatedAt="-001-11-29T00:00:00Z")
            if endpoint == "activity":
                a.update(fileName=12, fileSource=["x"], username={}, status=3)
        return records

    emulator.set_rewrite(rewrite)
    res = client.info("/docs/a.txt")
    assert (res.name, res.size, res.hash, res.extension) == ("a.txt", 0, None, None)
    assert res.updated_at is not None  # unusable updatedAt: updatedTime is the fallback
    entries = client.session_activity(datetime(2000, 1, 1))
    assert entries and all(e.file_name is None and e.file_source is None for e in entries)


class _Raw(BaseHTTPRequestHandler):
    """A loopback server answering every request with ``server.body`` (200, JSON)."""

    def do_GET(self):  # noqa: N802
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def raw_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Raw)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("body", [
    b"[" * 200_000 + b"]" * 200_000,                     # nesting too deep for the decoder
    b'{"responseStatus":200,"data":[' + b"[" * 200_000,  # deep and cut
    b'{"responseStatus":200,"data":{"id":1e999,"attributes":{"path":"/a"}}}',  # inf id
    b'{"responseStatus":200,"data":"a string"}',
    b'{"responseStatus":200,"data":[1,2,3]}',
    b"\xff\xfe\x00garbage",
    b'{"responseStatus":"200","errors":[]}',
])
def test_malformed_json_bodies_are_protocol_errors(raw_server, body):
    raw_server.body = body
    url = f"http://127.0.0.1:{raw_server.server_address[1]}/api/v2"
    with ExaVaultClient(url, API_KEY, ACCESS_TOKEN, retry=RetryPolicy(attempts=1)) as c:
        for call in (lambda: c.list_folder("/docs"), lambda: c.info("/a"),
                     lambda: c.session_activity(datetime(2000, 1, 1))):
            try:
                call()
            except ProtocolError as exc:
                assert "\n" not in str(exc) and API_KEY not in str(exc)
            else:  # only a well-formed empty answer may pass
                assert body == b'{"responseStatus":"200","errors":[]}'


# ============================================================ end to end

HOSTILE = [  # (raw path, raw name or None)
    ("/docs/../escape-up.txt", None),
    ("/docs/../../escape-two.txt", None),
    ("/docs/./dot.txt", None),
    ("/docs/.", "."),
    ("/docs/..", ".."),
    ("/docs//etc/abs.txt", "/etc/abs.txt"),       # an absolute path inside a name
    ("/docs/nul\x00.txt", None),
    ("/docs/sub\x00dir/x.txt", None),
    ("/docs/slash/in/name.txt", "slash/in/name.txt"),  # "/" inside a name: a deeper path
    ("/docs/" + LONG, None),
]


def hostile_world(s, tmp_path: Path) -> Path:
    """Plant every hostile name in the server, a normal file beside them, and a
    sibling folder next to the local root; return the sibling."""
    sibling = s.home / "sibling"
    sibling.mkdir()
    (sibling / "escape-up.txt").write_bytes(b"the sibling's own file")
    s.emu.other.write("/docs/normal.txt", b"normal")
    s.emu.other.write("/docs/Case.txt", b"upper")
    s.emu.other.write("/docs/case.txt", b"lower")
    s.emu.other.write("/docs/back\\slash.txt", b"backslash")
    for path, name in HOSTILE:
        s.emu.other.write_raw(path, b"hostile " + path.encode("utf-8", "replace"), name=name,
                              parent="/docs")
    return sibling


def check_contained(s, tmp_path: Path, before: dict, r) -> None:
    assert "Traceback" not in s.output
    assert outside(s, tmp_path) == before  # nothing outside the root changed
    local = s.local_tree()
    for rel in local:  # everything written is really inside the root
        real = os.path.realpath(s.local() / rel)
        assert real.startswith(str(s.local()) + os.sep), rel
    assert local["normal.txt"] == b"normal"
    assert local["Case.txt"] == b"upper" and local["case.txt"] == b"lower"
    assert local["back\\slash.txt"] == b"backslash"
    # "/" inside a name arrives as the path the server gave: inside the root
    assert local.get("slash/in/name.txt", b"hostile /docs/slash/in/name.txt") == \
        b"hostile /docs/slash/in/name.txt"
    assert not [p for p in local if "escape" in p or "abs.txt" in p or "nul" in p
                or "dot.txt" in p or p.startswith("LLL") or "\x00" in p]
    skipped = " ".join(p for p, _ in r.mirrors[0].notes)
    for token in ("escape-up.txt", "escape-two.txt", "dot.txt", "abs.txt", "nul", LONG):
        assert token in skipped, (token, r.mirrors[0].notes)


def test_hostile_names_in_a_listing_stay_out_and_the_rest_syncs(s, tmp_path):
    hostile_world(s, tmp_path)
    before = outside(s, tmp_path)
    r = s.sync()  # the first sync lists the mirror in full
    assert r.exit_code == 0, (r.message, s.output)
    check_contained(s, tmp_path, before, r)
    assert "skipped" in s.output
    # nothing hostile is ever uploaded back or deleted on the server
    for path, _ in HOSTILE:
        assert any(row.path == path for row in s.emu.store.all_rows()), path
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    check_contained(s, tmp_path, before, r)


def test_listing_entries_outside_the_listed_folder_are_ignored(s, tmp_path):
    s.emu.other.write("/docs/normal.txt", b"normal")
    s.emu.other.write("/elsewhere/x.txt", b"elsewhere")
    before = outside(s, tmp_path)

    def rewrite(endpoint, records):
        if endpoint != "list" or not records:
            return records
        forged = []
        for n, path in enumerate(["/elsewhere/x.txt", "/docs/../../../etc/passwd",
                                  "/", "/docsx/y.txt", "relative/z.txt"]):
            rec = dict(records[0], id=900 + n)
            rec["attributes"] = dict(rec["attributes"], path=path, name=path.rsplit("/", 1)[-1])
            forged.append(rec)
        return records + forged

    s.emu.set_rewrite(rewrite)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert "Traceback" not in s.output
    assert s.local_tree() == {"normal.txt": b"normal"}
    assert outside(s, tmp_path) == before
    assert s.emu.other.read("/elsewhere/x.txt") == b"elsewhere"


def test_hostile_names_arriving_through_the_feed_stay_out(s, tmp_path):
    s.emu.other.write("/docs/first.txt", b"first")
    assert s.sync().exit_code == 0
    sibling = hostile_world(s, tmp_path)  # after the first sync: the feed reports them
    before = outside(s, tmp_path)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    check_contained(s, tmp_path, before, r)
    assert (sibling / "escape-up.txt").read_bytes() == b"the sibling's own file"


def test_hostile_names_through_the_cli_are_one_line_notes_exit_0(s, tmp_path):
    hostile_world(s, tmp_path)
    before = outside(s, tmp_path)
    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 0, (cp.stdout, cp.stderr)
    assert "Traceback" not in cp.stdout + cp.stderr
    assert outside(s, tmp_path) == before
    assert s.local_tree()["normal.txt"] == b"normal"
    assert "escape-up.txt" in cp.stdout + cp.stderr


def big_mirror(s) -> None:
    """Over 200 remote rows, so one or two changed paths are re-read with a stat
    each (cheaper than a listing) instead of listing the mirror again."""
    for i in range(210):
        s.emu.other.mkdir(f"/docs/d{i:03}")
    s.emu.other.write("/docs/first.txt", b"first")
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)


@pytest.mark.parametrize("path", ["/docs//abs.txt", "/docs/" + LONG])
def test_a_hostile_feed_path_the_server_can_resolve_is_skipped(s, tmp_path, path):
    big_mirror(s)
    before = outside(s, tmp_path)
    s.emu.other.write_raw(path, b"hostile", parent="/docs")
    s.emu.other.write("/docs/later.txt", b"later")
    n = len(s.emu.request_log)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert "Traceback" not in s.output
    # re-read with a stat each (the path exercised here), not with a listing
    assert not [q for q in s.emu.request_log[n:] if q.path.endswith("/resources/list")]
    assert s.local_tree()["later.txt"] == b"later"
    assert outside(s, tmp_path) == before


@pytest.mark.parametrize("path", ["/docs/../evil.txt", "/docs/./dot.txt", "/docs/nul\x00.txt"])
def test_a_hostile_feed_path_is_skipped_not_a_traceback(s, tmp_path, path):
    big_mirror(s)
    before = outside(s, tmp_path)
    s.emu.other.write_raw(path, b"hostile", parent="/docs")
    s.emu.other.write("/docs/later.txt", b"later")
    cp = s.cli("sync", "--config", str(s.config_path))
    assert "Traceback" not in cp.stderr, cp.stderr[-600:]
    assert cp.returncode == 0, cp.stderr
    assert s.local_tree()["later.txt"] == b"later"
    assert outside(s, tmp_path) == before


def test_no_request_of_ours_ever_names_a_hostile_path(s, tmp_path):
    hostile_world(s, tmp_path)
    s.sync()
    (s.local() / "mine.txt").write_bytes(b"mine")
    s.sync()
    for rec in s.emu.request_log:
        text = rec.path + " " + " ".join(v for vs in rec.query.values() for v in vs)
        assert "escape" not in text and "\x00" not in text and "/./" not in text, rec
    assert s.emu.other.read("/docs/mine.txt") == b"mine"


def test_loopback_only(raw_server):
    # The raw server used above listens on loopback only (no network in tests).
    host = raw_server.server_address[0]
    assert host == "127.0.0.1"
    with socket.create_connection((host, raw_server.server_address[1]), timeout=5):
        pass


@pytest.mark.parametrize("kind", ["badjson", "errorbody"])
def test_malformed_answers_to_listings_are_a_clear_error_not_a_traceback(s, kind):
    s.emu.other.write("/docs/a.txt", b"a")
    s.emu.set_faults(1.0, [kind], only={"list", "activity", "info"})
    cp = s.cli("sync", "--config", str(s.config_path))
    assert "Traceback" not in cp.stderr, cp.stderr[-800:]
    assert cp.returncode in (1, 75) and len(cp.stderr.strip().splitlines()) == 1, cp.stderr
    assert not (s.local() / "a.txt").exists()
    s.emu.set_faults(0)
    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 0, cp.stderr
    assert (s.local() / "a.txt").read_bytes() == b"a"
