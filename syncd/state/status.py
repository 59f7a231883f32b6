"""What `syncd status` shows, and how passes leave it behind.

Passes (one-shot or daemon) record each mirror's outcome in the index state
(``mirror:<name>`` → ``status``); the daemon also records its own facts
(``account:<url>`` → ``daemon``: pid, poll interval and why, webhook address)
and the server's rate counters (``rate``). `syncd status` reads them with a
second connection (SQLite WAL: readers never block the daemon) and asks the
state directory's lock whether a daemon or sync is running. It never creates
the index and never sends a request: it costs no transactions.

Conflicts are those that exist now: the conflicted copies (``model.parse_copy``)
among the synced and the server's items the index knows, less the synced ones
gone from the local folder (resolved here; the next pass carries it over). A
copy found only locally (not synced yet) is counted from the next pass on.

The ``--json`` shape (``"version": 1``) is stable: keys are only ever added.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from io import StringIO
from typing import Any

from syncd import model
from syncd.config.loader import Config
from syncd.local import kept
from syncd.report import MirrorReport
from syncd.state import lock
from syncd.state.index import Index

DAY = 86400.0
MAX_CONFLICTS = 50  # recent conflicts remembered per mirror
MAX_ERRORS = 20     # errors shown per mirror


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------- writing

def set_state(index: Index, mirror: str, state: str, now: float, *,
              message: str | None = None, until: float | None = None) -> None:
    """Change only the state of a mirror's status (the rest is kept)."""
    values = index.mirror_state(mirror)
    status = dict(values.status or {})
    if status.get("state") != state:
        status["since"] = now
    status.update(state=state, message=message, until=until)
    values.status = status


def record_pass(index: Index, report: MirrorReport, now: float, *, state: str | None = None,
                until: float | None = None) -> None:
    """Store one mirror's outcome of a pass."""
    values = index.mirror_state(report.name)
    status = dict(values.status or {})
    conflicts = list(status.get("conflicts") or [])
    for path in sorted(set(report.conflicts)):
        conflicts.append([path, now])
    status["conflicts"] = conflicts[-MAX_CONFLICTS:]
    status["conflicts_total"] = int(status.get("conflicts_total") or 0) + len(set(report.conflicts))
    status["bytes_up"] = int(status.get("bytes_up") or 0) + report.bytes_up
    status["bytes_down"] = int(status.get("bytes_down") or 0) + report.bytes_down
    problem = report.error or (f"deletions held back: {report.guard}" if report.guard else None)
    if state is None:
        state = "error" if problem or report.failed else "idle"
    if status.get("state") != state:
        status["since"] = now
    status.update(state=state, message=problem, until=until, last_pass=now)
    if report.finished and not report.error and not report.guard:
        status["last_sync"] = now
    status["last_counts"] = dict(report.counts)
    values.status = status


def record_rate(index: Index, account: str, *, limit: int | None, remaining: int | None,
                reserve: int, now: float) -> None:
    index.account_state(account).rate = {
        "limit": limit, "remaining": remaining, "reserve": reserve, "at": now}


# ---------------------------------------------------------------------- reading

def collect(config: Config, *, now: float | None = None) -> dict[str, Any]:
    """Everything `syncd status` shows, as the stable JSON-ready dict."""
    now = time.time() if now is None else now
    acct = config.account
    holder = lock.holder(config.state_dir)
    index_path = config.state_dir / "index.sqlite3"
    index = Index(index_path) if index_path.exists() else None
    try:
        values = index.account_state(acct.url) if index else None
        daemon = (values.daemon if values else None) or {}
        running = holder is not None and daemon.get("pid") == holder
        rate = (values.rate if values else None) or {}
        spent = index.spent(acct.url, now - DAY) if index else 0
        feed = values.feed if values else None
        detection = (values.detection if values else None) or {}
        out: dict[str, Any] = {
            "version": 1,
            "daemon": {
                "running": running,
                "pid": holder if running else None,
                "busy": holder is not None and not running,  # a one-shot sync holds the lock
                "started": _iso(daemon.get("started")) if running else None,
                "poll_interval": daemon.get("poll_interval") if running else None,
                "poll_reason": daemon.get("poll_reason") if running else None,
                "webhook": daemon.get("webhook") if running else None,
                "watch": daemon.get("watch") if running else None,
            },
            "account": {
                "url": acct.url,
                "transactions_24h": spent,
                "limit": rate.get("limit"),
                "budget": acct.budget,
                "remaining": rate.get("remaining"),
                "remaining_at": _iso(rate.get("at")),
                "reserve": rate.get("reserve"),
                "activity_feed": None if feed is None else feed == "yes",
                # how the last refresh learnt the server's changes (remote/tracker.py)
                "change_detection": {
                    "way": detection.get("way"),
                    "why": detection.get("why"),
                    "at": _iso(detection.get("at")),
                    "feed_requests": detection.get("feed_requests"),
                    "listing_requests": detection.get("listing_requests"),
                } if detection else None,
                "transactions_by_kind": _by_kind(index.spent_by(acct.url, now - DAY))
                if index else {},
            },
            "mirrors": [],
        }
        for m in config.mirrors:
            out["mirrors"].append(_mirror(index, m, running, now))
        return out
    finally:
        if index is not None:
            index.close()


def _mirror(index: Index | None, m, running: bool, now: float) -> dict[str, Any]:
    status: Mapping[str, Any] = (index.mirror_state(m.name).status if index else None) or {}
    state = status.get("state") or ("idle" if status else "new")
    message = status.get("message")
    if not running and state == "syncing":
        state, message = "error", "interrupted while syncing; resumes on the next run"
    copies = _copies(index, m) if index is not None else []
    errors = []
    if index is not None:
        for path, (attempts, next_try, error) in sorted(index.failures(m.name).items()):
            errors.append({"path": path, "error": error, "attempts": attempts,
                           "retry_at": _iso(next_try)})
    return {
        "name": m.name,
        "local": str(m.local),
        "remote": m.remote,
        "direction": m.direction,
        "state": state,
        "since": _iso(status.get("since")),
        "message": message,
        "until": _iso(status.get("until")),
        "last_sync": _iso(status.get("last_sync")),
        "queued": index.queue_count(m.name) if index else 0,
        "conflicts": len(copies),  # conflicted copies there now
        "conflict_copies": copies,
        "conflicts_seen": int(status.get("conflicts_total") or 0),  # ever found, a total
        "recent_conflicts": [{"path": p, "at": _iso(t)}
                             for p, t in (status.get("conflicts") or [])[-10:]],
        "bytes_up": int(status.get("bytes_up") or 0),
        "bytes_down": int(status.get("bytes_down") or 0),
        "errors": errors[:MAX_ERRORS],
        "error_count": len(errors),
        # folders a deletion left because they hold ignored items (syncd.local.kept)
        "kept": _kept(index, m.name),
    }


def _copies(index: Index, m) -> list[dict[str, str]]:
    """The conflicted copies of a mirror there now, sorted: ``{"copy", "original"}``."""
    base, remote = index.paths_holding(m.name, " (conflicted copy ")
    found: dict[str, str] = {}
    for path in set(base) | remote:
        parsed = model.parse_copy(path)
        if parsed is None:
            continue
        local = base.get(path)
        if local is not None and not os.path.lexists(os.path.join(m.local, local)):
            continue  # resolved here: the next pass carries it over
        found[path] = parsed[0]
    return [{"copy": c, "original": found[c]} for c in sorted(found)]


def _by_kind(rows: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """Requests of the last 24 h by kind, ``"GET /resources/list"`` (ids as ``{id}``)."""
    out: dict[str, int] = {}
    for (method, path), n in rows.items():
        kind = f"{method} " + "/".join("{id}" if part.isdigit() else part
                                       for part in path.split("/"))
        out[kind] = out.get(kind, 0) + n
    return dict(sorted(out.items()))


def _kept(index: Index | None, mirror: str) -> list[dict[str, str]]:
    if index is None:
        return []
    entries = kept.load(index, mirror)
    return [{"path": p, "why": kept.WHY[side]}
            for side in (kept.LOCAL, kept.REMOTE)
            for p in kept.tops(side, [p for s, p in entries if s == side])]


# ---------------------------------------------------------------------- showing

def to_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False)


def _ago(iso: str | None, now: float) -> str:
    if not iso:
        return "never"
    t = datetime.fromisoformat(iso).timestamp()
    d = max(0, now - t)
    if d < 90:
        return f"{d:.0f}s ago"
    if d < 5400:
        return f"{d / 60:.0f}m ago"
    if d < 2 * DAY:
        return f"{d / 3600:.1f}h ago"
    return f"{d / DAY:.0f}d ago"


def render(data: Mapping[str, Any], *, now: float | None = None, width: int | None = None
           ) -> str:
    """The human view: a line about the daemon and the account, a table of mirrors,
    then the errors with their paths."""
    from rich.console import Console  # rich only for the human view
    from rich.table import Table
    from rich.text import Text

    now = time.time() if now is None else now
    buf = StringIO()
    console = Console(file=buf, width=width or 100, force_terminal=False, no_color=True,
                      highlight=False)
    say = lambda text: console.print(text, markup=False)  # noqa: E731 - paths may hold [ ]
    d, a = data["daemon"], data["account"]
    if d["running"]:
        every = d["poll_interval"]
        poll = "push (webhooks)" if every is None else f"every {every:.0f}s"
        say(f"Daemon: running (pid {d['pid']}), remote poll {poll}")
        if d.get("poll_reason"):
            say(f"  {d['poll_reason']}")
        if d.get("watch"):
            say(f"  local changes: {d['watch']}")
    elif d["busy"]:
        say("Daemon: not running (a `syncd sync` is working now)")
    else:
        say("Daemon: not running")
    limit = a["limit"] if a["limit"] is not None else a["budget"]
    parts = [f"{a['transactions_24h']} transactions spent by syncd in the last 24 h"]
    if a["remaining"] is not None:
        parts.append(f"{a['remaining']} of {limit} left on the account "
                     f"(as of {_ago(a['remaining_at'], now)})")
    if a["reserve"] is not None:
        parts.append(f"reserve {a['reserve']}")
    say("Account: " + "; ".join(parts))
    if a.get("change_detection"):
        c = a["change_detection"]
        say(f"Remote changes: {c['why']} ({_ago(c['at'], now)})")
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for col in ("Mirror", "State", "Last sync", "Queued", "Conflicts", "Errors"):
        table.add_column(col)
    for m in data["mirrors"]:
        state = m["state"] + (f" ({m['message']})" if m["message"] else "")
        table.add_row(Text(m["name"]), Text(state), _ago(m["last_sync"], now),
                      str(m["queued"]), str(m["conflicts"]), str(m["error_count"]))
    console.print(table, markup=False)
    for m in data["mirrors"]:
        for e in m["errors"]:
            say(f"  {m['name']}: {e['path']}: {e['error']} "
                          f"(attempt {e['attempts']}, retry {e['retry_at']})")
        for c in m["conflict_copies"]:
            say(f"  {m['name']}: conflict, both versions kept: {c['original']} and "
                f"{c['copy']} (`syncd conflicts`)")
        for k in m.get("kept") or []:
            say(f"  {m['name']}: {k['path']}: {k['why']}")
    return buf.getvalue()
