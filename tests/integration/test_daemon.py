"""End to end: `syncd run` as a subprocess against the emulator on 127.0.0.1.

Each test starts the real daemon (`python -m syncd run`) with a NOTIFY_SOCKET we
listen on, so we know when it is ready and when a pass has ended (it sends
``STATUS=idle: ...``), then changes files on either side and watches the other.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time

import pytest
import requests

from syncd.emulators.exavault.webhooks import signature, v1_body
from tests.helpers.daemon import SETTLE, daemon_setup, free_port, start, wait_for
from tests.helpers.stopping import MiB, downloaded, settled, temp_files, wait_until_moved

WEBHOOK_TOKEN = "webhook-token-3c9d1e77"


def uploads(emu) -> int:
    return sum(1 for r in emu.request_log if r.method == "POST" and r.path.endswith("/upload"))


def status_json(setup) -> dict:
    out = setup.cli("status", "--json", "--config", str(setup.config_path))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# ----------------------------------------------------------------------------- timing

def test_local_save_reaches_the_server_within_settle_plus_one_second(make_emulator, tmp_path,
                                                                       start):
    setup = daemon_setup(make_emulator, tmp_path)
    (setup.local() / "before.txt").write_text("synced at start")
    d = start(setup)
    d.wait_idle()
    assert setup.remote_tree() == {"before.txt": b"synced at start"}

    t = time.monotonic()
    (setup.local() / "note.txt").write_text("saved just now")
    arrived = wait_for(lambda: setup.remote_tree().get("note.txt") == b"saved just now", 10)
    elapsed = time.monotonic() - t
    assert arrived, d.log()
    assert elapsed <= SETTLE + 1.0, f"took {elapsed:.2f}s"


def test_remote_change_arrives_within_one_poll_interval_plus_one_second(make_emulator,
                                                                        tmp_path, start):
    setup = daemon_setup(make_emulator, tmp_path, poll="10s")
    d = start(setup)
    d.wait_idle()
    t = time.monotonic()
    setup.emu.other.write("/docs/from-colleague.txt", b"hello from the web UI")
    target = setup.local() / "from-colleague.txt"
    arrived = wait_for(lambda: target.exists() and target.read_bytes() ==
                       b"hello from the web UI", 15)
    elapsed = time.monotonic() - t
    assert arrived, d.log()
    assert elapsed <= 10 + 1.0, f"took {elapsed:.2f}s"
    # The poll was one activity-feed request (plus a stat and the download).
    assert "polling every 10s" in d.log()


# ----------------------------------------------------------------------------- editors

def test_atomic_save_by_an_editor_is_one_upload(make_emulator, tmp_path, start):
    setup = daemon_setup(make_emulator, tmp_path)
    doc = setup.local() / "report.txt"
    doc.write_text("version 1")
    d = start(setup)
    n = d.wait_idle()
    before = uploads(setup.emu)

    # gedit/VS Code style: write a temp file in the same folder, fsync, rename over.
    tmp = setup.local() / ".report.txt.tmp-1234"
    with open(tmp, "w") as f:
        for i in range(5):
            f.write(f"version 2, part {i}\n")
            f.flush()
            time.sleep(0.05)
        os.fsync(f.fileno())
    os.replace(tmp, doc)
    assert wait_for(lambda: setup.remote_tree().get("report.txt", b"").startswith(b"version 2"),
                    10), d.log()
    d.wait_idle(after=n)
    time.sleep(SETTLE + 0.5)  # anything late would show now
    assert uploads(setup.emu) - before == 1
    assert set(setup.remote_tree()) == {"report.txt"}

    # vim style: rename the original to a backup, write a new file, delete the backup.
    before = uploads(setup.emu)
    n = len(d.statuses())
    os.rename(doc, setup.local() / "report.txt~")
    doc.write_text("version 3")
    os.unlink(setup.local() / "report.txt~")
    assert wait_for(lambda: setup.remote_tree().get("report.txt") == b"version 3", 10), d.log()
    d.wait_idle(after=n)
    time.sleep(SETTLE + 0.5)
    assert uploads(setup.emu) - before == 1
    assert set(setup.remote_tree()) == {"report.txt"}
    # No remote delete or trash move happened for the backup dance.
    assert not any(r.method == "DELETE" for r in setup.emu.request_log)


def test_a_thousand_files_created_at_once_are_all_synced(make_emulator, tmp_path, start):
    setup = daemon_setup(make_emulator, tmp_path)
    d = start(setup)
    d.wait_idle()
    expected = {}
    for i in range(1000):
        folder = setup.local() / f"batch{i % 10}"
        folder.mkdir(exist_ok=True)
        (folder / f"file{i:04d}.txt").write_text(f"content {i}")
        expected[f"batch{i % 10}/file{i:04d}.txt"] = f"content {i}".encode()

    def done():
        tree = setup.remote_tree()
        return all(tree.get(k) == v for k, v in expected.items())
    assert wait_for(done, 120, step=0.5), d.log()[-3000:]
    assert uploads(setup.emu) == 1000


# ----------------------------------------------------------------------------- lifecycle

def test_sigterm_mid_upload_leaves_nothing_partial_and_a_restart_converges(make_emulator,
                                                                           tmp_path, start):
    # 256 KiB/s: a 3 MiB upload takes ~12 s, so SIGTERM lands in the middle of it.
    setup = daemon_setup(make_emulator, tmp_path, emu_opts={"bandwidth": 256 * 1024})
    d = start(setup)
    d.wait_idle()
    data = os.urandom(3 * 1024 * 1024)
    (setup.local() / "big.bin").write_bytes(data)
    assert wait_for(lambda: "local change" in d.log(), 5)
    time.sleep(1.5)  # the upload is under way
    rc, took = d.stop()
    assert rc == 0, d.log()
    assert took < 10.0
    assert "big.bin" not in setup.remote_tree()  # the server kept nothing partial
    assert not [p for p in setup.local().rglob("*") if p.name.startswith(".syncd-")]

    setup.emu.set_bandwidth(None)  # (the restart need not be slow)
    d2 = start(setup, "restart")
    assert wait_for(lambda: setup.remote_tree().get("big.bin") == data, 40), d2.log()
    rc, _ = d2.stop()
    assert rc == 0


def test_sigterm_mid_download_keeps_only_a_temp_file_and_the_restart_resumes(
        make_emulator, tmp_path, start):
    setup = daemon_setup(make_emulator, tmp_path, emu_opts={"bandwidth": 256 * 1024})
    data = os.urandom(3 * 1024 * 1024)
    setup.emu.other.write("/docs/video.bin", data)
    d = start(setup)
    assert wait_for(lambda: downloaded(setup.local()) >= 1024 * 1024, 20), d.log()
    rc, _ = d.stop()
    assert rc == 0, d.log()
    assert "SIGTERM: stopping" in d.log()
    leftovers = list(setup.local().iterdir())
    assert leftovers == temp_files(setup.local())  # no partial video.bin ...
    assert len(leftovers) == 1  # ... only the hidden temp file, kept to resume
    kept = downloaded(setup.local())

    setup.emu.set_bandwidth(None)  # (the restart need not be slow: counted in bytes)
    sent = setup.emu.download_bytes
    d2 = start(setup, "restart")
    target = setup.local() / "video.bin"
    assert wait_for(lambda: target.exists() and target.read_bytes() == data, 40), d2.log()
    assert setup.emu.download_bytes - sent == len(data) - kept  # only the rest (Range)
    assert temp_files(setup.local()) == []


def test_sigterm_during_a_bandwidth_limited_download_stops_within_a_second(
        make_emulator, tmp_path, start):
    # syncd's own limit (1 MiB/s): the stop is seen between two throttled chunks.
    # Measured in bytes: at most about one more second of them after the signal.
    setup = daemon_setup(make_emulator, tmp_path)
    setup.set_options(bandwidth={"down": MiB})
    setup.emu.other.write("/docs/video.bin", os.urandom(16 * MiB))
    d = start(setup)
    at_signal = wait_until_moved(lambda: downloaded(setup.local()), 2 * MiB)
    rc, _ = d.stop()
    assert rc == 0, d.log()
    assert settled(lambda: downloaded(setup.local())) <= at_signal + 3 * MiB
    assert "SIGTERM: stopping" in d.log()
    assert not (setup.local() / "video.bin").exists()


def test_second_daemon_on_the_same_state_dir_refuses_to_start(make_emulator, tmp_path, start):
    setup = daemon_setup(make_emulator, tmp_path)
    d = start(setup)
    d.wait_idle()
    out = setup.cli("run", "--config", str(setup.config_path))
    assert out.returncode == 75
    assert "another syncd is already running" in out.stderr
    assert f"pid {d.proc.pid}" in out.stderr
    assert "Traceback" not in out.stderr
    assert "syncd stopped" not in out.stderr  # (the running one did not stop)
    assert "it goes on, this one exits" in out.stderr


def test_sighup_adds_a_mirror_without_restart(make_emulator, tmp_path, start):
    setup = daemon_setup(make_emulator, tmp_path)
    d = start(setup)
    n = d.wait_idle()
    photos = setup.home / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(b"meow")
    setup.mirrors["photos"] = (photos, "/photos")
    setup._opts["photos"] = {"poll_interval": "10s"}
    setup.write_config()
    d.signal(signal.SIGHUP)
    assert wait_for(lambda: setup.remote_tree("photos").get("cat.jpg") == b"meow", 10), d.log()
    assert "RELOADING=1" in "".join(d.poll_messages())
    d.wait_idle(after=n)
    # The new mirror is watched: a later save goes up too.
    (photos / "dog.jpg").write_bytes(b"woof")
    assert wait_for(lambda: setup.remote_tree("photos").get("dog.jpg") == b"woof", 5), d.log()
    assert d.proc.poll() is None


def test_sighup_with_a_broken_config_keeps_running(make_emulator, tmp_path, start):
    setup = daemon_setup(make_emulator, tmp_path)
    d = start(setup)
    d.wait_idle()
    good = setup.config_path.read_text()
    setup.config_path.write_text(good + "\nbogus_key: 1\n")
    d.signal(signal.SIGHUP)
    assert wait_for(lambda: "reload failed, keeping the running configuration" in d.log(), 5)
    assert "bogus_key" in d.log()
    (setup.local() / "still.txt").write_text("works")
    assert wait_for(lambda: setup.remote_tree().get("still.txt") == b"works", 5), d.log()


def test_notify_protocol_ready_status_stopping(make_emulator, tmp_path, start):
    setup = daemon_setup(make_emulator, tmp_path)
    d = start(setup, env={"WATCHDOG_USEC": "400000"})  # ping every 0.2 s
    d.wait_idle()
    time.sleep(0.6)
    msgs = d.poll_messages()
    assert any("READY=1" in m for m in msgs)
    assert sum("WATCHDOG=1" in m for m in msgs) >= 2
    d.stop()
    assert "STOPPING=1" in "".join(d.poll_messages())


def test_config_error_exits_78_without_traceback(make_emulator, tmp_path):
    setup = daemon_setup(make_emulator, tmp_path)
    setup.daemon_opts["settle"] = "forever"
    setup.write_config()
    out = setup.cli("run", "--config", str(setup.config_path))
    assert out.returncode == 78
    assert "daemon.settle" in out.stderr
    assert "Traceback" not in out.stderr


def test_secrets_never_reach_the_log(make_emulator, tmp_path, start):
    from tests.helpers.accounts import ACCESS_TOKEN, API_KEY

    setup = daemon_setup(make_emulator, tmp_path)
    (setup.local() / "a.txt").write_text("x")
    d = start(setup)
    d.wait_idle()
    d.stop()
    text = d.log()
    assert "a.txt" in text or "uploaded" in text
    assert API_KEY not in text and ACCESS_TOKEN not in text


# ----------------------------------------------------------------------------- status

def test_status_json_reports_the_queue_and_the_budget(make_emulator, tmp_path, start):
    # A budget of 30 transactions cannot upload 40 files: the daemon pauses with a queue.
    setup = daemon_setup(make_emulator, tmp_path, account_opts={"budget": 30})
    for i in range(40):
        (setup.local() / f"f{i:02d}.txt").write_text(str(i))
    d = start(setup)
    assert wait_for(lambda: any(s.startswith("paused") for s in d.statuses()), 20), d.log()
    data = status_json(setup)
    m = data["mirrors"][0]
    assert data["version"] == 1
    assert data["daemon"]["running"] is True and data["daemon"]["pid"] == d.proc.pid
    assert m["name"] == "docs" and m["state"] == "paused"
    assert "budget" in m["message"]
    assert m["until"] is not None
    assert m["queued"] > 0
    spent = data["account"]["transactions_24h"]
    assert 0 < spent <= 30
    assert data["account"]["limit"] == 30
    assert data["account"]["remaining"] is not None
    assert data["account"]["reserve"] is not None
    assert len(setup.remote_tree()) + m["queued"] >= 40  # nothing lost: done or queued
    human = setup.cli("status", "--config", str(setup.config_path))
    assert human.returncode == 0
    assert "paused" in human.stdout and "docs" in human.stdout
    d.stop()
    after = status_json(setup)
    assert after["daemon"]["running"] is False
    assert after["mirrors"][0]["queued"] == m["queued"]


def test_status_without_a_daemon(make_emulator, tmp_path):
    setup = daemon_setup(make_emulator, tmp_path)
    data = status_json(setup)
    assert data["daemon"]["running"] is False
    assert data["mirrors"][0]["state"] == "new"
    assert data["mirrors"][0]["last_sync"] is None
    assert not (setup.state / "index.sqlite3").exists()  # status created nothing
    assert setup.emu.request_log == []  # and spent nothing
    setup.sync()
    data = status_json(setup)
    assert data["mirrors"][0]["state"] == "idle"
    assert data["mirrors"][0]["last_sync"] is not None
    assert data["account"]["transactions_24h"] > 0


# ----------------------------------------------------------------------------- budget

def test_poll_interval_respects_the_budget_in_fallback_mode(make_emulator, tmp_path, start):
    # A Files.com-migrated account has no activity feed: each poll lists the mirror,
    # ceil((450 + 1) / 100) = 5 requests. With 2,000 transactions a day and half of
    # them kept for transfers, polling every 10 s (43,200 requests a day) cannot be.
    setup = daemon_setup(make_emulator, tmp_path, emu_opts={"files_com": True},
                         account_opts={"budget": 2000})
    for i in range(450):
        setup.emu.other.write(f"/docs/f{i:03d}.txt", b"x")
    d = start(setup)
    d.wait_idle(timeout=60)
    data = status_json(setup)
    interval = data["daemon"]["poll_interval"]
    per_poll = math.ceil((450 + 1) / 100)
    polling_share = 2000 * (1 - 0.5)  # transfer_share default 50%
    assert interval > 10
    assert 86400 / interval * per_poll <= polling_share  # the projected day fits
    assert 86400 / (interval * 0.9) * per_poll > polling_share * 0.9  # and is not wasteful
    assert f"not 10s: each poll costs a full listing of 450 remote items ({per_poll} " \
           "requests)" in data["daemon"]["poll_reason"]
    assert data["daemon"]["poll_reason"] in d.log()


def test_poll_interval_is_kept_with_an_activity_feed(make_emulator, tmp_path, start):
    # One request per poll: every 10 s is 8,640 a day, within half of 20,000.
    setup = daemon_setup(make_emulator, tmp_path, account_opts={"budget": 20000})
    d = start(setup)
    d.wait_idle()
    data = status_json(setup)
    assert data["daemon"]["poll_interval"] == 10
    assert "one activity-feed request" in data["daemon"]["poll_reason"]


# ----------------------------------------------------------------------------- webhooks


@pytest.fixture
def hooked(make_emulator, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/exavault"
    setup = daemon_setup(make_emulator, tmp_path, poll="1h", emu_opts={
        "webhook_url": url, "webhook_token": WEBHOOK_TOKEN,
        "webhook_retry_delays": (0.2, 0.4, 0.8)},
        account_opts={"webhook": {"listen": f"127.0.0.1:{port}", "token": WEBHOOK_TOKEN,
                                  "path": "/exavault"}})
    return setup, url


def test_webhook_push_triggers_a_poll_and_idle_costs_nothing(hooked, start):
    setup, url = hooked
    d = start(setup)
    d.wait_idle()
    assert wait_for(lambda: "webhook: listening on" in d.log(), 5)
    setup.emu.wait_for_webhooks(5)
    time.sleep(1.0)
    quiet = len(setup.emu.request_log)
    time.sleep(3.0)
    assert len(setup.emu.request_log) == quiet  # idle: no polling transactions at all
    assert status_json(setup)["daemon"]["poll_interval"] is None

    t = time.monotonic()
    setup.emu.other.write("/docs/pushed.txt", b"pushed")
    target = setup.local() / "pushed.txt"
    assert wait_for(lambda: target.exists() and target.read_bytes() == b"pushed", 5), d.log()
    assert time.monotonic() - t < 3.0
    assert any(x["status"] == 200 for x in setup.emu.webhook_deliveries)


def test_webhook_with_a_bad_signature_is_refused(hooked, start):
    setup, url = hooked
    d = start(setup)
    d.wait_idle()
    setup.emu.wait_for_webhooks(5)
    time.sleep(0.5)
    before = len(setup.emu.request_log)
    body = v1_body("emulated", "someone", "Upload", "/docs/forged.txt", "", 1)
    r = requests.post(url, data=body, headers={"X-Exavault-Signature": "0" * 32,
                                               "Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 403
    r = requests.post(url, data=body, timeout=5)  # no signature at all
    assert r.status_code == 403
    time.sleep(1.0)
    assert len(setup.emu.request_log) == before  # nothing was polled
    assert "bad signature" in d.log().lower() or "signature" in d.log().lower()

    # The same body, signed with the token, is accepted and polled.
    r = requests.post(url, data=body, headers={"X-Exavault-Signature":
                                               signature(WEBHOOK_TOKEN, body)}, timeout=5)
    assert r.status_code == 200
    assert wait_for(lambda: len(setup.emu.request_log) > before, 5)
    assert WEBHOOK_TOKEN not in d.log()


def test_pushes_of_our_own_uploads_cost_no_poll(hooked, start):
    setup, url = hooked
    setup.emu.other.mkdir("/docs")  # (a first upload would create it: one push, one poll)
    d = start(setup)
    d.wait_idle()
    setup.emu.wait_for_webhooks(5)
    time.sleep(0.5)
    setup.emu.clear_request_log()
    (setup.local() / "mine.txt").write_text("made here")
    assert wait_for(lambda: setup.remote_tree().get("mine.txt") == b"made here", 5), d.log()
    assert setup.emu.wait_for_webhooks(5)
    assert any(x["path"] == "/docs/mine.txt" and x["status"] == 200
               for x in setup.emu.webhook_deliveries)
    time.sleep(1.0)
    # The upload and nothing else: the push of our own change did not make a poll.
    assert [r.path.rsplit("/", 1)[-1] for r in setup.emu.request_log] == ["upload"]
    assert "pushes of our own changes; no poll needed" in d.log()


def test_editing_syncdignore_rescans_the_mirror(make_emulator, tmp_path, start):
    setup = daemon_setup(make_emulator, tmp_path)
    (setup.local() / ".syncdignore").write_text("*.log\n")
    (setup.local() / "build.log").write_text("ignored for now")
    (setup.local() / "a.txt").write_text("a")
    d = start(setup)
    d.wait_idle()
    assert setup.remote_tree() == {"a.txt": b"a"}
    (setup.local() / ".syncdignore").write_text("# nothing ignored any more\n")
    assert wait_for(lambda: setup.remote_tree().get("build.log") == b"ignored for now", 5), \
        d.log()
    assert ".syncdignore" not in setup.remote_tree()


def test_freed_heap_is_given_back_after_a_pass():
    # The daemon trims glibc's heap after each pass (BENCHMARKS.md, idle RSS row);
    # on glibc the call must be found, elsewhere it is skipped.
    import platform

    from syncd.daemon.service import release_memory

    glibc = platform.libc_ver()[0] == "glibc"
    assert release_memory() is glibc
    assert release_memory() is glibc  # the library is looked up once, then reused
