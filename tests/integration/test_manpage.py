"""`syncd man` is a page groff reads without a warning and `man -l` shows
(skipped, saying so, where groff or man is not installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

GROFF, MAN = shutil.which("groff"), shutil.which("man")


def _page(tmp_path):
    path = tmp_path / "syncd.1"
    proc = subprocess.run([sys.executable, "-m", "syncd", "man"], capture_output=True,
                          timeout=60, check=True)
    path.write_bytes(proc.stdout)
    return path


@pytest.mark.skipif(GROFF is None, reason="groff not installed")
def test_groff_reads_it_without_warnings(tmp_path):
    proc = subprocess.run([GROFF, "-man", "-ww", "-z", str(_page(tmp_path))],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@pytest.mark.skipif(MAN is None, reason="man not installed")
def test_man_shows_it(tmp_path):
    env = {**os.environ, "MANWIDTH": "100", "MANPAGER": "cat", "PAGER": "cat"}
    proc = subprocess.run([MAN, "-l", str(_page(tmp_path))], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for heading in ("NAME", "SYNOPSIS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT", "FILES"):
        assert f"\n{heading}\n" in text
    assert "syncd service install [-h] [--config FILE] [--timer]" in text
    assert "--credentials" in text and "78     CONFIG: configuration error" in text
