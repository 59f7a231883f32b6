"""The domain's event stream: integer ids from 1, retention by count and age, kept on disk."""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone

from .names import key

DEFAULT_RETENTION = 500_000
RETENTION_DAYS = 30
DEFAULT_PAGE, MAX_PAGE = 50, 100


def iso_ms(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int(t * 1000) % 1000:03d}Z"


class CursorLost(Exception):
    """The asked id is older than the retained events (or newer than any event)."""


class EventLog:
    """Append-only list of event records; ``events.jsonl`` under the storage root."""

    def __init__(self, path, clock, retention: int = DEFAULT_RETENTION):
        self.path = path
        self.clock = clock
        self.retention = int(retention)
        self._lock = threading.Lock()
        self.events: list[dict] = []
        self.latest = 0
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line:
                        try:
                            rec = json.loads(line)
                        except ValueError:
                            continue  # a torn last line after a crash
                        self.events.append(rec)
                        self.latest = max(self.latest, rec["id"])
        self._trim()
        self._file = open(path, "a", encoding="utf-8")

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def set_retention(self, count: int) -> None:
        with self._lock:
            self.retention = int(count)
            self._trim()

    def add(self, action: str, data: dict, *, actor: int, source: str, app: str | None,
            kind: str = "file_system", path: str = "/") -> dict:
        with self._lock:
            self.latest += 1
            rec = {"id": self.latest, "t": self.clock(), "actor": actor, "source": source,
                   "app": app, "type": kind, "action": action, "path": path, "data": data}
            self.events.append(rec)
            self._file.write(json.dumps(rec, separators=(",", ":")) + "\n")
            self._file.flush()
            self._trim()
            return rec

    def _trim(self) -> None:
        cut = self.clock() - RETENTION_DAYS * 86400
        drop = max(0, len(self.events) - self.retention)
        while drop < len(self.events) and self.events[drop]["t"] < cut:
            drop += 1
        if drop:
            del self.events[:drop]
            if getattr(self, "_file", None) is not None and drop > 1000:
                self._rewrite()

    def _rewrite(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for rec in self.events:
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self._file.close()
        os.replace(tmp, self.path)
        self._file = open(self.path, "a", encoding="utf-8")

    def first_retained(self) -> int:
        return self.events[0]["id"] if self.events else self.latest + 1

    def cursor(self) -> dict:
        with self._lock:
            self._trim()
            t = self.events[-1]["t"] if self.events else self.clock()
            oldest = self.first_retained() if self.events else self.latest
            return {"timestamp": iso_ms(t), "latest_event_id": self.latest,
                    "oldest_event_id": oldest}

    def after(self, since: int, count: int, *, folder: str | None = None,
              suppress: str | None = None, caller: tuple[int, str] = (0, ""),
              types: set[str] | None = None) -> tuple[list[dict], int]:
        """Events after ``since`` that pass the filters, at most ``count``; and the id the
        page reaches (where the next call should start)."""
        with self._lock:
            self._trim()
            if since < self.first_retained() - 1 or since > self.latest:
                raise CursorLost(since)
            prefix = key(folder.rstrip("/")) if folder else None
            out: list[dict] = []
            reached = since
            start = since - self.first_retained() + 1
            for rec in self.events[max(0, start):]:
                if len(out) >= count:
                    break
                reached = rec["id"]
                if _passes(rec, prefix, suppress, caller, types):
                    out.append(rec)
            return out, reached


def _under(path: str | None, prefix: str) -> bool:
    if not path:
        return False
    k = key(path)
    return k == prefix or k.startswith(prefix + "/")


def _passes(rec, prefix, suppress, caller, types) -> bool:
    if types and rec["type"] not in types:
        return False
    user, app = caller
    if suppress == "app" and rec["app"] is not None and rec["app"] == app:
        return False
    if suppress == "user" and rec["app"] == app and rec["actor"] == user:
        return False
    if prefix is not None:
        d = rec["data"]
        paths = (d.get("target_path"), d.get("source_path"), rec.get("path"))
        if not any(_under(p, prefix) for p in paths):
            return False
    return True
