"""Throttling through the OFFICIAL Egnyte SDK (egnyte==0.5.3) against the emulator.

What the SDK does (egnyte/base.py ``Session._retry``): after every answer it looks at
``X-Mashery-Error-Code``; on ``ERR_403_DEVELOPER_OVER_QPS`` it sleeps ``Retry-After`` seconds
(default 1) and sends the same request again, forever. Anything else, including the daily
``ERR_403_DEVELOPER_OVER_RATE``, goes to the status mapping: a 403 becomes
InsufficientPermissions, a 429 (which the SDK predates) a plain RequestError.
"""

from __future__ import annotations

import pytest
from egnyte import exc

from tests.helpers.egnyte_sdk import Sdk

ROOT = "/Shared/lim"


def throttles(sdk, code: str) -> list:
    return [a for a in sdk.wire.answers if a.headers.get("x-mashery-error-code") == code]


def test_over_qps_is_a_403_the_sdk_waits_out_and_retries(make_egnyte):
    """Only calls with a re-sendable body: the SDK's retry re-posts an upload's file object
    after it was read to the end (Content-length N, no bytes), so a throttled upload hangs
    until the read timeout against any server (an SDK bug, like egnyte-js-sdk issue #11)."""
    sdk = Sdk(make_egnyte(qps=1))
    sdk.mkdir(ROOT)
    for i in range(3):
        sdk.mkdir(f"{ROOT}/{i}")
    listed = sdk.listing(ROOT)
    refused = throttles(sdk, "ERR_403_DEVELOPER_OVER_QPS")
    assert refused, sdk.wire.statuses()
    for a in refused:
        assert a.status == 403
        assert int(a.headers["retry-after"]) >= 1
        assert a.headers["x-accesstoken-qps-allotted"] == "1"
    # each retried add_folder made one folder (a throttled request changes nothing)
    assert [f.name for f in listed.folders] == ["0", "1", "2"]
    sdk.close()


def test_over_the_daily_quota_is_a_403_the_sdk_surfaces(make_egnyte):
    sdk = Sdk(make_egnyte(daily_limit=3))
    sdk.mkdir(ROOT)
    sdk.upload(ROOT + "/a.txt", b"a")
    sdk.client.folder(ROOT).check()
    with pytest.raises(exc.InsufficientPermissions) as ei:
        sdk.upload(ROOT + "/b.txt", b"b")
    answer = sdk.wire.last()
    assert answer.status == 403
    assert answer.headers["x-mashery-error-code"] == "ERR_403_DEVELOPER_OVER_RATE"
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.headers["x-accesstoken-quota-allotted"] == "3"
    assert any(isinstance(a, dict) and "headers" in a for a in ei.value.args)
    # refused calls stay refused (the SDK does not retry them)
    with pytest.raises(exc.InsufficientPermissions):
        sdk.client.folder(ROOT).check()
    sdk.close()


def test_every_answer_carries_the_usage_headers_and_counts_the_calls(make_egnyte):
    sdk = Sdk(make_egnyte(qps=50, daily_limit=100))
    sdk.mkdir(ROOT)
    sdk.upload(ROOT + "/u.txt", b"u")
    sdk.download(ROOT + "/u.txt")
    sdk.listing(ROOT)
    for answer in sdk.wire.answers:
        for h in ("qps-allotted", "qps-current", "quota-allotted", "quota-current"):
            value = answer.headers.get("x-accesstoken-" + h)
            assert value is not None and value.isdigit(), (answer, h)
        assert answer.headers["x-accesstoken-qps-allotted"] == "50"
        assert answer.headers["x-accesstoken-quota-allotted"] == "100"
    used = [int(a.headers["x-accesstoken-quota-current"]) for a in sdk.wire.answers]
    assert used == sorted(used) and used[-1] - used[0] == len(used) - 1
    sdk.close()


def test_the_429_mode_is_a_plain_error_to_this_sdk(make_egnyte):
    """The SDK predates 429 throttling: it neither waits nor retries, it raises RequestError."""
    sdk = Sdk(make_egnyte(qps=1, throttle_status=429))
    sdk.mkdir(ROOT)
    with pytest.raises(exc.RequestError) as ei:
        for i in range(5):
            sdk.client.folder(ROOT).check()
    assert {"http status": 429} in ei.value.args
    answer = sdk.wire.last()
    assert answer.status == 429 and int(answer.headers["retry-after"]) >= 1
    sdk.close()


def test_an_sdk_paced_at_the_limit_is_never_refused(make_egnyte):
    """The SDK's own pacing (``requests_per_second=2``) against Egnyte's 2 calls/s: no
    refusal, uploads included, whatever the network's jitter (the emulator's window is
    JITTER shorter than a second; a burst is still refused, test above)."""
    sdk = Sdk(make_egnyte(qps=2), requests_per_second=2)
    sdk.mkdir(ROOT)
    for i in range(6):
        sdk.upload(f"{ROOT}/{i}.txt", str(i).encode())
    assert sdk.names(ROOT) == [f"{i}.txt" for i in range(6)]
    assert not throttles(sdk, "ERR_403_DEVELOPER_OVER_QPS"), sdk.wire.statuses()
    sdk.close()
