"""Progress and summaries: plain lines off a terminal, a rich bar on one."""

from __future__ import annotations

import io
from collections import Counter

from syncd.report import MirrorReport, Reporter, human_bytes


def test_plain_progress_is_one_line_per_action():
    out = io.StringIO()
    r = Reporter(out, fancy=False)
    r.start("docs", 2)
    r.event("docs", "uploaded", "a/b.txt", 1500)
    r.event("docs", "moved", "x -> y")
    r.stop()
    assert out.getvalue().splitlines() == ["docs: uploaded a/b.txt (1.5 KB)", "docs: moved x -> y"]


def test_terminal_progress_bar_draws_and_leaves_no_per_file_lines():
    out = io.StringIO()
    r = Reporter(out, fancy=True)
    r.start("docs", 3)
    for i in range(3):
        r.event("docs", "uploaded", f"f{i}", 10)
    r.line("docs: 3 uploaded; in sync")
    r.stop()
    text = out.getvalue()
    assert "docs: 3 uploaded; in sync" in text
    assert "uploaded f0 (10 B)" not in text  # the bar replaces per-file lines


def test_quiet_shows_only_summaries():
    out = io.StringIO()
    r = Reporter(out, quiet=True, fancy=False)
    r.event("docs", "uploaded", "a", 1)
    r.line("summary")
    assert out.getvalue() == "summary\n"


def test_summary_lines():
    rep = MirrorReport("docs", Counter({"uploaded": 2, "moved": 1}), bytes_up=2_500_000)
    assert rep.summary() == "docs: 2 uploaded, 1 moved, 2.5 MB up, 0 B down; in sync"
    rep.deferred = 3
    assert rep.summary().endswith("3 deferred to the next pass (files changing, or backing "
                                  "off after errors); NOT in sync")
    assert MirrorReport("m").summary() == "m: no changes; in sync"
    assert MirrorReport("m", error="local folder /x is missing").summary() == \
        "m: local folder /x is missing"
    assert human_bytes(999) == "999 B" and human_bytes(1_000_000) == "1.0 MB"
