"""The daemon's log: stderr, one line per record, secrets never written.

Under systemd (``JOURNAL_STREAM`` is set when stderr is the journal) each line
starts with the ``<N>`` syslog priority prefix journald understands and carries
no timestamp (journald adds its own); elsewhere lines read
``2026-11-23 10:15:02 INFO syncd: message``.

With the ``json`` format (``syncd run --log-format json``, ``daemon.log_format``)
each line is one JSON object instead (the keys are listed at ``JSON_KEYS``;
docs/operations.md documents them); under systemd it keeps the ``<N>`` prefix,
which journald strips.

Every formatted line goes through a redactor that replaces the account's API
key, access token and webhook token with ``***``, whatever logged them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import TextIO

#: The log formats (config ``daemon.log_format``, ``syncd run --log-format``).
FORMATS = ("text", "json")
#: What a JSON line may hold: always ``ts`` (UTC, ISO 8601), ``level``, ``logger``
#: and ``message``; ``exc`` with a traceback; the others when the line is about
#: one action of a pass (``action`` as in `syncd sync --json`, ``copy``: a conflict's).
JSON_KEYS = ("ts", "level", "logger", "message", "exc", "mirror", "action", "path",
             "bytes", "copy")
_FIELDS = JSON_KEYS[5:]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, *, journald: bool, secrets: Iterable[str] = ()):
        super().__init__(fmt, datefmt="%Y-%m-%d %H:%M:%S")
        self.journald = journald
        self.secrets: list[str] = []
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def format(self, record: logging.LogRecord) -> str:
        text = self.redact(super().format(record))
        if self.journald:
            prio = _PRIORITY.get(record.levelno, 6)
            # One journal entry per line: continuation lines (tracebacks) keep the prefix.
            text = "\n".join(f"<{prio}>{line}" for line in text.split("\n"))
        return text


class JsonFormatter(RedactingFormatter):
    """One JSON object per record (``JSON_KEYS``), secrets redacted in every value."""

    def __init__(self, *, journald: bool, secrets: Iterable[str] = ()):
        super().__init__("%(message)s", journald=journald, secrets=secrets)

    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": self.formatTime(record), "level": record.levelname.lower(),
               "logger": record.name, "message": self.redact(record.getMessage())}
        if record.exc_info:
            doc["exc"] = self.redact(self.formatException(record.exc_info))
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = self.redact(value) if isinstance(value, str) else value
        text = self.redact(json.dumps(doc, ensure_ascii=False))
        if self.journald:
            text = f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        return text

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        at = time.gmtime(record.created)
        return time.strftime("%Y-%m-%dT%H:%M:%S", at) + f".{int(record.msecs):03d}Z"


def setup(level: str = "info", *, secrets: Iterable[str] = (), stream: TextIO | None = None,
          env: Mapping[str, str] | None = None, fmt: str = "text") -> RedactingFormatter:
    """Send the ``syncd`` loggers to ``stream`` (stderr) in format ``fmt`` (``FORMATS``);
    returns the formatter so the daemon can update the secrets after a config reload."""
    env = os.environ if env is None else env
    journald = bool(env.get("JOURNAL_STREAM"))
    if fmt == "json":
        formatter: RedactingFormatter = JsonFormatter(journald=journald, secrets=secrets)
    else:
        line = ("%(name)s: %(message)s" if journald
                else "%(asctime)s %(levelname)s %(name)s: %(message)s")
        formatter = RedactingFormatter(line, journald=journald, secrets=secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    # The handler sits on the root logger, so libraries' records (apscheduler,
    # watchdog, urllib3: warnings only, unless debugging) are redacted too.
    top = logging.getLogger()
    for old in [h for h in top.handlers if isinstance(h.formatter, RedactingFormatter)]:
        top.removeHandler(old)
    top.addHandler(handler)
    top.setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    set_level(level)
    return formatter


def set_level(level: str) -> None:
    logging.getLogger("syncd").setLevel(LEVELS.get(level, logging.INFO))
