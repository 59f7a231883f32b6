"""A sync whose key and token reach it only as systemd credentials: the config
says ``${EXAVAULT_API_KEY}``, the environment has no such variable, and
``$CREDENTIALS_DIRECTORY`` holds the files, as under ``LoadCredential=``."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from syncd.cli import exitcodes
from tests.helpers.accounts import ACCESS_TOKEN, API_KEY
from tests.helpers.sync import make_setup, write


def _setup(make_emulator, tmp_path, **files: str):
    """A setup whose config reads the key and token as ${VAR}, and a credentials
    folder holding ``files`` (name -> text)."""
    setup = make_setup(make_emulator, tmp_path)
    doc = yaml.safe_load(setup.config_path.read_text())
    doc["account"]["api_key"] = "${EXAVAULT_API_KEY}"
    doc["account"]["access_token"] = "${EXAVAULT_ACCESS_TOKEN}"
    setup.config_path.write_text(yaml.safe_dump(doc))
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    for name, text in files.items():
        (credentials / name).write_text(text)
    return setup, credentials


def _env(credentials) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXAVAULT_")}
    env["CREDENTIALS_DIRECTORY"] = str(credentials)
    return env


def _run(setup, env) -> subprocess.CompletedProcess:
    """`syncd sync` with exactly ``env`` (setup.cli would add this process's own)."""
    return subprocess.run([sys.executable, "-m", "syncd", "sync", "--config",
                           str(setup.config_path)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)


def test_sync_reads_the_secrets_from_the_credentials_directory(make_emulator, tmp_path):
    setup, credentials = _setup(make_emulator, tmp_path, EXAVAULT_API_KEY=API_KEY + "\n",
                                EXAVAULT_ACCESS_TOKEN=ACCESS_TOKEN)
    write(setup.local() / "report.txt", "from the service")
    proc = _run(setup, _env(credentials))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert setup.remote_tree() == {"report.txt": b"from the service"}
    for secret in (API_KEY, ACCESS_TOKEN):
        assert secret not in proc.stdout + proc.stderr


def test_a_wrong_credential_is_refused_like_a_wrong_variable(make_emulator, tmp_path):
    setup, credentials = _setup(make_emulator, tmp_path, EXAVAULT_API_KEY="wrong-key-0d3f8e61aa",
                                EXAVAULT_ACCESS_TOKEN=ACCESS_TOKEN)
    proc = _run(setup, _env(credentials))
    assert proc.returncode == exitcodes.NOPERM, proc.stdout + proc.stderr
    assert "wrong-key-0d3f8e61aa" not in proc.stdout + proc.stderr
    assert ACCESS_TOKEN not in proc.stdout + proc.stderr


def test_without_the_credential_it_says_where_it_looked(make_emulator, tmp_path):
    setup, credentials = _setup(make_emulator, tmp_path, EXAVAULT_API_KEY=API_KEY)
    proc = _run(setup, _env(credentials))
    assert proc.returncode == exitcodes.CONFIG
    assert proc.stderr.strip().endswith(
        "account.access_token: environment variable EXAVAULT_ACCESS_TOKEN is not set (nor a "
        "credential in $CREDENTIALS_DIRECTORY)"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
