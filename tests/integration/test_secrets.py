"""Secrets and permissions (issue 5, item 6).

Secrets: the API key, the access token and the webhook token never appear in
anything syncd writes: stdout and stderr of every command on every failure path
(401, 500s, 429, a wrong URL, a config error, ``--debug``), ``syncd status`` and
``--json``, the daemon's debug log, the str/repr/traceback of client errors, and
any file in the state directory (the index database included). Every captured
byte is searched for each secret.

Permissions: the state directory is 0700 and every file in it 0600 even under
umask 000; a config file others can read (with credentials in it) or write
gives one warning line naming the file and the chmod to run.
"""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from syncd.remote.exavault.api import ExaVaultClient, RetryPolicy
from tests.helpers.accounts import ACCESS_TOKEN, API_KEY, FAST_RETRY
from tests.helpers.sync import make_setup
from tests.helpers.daemon import DaemonProc, free_port, wait_for

HOOK = "hook-token-5e7f20c4b9"
WRONG_KEY = "wrong-key-0d3f8e61aa"
WRONG_TOKEN = "wrong-token-9a41cc07e2"
SECRETS = (API_KEY, ACCESS_TOKEN, HOOK, WRONG_KEY, WRONG_TOKEN)


def leaks(text: str | bytes) -> list[str]:
    """The secrets found in ``text`` (also as bytes, URL- or UTF-16-encoded)."""
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    found = []
    for s in SECRETS:
        forms = (s.encode(), s.encode("utf-16-le"), s[:12].encode())
        if any(f in data for f in forms):
            found.append(s)
    return found


def state_files(state: Path) -> dict[str, bytes]:
    out = {}
    if state.exists():
        for p in state.rglob("*"):
            if p.is_file():
                out[str(p)] = p.read_bytes()
    return out


def assert_clean(label: str, *texts: str | bytes, state: Path | None = None) -> None:
    for i, t in enumerate(texts):
        assert not leaks(t), f"{label}: output {i} leaks {leaks(t)}:\n{t[-2000:]!r}"
    if state is not None:
        for path, data in state_files(state).items():
            assert not leaks(data), f"{label}: {path} leaks {leaks(data)}"


def cli(setup, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "syncd", *args], capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "SYNCD_CONFIG": str(setup.config_path),
                               **(env or {})})


COMMANDS = (("sync",), ("--debug", "sync"), ("status",), ("status", "--json"))


def every_command(setup, label: str, commands=COMMANDS) -> list:
    """Run the commands (syncs one after the other: they take the state lock;
    status beside them: it takes none); all outputs free of secrets."""
    syncs = [c for c in commands if "sync" in c]
    others = [c for c in commands if "sync" not in c]
    with ThreadPoolExecutor(2) as pool:
        later = pool.submit(lambda: [cli(setup, *c) for c in others])
        procs = [cli(setup, *c) for c in syncs] + later.result()
    for p, name in zip(procs, syncs + others, strict=True):
        assert "Traceback" not in p.stderr or name[0] == "--debug", (name, p.stderr)
        assert_clean(f"{label} / {' '.join(name)}", p.stdout, p.stderr)
    assert_clean(f"{label} / state dir", state=setup.state)
    return procs


# --- failure paths through the CLI ----------------------------------------------------

def _with_webhook(setup) -> None:
    setup._account["webhook"] = {"listen": f"127.0.0.1:{free_port()}", "token": HOOK}
    setup.write_config()


def test_bad_credentials_401(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path,
                       account_opts={"api_key": WRONG_KEY, "access_token": WRONG_TOKEN})
    _with_webhook(setup)
    (setup.local() / "a.txt").write_text("x")
    procs = every_command(setup, "401")
    assert procs[0].returncode == 77 and "authentication refused" in procs[0].stderr
    assert "Traceback" in procs[1].stderr or procs[1].returncode == 77


@pytest.mark.parametrize("kind", ["errorbody", "badjson"])
def test_server_faults(make_emulator, tmp_path, kind):
    setup = make_setup(make_emulator, tmp_path, emu_opts={"fault_rate": 1.0, "seed": 3,
                                                          "fault_kinds": [kind]},
                       account_opts={"timeout": 5})
    _with_webhook(setup)
    (setup.local() / "a.txt").write_text("x")
    procs = every_command(setup, kind)
    assert procs[0].returncode != 0


def test_retried_failures_500_and_closed_port(make_emulator, tmp_path):
    """Both are retried with backoff (~8 s a pass), so the two run side by side,
    each as one traceback-showing pass plus status."""
    (tmp_path / "500").mkdir()
    (tmp_path / "closed").mkdir()
    faulty = make_setup(make_emulator, tmp_path / "500", emu_opts={
        "fault_rate": 1.0, "seed": 3, "fault_kinds": ["500"]}, account_opts={"timeout": 5})
    closed = make_setup(make_emulator, tmp_path / "closed", account_opts={"timeout": 2})
    closed.emu.stop()  # nothing listens there any more
    for setup in (faulty, closed):
        _with_webhook(setup)
        (setup.local() / "a.txt").write_text("x")
    commands = (("--debug", "sync"), ("status", "--json"))
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(every_command, faulty, "500", commands)
        b = pool.submit(every_command, closed, "closed port", commands)
        for procs in (a.result(), b.result()):
            assert procs[0].returncode == 75, procs[0].stderr
            assert procs[0].stderr.splitlines()[-1].startswith("syncd: sync deferred")


def test_rate_limited_429(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path, emu_opts={"transactions": 3})
    _with_webhook(setup)
    for i in range(6):
        (setup.local() / f"f{i}.txt").write_text(str(i))
    procs = every_command(setup, "429")
    assert procs[0].returncode == 75


def test_config_errors_with_literal_secrets(tmp_path):
    home = tmp_path / "home"
    (home / "docs").mkdir(parents=True)
    doc = {"account": {"url": "http://127.0.0.1:9/api/v2", "api_key": API_KEY,
                       "access_token": ACCESS_TOKEN,
                       "webhook": {"listen": "127.0.0.1:1", "token": HOOK}},
           "state_dir": str(tmp_path / "state"),
           "mirrors": [{"name": "docs", "local": str(home / "docs"), "remote": "/docs"}]}
    path = tmp_path / "config.yaml"
    good = yaml.safe_dump(doc)
    broken = [
        good.replace("mirrors:", "mirrorz:"),
        good.replace(f"token: {HOOK}", f"token: *{HOOK}"),
        good.replace("  access_token:", "  access_token: |\n   ", 1),
        good.replace("  api_key:", "  timeout: >\n     " + "y" * 55 + "\n    api_key:", 1),
        good.replace("  webhook:\n", "  webhook: >\n"),
        good.replace("account:\n", "account: |\n  x\n"),
        good.replace(API_KEY, API_KEY + " x"),
    ]

    class Setup:
        config_path = path

    def check(job):
        i, args = job
        p = cli(Setup, *args, env={"SYNCD_CONFIG": str(tmp_path / f"c{i}.yaml")})
        assert p.returncode == 78 or args[0] == "--debug", (i, args, p.stderr)
        assert_clean(f"config {i} {args}", p.stdout, p.stderr)

    for i, text in enumerate(broken):
        (tmp_path / f"c{i}.yaml").write_text(text)
        (tmp_path / f"c{i}.yaml").chmod(0o600)
    jobs = [(i, args) for i in range(len(broken))
            for args in (("sync",), ("--debug", "sync"), ("status", "--json"))]
    jobs += [(0, ("run",)), (1, ("status",))]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(check, jobs))


# --- the daemon at debug level ----------------------------------------------------------

def test_daemon_debug_log(make_emulator, tmp_path):
    port = free_port()
    setup = make_setup(make_emulator, tmp_path, emu_opts={
        "webhook_url": f"http://127.0.0.1:{port}/hook", "webhook_token": HOOK,
        "webhook_retry_delays": (0.2, 0.4)},
        account_opts={"webhook": {"listen": f"127.0.0.1:{port}", "token": HOOK,
                                  "path": "/hook"}})
    setup.daemon_opts = {"settle": "0.3s", "log_level": "debug"}
    setup.write_config()
    (setup.local() / "up.txt").write_text("up")
    setup.emu.other.write("/docs/down.txt", b"down")
    d = DaemonProc(setup, tmp_path)
    try:
        d.wait_idle()
        setup.emu.other.write("/docs/pushed.txt", b"pushed")  # a webhook push, signed
        assert wait_for(lambda: (setup.local() / "pushed.txt").exists(), 10), d.log()
        import requests
        requests.post(f"http://127.0.0.1:{port}/hook", data=b"{}", timeout=5,
                      headers={"X-Exavault-Signature": "0" * 32})  # forged
        d.signal(signal.SIGHUP)  # reload: secrets re-read
        time.sleep(0.5)
        d.poll_messages()  # drain the notify socket, or the stop waits on it
        d.stop()
        log = d.log()
    finally:
        d.close()
    assert "DEBUG" in log and "1 uploaded, 1 downloaded" in log
    assert "bad X-Exavault-Signature" in log and "SIGHUP: reloading" in log
    assert_clean("daemon log", log, state=setup.state)
    status = cli(setup, "status", "--json")
    assert_clean("status after daemon", status.stdout, status.stderr)


# --- client errors ----------------------------------------------------------------------

def _all_forms(exc: BaseException) -> list[str]:
    forms = [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
    forms.append(repr(getattr(exc, "__dict__", {})))
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        forms += [str(cause), repr(cause)]
    return forms


@pytest.mark.parametrize("case", ["401", "500", "errorbody", "reset", "closed port"])
def test_client_error_str_repr_and_traceback(make_emulator, case):
    opts = {"fault_rate": 1.0, "fault_kinds": [case]} if case not in ("401", "closed port") \
        else {}
    emu = make_emulator(**opts)
    key, token = (WRONG_KEY, WRONG_TOKEN) if case == "401" else (API_KEY, ACCESS_TOKEN)
    url = emu.url
    if case == "closed port":
        emu.stop()
    client = ExaVaultClient(url, key, token, retry=RetryPolicy(**FAST_RETRY), timeout=(2, 5))
    try:
        assert not leaks(repr(client)) and not leaks(str(client))
        for call in (lambda: client.list_folder("/"),
                     lambda: client.download("/x.txt", _Sink()),
                     lambda: client.upload("/y.txt", io.BytesIO(b"data"), size=4)):
            with pytest.raises(Exception) as info:  # any client error
                call()
            for form in _all_forms(info.value):
                assert not leaks(form), f"{case}: {form}"
    finally:
        client.close()


class _Sink:
    def write(self, b):
        return len(b)


# --- permissions ------------------------------------------------------------------------

def _modes(root: Path) -> dict[str, str]:
    out = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = oct(stat.S_IMODE(p.lstat().st_mode))
    return out


def test_state_dir_is_private_even_with_umask_000(make_emulator, tmp_path):
    setup = make_setup(make_emulator, tmp_path)
    (setup.local() / "keep.txt").write_text("keep")
    setup.emu.other.write("/docs/gone.txt", b"soon deleted on the server")

    def umask0():
        os.umask(0)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "syncd", *args, "--config",
                               str(setup.config_path)], capture_output=True, text=True,
                              timeout=120, check=False, preexec_fn=umask0)

    assert run("sync").returncode == 0
    setup.emu.other.delete("/docs/gone.txt")  # -> the local copy goes to the local trash
    p = run("sync")
    assert p.returncode == 0, p.stderr
    assert run("status").returncode == 0
    modes = _modes(setup.state)
    assert any(k.startswith("trash/") for k in modes), modes
    assert "index.sqlite3" in modes
    for name, mode in modes.items():
        p = setup.state / name
        if p.is_dir():
            assert mode == "0o700", f"{name}: {mode} ({modes})"
        elif not name.startswith("trash/"):  # a trashed user file keeps its own mode
            assert mode == "0o600", f"{name}: {mode} ({modes})"


LITERAL_WARNING = "syncd: warning: {f} holds credentials but is readable by others; " \
                  "run chmod 600 {f}"
WRITABLE_WARNING = "syncd: warning: {f} is writable by others, who could send syncd's " \
                   "credentials to another server; run chmod go-w {f}"


@pytest.mark.parametrize("mode, literal, expected", [
    (0o600, True, None), (0o640, True, LITERAL_WARNING), (0o604, True, LITERAL_WARNING),
    (0o666, True, LITERAL_WARNING), (0o644, False, None), (0o664, False, WRITABLE_WARNING),
    (0o646, False, WRITABLE_WARNING),
])
def test_config_permission_warning_is_one_line(tmp_path, mode, literal, expected):
    home = tmp_path / "home"
    (home / "docs").mkdir(parents=True)
    key = API_KEY if literal else "${EV_KEY}"
    path = tmp_path / "config.yaml"
    path.write_text(f"account:\n  url: http://127.0.0.1:9/api/v2\n  api_key: {key}\n"
                    f"  access_token: {'${EV_TOKEN}'}\nstate_dir: {tmp_path / 'state'}\n"
                    f"mirrors:\n  - {{name: docs, local: {home / 'docs'}, remote: /docs}}\n")
    path.chmod(mode)

    class Setup:
        config_path = path

    p = cli(Setup, "status", env={"EV_KEY": "k" * 12, "EV_TOKEN": ACCESS_TOKEN})
    assert p.returncode == 0, p.stderr
    want = [] if expected is None else [expected.format(f=path)]
    assert p.stderr.splitlines() == want
    assert_clean("warning", p.stdout, p.stderr)
