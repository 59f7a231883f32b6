"""Egnyte emulator: QPS and daily limits (403 + X-Mashery-Error-Code, or 429), usage
headers, event retention and filters, injected faults."""

from __future__ import annotations

import pytest
import requests

from tests.helpers.egnyte import EgnyteApi


@pytest.fixture
def api(egnyte_api):
    return egnyte_api


def test_over_qps_is_403_with_the_mashery_code_and_retry_after(api, egnyte):
    egnyte.set_limits(qps=2)
    answers = [api.get("/userinfo") for _ in range(3)]
    assert [r.status_code for r in answers[:2]] == [200, 200]
    r = answers[2]
    assert r.status_code == 403
    assert r.headers["X-Mashery-Error-Code"] == "ERR_403_DEVELOPER_OVER_QPS"
    assert r.headers["Retry-After"] == "1"
    assert "<h1>Developer Over Qps</h1>" in r.text
    assert answers[0].headers["X-AccessToken-QPS-Allotted"] == "2"
    assert answers[1].headers["X-AccessToken-QPS-Current"] == "2"


def test_the_limit_is_per_token(api, egnyte):
    egnyte.set_limits(qps=1)
    assert api.get("/userinfo").status_code == 200
    other = EgnyteApi(egnyte, token=egnyte.other_token)
    assert other.get("/userinfo").status_code == 200


def test_over_the_daily_quota_until_midnight_utc(api, egnyte):
    egnyte.set_limits(daily=3)
    ok = [api.get("/userinfo") for _ in range(3)]
    assert ok[-1].headers["X-AccessToken-Quota-Allotted"] == "3"
    assert ok[-1].headers["X-AccessToken-Quota-Current"] == "3"
    r = api.get("/userinfo")
    assert r.status_code == 403
    assert r.headers["X-Mashery-Error-Code"] == "ERR_403_DEVELOPER_OVER_RATE"
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 86400
    assert egnyte.calls_today() == 3  # refused calls are not counted
    egnyte.advance_clock(wait)
    assert api.get("/userinfo").status_code == 200


def test_429_mode(api, egnyte):
    egnyte.set_limits(qps=1, status=429)
    api.get("/userinfo")
    r = api.get("/userinfo")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert "X-Mashery-Error-Code" not in r.headers


def test_no_usage_headers_without_limits(api):
    assert not [h for h in api.get("/userinfo").headers if h.lower().startswith("x-accesstoken")]


def test_a_cursor_older_than_the_retention_is_404(api, egnyte):
    api.mkdir("/Shared/r")
    start = api.cursor()
    for i in range(5):
        api.mkdir(f"/Shared/r/{i}")
    egnyte.set_event_retention(3)
    cursor = api.get("/events/cursor").json()
    assert cursor["latest_event_id"] == start + 5
    assert cursor["oldest_event_id"] == start + 3
    assert api.events(start).status_code == 404
    assert api.events(start + 1).status_code == 404
    assert [e["id"] for e in api.event_list(start + 2)] == [start + 3, start + 4, start + 5]
    assert api.events(start + 6).status_code == 404  # beyond the newest event


def test_events_filters_folder_and_suppress(api, egnyte):
    api.mkdir("/Shared/a")
    api.mkdir("/Shared/b")
    start = api.cursor()
    api.upload("/Shared/a/x", b"1")
    api.upload("/Shared/b/y", b"1")
    api.move("/Shared/b/y", "/Shared/A/y")
    egnyte.other.upload("/Shared/a/z", b"1")
    in_a = api.event_list(start, folder="/Shared/a")
    assert [e["data"]["target_path"] for e in in_a] == ["/Shared/a/x", "/Shared/a/y",
                                                        "/Shared/a/z"]
    assert [e["actor"] for e in api.event_list(start, suppress="app")] == [2]
    assert len(api.event_list(start, suppress="user")) == 1
    assert api.events(start, suppress="bogus").status_code == 400
    assert api.events(start + 4, folder="/Shared/b").status_code == 204
    assert api.get("/events").status_code == 400


def test_events_count_is_at_most_100(api):
    api.mkdir("/Shared/many")
    start = api.cursor()
    for i in range(105):
        api.mkdir(f"/Shared/many/{i}")
    body = api.events(start, count=500).json()
    assert body["count"] == 100 and body["latest_id"] == start + 100
    assert len(api.event_list(start)) == 50


@pytest.mark.parametrize("kind,status", [("500", 500), ("503", 503)])
def test_error_faults_do_not_perform_the_operation(api, egnyte, kind, status):
    egnyte.set_faults(1.0, [kind])
    assert api.mkdir("/Shared/f").status_code == status
    egnyte.set_faults(0.0)
    assert api.info("/Shared/f").status_code == 404


def test_a_lost_answer_performs_the_operation_and_a_reset_does_not(api, egnyte):
    egnyte.set_faults(1.0, ["lost"], only={"fs_action"})
    with pytest.raises(requests.exceptions.ConnectionError):
        api.mkdir("/Shared/lost")
    egnyte.set_faults(1.0, ["reset"], only={"fs_action"})
    with pytest.raises(requests.exceptions.ConnectionError):
        api.mkdir("/Shared/reset")
    egnyte.set_faults(0.0)
    assert api.info("/Shared/lost").status_code == 200
    assert api.info("/Shared/reset").status_code == 404


def test_faults_are_seeded(make_egnyte):
    def run():
        emu = make_egnyte(fault_rate=0.5, seed=7, fault_kinds=["500", "503"])
        api = EgnyteApi(emu)
        return [api.get("/userinfo").status_code for _ in range(20)]
    first = run()
    assert first == run() and set(first) == {200, 500, 503}


def test_events_older_than_30_days_are_gone(api, egnyte):
    start = api.cursor()
    api.mkdir("/Shared/old")
    egnyte.advance_clock(31 * 86400)
    api.mkdir("/Shared/new")
    assert api.events(start).status_code == 404
    assert [e["data"]["target_path"] for e in api.event_list(start + 1)] == ["/Shared/new"]


def test_parallel_calls_from_threads_all_succeed(api, egnyte):
    from concurrent.futures import ThreadPoolExecutor

    api.mkdir("/Shared/p")

    def work(i):
        mine = EgnyteApi(egnyte)
        try:
            return [mine.upload(f"/Shared/p/f{i}", b"x" * i).status_code,
                    mine.mkdir(f"/Shared/p/d{i}").status_code,
                    mine.move(f"/Shared/p/f{i}", f"/Shared/p/d{i}/f").status_code]
        finally:
            mine.close()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(24)))
    assert results == [[200, 201, 200]] * 24
    assert api.info("/Shared/p").json()["total_count"] == 24
    assert len(api.event_list(api.cursor() - 72, count=100)) == 72
