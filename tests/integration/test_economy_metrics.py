"""Issue 18 items 5 and 8 end to end, against the emulator on 127.0.0.1: a quiet pass on
a busy account lists the mirrors instead of reading a long feed (and says so in
`syncd status`), and the metrics of `syncd status --prometheus` and of the daemon's
loopback endpoint parse with prometheus_client's text parser."""

from __future__ import annotations

import json
import math

import requests
from prometheus_client.parser import text_string_to_metric_families

from syncd.remote.exavault.feed import OVERLAP, SETTLE
from tests.helpers.daemon import daemon_setup, free_port, start, wait_for  # noqa: F401
from tests.helpers.sync import make_setup, write

QUIET_AFTER = SETTLE + OVERLAP + 2.0  # the feed's overlap window has passed


def endpoints(emu) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in emu.request_log:
        kind = "activity" if "/activity/" in r.path else r.path.rsplit("/", 1)[-1]
        out[kind] = out.get(kind, 0) + 1
    return out


def three_mirrors(make_emulator, tmp_path, files: int):
    setup = make_setup(make_emulator, tmp_path, mirrors=("a", "b", "c"))
    for name in ("a", "b", "c"):
        for i in range(files):
            write(setup.local(name) / f"d{i % 3}" / f"f{i:03d}.txt", f"{name}{i}")
    assert setup.sync().exit_code == 0
    setup.emu.advance_clock(QUIET_AFTER)
    assert setup.sync().exit_code == 0  # reads the uploads' echoes
    setup.emu.advance_clock(QUIET_AFTER)
    return setup


def test_a_quiet_pass_after_many_foreign_changes_costs_no_more_than_listing(
        make_emulator, tmp_path):
    setup = three_mirrors(make_emulator, tmp_path, 130)  # 133 items each: 2 pages a mirror
    emu = setup.emu
    emu.clear_request_log()
    assert setup.sync().exit_code == 0
    assert endpoints(emu) == {"activity": 1}  # quiet: one feed request
    for i in range(1500):  # 16 feed requests' worth, elsewhere on the account
        emu.other.write(f"/elsewhere/f{i:04d}.txt", b"x")
    emu.advance_clock(QUIET_AFTER)
    emu.clear_request_log()
    result = setup.sync()
    assert result.exit_code == 0
    listing = sum(math.ceil(len(setup.remote_tree(m)) / 100) for m in ("a", "b", "c"))
    assert listing == 6
    by = endpoints(emu)
    assert by == {"activity": 2, "list": listing}  # page 1, page 6 (full): then list
    assert result.transactions == listing + 2 < math.ceil(1501 / 100)
    emu.advance_clock(QUIET_AFTER)
    emu.clear_request_log()
    assert setup.sync().exit_code == 0
    assert endpoints(emu) == {"activity": 1}  # the cursors moved past the burst

    out = setup.cli("status", "--config", str(setup.config_path), "--json")
    assert out.returncode == 0, out.stderr
    detection = json.loads(out.stdout)["account"]["change_detection"]
    assert detection["way"] == "feed" and detection["listing_requests"] == listing


def test_a_short_burst_is_still_read_from_the_feed(make_emulator, tmp_path):
    setup = three_mirrors(make_emulator, tmp_path, 130)
    emu = setup.emu
    for i in range(250):  # 3 feed requests, listing costs 6: the feed is cheaper
        emu.other.write(f"/elsewhere/f{i:04d}.txt", b"x")
    emu.other.write("/a/d0/new.txt", b"new")
    emu.advance_clock(QUIET_AFTER)
    emu.clear_request_log()
    assert setup.sync().exit_code == 0
    assert (setup.local("a") / "d0" / "new.txt").read_bytes() == b"new"
    by = endpoints(emu)
    assert by.get("list", 0) == 0 and by["activity"] <= 6


def test_status_says_which_way_and_prometheus_parses(make_emulator, tmp_path):
    setup = three_mirrors(make_emulator, tmp_path, 130)
    for i in range(1500):
        setup.emu.other.write(f"/elsewhere/f{i:04d}.txt", b"x")
    setup.emu.advance_clock(QUIET_AFTER)
    assert setup.sync().exit_code == 0
    out = setup.cli("status", "--config", str(setup.config_path))
    assert out.returncode == 0, out.stderr
    assert ("Remote changes: full listing: the activity feed held at least 600 entries since "
            "the last pass; listing the mirrors (6) was cheaper") in " ".join(out.stdout.split())
    prom = setup.cli("status", "--config", str(setup.config_path), "--prometheus")
    assert prom.returncode == 0, prom.stderr
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for f in text_string_to_metric_families(prom.stdout) for s in f.samples}
    assert got[("syncd_change_detection", (("way", "listing"),))] == 1
    assert got[("syncd_mirror_uploaded_bytes_total", (("mirror", "a"),))] > 0
    assert got[("syncd_budget_spent", ())] >= 6
    assert got[("syncd_transactions", (("kind", "GET /resources/list"),))] >= 6
    both = setup.cli("status", "--config", str(setup.config_path), "--json", "--prometheus")
    assert both.returncode == 64 and "not allowed with" in both.stderr


def test_the_daemon_serves_metrics_on_loopback(make_emulator, tmp_path, start):  # noqa: F811
    setup = daemon_setup(make_emulator, tmp_path)
    port = free_port()
    setup.daemon_opts["metrics"] = f"127.0.0.1:{port}"
    setup.write_config()
    write(setup.local() / "a.txt", "hello")
    d = start(setup)
    d.wait_idle()
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape():
        try:
            return requests.get(url, timeout=5).text
        except requests.ConnectionError:
            return None

    text = wait_for(scrape, 10)
    assert text, d.log()
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for f in text_string_to_metric_families(text) for s in f.samples}
    assert got[("syncd_daemon_running", ())] == 1
    assert got[("syncd_mirror_queue_length", (("mirror", "docs"),))] == 0
    assert got[("syncd_mirror_uploaded_bytes_total", (("mirror", "docs"),))] == 5
    assert got[("syncd_mirror_last_sync_timestamp_seconds", (("mirror", "docs"),))] > 0
    assert got[("syncd_budget_remaining", ())] > 0
    assert f"metrics: serving http://127.0.0.1:{port}/metrics" in d.log()
    rc, _ = d.stop()
    assert rc == 0
    assert scrape() is None  # the endpoint closed with the daemon
