"""The benchmark suite at CI size (``python -m benchmarks --quick``): proves the
harness runs every row end to end, and asserts the rows that are counts (API
transactions, files hashed, a memory bound), which are not timings. Timings are
only checked to be present."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report
from benchmarks._harness import Result

REPO = Path(__file__).resolve().parents[2]
ISSUE_ROWS = {
    "Idle poll, activity mode",
    "Idle true-up, fallback mode",
    "Transactions per change",
    "Busy account, quiet mirrors",
    "Local scan vs bare walk",
    "Re-scan, no changes",
    "Planner on 100k entries",
    "RSS, 100k-file mirror indexed and idle",
    "1 GiB upload and download vs raw streaming requests",
    "1,000 × 10 KB files vs a threaded requests loop",
    "Daemon latency: local save → remote visible",
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out, md = tmp / "results.json", tmp / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nintro\n\n" + report.BEGIN + "\nold\n" + report.END +
                  "\n\n## Analysis\n\nhand-written notes\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out),
                           "--out", str(md)], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    data = json.loads(out.read_text())
    rows: dict[str, list[dict]] = {}
    for r in data["rows"]:
        rows.setdefault(r["row"], []).append(r)
    return data, rows, md.read_text(encoding="utf-8")


def line(rows, row: str, what: str) -> dict:
    found = [r for r in rows[row] if r["what"].startswith(what)]
    assert len(found) == 1, (what, [r["what"] for r in rows[row]])
    return found[0]


@pytest.mark.slow
def test_every_row_of_the_issue_is_measured(quick):
    data, rows, _ = quick
    assert data["errors"] == {}
    assert set(rows) == ISSUE_ROWS
    for r in data["rows"]:
        assert isinstance(r["value"], (int, float)) and r["value"] >= 0, r
        assert r["met"] in (True, False, None)


@pytest.mark.slow
def test_a_quiet_account_costs_one_transaction_per_poll(quick):
    _, rows, _ = quick
    idle = line(rows, "Idle poll, activity mode", "quiet `syncd sync` pass")
    assert idle["value"] == 1
    assert all(p == {"activity": 1} for p in idle["details"]["passes"])


@pytest.mark.slow
def test_true_ups_cost_the_api_minimum_of_one_listing_page_per_100_items(quick):
    _, rows, _ = quick
    for what in ("quiet pass without an activity feed", "activity mode's daily true-up"):
        r = line(rows, "Idle true-up, fallback mode", what)
        pages = sum(math.ceil(n / 100) for n in r["details"]["items"])
        assert r["value"] == pages, r
    fallback = line(rows, "Idle true-up, fallback mode", "quiet pass without an activity feed")
    assert all(set(p) == {"list"} for p in fallback["details"]["passes"])


@pytest.mark.slow
def test_transactions_per_change(quick):
    _, rows, _ = quick
    change = lambda what: line(rows, "Transactions per change", what)
    assert change("new file")["details"]["by"]["upload"] == 1
    assert change("new file")["value"] == 1
    assert change("edit")["value"] <= 2
    assert change("rename")["value"] == 1
    assert change("move (to another folder)")["value"] == 1
    assert change("100 deletes (remote_delete: delete)")["value"] == 1
    # docs/sync.md: trash mode costs one batched move per pass, plus a mkdir for
    # the day's trash folder in the day's first deleting pass.
    first = change("100 deletes (remote_delete: trash, the default), the day's first")
    assert {e: k for e, k in first["details"]["by"].items()
            if e not in ("activity", "list")} == {"mkdir": 1, "move": 1}
    assert change("100 deletes (remote_delete: trash), later the same day")["value"] == 1
    # A folder's id is not known until a listing (uploads created it): a stat first.
    assert change("folder rename (50 files inside), folder not listed")["value"] == 2
    assert change("folder rename (50 files inside), folder listed before")["value"] == 1


@pytest.mark.slow
def test_a_busy_account_costs_a_listing_not_its_whole_feed(quick):
    # issue 18, item 5: at most what listing the mirrors costs, plus the 1-2 feed
    # requests that tell the feed is longer
    _, rows, _ = quick
    busy = line(rows, "Busy account, quiet mirrors", "quiet `syncd sync` pass after")
    pages = sum(math.ceil(n / 100) for n in busy["details"]["items"])
    assert busy["details"]["by"] == {"activity": 2, "list": pages}
    assert busy["value"] == pages + 2 < busy["details"]["feed_pages"]
    assert line(rows, "Busy account, quiet mirrors", "the next quiet pass")["value"] == 1


@pytest.mark.slow
def test_rescan_hashes_nothing_and_memory_stays_bounded(quick):
    _, rows, _ = quick
    rescan = line(rows, "Re-scan, no changes", "scan against the synced base")
    assert rescan["details"]["hashed"] and set(rescan["details"]["hashed"]) == {0}
    for r in rows["RSS, 100k-file mirror indexed and idle"]:
        if r["what"].startswith("`syncd run`"):
            assert 0 < r["value"] <= 150, r


@pytest.mark.slow
def test_markdown_keeps_hand_written_text_and_lists_every_row(quick):
    _, _, md = quick
    assert "hand-written notes" in md and "\nold\n" not in md
    assert md.count(report.BEGIN) == 1 and md.count(report.END) == 1
    for row in ISSUE_ROWS:
        assert f"| {row} |" in md
    assert "python -m benchmarks --quick\n" in md  # (--json and --out are not shown)


def test_markdown_block_is_written_into_a_new_file(tmp_path):
    r = Result("Row", "what", 1, "1", "1", True)
    run = {"command": "python -m benchmarks", "quick": False, "started": "now",
           "minutes": 1.0, "machine": report.machine(), "workdir": "/dev/shm",
           "load_before": "0", "load_after": "0"}
    path = tmp_path / "B.md"
    report.write_markdown(path, run, [r], {"rss": "boom"})
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks") and "| Row | what | 1 | 1 | met |" in text
    assert "| rss | could not run | boom | | **error** |" in text
    report.write_markdown(path, run, [r], {})
    assert path.read_text(encoding="utf-8").count(report.BEGIN) == 1


def test_unknown_row_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nope"], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 64
    assert proc.stderr.count("\n") == 1 and "unknown row nope" in proc.stderr
