"""The shipped units pass `systemd-analyze verify` and keep a low `security` exposure
(skipped, saying why, where systemd-analyze is missing)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.systemd_units import SYSTEM_UNIT, USER_UNIT

ANALYZE = shutil.which("systemd-analyze")


needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def _analyze_help() -> str:
    if ANALYZE is None:
        return ""
    return subprocess.run([ANALYZE, "--help"], capture_output=True, text=True,
                          timeout=30, check=False).stdout


@pytest.fixture(scope="module")
def analyze_options():
    help_text = _analyze_help()
    options = ["--man=no"]
    if "--recursive-errors" in help_text:
        # Non-zero exit status for warnings about the named unit itself.
        options.append("--recursive-errors=no")
    return options


def _stage(tmp_path: Path, source: Path, unit_name: str, text: str | None = None) -> Path:
    """A copy of the unit whose ExecStart names an executable that exists, so
    complaints about a missing syncd binary don't count."""
    fake = tmp_path / "bin" / "syncd"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    text = source.read_text() if text is None else text
    staged_text, count = re.subn(r"(?m)^ExecStart=\S+", f"ExecStart={fake}", text)
    assert count == 1
    unit_dir = tmp_path / "units"
    unit_dir.mkdir(exist_ok=True)
    staged = unit_dir / unit_name
    staged.write_text(staged_text)
    return staged


def _verify(tmp_path: Path, unit: Path, user: bool, options: list[str]) -> tuple[int, str]:
    env = dict(os.environ)
    if user:
        # A user manager needs a runtime directory; a private HOME keeps the
        # caller's own user units out of the picture.
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        env.update(XDG_RUNTIME_DIR=str(runtime), HOME=str(home),
                   XDG_CONFIG_HOME=str(home / ".config"))
        env.pop("XDG_DATA_HOME", None)
    argv = [ANALYZE, *(["--user"] if user else []), "verify", *options, str(unit)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"systemd-analyze cannot run here: {exc}")
    output = proc.stdout + proc.stderr
    if "Failed to initialize manager" in output or "Failed to lookup RuntimeDirectory" in output:
        pytest.skip(f"systemd-analyze cannot run here: {output.strip()}")
    return proc.returncode, output


# (source, name verified as, user manager?): a template cannot stand for itself
# on every systemd version, so verify an instance of it.
VERIFY_CASES = pytest.mark.parametrize(
    ("source", "name", "user"),
    [(USER_UNIT, "syncd.service", True), (SYSTEM_UNIT, "syncd@alice.service", False)],
    ids=["user", "system"],
)


@needs_analyze
@VERIFY_CASES
def test_systemd_analyze_verify(tmp_path, analyze_options, source, name, user):
    staged = _stage(tmp_path, source, name)
    rc, output = _verify(tmp_path, staged, user, analyze_options)
    complaints = [line for line in output.splitlines()
                  if name in line or str(staged) in line or "syncd" in line]
    assert rc == 0 and not complaints, output


@needs_analyze
@VERIFY_CASES
def test_systemd_analyze_verify_catches_mistakes(tmp_path, analyze_options, source, name, user):
    """The harness above would notice: a misspelt directive and a bad value."""
    text = source.read_text().replace(
        "\nUMask=0077\n", "\nUMask=0077\nProtectSytem=strict\nRestartSec=soon\n")
    staged = _stage(tmp_path, source, name, text)
    rc, output = _verify(tmp_path, staged, user, analyze_options)
    assert "ProtectSytem" in output
    assert "soon" in output
    if "--recursive-errors=no" in analyze_options:
        assert rc != 0


@needs_analyze
def test_system_unit_exposure_is_low(tmp_path):
    if "--offline" not in _analyze_help():
        pytest.skip("systemd-analyze security --offline needs systemd 250+")
    staged = _stage(tmp_path, SYSTEM_UNIT, "syncd@alice.service")
    proc = subprocess.run([ANALYZE, "security", "--offline=yes", "--threshold=30", str(staged)],
                          capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    if match is None:
        pytest.skip(f"systemd-analyze security gave no verdict: {proc.stdout}{proc.stderr}")
    assert float(match.group(1)) <= 3.0, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
