"""Prometheus metrics: `syncd status --prometheus` and the daemon's loopback endpoint.

Both expose the same numbers, taken from what `syncd status` shows
(``state.status.collect``: the index alone, no request to the server):

=================================================  =======  ==========================
metric                                             type     labels
=================================================  =======  ==========================
``syncd_daemon_running``                           gauge
``syncd_budget_limit``                             gauge    the server's 24 h limit
``syncd_budget_remaining``                         gauge    the server's count left
``syncd_budget_remaining_timestamp_seconds``       gauge    when the server said so
``syncd_budget_configured``                        gauge    ``account.budget``
``syncd_budget_reserve``                           gauge
``syncd_budget_spent``                             gauge    syncd's requests, last 24 h
``syncd_transactions``                             gauge    ``kind`` (last 24 h)
``syncd_change_detection``                         gauge    ``way``: feed / listing / hints
``syncd_mirror_state``                             gauge    ``mirror``, ``state`` (1)
``syncd_mirror_queue_length``                      gauge    ``mirror``
``syncd_mirror_errors``                            gauge    ``mirror``
``syncd_mirror_conflicts``                         gauge    ``mirror`` (copies there now)
``syncd_mirror_last_sync_timestamp_seconds``       gauge    ``mirror``
``syncd_mirror_uploaded_bytes_total``              counter  ``mirror``
``syncd_mirror_downloaded_bytes_total``            counter  ``mirror``
=================================================  =======  ==========================

A value syncd does not know (no answer from the server yet) is left out, not 0.
The names are stable: metrics are only ever added.

The daemon's endpoint (``daemon.metrics: 127.0.0.1:9464``) listens on a loopback
address only (the config refuses others): the numbers say nothing secret, but a
sync daemon has no business opening a port to the network. Each scrape reads the
index through its own connection (WAL: it never blocks the sync thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from syncd.config.loader import Config
from syncd.daemon.log import log
from syncd.state import status

PREFIX = "syncd_"


def _ts(iso: str | None) -> float | None:
    return None if not iso else datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def families(data: Mapping[str, Any]) -> Iterator[Metric]:
    """The metric families of one `syncd status` snapshot (``status.collect``)."""
    d, a = data["daemon"], data["account"]

    def gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
        if value is not None:
            yield GaugeMetricFamily(PREFIX + name, doc, value=float(value))

    yield from gauge("daemon_running", "1 if `syncd run` runs on this state directory",
                     1 if d["running"] else 0)
    yield from gauge("budget_limit", "the account's transactions per rolling 24 h "
                     "(X-RateLimit-Limit)", a["limit"])
    yield from gauge("budget_remaining", "transactions the server said were left "
                     "(X-RateLimit-Remaining)", a["remaining"])
    yield from gauge("budget_remaining_timestamp_seconds", "when the server said so",
                     _ts(a["remaining_at"]))
    yield from gauge("budget_configured", "account.budget: the transactions syncd may "
                     "spend per 24 h", a["budget"])
    yield from gauge("budget_reserve", "transactions syncd never spends", a["reserve"])
    yield from gauge("budget_spent", "transactions syncd spent in the last 24 h",
                     a["transactions_24h"])
    kinds = GaugeMetricFamily(PREFIX + "transactions", "transactions syncd spent in the "
                              "last 24 h, by kind of request", labels=["kind"])
    for kind, n in (a.get("transactions_by_kind") or {}).items():
        kinds.add_metric([kind], float(n))
    yield kinds
    detection = a.get("change_detection")
    if detection and detection.get("way"):
        way = GaugeMetricFamily(PREFIX + "change_detection", "how the last refresh learnt "
                                "the server's changes (1 for the way chosen)", labels=["way"])
        way.add_metric([detection["way"]], 1.0)
        yield way

    per_mirror: list[tuple[str, str, Callable[[Mapping[str, Any]], float | None], type]] = [
        ("mirror_queue_length", "actions planned and not done yet",
         lambda m: m["queued"], GaugeMetricFamily),
        ("mirror_errors", "paths failing and backed off", lambda m: m["error_count"],
         GaugeMetricFamily),
        ("mirror_conflicts", "conflicted copies in the mirror now", lambda m: m["conflicts"],
         GaugeMetricFamily),
        ("mirror_last_sync_timestamp_seconds", "end of the last pass that left the mirror "
         "in sync", lambda m: _ts(m["last_sync"]), GaugeMetricFamily),
        ("mirror_uploaded_bytes", "bytes uploaded", lambda m: m.get("bytes_up", 0),
         CounterMetricFamily),
        ("mirror_downloaded_bytes", "bytes downloaded", lambda m: m.get("bytes_down", 0),
         CounterMetricFamily),
    ]
    state = GaugeMetricFamily(PREFIX + "mirror_state", "the mirror's state (1 for the "
                              "state it is in)", labels=["mirror", "state"])
    for m in data["mirrors"]:
        state.add_metric([m["name"], m["state"]], 1.0)
    yield state
    for name, doc, value, kind in per_mirror:
        family = kind(PREFIX + name, doc, labels=["mirror"])
        for m in data["mirrors"]:
            v = value(m)
            if v is not None:
                family.add_metric([m["name"]], float(v))
        yield family


class StatusCollector:
    """A prometheus_client collector: each scrape takes a fresh snapshot."""

    def __init__(self, snapshot: Callable[[], Mapping[str, Any]]):
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from families(self.snapshot())


def registry(snapshot: Callable[[], Mapping[str, Any]]) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(StatusCollector(snapshot))
    return reg


def exposition(data: Mapping[str, Any]) -> str:
    """The Prometheus text format of one snapshot (`syncd status --prometheus`)."""
    return generate_latest(registry(lambda: data)).decode("utf-8")


def serve(listen: tuple[str, int], snapshot: Callable[[], Mapping[str, Any]]) -> Any:
    """Serve ``/metrics`` on ``listen`` (a loopback address: the config checks) in a
    daemon thread; returns the server (``shutdown()`` then ``server_close()``)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(listen[1], addr=listen[0], registry=registry(snapshot))
    return server


def start(config: Callable[[], Config]) -> Any:
    """The daemon's endpoint when ``daemon.metrics`` is set (None when not, or when
    the address cannot be had: logged, the daemon goes on without it). ``config``
    gives the configuration in use: a scrape after a reload shows the new mirrors
    (the address itself is kept until a restart)."""
    listen = config().daemon.metrics
    if listen is None:
        return None
    try:
        server = serve(listen, lambda: status.collect(config()))
    except OSError as exc:
        log.error("metrics: cannot listen on %s:%d: %s", listen[0], listen[1],
                  exc.strerror or exc)
        return None
    log.info("metrics: serving http://%s:%d/metrics", *server.server_address[:2])
    return server


def stop(server: Any) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
