"""A 1 GiB upload and download through the client and the emulator keep both
processes' memory flat (the emulator runs in its own process, so each side's
resident set is sampled separately). Runs the committed benchmark script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SIZE = os.environ.get("SYNCD_LARGE_TRANSFER_SIZE", "1GiB")
# Far below the file size: a client or server that buffered the body would grow by ~1 GiB.
MAX_GROWTH = 48 << 20


@pytest.mark.slow
def test_one_gib_round_trip_keeps_memory_flat(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.large_transfer", "--size", SIZE,
         "--json", str(out), "--repeat", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(proc.stdout)
    result = json.loads(out.read_text())
    assert result["sha256_ok"], "downloaded bytes differ from the uploaded file"
    assert result["size"] >= 1 << 30 or "SYNCD_LARGE_TRANSFER_SIZE" in os.environ
    for row in result["rows"]:
        if row["step"].startswith("syncd"):
            for side in ("client", "emulator"):
                growth = row[f"{side}_rss_growth"]
                assert growth < MAX_GROWTH, f"{row['step']}: {side} RSS grew {growth >> 20} MiB"
