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
    sdk = Sdk(make_egnyte(qps=1))
    sdk.mkdir(ROOT)
    for i in range(3):
        sdk.upload(f"{ROOT}/{i}.txt", str(i).encode())
    files = sdk.listing(ROOT).files
    refused = throttles(sdk, "ERR_403_DEVELOPER_OVER_QPS")
    assert refused, sdk.wire.statuses()
    for a in refused:
        assert a.status == 403
        assert int(a.headers["retry-after"]) >= 1
        assert a.headers["x-accesstoken-qps-allotted"] == "1"
    # each retried upload was stored once (a throttled request stores nothing)
    assert sorted((f.name, f.num_versions) for f in files) == [(f"{i}.txt", 1) for i in range(3)]
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


def test_usage_headers_count_the_calls(make_egnyte):
    sdk = Sdk(make_egnyte(daily_limit=100))
    sdk.mkdir(ROOT)
    sdk.client.folder(ROOT).check()
    sdk.client.folder(ROOT).check()
    used = [int(a.headers["x-accesstoken-quota-current"]) for a in sdk.wire.answers]
    assert used == sorted(used) and used[-1] - used[0] == len(used) - 1
    assert all(a.headers["x-accesstoken-quota-allotted"] == "100" for a in sdk.wire.answers)
    sdk.close()
