"""Issue 18, item 4: a wrong ``account.url`` is an error, not silence. `syncd sync`
and `syncd run` recognise a URL that is not an API base (``http://host:port``
without ``/api/v2``) by the check `syncd check` makes (``GET /account``, which
every account answers) and exit 78 with its line; the daemon does not sit idle.
The proof costs nothing while the answers look like the API's, and one request,
once, when one did not (a 404 before anything proved the URL)."""

from __future__ import annotations

import json

from tests.helpers.daemon import daemon_setup, start  # noqa: F401 (a fixture)
from tests.helpers.sync import make_setup


def paths(emu, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path.removeprefix('/api/v2')}" for r in emu.request_log[since:]]


def without_api(s) -> str:
    url = s.emu.url.removesuffix("/api/v2")
    s.write_config(url=url)
    return url


def test_sync_with_a_url_without_api_v2_exits_78_with_the_fix_every_time(make_emulator,
                                                                         tmp_path):
    s = make_setup(make_emulator, tmp_path)
    (s.local() / "a.txt").write_text("a")
    url = without_api(s)
    for _ in range(2):  # and not "in sync" or "deferred, run again later" the next time
        proc = s.cli("sync", "--config", str(s.config_path))
        assert proc.returncode == 78, proc.stdout + proc.stderr
        assert proc.stderr == (
            f"syncd: {url} is not an API base: it answered 404 to GET /account, which every "
            "account has; account.url must be the account's API v2 base, like "
            f"https://ACCOUNT.exavault.com/api/v2 (did you mean {url}/api/v2?)\n")
        assert "in sync" not in proc.stdout and "deferred" not in proc.stdout
        assert "docs: not synced (configuration error)" in proc.stdout
    assert s.emu.other.tree() == {}  # nothing reached the server
    assert paths(s.emu).count("GET /account") == 2  # one per run, none twice


def test_the_daemon_with_a_wrong_url_exits_78_and_status_shows_why(make_emulator, tmp_path,
                                                                   start):  # noqa: F811
    s = daemon_setup(make_emulator, tmp_path)
    url = without_api(s)
    d = start(s)
    rc = d.proc.wait(30)
    log = d.log()
    assert rc == 78, log
    assert f"{url} is not an API base: it answered 404 to GET /account" in log
    assert not any(x.startswith("idle") for x in d.statuses()), d.statuses()
    proc = s.cli("status", "--json", "--config", str(s.config_path))
    (mirror,) = json.loads(proc.stdout)["mirrors"]
    assert mirror["state"] == "error"
    assert "is not an API base" in mirror["message"]


def test_a_right_url_on_an_account_with_a_feed_is_never_asked_to_prove_itself(make_emulator,
                                                                              tmp_path):
    s = make_setup(make_emulator, tmp_path)  # /docs does not exist yet: its listing is a 404
    (s.local() / "a.txt").write_text("a")
    assert s.sync().exit_code == 0
    assert s.sync().exit_code == 0
    assert "GET /account" not in paths(s.emu)


def test_on_an_account_without_a_feed_the_url_is_proven_once(make_emulator, tmp_path):
    s = make_setup(make_emulator, tmp_path, emu_opts={"files_com": True})
    (s.local() / "a.txt").write_text("a")
    assert s.sync().exit_code == 0  # the feed's 404 is what Files.com accounts answer
    assert paths(s.emu).count("GET /account") == 1
    n = len(s.emu.request_log)
    s.emu.other.mkdir("/docs/new")
    assert s.sync().exit_code == 0
    assert s.sync().exit_code == 0
    assert "GET /account" not in paths(s.emu, n)
    assert (s.local() / "new").is_dir()


def test_check_proves_the_url_so_the_first_sync_does_not(make_emulator, tmp_path):
    s = make_setup(make_emulator, tmp_path, emu_opts={"files_com": True})
    assert s.cli("check", "--config", str(s.config_path)).returncode == 0
    n = len(s.emu.request_log)
    assert s.sync().exit_code == 0
    assert "GET /account" not in paths(s.emu, n)
