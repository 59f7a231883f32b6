"""syncd.daemon.metrics: `syncd status --prometheus` parsed back with prometheus_client's
own text parser, and the loopback-only `daemon.metrics` key."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncd import model
from syncd.config.errors import ConfigError
from syncd.daemon import metrics
from syncd.report import MirrorReport
from syncd.state import status
from syncd.state.index import Index
from tests.helpers.status_config import URL, two_mirrors

NOW = 1_800_000_000.0


def write_config(tmp_path, daemon: str = ""):
    return two_mirrors(tmp_path, extra=daemon)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_exposition_parses_and_carries_every_number(tmp_path):
    config = write_config(tmp_path)
    (tmp_path / "docs").mkdir()
    config.state_dir.mkdir(parents=True)
    index = Index(config.state_dir / "index.sqlite3")
    try:
        status.record_rate(index, URL, limit=10_000, remaining=9_000, reserve=500, now=NOW - 60)
        status.record_pass(index, MirrorReport("docs", finished=True, bytes_up=2048,
                                               bytes_down=512), NOW - 120)
        copy = "a (conflicted copy laptop 2027-01-15 080000).txt"
        index.put_remote("docs", [model.RemoteEntry(copy, model.FILE, "9", 3, NOW)])
        index.put_base("docs", model.BaseEntry(copy, copy, model.FILE, 3))
        (tmp_path / "docs" / copy).write_bytes(b"abc")
        index.note_failure("docs", "x.txt", "HTTP 500", NOW)
        index.set_queue("docs", [model.MakeRemoteDir("n", model.LocalEntry("n", model.DIR))])
        for path in ("/activity/session", "/resources/list", "/resources/list"):
            index.record_request(URL, NOW - 5, "GET", path, 200)
        index.account_state(URL).detection = {"at": NOW, "way": "feed", "why": "…",
                                              "feed_requests": 1, "listing_requests": 3}
        index.flush()
    finally:
        index.close()
    text = metrics.exposition(status.collect(config, now=NOW))
    got = samples(text)
    m = lambda name, **labels: got[(name, tuple(sorted(labels.items())))]  # noqa: E731
    assert m("syncd_daemon_running") == 0
    assert (m("syncd_budget_limit"), m("syncd_budget_remaining")) == (10_000, 9_000)
    assert m("syncd_budget_remaining_timestamp_seconds") == NOW - 60
    assert (m("syncd_budget_configured"), m("syncd_budget_reserve")) == (5000, 500)
    assert m("syncd_budget_spent") == 3
    assert m("syncd_transactions", kind="GET /resources/list") == 2
    assert m("syncd_transactions", kind="GET /activity/session") == 1
    assert m("syncd_change_detection", way="feed") == 1
    assert m("syncd_mirror_state", mirror="docs", state="idle") == 1
    assert m("syncd_mirror_state", mirror="photos", state="new") == 1
    assert m("syncd_mirror_queue_length", mirror="docs") == 1
    assert m("syncd_mirror_errors", mirror="docs") == 1
    assert m("syncd_mirror_conflicts", mirror="docs") == 1
    assert m("syncd_mirror_conflicts", mirror="photos") == 0
    assert m("syncd_mirror_last_sync_timestamp_seconds", mirror="docs") == NOW - 120
    assert ("syncd_mirror_last_sync_timestamp_seconds", (("mirror", "photos"),)) not in got
    assert m("syncd_mirror_uploaded_bytes_total", mirror="docs") == 2048
    assert m("syncd_mirror_downloaded_bytes_total", mirror="docs") == 512
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types["syncd_mirror_uploaded_bytes"] == "counter"
    assert types["syncd_budget_remaining"] == "gauge"


def test_unknown_values_are_left_out_not_zero(tmp_path):
    config = write_config(tmp_path)
    got = samples(metrics.exposition(status.collect(config, now=NOW)))  # no index yet
    names = {name for name, _ in got}
    assert "syncd_budget_remaining" not in names and "syncd_budget_limit" not in names
    assert got[("syncd_budget_spent", ())] == 0


@pytest.mark.parametrize("listen", ["127.0.0.1:9464", "127.0.0.2:9464", "localhost:9464",
                                    "'[::1]:9464'"])
def test_metrics_on_a_loopback_address(tmp_path, listen):
    config = write_config(tmp_path, f"daemon:\n  metrics: {listen}\n")
    assert config.daemon.metrics[1] == 9464


def test_metrics_off_by_default(tmp_path):
    assert write_config(tmp_path).daemon.metrics is None


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "192.168.1.5:9464", "example.org:9464",
                                    "'[::]:9464'"])
def test_metrics_elsewhere_is_a_config_error(tmp_path, listen):
    with pytest.raises(ConfigError) as err:
        write_config(tmp_path, f"daemon:\n  metrics: {listen}\n")
    text = str(err.value)
    assert "daemon.metrics" in text and "loopback" in text and "\n" not in text.strip()
