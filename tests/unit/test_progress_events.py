"""Issue 18's progress plumbing without a server: the stream wrappers report each
chunk's bytes, the daemon's reporter logs each action and conflict (with fields
for the JSON log) and a stats line during long work only."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

import pytest

from syncd import logs
from syncd.daemon.jobs import STATS_EVERY, Beats, Jobs
from syncd.heartbeat import Heartbeat
from syncd.report import Conflict
from syncd.transfer.streams import HashingReader, HashingWriter, Throttle


def test_the_upload_reader_reports_each_chunk_and_takes_them_back_on_a_rewind(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 2500)
    seen: list[int] = []
    with open(path, "rb") as f:
        reader = HashingReader(f, Throttle(0), None, seen.append)
        while reader.read(1000):
            pass
        assert seen == [1000, 1000, 500]
        reader.seek(0)  # the client sends it again from the start
        reader.read(1000)
    assert seen == [1000, 1000, 500, -2500, 1000]
    assert sum(seen) == reader.count == 1000


def test_the_download_writer_reports_each_chunk(tmp_path):
    seen: list[int] = []
    with open(tmp_path / "f", "wb") as f:
        writer = HashingWriter(f, Throttle(0), None, seen.append)
        writer.write(b"a" * 300)
        writer.write(b"")
        writer.write(b"b" * 7)
    assert seen == [300, 7]


def test_without_a_listener_the_wrappers_work_as_before(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    with open(tmp_path / "f", "rb") as f:
        assert HashingReader(f, Throttle(0)).read() == b"abc"


@pytest.fixture(autouse=True)
def restore_logging():
    """Undo what logs.setup does to the root and syncd loggers."""
    root, ours = logging.getLogger(), logging.getLogger("syncd")
    handlers, levels = list(root.handlers), (root.level, ours.level)
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(levels[0])
    ours.setLevel(levels[1])


@pytest.fixture
def json_log():
    stream = io.StringIO()
    logs.setup("info", stream=stream, env={}, fmt="json", secrets=["sekret-token-1"])
    return stream


def records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_daemon_logs_each_action_at_info_with_its_fields(json_log):
    beats = Beats(Heartbeat())
    beats.event("docs", "uploaded", "reports/q3.pdf", 2_100_000)
    beats.event("docs", "deleted remotely", "old.txt")
    got = records(json_log)
    assert got[0]["level"] == "info" and got[0]["message"] == \
        "docs: uploaded reports/q3.pdf (2.1 MB)"
    assert {k: got[0][k] for k in ("mirror", "action", "path", "bytes")} == \
        {"mirror": "docs", "action": "uploaded", "path": "reports/q3.pdf", "bytes": 2_100_000}
    assert got[1]["action"] == "deleted_remotely" and got[1]["bytes"] == 0


def test_the_daemon_logs_a_conflict_as_a_warning_naming_both_paths(json_log):
    Beats(Heartbeat()).conflict("docs", Conflict("r.md", "r (conflicted copy h 1).md", "local"))
    [got] = records(json_log)
    assert got["level"] == "warning" and got["action"] == "conflict"
    assert got["path"] == "r.md" and got["copy"] == "r (conflicted copy h 1).md"
    assert "r.md" in got["message"] and "r (conflicted copy h 1).md" in got["message"]
    assert "syncd conflicts" in got["message"]


def test_the_engine_lines_go_to_the_daemon_log_not_stdout(json_log, capsys):
    Beats(Heartbeat()).line("docs: skipped a\\b: name not allowed")
    assert capsys.readouterr().out == ""
    assert records(json_log)[0]["message"] == "docs: skipped a\\b: name not allowed"


def test_a_stats_line_a_minute_during_long_work_only(json_log):
    beats = Beats(Heartbeat())
    daemon = SimpleNamespace(engine=SimpleNamespace(reporter=beats))
    Jobs._stats(daemon)  # nothing going on
    beats.stage("docs: scanning /home/me/work")
    Jobs._stats(daemon)  # going on for less than a minute
    assert records(json_log) == []
    beats.start("docs", 10, {"a": 4_000_000})
    beats.tally.started -= STATS_EVERY + 1  # as if the worker had begun a minute ago
    beats.bytes("docs", "a", 1_000_000)
    Jobs._stats(daemon)
    [got] = records(json_log)
    assert got["level"] == "info"
    assert got["message"].startswith("progress: docs: 0/10 actions, 1.0 MB of 4.0 MB, ")
    assert got["message"].endswith(" left")


def test_json_lines_are_redacted_and_keep_the_journald_prefix():
    stream = io.StringIO()
    logs.setup("info", stream=stream, env={"JOURNAL_STREAM": "8:1"}, fmt="json",
               secrets=["sekret-token-1"])
    logging.getLogger("syncd.x").warning("token sekret-token-1",
                                         extra={"path": "a/sekret-token-1"})
    line = stream.getvalue().strip()
    assert line.startswith("<4>{") and "sekret" not in line
    doc = json.loads(line[3:])
    assert set(doc) == {"ts", "level", "logger", "message", "path"}
    assert doc["message"] == "token ***" and doc["path"] == "a/***"
    assert doc["ts"].endswith("Z") and set(doc) <= set(logs.JSON_KEYS)
