"""`syncd check` (issue 7, item 3; issue 18, item 4): validates the config, reaches
the account with one transaction and asks for each remote folder live (one more
per mirror; all recorded in the ledger), shows the budget, the feed and what is
known of each mirror, with the exit codes of `syncd sync`."""

from __future__ import annotations

import re
import socket

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
