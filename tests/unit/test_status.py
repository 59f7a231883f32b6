"""syncd.state.status: what passes leave behind and what `syncd status` shows."""

from __future__ import annotations

import fcntl
import json
import os
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from syncd import model

from syncd.state import status
from syncd.state.index import Index
from syncd.report import MirrorReport
from tests.helpers.status_config import URL, two_mirrors

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
DAY = 86400.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def config(tmp_path):
    return two_mirrors(tmp_path, photos="direction: upload-only")


@pytest.fixture
def index_path(config):
    return config.state_dir / "index.sqlite3"


@pytest.fixture
def index(index_path):
    ix = Index(index_path)
    yield ix
    ix.close()


def mirror(data, name):
    (m,) = [m for m in data["mirrors"] if m["name"] == name]
    return m


def get_status(index, name):
    return index.get_state("mirror:" + name, "status")


@contextmanager
def hold_lock(state_dir, text: str | None):
    """Hold the state dir's lock as another process would (flock on our own open file
    description conflicts with the one status opens); ``text`` is written into it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if text is not None:
            os.ftruncate(fd, 0)
            os.pwrite(fd, text.encode(), 0)
        yield
    finally:
        os.close(fd)


def daemon_state(index, pid, **extra):
    value = {"pid": pid, "started": NOW - 3600, "poll_interval": 300.0,
             "poll_reason": "polling every 5m (poll_interval): cheap", "webhook": None,
             "watch": "docs: inotify, photos: inotify"}
    value.update(extra)
    index.set_state("account:" + URL, "daemon", value)


# --- no index yet -----------------------------------------------------------------------

def test_collect_without_index(config, index_path):
    data = status.collect(config, now=NOW)
    assert not index_path.exists()
    assert not config.state_dir.exists()  # nor the state dir, nor its lock file
    assert data["version"] == 1
    assert data["daemon"] == {"running": False, "pid": None, "busy": False, "started": None,
                              "poll_interval": None, "poll_reason": None, "webhook": None,
                              "watch": None}
    a = data["account"]
    assert a["url"] == URL
    assert a["transactions_24h"] == 0
    assert a["budget"] == 5000
    assert a["limit"] is None and a["remaining"] is None and a["activity_feed"] is None
    assert [m["name"] for m in data["mirrors"]] == ["docs", "photos"]
    for m in data["mirrors"]:
        assert m["state"] == "new"
        assert m["last_sync"] is None
        assert m["queued"] == 0
        assert m["errors"] == [] and m["error_count"] == 0
        assert m["conflicts"] == 0
    assert mirror(data, "photos")["direction"] == "upload-only"
    assert mirror(data, "docs")["remote"] == "/docs"
    assert mirror(data, "docs")["local"] == str(config.state_dir.parent / "docs")


def test_collect_with_empty_index_is_new_too(config, index):
    data = status.collect(config, now=NOW)
    assert [m["state"] for m in data["mirrors"]] == ["new", "new"]


# --- record_pass ------------------------------------------------------------------------

def test_finished_pass_sets_last_sync_and_idle(config, index):
    r = MirrorReport("docs", counts=Counter(uploaded=3, downloaded=1), finished=True)
    status.record_pass(index, r, NOW - 60)
    s = get_status(index, "docs")
    assert s["state"] == "idle"
    assert s["last_sync"] == NOW - 60
    assert s["last_pass"] == NOW - 60
    assert s["since"] == NOW - 60
    assert s["message"] is None
    assert s["last_counts"] == {"uploaded": 3, "downloaded": 1}
    m = mirror(status.collect(config, now=NOW), "docs")
    assert m["state"] == "idle"
    assert m["last_sync"] == iso(NOW - 60)
    assert m["since"] == iso(NOW - 60)
    assert mirror(status.collect(config, now=NOW), "photos")["state"] == "new"


def test_unfinished_pass_keeps_the_previous_last_sync(index):
    status.record_pass(index, MirrorReport("docs", finished=True), NOW - 600)
    status.record_pass(index, MirrorReport("docs", finished=False), NOW)
    s = get_status(index, "docs")
    assert s["last_sync"] == NOW - 600
    assert s["last_pass"] == NOW
    assert s["state"] == "idle"
    assert s["since"] == NOW - 600  # state did not change


def test_error_pass(config, index):
    status.record_pass(index, MirrorReport("docs", finished=True), NOW - 600)
    r = MirrorReport("docs", error="HTTP 401: access token expired", finished=True)
    status.record_pass(index, r, NOW)
    s = get_status(index, "docs")
    assert s["state"] == "error"
    assert s["message"] == "HTTP 401: access token expired"
    assert s["since"] == NOW
    assert s["last_sync"] == NOW - 600  # an error is no sync
    m = mirror(status.collect(config, now=NOW), "docs")
    assert (m["state"], m["message"]) == ("error", "HTTP 401: access token expired")


def test_guard_pass_holds_deletions(index):
    r = MirrorReport("docs", guard="40 of 50 files would be deleted", finished=True)
    status.record_pass(index, r, NOW)
    s = get_status(index, "docs")
    assert s["state"] == "error"
    assert s["message"] == "deletions held back: 40 of 50 files would be deleted"
    assert "last_sync" not in s


def test_failed_items_make_the_state_error(index):
    r = MirrorReport("docs", failed=[("a.txt", "permission denied")], finished=True)
    status.record_pass(index, r, NOW)
    assert get_status(index, "docs")["state"] == "error"


def test_explicit_state_and_until(config, index):
    r = MirrorReport("docs", finished=False)
    status.record_pass(index, r, NOW, state="paused", until=NOW + 3600)
    s = get_status(index, "docs")
    assert (s["state"], s["until"]) == ("paused", NOW + 3600)
    m = mirror(status.collect(config, now=NOW), "docs")
    assert (m["state"], m["until"]) == ("paused", iso(NOW + 3600))


def test_conflicts_accumulate_deduplicated_within_a_report(config, index):
    status.record_pass(index, MirrorReport("docs", conflicts=["b.txt", "a.txt", "b.txt"]),
                       NOW - 100)
    s = get_status(index, "docs")
    assert s["conflicts"] == [["a.txt", NOW - 100], ["b.txt", NOW - 100]]
    assert s["conflicts_total"] == 2
    status.record_pass(index, MirrorReport("docs", conflicts=["a.txt"]), NOW)
    s = get_status(index, "docs")
    assert s["conflicts_total"] == 3
    assert s["conflicts"][-1] == ["a.txt", NOW]
    m = mirror(status.collect(config, now=NOW), "docs")
    assert (m["conflicts_seen"], m["conflicts"]) == (3, 0)  # no conflicted copy is there now
    assert m["recent_conflicts"] == [{"path": "a.txt", "at": iso(NOW - 100)},
                                     {"path": "b.txt", "at": iso(NOW - 100)},
                                     {"path": "a.txt", "at": iso(NOW)}]


COPY = "notes (conflicted copy laptop 2027-01-15 080000).txt"


def put_copy(config, index, mirror_name, path, *, synced=True, on_disk=True):
    """A conflicted copy as a pass leaves it: on the server (snapshot), in the base
    when synced, and in the local folder."""
    local = next(m.local for m in config.mirrors if m.name == mirror_name)
    index.put_remote(mirror_name, [model.RemoteEntry(path, model.FILE, "7", 3, NOW)])
    if synced:
        index.put_base(mirror_name, model.BaseEntry(path, path, model.FILE, 3))
    if on_disk:
        (local / path).parent.mkdir(parents=True, exist_ok=True)
        (local / path).write_bytes(b"abc")


def test_conflicts_are_the_copies_there_now(config, index):
    # issue 18: three conflicts, all resolved -> status says 0, not a running total of 3
    copies = [f"d/f{i} (conflicted copy laptop 2027-01-15 08000{i}).txt" for i in range(3)]
    for c in copies:
        put_copy(config, index, "docs", c)
    put_copy(config, index, "docs", "plain.txt")
    status.record_pass(index, MirrorReport("docs", conflicts=["d/f0.txt", "d/f1.txt",
                                                              "d/f2.txt"]), NOW)
    m = mirror(status.collect(config, now=NOW), "docs")
    assert (m["conflicts"], m["conflicts_seen"]) == (3, 3)
    assert m["conflict_copies"] == [{"copy": c, "original": f"d/f{i}.txt"}
                                    for i, c in enumerate(copies)]
    docs = next(x.local for x in config.mirrors if x.name == "docs")
    (docs / copies[0]).unlink()  # `syncd conflicts resolve --keep remote`, before the next pass
    index.drop_base("docs", model.key(copies[1]))  # carried over by a pass
    index.drop_remote("docs", copies[1])
    m = mirror(status.collect(config, now=NOW), "docs")
    assert (m["conflicts"], m["conflicts_seen"]) == (1, 3)
    assert [c["copy"] for c in m["conflict_copies"]] == [copies[2]]


def test_a_copy_not_downloaded_yet_counts(config, index):
    put_copy(config, index, "photos", COPY, synced=False, on_disk=False)  # upload-only mirror
    assert mirror(status.collect(config, now=NOW), "photos")["conflicts"] == 1


def test_bytes_and_transactions_by_kind(config, index):
    status.record_pass(index, MirrorReport("docs", bytes_up=10, bytes_down=5), NOW - 10)
    status.record_pass(index, MirrorReport("docs", bytes_up=1), NOW)
    for path in ("/resources/list", "/resources/list", "/resources/123", "/resources/45"):
        index.record_request(URL, NOW - 5, "GET", path, 200)
    index.record_request(URL, NOW - 2 * DAY, "GET", "/activity/session", 200)  # too old
    index.flush()
    data = status.collect(config, now=NOW)
    assert (mirror(data, "docs")["bytes_up"], mirror(data, "docs")["bytes_down"]) == (11, 5)
    assert data["account"]["transactions_by_kind"] == {"GET /resources/list": 2,
                                                       "GET /resources/{id}": 2}


def test_change_detection_shown(config, index):
    index.account_state(URL).detection = {
        "at": NOW - 30, "way": "listing", "feed_requests": 2, "listing_requests": 111,
        "why": "full listing: the activity feed held at least 11100 entries since the last "
               "pass; listing the mirrors (111) was cheaper"}
    data = status.collect(config, now=NOW)
    c = data["account"]["change_detection"]
    assert (c["way"], c["feed_requests"], c["listing_requests"], c["at"]) == (
        "listing", 2, 111, iso(NOW - 30))
    out = status.render(data, now=NOW, width=200)
    assert ("Remote changes: full listing: the activity feed held at least 11100 entries "
            "since the last pass; listing the mirrors (111) was cheaper (30s ago)") in out


def test_conflicts_capped_at_max(config, index):
    n = status.MAX_CONFLICTS
    status.record_pass(index, MirrorReport("docs", conflicts=[f"f{i:03d}" for i in range(n)]),
                       NOW - 10)
    status.record_pass(index, MirrorReport("docs", conflicts=["new1", "new2"]), NOW)
    s = get_status(index, "docs")
    assert len(s["conflicts"]) == n
    assert s["conflicts"][0] == ["f002", NOW - 10]  # the two oldest dropped
    assert s["conflicts"][-2:] == [["new1", NOW], ["new2", NOW]]
    assert s["conflicts_total"] == n + 2
    m = mirror(status.collect(config, now=NOW), "docs")
    assert m["conflicts_seen"] == n + 2
    assert len(m["recent_conflicts"]) == 10
    assert m["recent_conflicts"][-1]["path"] == "new2"


# --- set_state --------------------------------------------------------------------------

def test_set_state_keeps_other_fields(index):
    status.record_pass(index, MirrorReport("docs", conflicts=["c.txt"], finished=True),
                       NOW - 100)
    status.set_state(index, "docs", "syncing", NOW)
    s = get_status(index, "docs")
    assert s["state"] == "syncing"
    assert s["since"] == NOW
    assert s["last_sync"] == NOW - 100
    assert s["conflicts_total"] == 1
    assert s["conflicts"] == [["c.txt", NOW - 100]]


def test_set_state_since_only_changes_with_the_state(index):
    status.set_state(index, "docs", "paused", NOW - 50, message="budget", until=NOW + 10)
    status.set_state(index, "docs", "paused", NOW, message="budget again", until=NOW + 20)
    s = get_status(index, "docs")
    assert s["since"] == NOW - 50
    assert (s["message"], s["until"]) == ("budget again", NOW + 20)
    status.set_state(index, "docs", "idle", NOW + 30)
    s = get_status(index, "docs")
    assert s["since"] == NOW + 30
    assert (s["message"], s["until"]) == (None, None)


def test_set_state_on_a_fresh_mirror(index):
    status.set_state(index, "photos", "idle", NOW)
    assert get_status(index, "photos") == {"since": NOW, "state": "idle", "message": None,
                                           "until": None}


# --- errors, queue, rate, ledger --------------------------------------------------------

def test_failures_show_as_errors(config, index):
    index.note_failure("docs", "b/report.pdf", "HTTP 500: server error", NOW - 100)
    index.note_failure("docs", "b/report.pdf", "HTTP 500: server error again", NOW - 50)
    index.note_failure("docs", "a.txt", "permission denied", NOW - 10)
    index.note_failure("photos", "x.jpg", "too big", NOW)
    m = mirror(status.collect(config, now=NOW), "docs")
    assert m["error_count"] == 2
    assert m["errors"] == [
        {"path": "a.txt", "error": "permission denied", "attempts": 1,
         "retry_at": iso(NOW - 10 + 30)},
        {"path": "b/report.pdf", "error": "HTTP 500: server error again", "attempts": 2,
         "retry_at": iso(NOW - 50 + 60)},
    ]
    assert mirror(status.collect(config, now=NOW), "photos")["error_count"] == 1


def test_errors_capped_but_counted(config, index):
    for i in range(status.MAX_ERRORS + 5):
        index.note_failure("docs", f"f{i:02d}", "boom", NOW)
    m = mirror(status.collect(config, now=NOW), "docs")
    assert m["error_count"] == status.MAX_ERRORS + 5
    assert len(m["errors"]) == status.MAX_ERRORS


def test_queued_counts_the_persistent_queue(config, index):
    actions = [
        model.MakeRemoteDir("new", model.LocalEntry("new", model.DIR)),
        model.MakeRemoteDir("new/sub", model.LocalEntry("new/sub", model.DIR)),
        model.Upload("new/a.txt", "new/a.txt", model.LocalEntry("new/a.txt", model.FILE, 3)),
    ]
    index.set_queue("docs", actions)
    data = status.collect(config, now=NOW)
    assert mirror(data, "docs")["queued"] == 3
    assert mirror(data, "photos")["queued"] == 0
    (first_id, _), *_ = index.queue("docs")
    index.finish("docs", first_id)
    # (a finished item is written with the daemon's next transaction; status, in
    # another process, counts what is written)
    assert mirror(status.collect(config, now=NOW), "docs")["queued"] == 3
    index.flush()
    assert mirror(status.collect(config, now=NOW), "docs")["queued"] == 2


def test_record_rate_shows_under_account(config, index):
    status.record_rate(index, URL, limit=10_000, remaining=7_500, reserve=500, now=NOW - 30)
    a = status.collect(config, now=NOW)["account"]
    assert (a["limit"], a["remaining"], a["reserve"]) == (10_000, 7_500, 500)
    assert a["remaining_at"] == iso(NOW - 30)
    assert a["budget"] == 5000


def test_rate_of_another_account_is_ignored(config, index):
    status.record_rate(index, "https://other/api/v2", limit=1, remaining=1, reserve=0, now=NOW)
    assert status.collect(config, now=NOW)["account"]["limit"] is None


@pytest.mark.parametrize("feed, shown", [("yes", True), ("no", False)])
def test_activity_feed(config, index, feed, shown):
    index.set_state("account:" + URL, "feed", feed)
    assert status.collect(config, now=NOW)["account"]["activity_feed"] is shown


def test_transactions_count_only_the_last_24h(config, index):
    for at in (NOW - DAY - 1, NOW - DAY - 3600):  # too old
        index.record_request(URL, at, "GET", "/resources/list", 200)
    for at in (NOW - DAY + 1, NOW - 3600, NOW - 1):
        index.record_request(URL, at, "GET", "/resources/list", 200)
    index.record_request(URL, NOW - 5, "POST", "/resources/upload", 500)
    index.record_request("https://other/api/v2", NOW - 5, "GET", "/x", 200)
    index.flush()  # (as the daemon does at the end of every pass)
    assert status.collect(config, now=NOW)["account"]["transactions_24h"] == 4
    # a day later only what happened since then counts
    assert status.collect(config, now=NOW + DAY - 6)["account"]["transactions_24h"] == 2


# --- is a daemon running? ---------------------------------------------------------------

def test_daemon_running(config, index):
    daemon_state(index, os.getpid(), webhook="http://127.0.0.1:8787/")
    with hold_lock(config.state_dir, f"{os.getpid()}\n"):
        d = status.collect(config, now=NOW)["daemon"]
    assert d["running"] is True
    assert d["pid"] == os.getpid()
    assert d["busy"] is False
    assert d["started"] == iso(NOW - 3600)
    assert d["poll_interval"] == 300.0
    assert d["poll_reason"].startswith("polling every 5m")
    assert d["webhook"] == "http://127.0.0.1:8787/"
    assert d["watch"] == "docs: inotify, photos: inotify"


def test_daemon_state_without_lock_is_not_running(config, index):
    daemon_state(index, os.getpid())
    (config.state_dir / "lock").write_text(f"{os.getpid()}\n")  # left behind, not held
    d = status.collect(config, now=NOW)["daemon"]
    assert (d["running"], d["busy"], d["pid"]) == (False, False, None)
    assert d["started"] is None and d["poll_interval"] is None and d["poll_reason"] is None


@pytest.mark.parametrize("text", ["1\n", "", "garbage"])
def test_lock_held_by_someone_else_is_busy(config, index, text):
    daemon_state(index, os.getpid())
    with hold_lock(config.state_dir, text):
        d = status.collect(config, now=NOW)["daemon"]
    assert (d["running"], d["busy"], d["pid"]) == (False, True, None)
    assert d["poll_interval"] is None


def test_lock_held_without_index_is_busy(config, index_path):
    with hold_lock(config.state_dir, "4242\n"):
        d = status.collect(config, now=NOW)["daemon"]
    assert (d["running"], d["busy"]) == (False, True)
    assert not index_path.exists()


def test_status_does_not_take_the_lock(config, index):
    status.collect(config, now=NOW)
    # afterwards anyone can take it
    fd = os.open(config.state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_syncing_while_not_running_is_an_interrupted_error(config, index):
    status.set_state(index, "docs", "syncing", NOW - 10)
    m = mirror(status.collect(config, now=NOW), "docs")
    assert m["state"] == "error"
    assert "interrupted" in m["message"]
    assert get_status(index, "docs")["state"] == "syncing"  # status never writes


def test_syncing_while_running_is_syncing(config, index):
    daemon_state(index, os.getpid())
    status.set_state(index, "docs", "syncing", NOW - 10)
    with hold_lock(config.state_dir, f"{os.getpid()}\n"):
        m = mirror(status.collect(config, now=NOW), "docs")
    assert (m["state"], m["message"]) == ("syncing", None)


def test_one_shot_sync_after_a_daemon_is_busy_not_running(config, index):
    from syncd.state.lock import held as state_lock

    dead = 2_000_000_000  # beyond any pid_max: the daemon that wrote it is gone
    daemon_state(index, dead)
    (config.state_dir / "lock").write_text(f"{dead}\n")
    with state_lock(config.state_dir):
        d = status.collect(config, now=NOW)["daemon"]
    assert (d["running"], d["busy"]) == (False, True)


# --- JSON -------------------------------------------------------------------------------

def test_json_round_trips_with_the_documented_keys(config, index):
    daemon_state(index, os.getpid())
    status.record_rate(index, URL, limit=10_000, remaining=9_000, reserve=500, now=NOW)
    status.record_pass(index, MirrorReport("docs", conflicts=["c"], finished=True), NOW)
    index.note_failure("docs", "x", "boom", NOW)
    with hold_lock(config.state_dir, f"{os.getpid()}\n"):
        data = status.collect(config, now=NOW)
    text = status.to_json(data)
    back = json.loads(text)
    assert back == data
    assert back["version"] == 1
    assert set(back) == {"version", "daemon", "account", "mirrors"}
    assert set(back["daemon"]) == {"running", "pid", "busy", "started", "poll_interval",
                                   "poll_reason", "webhook", "watch"}
    assert set(back["account"]) == {"url", "transactions_24h", "limit", "budget", "remaining",
                                    "remaining_at", "reserve", "activity_feed",
                                    "change_detection", "transactions_by_kind"}
    for m in back["mirrors"]:
        assert set(m) == {"name", "local", "remote", "direction", "state", "since", "message",
                          "until", "last_sync", "queued", "conflicts", "conflict_copies",
                          "conflicts_seen", "recent_conflicts", "bytes_up", "bytes_down",
                          "errors", "error_count", "kept"}
    assert set(mirror(back, "docs")["errors"][0]) == {"path", "error", "attempts", "retry_at"}
    assert set(mirror(back, "docs")["recent_conflicts"][0]) == {"path", "at"}


def test_json_without_index(config):
    back = json.loads(status.to_json(status.collect(config, now=NOW)))
    assert back["version"] == 1
    assert back["account"]["transactions_24h"] == 0


# --- render -----------------------------------------------------------------------------

def test_render_not_running(config, index):
    status.record_pass(index, MirrorReport("docs", finished=True), NOW - 120)
    status.record_pass(index, MirrorReport("docs", error="HTTP 403: forbidden"), NOW - 60)
    index.note_failure("docs", "reports/q3.pdf", "HTTP 500: server error", NOW - 60)
    index.set_queue("docs", [model.MakeRemoteDir("n", model.LocalEntry("n", model.DIR))])
    index.record_request(URL, NOW - 5, "GET", "/resources/list", 200)
    status.record_rate(index, URL, limit=10_000, remaining=8_000, reserve=500, now=NOW - 60)
    data = status.collect(config, now=NOW)
    out = status.render(data, now=NOW, width=200)
    lines = out.splitlines()
    assert lines[0] == "Daemon: not running"
    assert ("Account: 1 transactions spent by syncd in the last 24 h; 8000 of 10000 left on "
            "the account (as of 60s ago); reserve 500") in out
    (docs_row,) = [ln for ln in lines if ln.startswith("docs ")]
    assert "error (HTTP 403: forbidden)" in docs_row
    assert "2m ago" in docs_row
    (photos_row,) = [ln for ln in lines if ln.startswith("photos ")]
    assert "new" in photos_row and "never" in photos_row
    assert ("  docs: reports/q3.pdf: HTTP 500: server error (attempt 1, retry "
            f"{iso(NOW - 30)})") in out
    for col in ("Mirror", "State", "Last sync", "Queued", "Conflicts", "Errors"):
        assert col in lines[2]


def test_render_running_and_conflicts(config, index):
    daemon_state(index, os.getpid())
    status.record_pass(index, MirrorReport("docs", conflicts=["notes.txt"], finished=True),
                       NOW - 7200)
    put_copy(config, index, "docs", COPY)
    with hold_lock(config.state_dir, f"{os.getpid()}\n"):
        data = status.collect(config, now=NOW)
    out = status.render(data, now=NOW, width=200)
    lines = out.splitlines()
    assert lines[0] == f"Daemon: running (pid {os.getpid()}), remote poll every 300s"
    assert lines[1] == "  polling every 5m (poll_interval): cheap"
    assert lines[2] == "  local changes: docs: inotify, photos: inotify"
    assert (f"  docs: conflict, both versions kept: notes.txt and {COPY} (`syncd conflicts`)"
            in out)
    (docs_row,) = [ln for ln in lines if ln.startswith("docs ")]
    assert "idle" in docs_row and "2.0h ago" in docs_row
    assert "Account: 0 transactions spent by syncd in the last 24 h" in out


def test_render_webhook_push_and_busy(config, index):
    daemon_state(index, os.getpid(), poll_interval=None)
    with hold_lock(config.state_dir, f"{os.getpid()}\n"):
        out = status.render(status.collect(config, now=NOW), now=NOW)
    assert "remote poll push (webhooks)" in out.splitlines()[0]
    with hold_lock(config.state_dir, "1\n"):
        out = status.render(status.collect(config, now=NOW), now=NOW)
    assert out.splitlines()[0] == "Daemon: not running (a `syncd sync` is working now)"


def test_render_long_ago(config, index):
    status.record_pass(index, MirrorReport("docs", finished=True), NOW - 5 * DAY)
    out = status.render(status.collect(config, now=NOW), now=NOW, width=200)
    assert "5d ago" in next(ln for ln in out.splitlines() if ln.startswith("docs "))


def test_render_shows_bracketed_paths_verbatim(config, index):
    index.note_failure("docs", "notes/[draft] plan.txt", "HTTP 500", NOW)
    out = status.render(status.collect(config, now=NOW), now=NOW, width=200)
    assert "notes/[draft] plan.txt" in out


def test_render_does_not_crash_on_closing_tag_like_paths(config, index):
    index.note_failure("docs", "a[/b]", "HTTP 500", NOW)
    out = status.render(status.collect(config, now=NOW), now=NOW, width=200)
    assert "a[/b]" in out
