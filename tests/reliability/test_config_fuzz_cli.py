"""Broken configs through the real CLI: `syncd sync`, `syncd run` and `--debug` exit 78
with one line and never a secret (the mutator itself: tests/unit/test_config_fuzz.py)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.config_fuzz import (
    KEY,
    SECRETS,
    _seed,
    _special_path,
    base_text,
    fuzz_env,
    load_one,
    mutate,
)


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "syncd", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, check=False,
                          env={**os.environ, "SYNCD_CONFIG": "", **(env or {})})


def assert_config_exit(proc: subprocess.CompletedProcess, path: Path, what: str) -> None:
    lines = proc.stderr.splitlines()
    assert proc.returncode == 78, f"{what}: exit {proc.returncode}, stderr {proc.stderr!r}"
    assert len(lines) == 1 and lines[0].startswith(f"syncd: {path}"), \
        f"{what}: stderr {proc.stderr!r}"
    assert proc.stdout == "", f"{what}: stdout {proc.stdout!r}"
    for secret in SECRETS:
        assert secret not in proc.stderr, what


def _cli_mutants(tmp_path: Path, seed: int, count: int) -> list[tuple[Path, str]]:
    """``count`` mutants that fail to load, of as many kinds of error as possible."""
    env, base = fuzz_env(tmp_path), base_text(tmp_path)
    rng, seen, picked = random.Random(seed), set(), []
    for _ in range(3000):
        example_seed = rng.randrange(2**32)
        data, applied = mutate(base, random.Random(example_seed))
        path = tmp_path / f"m{len(picked)}.yaml"
        kind, detail = load_one(path, data, env)
        assert kind != "bug", f"example seed {example_seed} {applied}: {detail}"
        kind_of = detail.split(": ", 2)[-1][:18] if kind == "error" else None
        if kind_of and kind_of not in seen:
            seen.add(kind_of)
            picked.append((path, f"example seed {example_seed} {applied}"))
            if len(picked) == count:
                break
    return picked


def test_cli_config_errors_exit_78_with_one_line(tmp_path):
    seed = _seed()
    print(f"config fuzz (cli): seed {seed} (replay with SYNCD_FUZZ_SEED={seed})")
    cases = _cli_mutants(tmp_path, seed, 10)
    for name in ("missing", "directory", "binary junk", "anchor bomb", "deep nesting"):
        sub = tmp_path / name.replace(" ", "_")
        sub.mkdir()
        cases.append((_special_path(sub, name), name))
    env = {"HOME": str(tmp_path / "home"), "EV_KEY": KEY}
    from concurrent.futures import ThreadPoolExecutor

    def both(case):
        path = case[0]
        return (case, run_cli("sync", "--config", str(path), env=env),
                run_cli("status", env={**env, "SYNCD_CONFIG": str(path)}))

    with ThreadPoolExecutor(2) as pool:
        for (path, what), sync, status in pool.map(both, cases):
            assert_config_exit(sync, path, f"sync {what}")
            assert_config_exit(status, path, f"status {what}")


def test_cli_run_config_error_exits_78_with_one_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(base_text(tmp_path).replace("log_level: info", "log_level: loud"))
    proc = run_cli("run", "--config", str(path), env={"HOME": str(tmp_path), "EV_KEY": KEY})
    assert_config_exit(proc, path, "run")
    assert "daemon.log_level: must be one of debug, info, warning, error" in proc.stderr


def test_cli_debug_still_exits_78_and_shows_no_secret(tmp_path):
    # --debug shows the traceback by design; the exit code and the secrets hold
    path = tmp_path / "config.yaml"
    path.write_text(base_text(tmp_path).replace("  webhook:\n", "  webhook: >\n"))
    proc = run_cli("--debug", "sync", "--config", str(path),
                   env={"HOME": str(tmp_path), "EV_KEY": KEY})
    assert proc.returncode != 0 and "ConfigError" in proc.stderr
    assert not any(s in proc.stderr + proc.stdout for s in SECRETS)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another uid")
def test_unreadable_config_through_the_cli_is_78(tmp_path):
    pytest.skip("the test interpreter lives under /root, which another uid cannot run; "
                "covered in-process by test_special_files_are_config_errors[unreadable]")


def test_key_with_a_newline_through_the_cli_is_78_and_sends_nothing(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(base_text(tmp_path))
    path.chmod(0o600)
    proc = run_cli("sync", "--config", str(path),
                   env={"HOME": str(tmp_path / "home"), "EV_KEY": KEY + "\n"})
    assert_config_exit(proc, path, "sync")
    assert "account.api_key" in proc.stderr
    assert not (tmp_path / "state").exists()  # nothing was started
