"""`syncd init` (issue 7, item 2): a commented config that loads, secrets never
echoed nor written unless asked, 0600/0700, no overwrite without --force, clear
errors; and init + check + sync end to end against the emulator."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncd.config import schema
from syncd.config.loader import load_config
from syncd.cli.init import render
from tests.helpers.accounts import ACCESS_TOKEN, API_KEY

ENV_NAMES = ("EXAVAULT_API_KEY", "EXAVAULT_ACCESS_TOKEN")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES + ("SYNCD_CONFIG",)}
    env.update(extra)
    return env


def syncd(*args: str, env: dict | None = None, umask: int | None = None,
          cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "syncd", *args], check=False,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=cwd,
                          env=clean_env() if env is None else env,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def init_args(tmp_path: Path, url: str = "https://acme.exavault.com/api/v2", **flags: str
              ) -> list[str]:
    args = {"--config": str(tmp_path / "conf" / "config.yaml"), "--url": url,
            "--local": str(tmp_path / "docs"), "--remote": "/work",
            "--state-dir": str(tmp_path / "state"), **flags}
    return ["init"] + [x for kv in args.items() for x in kv]


def test_writes_a_private_config_that_loads_with_secrets_from_the_environment(tmp_path):
    proc = syncd(*init_args(tmp_path), umask=0)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "conf" / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # even under umask 000
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert "api_key: ${EXAVAULT_API_KEY}" in text
    assert "access_token: ${EXAVAULT_ACCESS_TOKEN}" in text
    cfg = load_config(path, env={"EXAVAULT_API_KEY": "k-123", "EXAVAULT_ACCESS_TOKEN": "t-456"})
    assert cfg.account.url == "https://acme.exavault.com/api/v2"
    assert cfg.account.api_key == "k-123" and cfg.account.access_token == "t-456"
    assert cfg.state_dir == tmp_path / "state"
    (m,) = cfg.mirrors
    assert (m.name, m.local, m.remote) == ("docs", tmp_path / "docs", "/work")
    assert cfg.warnings == ()
    assert "not set in this shell" in proc.stdout
    assert f"syncd check --config {path}" in proc.stdout


def test_relative_local_folder_dollar_signs_and_custom_variable_names(tmp_path):
    (tmp_path / "my$files").mkdir()
    proc = syncd("init", "--config", "c.yaml", "--url", "http://127.0.0.1:9/api/v2",
                 "--local", "my$files", "--remote", "in$side/x", "--name", "m1",
                 "--api-key-env", "MY_KEY", "--token-env", "MY_TOKEN", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cfg = load_config(tmp_path / "c.yaml", env={"MY_KEY": "a", "MY_TOKEN": "b", "HOME": "/h"})
    (m,) = cfg.mirrors
    assert (m.name, m.local, m.remote) == ("m1", tmp_path / "my$files", "/in$side/x")
    assert (cfg.account.api_key, cfg.account.access_token) == ("a", "b")


def test_refuses_to_overwrite_without_force(tmp_path):
    path = tmp_path / "conf" / "config.yaml"
    path.parent.mkdir()
    path.write_text("my precious config\n")
    proc = syncd(*init_args(tmp_path))
    assert proc.returncode == 73
    assert proc.stderr.count("\n") == 1 and "--force" in proc.stderr
    assert path.read_text() == "my precious config\n"
    proc = syncd(*init_args(tmp_path), "--force")
    assert proc.returncode == 0, proc.stderr
    assert load_config(path, env=dict.fromkeys(ENV_NAMES, "x")).mirrors[0].name == "docs"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_missing_values_without_a_terminal_are_a_usage_error(tmp_path):
    proc = syncd("init", "--config", str(tmp_path / "c.yaml"), "--url", "https://a.b/api/v2")
    assert proc.returncode == 64
    assert proc.stderr.strip() == ("syncd: init needs --local, --remote (or run it on a "
                                   "terminal to be asked)")
    assert not (tmp_path / "c.yaml").exists()


@pytest.mark.parametrize("flags, message", [
    ({"--url": "ftp://acme.exavault.com"}, "--url: must be an http:// or https:// URL"),
    ({"--name": "bad name"}, "--name: must start with a letter or digit"),
    ({"--api-key-env": "1X"}, "--api-key-env: not a variable name"),
    ({"--state-dir": "{docs}"}, "--local:"),  # the mirror may not contain the state
])
def test_invalid_values_name_the_flag_and_write_nothing(tmp_path, flags, message):
    flags = {k: v.replace("{docs}", str(tmp_path / "docs" / "state")) for k, v in flags.items()}
    proc = syncd(*init_args(tmp_path, **flags))
    assert proc.returncode == 64, proc.stderr
    assert proc.stderr.startswith("syncd: " + message), proc.stderr
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "conf" / "config.yaml").exists()
    assert not list((tmp_path / "conf").glob("*")), "no temporary file left behind"


def test_inline_secrets_from_the_environment_are_written_but_never_shown(tmp_path):
    env = clean_env(EXAVAULT_API_KEY="key-$-9f3a", EXAVAULT_ACCESS_TOKEN="token-77c1e0")
    proc = syncd(*init_args(tmp_path), "--inline-secrets", env=env)
    assert proc.returncode == 0, proc.stderr
    for secret in ("key-$-9f3a", "token-77c1e0", "9f3a", "77c1e0"):
        assert secret not in proc.stdout + proc.stderr
    path = tmp_path / "conf" / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg = load_config(path, env={})
    assert (cfg.account.api_key, cfg.account.access_token) == ("key-$-9f3a", "token-77c1e0")
    assert cfg.warnings == ()


def test_secrets_file_must_be_private_and_complete(tmp_path):
    secrets = tmp_path / "ev.env"
    secrets.write_text("# for systemd\nexport EXAVAULT_API_KEY='sf-key-31'\n"
                       "EXAVAULT_ACCESS_TOKEN=sf-token-42\n")
    os.chmod(secrets, 0o644)
    proc = syncd(*init_args(tmp_path), "--secrets-file", str(secrets))
    assert proc.returncode == 65
    assert "chmod 600" in proc.stderr and "sf-" not in proc.stderr
    os.chmod(secrets, 0o600)
    proc = syncd(*init_args(tmp_path), "--secrets-file", str(secrets))
    assert proc.returncode == 0, proc.stderr
    assert "sf-" not in proc.stdout + proc.stderr
    cfg = load_config(tmp_path / "conf" / "config.yaml", env={})
    assert (cfg.account.api_key, cfg.account.access_token) == ("sf-key-31", "sf-token-42")

    secrets.write_text("EXAVAULT_API_KEY=only-the-key\n")
    proc = syncd(*init_args(tmp_path / "conf"), "--secrets-file", str(secrets))
    assert proc.returncode == 65 and "EXAVAULT_ACCESS_TOKEN" in proc.stderr
    assert "only-the-key" not in proc.stderr
    proc = syncd(*init_args(tmp_path / "conf"), "--secrets-file", str(tmp_path / "none"))
    assert proc.returncode == 66


def test_inline_secrets_without_a_source_is_a_usage_error(tmp_path):
    proc = syncd(*init_args(tmp_path), "--inline-secrets")
    assert proc.returncode == 64
    assert "--secrets-file" in proc.stderr


def _read_until(fd: int, needle: str, transcript: list[str], timeout: float = 30,
                start: int = 0) -> None:
    """Read the terminal into ``transcript`` until ``needle`` shows after ``start``."""
    deadline = time.monotonic() + timeout
    while needle not in "".join(transcript)[start:]:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} in {''.join(transcript)[start:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                data = b""
            assert data, f"child ended before {needle!r}: {''.join(transcript)!r}"
            transcript.append(data.decode("utf-8", "replace"))


def test_prompts_on_a_terminal_and_never_echoes_the_secrets(tmp_path):
    path = tmp_path / "config.yaml"
    pid, fd = pty.fork()
    if pid == 0:  # the child: syncd init on a terminal
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "syncd", "init", "--config",
                                   str(path), "--state-dir", str(tmp_path / "state")],
                  clean_env())
    transcript: list[str] = []  # since the last answer
    shown = ""  # everything the terminal showed
    try:
        for prompt, answer in (("API URL", "https://acme.exavault.com/api/v2"),
                               ("Local folder", "Team Docs"),
                               ("Remote folder", "/team"),
                               ("Name of this mirror [Team-Docs]", "team"),  # suggested
                               ("store them in the config file", "f"),
                               ("API key (not shown)", "tty-key-5d1c"),
                               ("Access token (not shown)", "tty-token-8e2b")):
            _read_until(fd, prompt, transcript)
            os.write(fd, answer.encode() + b"\n")
            shown += "".join(transcript)
            transcript.clear()
        _read_until(fd, "keep syncing", transcript)
        shown += "".join(transcript)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, shown
    assert "tty-key" not in shown and "tty-token" not in shown
    cfg = load_config(path, env={})
    assert (cfg.account.api_key, cfg.account.access_token) == ("tty-key-5d1c", "tty-token-8e2b")
    (m,) = cfg.mirrors
    assert (m.name, m.local, m.remote) == ("team", tmp_path / "Team Docs", "/team")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _converse(argv: list[str], cwd: Path, steps) -> tuple[int, str]:
    """Run ``syncd`` on a pseudo-terminal, answer each prompt of ``steps``
    (``(text to wait for, answer)``; ``None``: wait only, ``"\x04"``: Ctrl-D);
    the exit code and everything the terminal showed. Each text is looked for
    after the previous one (output may arrive in any chunks)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: syncd on a terminal
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "syncd", *argv], clean_env())
    transcript: list[str] = []
    seen = 0  # where the next text is looked for
    ok = False
    try:
        for wait, answer in steps:
            _read_until(fd, wait, transcript, start=seen)
            seen = "".join(transcript).index(wait, seen) + len(wait)
            if answer is not None:
                os.write(fd, answer.encode() + (b"" if answer == "\x04" else b"\n"))
        ok = True
    finally:
        if not ok:
            os.kill(pid, signal.SIGKILL)  # it may be waiting for an answer
        while True:  # what it printed until it ended
            ready, _, _ = select.select([fd], [], [], 10)
            try:
                data = os.read(fd, 4096) if ready else b""
            except OSError:
                data = b""
            if not data:
                break
            transcript.append(data.decode("utf-8", "replace"))
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), "".join(transcript)


def test_each_answer_is_checked_when_given_and_asked_again_with_the_reason(tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    (tmp_path / "Project X").mkdir()
    path = tmp_path / "conf" / "config.yaml"
    code, shown = _converse(
        ["init", "--config", str(path), "--state-dir", str(tmp_path / "state")], tmp_path, [
            ("API URL", "http://127.0.0.1:8765"),  # no /api/v2: the usual mistake
            ("press Enter for http://127.0.0.1:8765/api/v2", None),
            ("API URL (https://ACCOUNT.exavault.com/api/v2) [http://127.0.0.1:8765/api/v2]",
             ""),  # takes the fix
            ("Local folder", "notes.txt"),
            ("notes.txt is a file, not a folder; try again", None),
            ("Local folder", "Project X"),
            ("Remote folder", "/projects/x"),
            ("Name of this mirror [Project-X]", "bad name!"),  # the suggestion, refused
            ("must start with a letter or digit", None),
            ("Name of this mirror [Project-X]", ""),
            ("(e), or store them", "e"),
            ("keep syncing", None)])
    assert code == 0, shown
    assert "--name" not in shown and "--url" not in shown and "--local" not in shown
    for line in (f"syncd check --config {path}", f"syncd sync --config {path} --dry-run",
                 f"syncd sync --config {path}", f"syncd run --config {path}"):
        assert re.search(rf"^  {re.escape(line)} +# ", shown, re.M), shown
    cfg = load_config(path, env={"EXAVAULT_API_KEY": "k", "EXAVAULT_ACCESS_TOKEN": "t"})
    (m,) = cfg.mirrors
    assert cfg.account.url == "http://127.0.0.1:8765/api/v2"
    assert (m.name, m.local, m.remote) == ("Project-X", tmp_path / "Project X", "/projects/x")


def test_the_same_url_again_keeps_it_and_ctrl_d_cancels_writing_nothing(tmp_path):
    path = tmp_path / "config.yaml"
    code, shown = _converse(["init", "--config", str(path)], tmp_path, [
        ("API URL", "https://proxy.example/exavault"),
        ("give the same URL again to keep it", None),
        ("API URL", "https://proxy.example/exavault"),
        ("Local folder", "\x04")])
    assert code == 64, shown
    assert "init cancelled: nothing was written" in shown
    assert not path.exists()


def test_the_template_documents_every_key_with_the_defaults_the_code_uses(tmp_path):
    text = render(url="https://a.exavault.com/api/v2", name="docs", local=str(tmp_path / "d"),
                  remote="/d", api_key="k", access_token="t")
    documented = set(re.findall(r"^\s*#?\s*(?:- )?([a-z_]+):", text, flags=re.MULTILINE))
    keys = {k.name for section in (schema.TOP, schema.ACCOUNT, schema.DAEMON, schema.MIRROR)
            for k in section.keys}
    assert keys <= documented, sorted(keys - documented)
    # Uncommenting every optional key (but the webhook, which has no default) changes nothing.
    uncommented = "\n".join(
        line.replace("# ", "", 1) if re.match(r"^\s*# *[a-z_]+:", line)
        and "webhook" not in line else line for line in text.splitlines())
    assert uncommented != text
    path = tmp_path / "c.yaml"
    path.write_text(text)
    plain = load_config(path, env={})
    path.write_text(uncommented)
    assert load_config(path, env={}) == plain


def test_the_template_comments_out_every_optional_key_with_the_schemas_default(tmp_path):
    text = render(url="https://a.exavault.com/api/v2", name="docs", local=str(tmp_path / "d"),
                  remote="/d", api_key="k", access_token="t")
    shown = []
    for path, key in schema.keys():
        block = isinstance(key.kind, schema.Section) and not key.kind.inline
        if (key.required or key.computed or block
                or path.startswith(("account.webhook.", "mirrors[].bandwidth."))):
            continue  # written in the template itself, or as part of its mapping's default
        shown.append(path)
        line = rf"^ *# *{key.name}: {re.escape(schema.default_text(key))}  +# \S"
        assert re.search(line, text, flags=re.MULTILINE), f"{path} not shown with its default"
    assert len(shown) > 15


# ------------------------------------------------------------------ end to end

def test_init_then_check_then_sync_against_the_emulator(make_emulator, tmp_path):
    emu = make_emulator(transactions=500)
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "a.txt").write_text("alpha")
    (tmp_path / "docs" / "sub" / "b.txt").write_text("beta")
    env = clean_env(EXAVAULT_API_KEY=API_KEY, EXAVAULT_ACCESS_TOKEN=ACCESS_TOKEN)
    config = str(tmp_path / "conf" / "config.yaml")

    proc = syncd(*init_args(tmp_path, url=emu.url), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "not set in this shell" not in proc.stdout

    proc = syncd("check", "--config", config, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "credentials accepted" in proc.stdout
    assert [(r.method, r.path) for r in emu.request_log] == [("GET", "/api/v2/account"),
                                                            ("GET", "/api/v2/resources")]

    proc = syncd("sync", "--config", config, env=env)
    assert proc.returncode == 0, proc.stderr
    assert emu.other.read("/work/sub/b.txt") == b"beta"
    assert emu.other.read("/work/a.txt") == b"alpha"

    n = len(emu.request_log)
    proc = syncd("check", "--config", config, env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(emu.request_log) == n + 2  # the account, and the remote folder live
    assert "Activity feed: available" in proc.stdout
    assert "local folder:  exists; 2 files, 1 folder in sync" in proc.stdout
    assert "remote folder: exists; 2 files, 1 folder on the server" in proc.stdout
