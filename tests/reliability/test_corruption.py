"""Corruption on the wire (issue 5, item 4, and the wire half of item 5): the
emulator's opt-in wrong-answer faults (``flip``, ``badlength``, ``badjson``,
``errorbody``), what the client makes of each (a typed error, bounded retries),
and end to end: nothing corrupt or partial is ever committed to a user's file or
to the base, the failing item is reported, and the next sync converges.

What cannot be detected: the API has no content checksum, so a download body of
the right length with altered bytes (``flip``) is indistinguishable from the file
unless the engine already knows the content's SHA-256 (the base row of that very
remote version: a restore in download-only). See the xfail tests at the end.

Real emulator over HTTP on 127.0.0.1, real temp folders. The randomized test
prints its seed and takes ``SYNCD_CORRUPTION_SEED`` to replay one."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import socket
import time
from datetime import datetime
from pathlib import Path

import pytest

from syncd.emulators.exavault.faults import (
    ALL_KINDS,
    ENDPOINTS,
    FAULT_KINDS,
    PHASES,
    FaultInjector,
    endpoint,
)
from syncd.engine import MAX_CYCLES
from syncd.remote.exavault import api as exavault_api
from syncd.remote.errors import ProtocolError, RemoteError, TransportError
from syncd.remote.exavault.api import RetryPolicy
from tests.helpers.accounts import ACCESS_TOKEN, API_KEY
from tests.helpers.sync import make_setup

ATTEMPTS = RetryPolicy().attempts  # the documented bound on tries of a repeatable call
# Same number of attempts as the daemon's default policy, much shorter waits.
FAST = RetryPolicy(attempts=ATTEMPTS, total_seconds=10.0, initial_backoff=0.001,
                   max_backoff=0.01, jitter=0.001)
LATER = 3600.0  # past any per-item backoff of a first or second failure


@pytest.fixture
def fast_retries(monkeypatch):
    """Engine clients get FAST instead of the default policy (same attempt bound)."""
    monkeypatch.setitem(exavault_api.ExaVaultClient.__init__.__kwdefaults__, "retry", FAST)


@pytest.fixture
def s(make_emulator, tmp_path, fast_retries):
    return make_setup(make_emulator, tmp_path)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def part_files(root: Path) -> list[str]:
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
            if f.startswith(".syncd-")]


def count(setup, op: str, needle: str | None = None, since: int = 0) -> int:
    n = 0
    for r in setup.emu.request_log[since:]:
        if r.path.removeprefix("/api/v2") != f"/resources/{op}":
            continue
        text = " ".join(v for vs in r.query.values() for v in vs)
        if needle is None or needle in text:
            n += 1
    return n


def later(seconds: float = LATER):
    return lambda: time.time() + seconds


def raw_get(emu, path_qs: str) -> tuple[int, dict[str, str], bytes]:
    """One GET over a bare socket, read until the server closes: the exact bytes sent."""
    with socket.create_connection((emu.host, emu.port), timeout=10) as sock:
        sock.sendall((f"GET /api/v2{path_qs} HTTP/1.1\r\nHost: x\r\nev-api-key: {API_KEY}\r\n"
                      f"ev-access-token: {ACCESS_TOKEN}\r\nConnection: close\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), headers, body


# ============================================================ emulator switches

def test_default_fault_kinds_and_decisions_are_unchanged():
    # Other tests rely on seeded fault sequences: without named kinds, the decisions
    # are exactly those of the four original kinds, drawn in the original order.
    assert FAULT_KINDS == ("500", "503", "reset", "truncate")
    inj = FaultInjector(0.4, 11)
    rng = random.Random(11)
    for _ in range(300):
        want = None
        if rng.random() < 0.4:
            want = (rng.choice(FAULT_KINDS), rng.choice(PHASES))
        got = inj.decide("GET", "/resources/list")
        assert (got if got is None else (got.kind, got.phase)) == want
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultInjector(0.1, 0, ["flip", "bitrot"])
    with pytest.raises(ValueError, match="unknown endpoints"):
        FaultInjector(0.1, 0, only={"downlaod"})


def test_fault_kinds_and_endpoints_are_named():
    assert set(ALL_KINDS) - set(FAULT_KINDS) == {"flip", "badlength", "badjson", "errorbody"}
    assert endpoint("GET", "/resources/download") == "download"
    assert endpoint("POST", "/resources/upload") == "upload"
    assert endpoint("GET", "/resources/list") == "list"
    assert endpoint("GET", "/resources/list/12") == "list"
    assert endpoint("GET", "/resources") == "info"
    assert endpoint("GET", "/activity/session") == "activity"
    assert endpoint("GET", "/nothing") == "other"
    assert set(ENDPOINTS) >= {"download", "upload", "list", "info", "activity"}
    # flip and badlength alter a real answer: always after the operation
    inj = FaultInjector(1.0, 3, ["flip", "badlength"])
    assert {inj.decide("GET", "/resources/download").phase for _ in range(50)} == {"after"}


def test_only_faults_the_named_endpoints_and_a_predicate_sees_the_query(emulator, client):
    emulator.other.write("/a.txt", b"aaaa")
    emulator.other.write("/b.txt", b"bbbb")
    emulator.set_faults(1.0, ["badjson"], only={"download"})
    assert [r.name for r in client.list_folder("/")] == ["a.txt", "b.txt"]
    with pytest.raises(ProtocolError):
        client.download("/a.txt", io.BytesIO())
    emulator.set_faults(1.0, ["errorbody"], only=lambda m, p, q: "/b.txt" in q.get(
        "resources[]", []))
    assert client.download("/a.txt", io.BytesIO()) == 4
    with pytest.raises(ProtocolError):
        client.download("/b.txt", io.BytesIO())


def test_flip_sends_the_right_length_with_exactly_one_byte_altered(emulator):
    data = os.urandom(300_000)
    emulator.other.write("/big.bin", data)
    emulator.set_faults(1.0, ["flip"], seed=5)
    status, headers, body = raw_get(emulator, "/resources/download?resources%5B%5D=/big.bin")
    assert status == 200 and int(headers["content-length"]) == len(body) == len(data)
    diff = [i for i in range(len(data)) if body[i] != data[i]]
    assert len(diff) == 1 and body[diff[0]] == data[diff[0]] ^ 0xFF
    # a JSON answer is sent unaltered (there is no file body to flip)
    status, _, body = raw_get(emulator, "/resources/list?resource=/")
    assert status == 200 and json.loads(body)["data"][0]["attributes"]["name"] == "big.bin"


def test_badlength_declares_more_than_it_sends_then_closes(emulator):
    emulator.other.write("/f.txt", b"0123456789")
    emulator.set_faults(1.0, ["badlength"])
    status, headers, body = raw_get(emulator, "/resources/download?resources%5B%5D=/f.txt")
    assert status == 200 and body == b"0123456789"
    assert int(headers["content-length"]) > len(body)
    status, headers, body = raw_get(emulator, "/resources?resource=/f.txt")
    assert status == 200 and int(headers["content-length"]) > len(body)
    assert json.loads(body)["data"]["attributes"]["size"] == 10  # the real answer, cut short


@pytest.mark.parametrize("kind", ["badjson", "errorbody"])
def test_badjson_and_errorbody_are_200s_that_carry_no_data(emulator, kind):
    emulator.other.write("/f.txt", b"0123456789")
    emulator.set_faults(1.0, [kind])
    for what in ("/resources/download?resources%5B%5D=/f.txt", "/resources/list?resource=/"):
        status, headers, body = raw_get(emulator, what)
        assert status == 200 and headers["content-type"].startswith("application/json")
        if kind == "badjson":
            with pytest.raises(ValueError):
                json.loads(body)
        else:
            envelope = json.loads(body)
            assert "data" not in envelope and envelope["errors"][0]["code"] == "ERROR_INTERNAL"


def test_faulted_upload_before_is_not_stored_after_is(emulator, client):
    # errorbody picks its phase at random: find one of each with the seeded generator
    phases = [FaultInjector(1.0, seed, ["errorbody"]).decide().phase for seed in range(10)]
    before, after = phases.index("before"), phases.index("after")
    for seed, name in ((before, "before.txt"), (after, "after.txt")):
        emulator.set_faults(1.0, ["errorbody"], seed=seed, only={"upload"})
        with pytest.raises(ProtocolError):
            client.upload("/" + name, _reader(b"payload"), size=7)
    emulator.set_faults(0)
    assert emulator.other.info("/before.txt") is None
    assert emulator.other.read("/after.txt") == b"payload"


def _reader(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


# ============================================================ the client

CALLS = {
    "download": lambda c, f: c.download("/docs/f.bin", f),
    "list": lambda c, f: c.search("/docs"),
    "info": lambda c, f: c.info("/docs/f.bin"),
    "activity": lambda c, f: c.session_activity(datetime(2000, 1, 1)),
    "upload": lambda c, f: c.upload("/docs/up.bin", _reader(b"x" * 100), allow_overwrite=True),
    "upload-new": lambda c, f: c.upload("/docs/new.bin", _reader(b"x" * 100)),
}


@pytest.mark.parametrize("kind", ["badlength", "badjson", "errorbody", "truncate"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_every_wrong_answer_is_a_typed_error_within_the_retry_bound(
        emulator, make_client, tmp_path, kind, call):
    emulator.other.write("/docs/f.bin", b"F" * 5000)
    client = make_client(emulator, retry=FAST)
    op = "upload" if call.startswith("upload") else call
    emulator.set_faults(1.0, [kind], seed=1, only={op})
    emulator.clear_request_log()
    target = tmp_path / "target"
    with open(target, "wb") as f:
        with pytest.raises(RemoteError) as info:
            CALLS[call](client, f)
    assert type(info.value) in (ProtocolError, TransportError), repr(info.value)
    assert "\n" not in str(info.value) and API_KEY not in str(info.value)
    sent = len(emulator.request_log)
    if call == "upload-new" or isinstance(info.value, ProtocolError):
        assert sent == 1  # not repeatable, or not a transient failure: never retried
    else:
        assert 1 < sent <= ATTEMPTS  # retried, within the documented bound
    assert target.read_bytes() == b""  # a failed download leaves nothing behind


def test_download_of_another_size_than_expected_is_a_protocol_error(emulator, client,
                                                                    tmp_path):
    emulator.other.write("/f.bin", b"12345")
    target = tmp_path / "t"
    with open(target, "wb") as f:
        assert client.download("/f.bin", f, expected_size=5) == 5
    emulator.clear_request_log()
    with open(target, "wb") as f:
        with pytest.raises(ProtocolError, match="listing said 6"):
            client.download("/f.bin", f, expected_size=6)
    assert target.read_bytes() == b"" and len(emulator.request_log) == 1


def test_a_json_file_served_as_json_is_still_a_file(emulator, client, tmp_path):
    # Only an error envelope (or a body that is not JSON) under a JSON label is refused.
    emulator.other.write("/data.json", b'{"responseStatus": 200, "data": [1, 2]}')
    target = tmp_path / "t"
    with open(target, "wb") as f:
        assert client.download("/data.json", f) == 39
    assert target.read_bytes() == b'{"responseStatus": 200, "data": [1, 2]}'


# ============================================================ end to end: downloads

def synced_pair(s) -> dict[str, bytes]:
    """A first sync: edit.bin on both sides, in the base."""
    old = write(s.local() / "edit.bin", b"old version " * 400)
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    return {"edit.bin": old}


def base_sha(s, rel: str) -> str | None:
    row = s.index().base("docs").get(rel)
    return row.sha256 if row else None


@pytest.mark.parametrize("kind", ["badlength", "badjson", "errorbody", "truncate"])
def test_faulty_downloads_never_commit_a_corrupt_or_partial_file(s, kind):
    old = synced_pair(s)["edit.bin"]
    new_edit = b"the server's new version " * 700
    s.emu.other.write("/docs/edit.bin", new_edit)
    fresh = b"a new remote file " * 300
    s.emu.other.write("/docs/fresh.bin", fresh)
    up = write(s.local() / "up.txt", b"uploaded while downloads fail")
    s.emu.set_faults(1.0, [kind], seed=4, only={"download"})
    n = len(s.emu.request_log)
    r = s.sync()
    # never committed: the old file is intact, the new one absent, no temp file left
    assert (s.local() / "edit.bin").read_bytes() == old
    assert not (s.local() / "fresh.bin").exists()
    assert not part_files(s.local())
    assert base_sha(s, "edit.bin") == sha(old)
    assert base_sha(s, "fresh.bin") is None
    # bounded: at most ATTEMPTS tries of one download per cycle of the pass
    for name in ("edit.bin", "fresh.bin"):
        assert count(s, "download", name, n) <= ATTEMPTS * MAX_CYCLES
    assert r.message and "\n" not in r.message and "Traceback" not in s.output
    # per item: reported, the rest goes on (badlength, truncate: the body broke off,
    # tried again within the pass, then backed off like any failing item)
    assert r.exit_code == 1, r.message
    assert r.message.startswith("docs: edit.bin: ") or r.message.startswith("docs: fresh.bin")
    assert {p for p, _ in r.mirrors[0].failed} == {"edit.bin", "fresh.bin"}
    assert set(s.index().failures("docs")) == {"edit.bin", "fresh.bin"}
    assert s.emu.other.read("/docs/up.txt") == up
    assert base_sha(s, "up.txt") == sha(up)
    # the fault stops: the next sync (after any backoff) converges with the right bytes
    s.emu.set_faults(0)
    r = s.sync(now=later())
    assert r.exit_code == 0, (r.message, s.output)
    assert (s.local() / "edit.bin").read_bytes() == new_edit
    assert (s.local() / "fresh.bin").read_bytes() == fresh
    assert base_sha(s, "edit.bin") == sha(new_edit) and base_sha(s, "fresh.bin") == sha(fresh)
    assert s.local_tree() == s.remote_tree()
    assert s.index().failures("docs") == {}


# ============================================================ end to end: uploads

@pytest.mark.parametrize("kind", ["badlength", "badjson", "errorbody", "truncate"])
def test_faulty_uploads_never_leave_a_partial_remote_file_or_a_false_base(s, kind):
    old = synced_pair(s)["edit.bin"]
    edited = write(s.local() / "edit.bin", b"my local edit " * 900)
    new = write(s.local() / "new.txt", b"brand new local file " * 50)
    s.emu.set_faults(1.0, [kind], seed=2, only={"upload"})
    n = len(s.emu.request_log)
    r = s.sync()
    if kind == "badlength":  # the upload lands, its answer is broken: a stat settles it
        assert r.exit_code == 0, (r.message, s.output)
    elif kind == "truncate":  # landed and settled by a stat, or sent again: in the pass
        assert r.exit_code in (0, 1) and "\n" not in (r.message or ""), r.message
    else:
        assert r.exit_code in (1, 75) and "\n" not in r.message, r.message
    for rel, data, before in (("edit.bin", edited, old), ("new.txt", new, None)):
        info = s.emu.other.info("/docs/" + rel)
        stored = s.emu.other.read("/docs/" + rel) if info else None
        assert stored in (before, data), rel  # the old version or all of ours, never a part
        assert (s.local() / rel).read_bytes() == data  # the user's file is untouched
        assert base_sha(s, rel) in ({sha(before)} if before else {None}) | (
            {sha(data)} if stored == data else set())
        assert count(s, "upload", rel, n) <= ATTEMPTS * MAX_CYCLES
    assert not [p for p in s.remote_tree() if "(1)" in p]
    s.emu.set_faults(0)
    r = s.sync(now=later())
    assert r.exit_code == 0, (r.message, s.output)
    assert s.emu.other.read("/docs/edit.bin") == edited
    assert s.emu.other.read("/docs/new.txt") == new
    assert base_sha(s, "edit.bin") == sha(edited) and base_sha(s, "new.txt") == sha(new)
    assert s.local_tree() == s.remote_tree()


# ============================================================ randomized

def test_random_wrong_answers_on_transfers_never_corrupt_and_then_converge(s):
    seed = int(os.environ.get("SYNCD_CORRUPTION_SEED") or random.randrange(1 << 30))
    print(f"SYNCD_CORRUPTION_SEED={seed}")
    rng = random.Random(seed)
    expected: dict[str, bytes] = {}
    for i in range(6):
        expected[f"up/u{i}.bin"] = write(s.local() / f"up/u{i}.bin",
                                         bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        s.emu.other.write(f"/docs/down/d{i}.bin", data)
        expected[f"down/d{i}.bin"] = data
    s.set_options(transfers=1)  # one request at a time: the seed replays the same faults
    kinds = [k for k in ALL_KINDS if k != "flip"]  # flip is undetectable: see the docstring
    s.emu.set_faults(0.35, kinds, seed=seed, only={"download", "upload"})
    codes = []
    for attempt in range(5):
        r = s.sync(now=later(LATER * attempt))
        codes.append((r.exit_code, r.message))
        assert r.exit_code in (0, 1, 75) and (r.message is None or "\n" not in r.message), codes
        assert not part_files(s.local()), (seed, codes)
        local, remote = s.local_tree(), s.remote_tree()
        for rel, data in expected.items():  # each side: absent or exactly right
            assert local.get(rel) in (None, data), (seed, rel, codes)
            assert remote.get(rel) in (None, data), (seed, rel, codes)
            assert base_sha(s, rel) in (None, sha(data)), (seed, rel, codes)
        assert not [p for p in set(local) | set(remote) if "(1)" in p or "conflicted" in p]
    s.emu.set_faults(0)
    r = s.sync(now=later(LATER * 10))
    assert r.exit_code == 0, (seed, r.message, s.output)
    files = {p: d for p, d in s.local_tree().items() if d is not None}
    assert files == expected and s.local_tree() == s.remote_tree(), seed
    assert all(base_sha(s, rel) == sha(data) for rel, data in expected.items()), seed


# ============================================================ the CLI and status

def test_cli_reports_the_failed_download_in_one_line_and_status_json(s):
    s.emu.other.write("/docs/bad.bin", b"will not arrive " * 10)
    s.emu.other.write("/docs/good.bin", b"arrives")
    s.emu.set_faults(1.0, ["errorbody"], only=lambda m, p, q: "/docs/bad.bin" in q.get(
        "resources[]", []))
    cp = s.cli("sync", "--config", str(s.config_path))
    assert cp.returncode == 1, (cp.stdout, cp.stderr)
    err = cp.stderr.strip()
    assert "Traceback" not in cp.stderr and "\n" not in err, cp.stderr
    assert err.startswith("syncd: docs: bad.bin: ") and "error envelope" in err, err
    assert (s.local() / "good.bin").read_bytes() == b"arrives"
    assert not (s.local() / "bad.bin").exists() and not part_files(s.local())
    cp = s.cli("status", "--json", "--config", str(s.config_path))
    assert cp.returncode == 0, cp.stderr
    mirror = json.loads(cp.stdout)["mirrors"][0]
    assert [(e["path"], e["attempts"]) for e in mirror["errors"]] == [("bad.bin", 1)]
    assert "error envelope" in mirror["errors"][0]["error"]
    assert API_KEY not in cp.stdout and ACCESS_TOKEN not in cp.stdout


# ============================================================ known gaps (xfail)

def test_altered_restore_download_is_caught_by_the_known_sha256(s):
    # Download-only: a local deletion of a remotely unchanged file is undone by a
    # download. The base row holds that very remote version's SHA-256 (same id, size
    # and updatedAt), so a body of the right length with one byte altered is
    # detectable: it must never replace anything, and must be reported.
    s.set_options(direction="download-only")
    data = b"the master copy " * 200
    s.emu.other.write("/docs/master.bin", data)
    s.emu.other.write("/docs/other.txt", b"keeps the folder from looking unmounted")
    assert s.sync().exit_code == 0
    known = base_sha(s, "master.bin")
    assert known == sha(data)
    (s.local() / "master.bin").unlink()
    s.emu.set_faults(1.0, ["flip"], only={"download"})
    r = s.sync()
    assert base_sha(s, "master.bin") == known
    restored = s.local() / "master.bin"
    assert not restored.exists() or restored.read_bytes() == data
    assert r.exit_code == 1 and "master.bin" in r.message, r.message


def test_one_file_whose_body_always_breaks_off_does_not_block_the_rest(s):
    s.emu.other.write("/docs/a-small-bad.bin", b"cut " * 10)  # smallest: transferred first
    for i in range(3):
        s.emu.other.write(f"/docs/good{i}.bin", b"fine " * (100 + i))
    s.set_options(transfers=1)
    s.emu.set_faults(1.0, ["badlength"], only=lambda m, p, q: "/docs/a-small-bad.bin" in q.get(
        "resources[]", []))
    s.sync()
    s.sync(now=later())
    assert all((s.local() / f"good{i}.bin").exists() for i in range(3))
    assert "a-small-bad.bin" in s.index().failures("docs")
    assert not part_files(s.local())


def test_seed_6856_an_overwrite_whose_answer_was_lost_is_recorded_once_a_stat_sees_it(s):
    # The overwrite lands but every answer to it is broken (after the client's
    # retries). One stat shows the file with our size and a new time: it is ours,
    # so the base records it. Before, the base kept the replaced version, and a
    # remote delete before the next pass looked like "their delete vs our edit":
    # the edit won and the deleted file came back (soak seed 6856).
    write(s.local() / "keep.txt", b"keeps the listing non-empty")
    synced_pair(s)
    s.emu.store.clock = later(60)  # the server's clock: our upload gets a new time
    edited = write(s.local() / "edit.bin", b"my local edit " * 900)
    s.emu.set_faults(1.0, ["badlength"], seed=2, only={"upload"})
    r = s.sync()
    assert r.exit_code == 0, (r.message, s.output)
    assert s.emu.other.read("/docs/edit.bin") == edited
    assert base_sha(s, "edit.bin") == sha(edited)
    s.emu.set_faults(0)
    s.emu.other.delete("/docs/edit.bin")  # another user deletes our version
    r = s.sync(now=later())
    assert r.exit_code == 0, (r.message, s.output)
    assert not (s.local() / "edit.bin").exists()
    assert "edit.bin" not in s.remote_tree()
