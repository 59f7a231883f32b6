"""Progress and summaries: plain lines off a terminal, a rich bar on one."""

from __future__ import annotations

import io
import re
import time
from collections import Counter

from syncd import report
from syncd.report import Conflict, MirrorReport, Reporter, human_bytes, human_duration
from tests.helpers.ttyrun import plain


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


# --- issue 18: conflicts, words for held-back work, bytes, JSON, stats ---------------------

def test_a_conflict_is_counted_in_the_summary_with_its_hint():
    rep = MirrorReport("docs", Counter({"uploaded": 1, "downloaded": 1, "conflicts": 1}))
    assert rep.summary() == ("docs: 1 uploaded, 1 downloaded, 1 conflict, both versions kept "
                             "(see `syncd conflicts`); in sync")
    rep.counts["conflicts"] = 2
    assert "2 conflicts, both versions kept (see `syncd conflicts`)" in rep.summary()


def test_the_conflict_line_names_both_paths_and_whose_version_moved():
    mine = Conflict("a/r.md", "a/r (conflicted copy h 2026-01-02 030405).md", "local")
    assert mine.line("docs") == (
        "docs: conflict: a/r.md was changed on both sides; both kept, your version as "
        "a/r (conflicted copy h 2026-01-02 030405).md (see `syncd conflicts`)")
    theirs = Conflict("x.txt", "x (conflicted copy h 2026-01-02 030405).txt", "remote")
    assert "the server's version as x (conflicted copy" in theirs.line("docs")


def test_held_back_deletions_are_said_in_words_not_no_changes():
    rep = MirrorReport("docs", guard="4 entries would be deleted (max_delete: 3)")
    text = rep.summary()
    assert "no changes" not in text
    assert text == ("docs: deletions held back (4 entries would be deleted (max_delete: 3)): "
                    "nothing was deleted, run `syncd sync --force --mirror docs` if this is "
                    "intended; NOT in sync")


def test_conflicts_are_shown_even_when_quiet():
    out = io.StringIO()
    r = Reporter(out, quiet=True, fancy=False)
    r.event("docs", "uploaded", "a", 1)
    r.conflict("docs", Conflict("a", "a (conflicted copy h 2026-01-02 030405)", "local"))
    assert out.getvalue().startswith("docs: conflict: a was changed on both sides")


def test_verbose_lists_actions_above_the_terminal_display():
    out = io.StringIO()
    r = Reporter(out, fancy=True, verbose=True)
    r.start("docs", 1, {"a.txt": 10})
    r.event("docs", "uploaded", "a.txt", 10)
    r.stop()
    assert "docs: uploaded a.txt (10 B)" in out.getvalue()


def test_terminal_display_shows_bytes_speed_time_left_and_each_large_file(monkeypatch):
    monkeypatch.setattr(report, "SETTLING", 0.0)  # a speed from the second sample on
    out = io.StringIO()
    r = Reporter(out, fancy=True)
    r.start("docs", 2, {"big.bin": 4_000_000, "small.txt": 10})
    r.bytes("docs", "big.bin", 1_000_000)
    r.bytes("docs", "small.txt", 10)
    r._progress.refresh()
    first = plain(out.getvalue())
    time.sleep(0.05)  # (a second sample for the speed: only its presence is checked)
    r.bytes("docs", "big.bin", 1_000_000)
    r._progress.refresh()
    text = plain(out.getvalue())
    r.stop()
    assert "docs" in first and "0/2" in first  # actions done of those planned
    assert "1.0/4.0 MB" in first  # the pass's bytes (rich's decimal units)
    assert "  big.bin" in first and "small.txt" not in text  # only large files get a line
    last = text[len(first):].strip().splitlines()[-2:]
    assert [line.split()[0] for line in last] == ["docs", "big.bin"]
    for line in last:  # bytes, speed and time left, for the pass and for the file
        assert re.search(r"2\.0/4\.0 MB +[0-9.]+ [kM]?B/s +\d+:\d\d:\d\d$", line), line


def test_a_large_file_leaves_the_display_when_done_and_a_rewind_counts_back():
    out = io.StringIO()
    r = Reporter(out, fancy=True)
    r.start("docs", 1, {"big.bin": 2_000_000})
    r.bytes("docs", "big.bin", 1_500_000)
    assert "big.bin" in r._files
    r.bytes("docs", "big.bin", -1_500_000)  # the upload is sent again from the start
    assert r.tally.bytes_done == 0
    r.bytes("docs", "big.bin", 2_000_000)
    assert "big.bin" not in r._files
    r.stop()


def test_plain_output_has_no_display_and_no_escapes():
    out = io.StringIO()
    r = Reporter(out, fancy=False)
    r.stage("docs: scanning /x")
    r.start("docs", 1, {"big.bin": 4_000_000})
    r.bytes("docs", "big.bin", 4_000_000)
    r.event("docs", "uploaded", "big.bin", 4_000_000)
    r.stop()
    assert out.getvalue() == "docs: uploaded big.bin (4.0 MB)\n"


def test_stats_line_tells_files_bytes_rate_and_time_left(monkeypatch):
    r = Reporter(io.StringIO(), fancy=False, quiet=True)
    assert r.stats() is None
    r.stage("docs: scanning /home/me/work")
    assert r.stats().startswith("docs: scanning /home/me/work (0:00:0")
    r.start("docs", 4, {"a": 3_000_000, "b": 1_000_000})
    r.tally.started -= 10.0  # as if it began 10 s ago
    r.bytes("docs", "a", 2_000_000)
    r.event("docs", "uploaded", "x")
    line = r.stats()
    assert line.startswith("docs: 1/4 actions, 2.0 MB of 4.0 MB, 200.0 KB/s, about 0:00:")
    assert line.endswith(" left")
    assert r.stats(at_least=60) is None  # not long work yet
    r.stop()
    r.stage(None)
    assert r.stats() is None


def test_mirror_report_as_json_has_the_documented_keys():
    rep = MirrorReport("docs", Counter({"uploaded": 1, "deleted remotely": 1, "conflicts": 1}),
                       bytes_up=5, transactions=3, finished=True)
    rep.actions.append(("deleted remotely", "old.txt", 0))
    rep.copies.append(Conflict("r.md", "r (conflicted copy h 2026-01-02 030405).md", "local"))
    doc = rep.to_dict()
    assert list(doc) == ["name", "outcome", "summary", "error", "deletions_held_back", "counts",
                         "bytes_up", "bytes_down", "transactions", "actions", "conflicts",
                         "failed", "deferred", "skipped", "kept", "planned"]
    assert doc["outcome"] == "in_sync"
    assert doc["counts"] == {"conflicts": 1, "deleted_remotely": 1, "uploaded": 1}
    assert doc["actions"] == [{"action": "deleted_remotely", "path": "old.txt", "bytes": 0}]
    assert doc["conflicts"] == [{"path": "r.md", "copy": "r (conflicted copy h 2026-01-02 "
                                 "030405).md", "renamed": "local"}]
    assert MirrorReport("m", error="gone").to_dict()["outcome"] == "error"
    assert MirrorReport("m", deferred=1).to_dict()["outcome"] == "not_in_sync"
    assert MirrorReport("m").to_dict(dry_run=True)["outcome"] == "dry_run"


def test_human_duration():
    assert human_duration(0) == "0:00:00" and human_duration(3725.4) == "1:02:05"


def test_no_speed_during_a_rows_first_second(monkeypatch):
    """The first chunk leaves in a burst (a throttle lets it go at once): a speed
    from it would read hundreds of MB/s."""
    monkeypatch.setattr(report, "SETTLING", 3600.0)
    out = io.StringIO()
    r = Reporter(out, fancy=True)
    r.start("docs", 1, {"big.bin": 4_000_000})
    r.bytes("docs", "big.bin", 1_000_000)
    time.sleep(0.05)
    r.bytes("docs", "big.bin", 1_000_000)
    r._progress.refresh()
    text = plain(out.getvalue())
    r.stop()
    last = text.strip().splitlines()[-1]
    assert re.search(r"2\.0/4\.0 MB +\? +-:--:--$", last), last
