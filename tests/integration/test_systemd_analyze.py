"""The shipped units, and those `syncd service install` writes, pass `systemd-analyze
verify`; the system unit keeps a low `security` exposure (skipped, saying why, where
systemd-analyze is missing). `service install --now` runs the systemctl commands it
prints."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.package_data import EXAMPLE_CONFIG
from tests.helpers.systemd_units import SYNC_UNIT, SYSTEM_UNIT, TIMER_UNIT, USER_UNIT

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


@needs_analyze
def test_the_timer_and_its_oneshot_verify(tmp_path, analyze_options):
    staged = _stage(tmp_path, SYNC_UNIT, SYNC_UNIT.name)
    timer = staged.parent / TIMER_UNIT.name
    timer.write_text(TIMER_UNIT.read_text())
    rc, output = _verify(tmp_path, timer, True, analyze_options)
    assert rc == 0 and "syncd" not in output, output
    rc, output = _verify(tmp_path, staged, True, analyze_options)
    assert rc == 0 and "syncd" not in output, output


# --- what `syncd service install` writes ---------------------------------------------------

SYNCD = Path(sys.executable).parent / "syncd"


def _install(home: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    """`syncd service install ARGS` as a user would run it: this venv's syncd
    script, a home of its own with a config, the secrets exported."""
    config = home / ".config" / "syncd" / "config.yaml"
    if not config.exists():
        config.parent.mkdir(parents=True)
        config.write_text(EXAMPLE_CONFIG.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "SYNCD_"))}
    env.update(HOME=str(home), EXAVAULT_API_KEY="key-5f2a9c77d1",
               EXAVAULT_ACCESS_TOKEN="token-81be07aa42")
    if path is not None:
        env["PATH"] = path
    return subprocess.run([str(SYNCD), "service", "install", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@needs_analyze
@pytest.mark.skipif(not SYNCD.exists(), reason="no syncd script beside this Python")
@pytest.mark.parametrize("args", [(), ("--credentials",), ("--timer", "--credentials")],
                         ids=["daemon", "daemon+credentials", "timer+credentials"])
def test_installed_units_verify_with_this_syncd(tmp_path, analyze_options, args):
    home = tmp_path / "home"
    proc = _install(home, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "key-5f2a9c77d1" not in proc.stdout + proc.stderr
    units = home / ".config" / "systemd" / "user"
    written = sorted(units.iterdir())
    assert written
    for unit in written:
        text = unit.read_text()
        if unit.suffix == ".service":
            assert f"\nExecStart={SYNCD} " in text
            assert ("\nLoadCredential=EXAVAULT_API_KEY:" in text) == ("--credentials" in args)
        rc, output = _verify(tmp_path, unit, True, analyze_options)
        assert rc == 0 and "syncd" not in output, output


@pytest.mark.skipif(not SYNCD.exists(), reason="no syncd script beside this Python")
def test_now_runs_the_printed_systemctl_commands(tmp_path):
    """--now runs daemon-reload and enable --now, in that order (a stand-in
    systemctl on PATH records them), and stops at the first that fails."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "systemctl.log"
    fake = bindir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    fake.chmod(0o755)
    home = tmp_path / "home"
    proc = _install(home, "--timer", "--now", path=f"{bindir}:{os.environ['PATH']}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert log.read_text().splitlines() == ["--user daemon-reload",
                                            "--user enable --now syncd.timer"]
    assert "$ systemctl --user enable --now syncd.timer" in proc.stdout

    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$2" != "daemon-reload" ] || exit 1\n')
    log.unlink()
    proc = _install(home, "--timer", "--now", path=f"{bindir}:{os.environ['PATH']}")
    assert proc.returncode == 1
    assert proc.stderr == "syncd: systemctl --user daemon-reload failed (exit 1)\n"
    assert log.read_text().splitlines() == ["--user daemon-reload"]


@pytest.mark.skipif(not SYNCD.exists(), reason="no syncd script beside this Python")
def test_now_without_systemctl_says_so(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _install(tmp_path / "home", "--now", path=str(empty))
    assert proc.returncode == 69, proc.stdout + proc.stderr
    assert proc.stderr == ("syncd: --now: systemctl is not on PATH; run systemctl --user "
                           "daemon-reload && systemctl --user enable --now syncd.service "
                           "where it is\n")
    assert (tmp_path / "home" / ".config" / "systemd" / "user" / "syncd.service").exists()
