"""`syncd check` (issue 7, item 3; issue 18, item 4): validates the config, reaches
the account with one transaction and asks for each remote folder live (one more
per mirror; all recorded in the ledger), shows the budget, the feed and what is
known of each mirror, with the exit codes of `syncd sync`."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from syncd.config.loader import load_config
from syncd.state.index import Index
from tests.helpers.sync import make_setup

DAY = 86400


@pytest.fixture
def s(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path, emu_opts={"transactions": 400})
    return setup


def requests(setup, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path.removeprefix("/api/v2")) for r in setup.emu.request_log[since:]]


def check(setup, *args: str):
    return setup.cli("check", "--config", str(setup.config_path), *args)


def spent(setup) -> int:
    index = Index(setup.state / "index.sqlite3")
    try:
        return index.spent(setup.emu.url, 0)
    finally:
        index.close()


def test_a_new_config_costs_one_transaction_per_mirror_and_one_for_the_account(s):
    proc = check(s)
    assert proc.returncode == 0, proc.stderr
    assert requests(s) == [("GET", "/account"), ("GET", "/resources")]
    assert spent(s) == 2  # in the ledger, like every other request
    out = proc.stdout
    assert "credentials accepted" in out
    # 400 per 24 h, 399 left after the first request; 5% reserve = 20
    assert "limit 400 transactions per 24 h, 399 remaining now" in out
    assert "reserve 20 (5% of the limit) never spent by syncd" in out
    assert "syncd spent 1 in the last 24 h and may spend 379 more now" in out
    assert "Activity feed: not known yet" in out
    assert "local folder:  exists; files: unknown until the first sync" in out
    assert "remote folder: missing: the first sync creates it; files: unknown until" in out
    assert "Transactions spent by this check: 2" in out
    assert "Ready:" in out
    assert proc.stderr == ""


def test_after_a_sync_it_reports_the_feed_and_both_sides_from_the_index(s):
    (s.local() / "sub").mkdir()
    (s.local() / "sub" / "a.txt").write_text("a")
    (s.local() / "b.txt").write_text("b")
    assert s.sync().exit_code == 0
    s.emu.other.write("/docs/c.txt", b"c")  # the index does not know yet
    n = len(s.emu.request_log)
    proc = check(s)
    assert proc.returncode == 0, proc.stderr
    assert requests(s, n) == [("GET", "/account"), ("GET", "/resources")]
    assert "Activity feed: available (found by an earlier sync)" in proc.stdout
    assert "local folder:  exists; 2 files, 1 folder in sync at the last sync" in proc.stdout
    assert "remote folder: exists; 2 files, 1 folder on the server as of the last pass" \
        in proc.stdout


def test_status_shows_the_counters_check_brought_back(s):
    assert check(s).returncode == 0
    proc = s.cli("status", "--json", "--config", str(s.config_path))
    assert '"remaining": 399' in proc.stdout


def test_probe_asks_for_the_feed_and_counts_it(s):
    s.mirrors["other"] = (s.home / "other", "/exists")
    (s.home / "other").mkdir()
    s.write_config()
    s.emu.other.mkdir("/exists")
    proc = check(s, "--probe")
    assert proc.returncode == 0, proc.stderr
    assert requests(s) == [("GET", "/account"), ("GET", "/activity/session"),
                           ("GET", "/resources"), ("GET", "/resources")]
    out = proc.stdout
    assert "Activity feed: available (asked now, 1 transaction)" in out
    assert "remote folder: missing: the first sync creates it" in out
    assert "remote folder: exists; files: unknown" in out
    assert "Transactions spent by this check: 4" in out


def test_probe_on_a_files_com_account_finds_no_feed(make_emulator, tmp_path):
    s = make_setup(make_emulator, tmp_path, emu_opts={"files_com": True})
    proc = check(s, "--probe")
    assert proc.returncode == 0, proc.stderr
    assert "Activity feed: not available (asked now, 1 transaction; a Files.com" in proc.stdout


def test_a_remote_root_that_is_a_file_is_a_problem(s):
    s.emu.other.write("/docs", b"not a folder")
    proc = check(s)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "syncd: docs: remote /docs is a file, not a folder"
    assert "Ready" not in proc.stdout


def test_a_local_root_that_is_a_file_is_a_problem(s):
    s.local().rmdir()
    s.local().write_text("oops")
    proc = check(s)
    assert proc.returncode == 1
    assert "local folder:  is not a folder" in proc.stdout
    assert re.fullmatch(r"syncd: docs: local folder \S+ is not a folder\n", proc.stderr)


def test_a_missing_local_root_is_fine_before_the_first_sync_not_after(s):
    s.local().rmdir()
    proc = check(s)
    assert proc.returncode == 0, proc.stderr
    assert "local folder:  missing: the first sync creates it" in proc.stdout
    s.local().mkdir()
    (s.local() / "a.txt").write_text("a")
    assert s.sync().exit_code == 0
    (s.local() / "a.txt").unlink()
    s.local().rmdir()
    proc = check(s)
    assert proc.returncode == 1
    assert "missing although it was synced before (unmounted?)" in proc.stderr


def test_wrong_credentials_exit_77_without_showing_them(s):
    text = s.config_path.read_text().replace("test-api-key-5f2a9c", "wrong-key-61d0a4")
    s.config_path.write_text(text)
    proc = check(s)
    assert proc.returncode == 77
    assert proc.stderr.count("\n") == 1 and "authentication refused" in proc.stderr
    assert "wrong-key" not in proc.stdout + proc.stderr
    assert "test-access-token" not in proc.stdout + proc.stderr


def test_a_config_error_exits_78_and_sends_nothing(s):
    s.config_path.write_text(s.config_path.read_text().replace("mirrors:", "mirorrs:"))
    proc = check(s)
    assert proc.returncode == 78
    assert "did you mean 'mirrors'" in proc.stderr
    assert s.emu.request_log == []


def test_a_url_that_is_not_the_api_exits_78(s):
    s.write_config(url=s.emu.url.replace("/api/v2", "/api/v3"))
    proc = check(s)
    assert proc.returncode == 78
    assert "answered 404 to GET /account" in proc.stderr
    assert f"did you mean {s.emu.url.replace('/api/v2', '/api/v3')}/api/v2?" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_an_unreachable_server_exits_75_after_one_attempt(s):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    s.write_config(url=f"http://127.0.0.1:{port}/api/v2")
    proc = check(s)
    assert proc.returncode == 75
    assert "server unavailable" in proc.stderr and "run again later" in proc.stderr
    assert "Transactions spent by this check: 1" in proc.stdout  # never retried


def test_a_budget_with_nothing_left_is_not_ready_and_then_sends_nothing(s):
    s.write_config(budget=1, reserve=0)
    proc = check(s)  # its one transaction is the last one syncd may spend today
    assert proc.returncode == 75
    assert "may spend 0 more now; NOTHING LEFT TO SPEND" in proc.stdout
    assert "remote folder: not asked (no transaction left to spend)" in proc.stdout
    assert "Ready" not in proc.stdout
    assert re.fullmatch(r"syncd: no transaction left to spend now \(the reserve is kept\); "
                        r"budget back at ~[-0-9: ]+; run again later\n", proc.stderr)
    n = len(s.emu.request_log)
    proc = check(s)
    assert proc.returncode == 75
    assert "budget" in proc.stderr and "run again later" in proc.stderr
    assert len(s.emu.request_log) == n
    assert load_config(s.config_path).account.budget == 1


# --- issue 18, item 4: live, and not "Ready" when a sync could not work ----------------

def test_a_remote_folder_deleted_after_the_sync_is_found_live_not_from_the_snapshot(s):
    (s.local() / "a.txt").write_text("a")
    assert s.sync().exit_code == 0
    s.emu.other.delete("/docs")  # the index's snapshot still has it
    proc = check(s)
    assert proc.returncode == 1
    assert "remote folder: missing although synced before: sync stops at this mirror" \
        in proc.stdout
    assert proc.stderr == "syncd: docs: remote folder /docs is missing although it was " \
                          "synced before\n"
    assert "Ready" not in proc.stdout


def test_nothing_left_to_spend_on_the_server_is_not_ready(make_emulator, tmp_path):
    # 20 transactions a day, 5% reserve = 1: after the check's first request 19
    # remain; another client spends 18 more, so nothing is left for syncd.
    s = make_setup(make_emulator, tmp_path, emu_opts={"transactions": 20})
    s.emu.spend_transactions(18)
    proc = check(s)
    assert proc.returncode == 75, proc.stdout + proc.stderr
    assert "1 remaining now" in proc.stdout and "may spend 0 more now" in proc.stdout
    assert "no transaction left to spend now" in proc.stderr
    assert "Ready" not in proc.stdout
    assert requests(s) == [("GET", "/account")]  # the folder is not asked for


def _as_nobody(tmp_path):
    """The argv prefix that runs a command as an unprivileged user (root may write
    any folder), with ``tmp_path`` given to that user; ``None`` when not possible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    nobody = 65534
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.chown(name, nobody, nobody)
    probe = subprocess.run([setpriv, f"--reuid={nobody}", f"--regid={nobody}",
                            "--clear-groups", sys.executable, "-c", "import syncd"],
                           capture_output=True, cwd="/")
    if probe.returncode != 0:
        return None
    return [setpriv, f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups"]


def test_a_local_folder_you_may_not_write_is_a_problem(make_emulator):
    home = Path(tempfile.mkdtemp(prefix="syncd-check-"))  # (pytest's is root's only)
    try:
        os.chmod(home, 0o755)
        s = make_setup(make_emulator, home)
        prefix = _as_nobody(home)
        if prefix is None:
            pytest.skip("no way to run as an unprivileged user here")
        if prefix:
            os.chown(s.local(), 0, 0)  # root's, 0755: nobody may read it, not write it
        os.chmod(s.local(), 0o555)
        proc = subprocess.run([*prefix, sys.executable, "-m", "syncd", "check", "--config",
                               str(s.config_path)], capture_output=True, text=True,
                              timeout=120, cwd="/", env={**os.environ, "HOME": str(home)})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "local folder:  exists, but you may not write it" in proc.stdout
        assert proc.stderr == f"syncd: docs: local folder {s.local()} exists but you may " \
                              "not write it\n"
        assert "Ready" not in proc.stdout
        s.set_options(direction="upload-only")  # reading is all an upload-only mirror does
        proc = subprocess.run([*prefix, sys.executable, "-m", "syncd", "check", "--config",
                               str(s.config_path)], capture_output=True, text=True,
                              timeout=120, cwd="/", env={**os.environ, "HOME": str(home)})
        assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --- check --json -------------------------------------------------------------------------

def test_json_has_the_documented_keys_and_the_exit_code(s):
    (s.local() / "a.txt").write_text("a")
    assert s.sync().exit_code == 0
    proc = check(s, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert list(doc) == ["ready", "exit_code", "error", "problems", "config", "account",
                         "budget", "feed", "mirrors", "transactions"]
    assert doc["ready"] is True and doc["exit_code"] == 0 and doc["error"] is None
    assert doc["problems"] == []
    assert doc["config"] == {"path": str(s.config_path), "mirrors": 1}
    assert doc["account"] == {"url": s.emu.url, "name": doc["account"]["name"],
                              "reached": True}
    assert set(doc["budget"]) == {"limit", "remaining", "reserve", "cap", "spent_24h",
                                  "available"}
    assert doc["budget"]["limit"] == 400 and doc["budget"]["reserve"] == 20
    assert doc["feed"] == "yes"
    (m,) = doc["mirrors"]
    assert m["name"] == "docs" and m["direction"] == "two-way"
    assert m["local"] == {"path": str(s.local()), "state": "exists", "files": 1, "folders": 0}
    assert m["remote"] == {"path": "/docs", "state": "exists", "files": 1, "folders": 0}
    assert isinstance(m["last_sync"], float)
    assert doc["transactions"] == 2


def test_json_reports_problems_and_failures_with_their_exit_codes(s):
    s.local().rmdir()
    s.local().write_text("oops")
    proc = check(s, "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["ready"] is False and doc["exit_code"] == 1
    assert doc["problems"] == [f"docs: local folder {s.local()} is not a folder"]
    assert doc["mirrors"][0]["local"]["state"] == "not_a_folder"
    assert doc["error"] == doc["problems"][0]

    s.write_config(url=s.emu.url.removesuffix("/api/v2"))
    proc = check(s, "--json")
    assert proc.returncode == 78
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 78 and "is not an API base" in doc["error"]
    assert doc["account"]["reached"] is False and doc["mirrors"] == []

    s.config_path.write_text("account: [\n")
    proc = check(s, "--json")
    assert proc.returncode == 78
    doc = json.loads(proc.stdout)
    assert doc["ready"] is False and doc["exit_code"] == 78 and doc["error"]
