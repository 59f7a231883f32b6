"""The daemon's log: stderr, one line per record, secrets never written.

Under systemd (``JOURNAL_STREAM`` is set when stderr is the journal) each line
starts with the ``<N>`` syslog priority prefix journald understands and carries
no timestamp (journald adds its own); elsewhere lines read
``2026-11-23 10:15:02 INFO syncd: message``.

Every formatted line goes through a redactor that replaces the account's API
key, access token and webhook token with ``***``, whatever logged them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

#: The log levels a user may choose (config ``log_level``, ``syncd run --log-level``).
LEVELS = ("debug", "info", "warning", "error")

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

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        if self.journald:
            prio = _PRIORITY.get(record.levelno, 6)
            # One journal entry per line: continuation lines (tracebacks) keep the prefix.
            text = "\n".join(f"<{prio}>{line}" for line in text.split("\n"))
        return text


def setup(level: str = "info", *, secrets: Iterable[str] = (), stream: TextIO | None = None,
          env: Mapping[str, str] | None = None) -> RedactingFormatter:
    """Send the ``syncd`` loggers to ``stream`` (stderr); returns the formatter so
    the daemon can update the secrets after a config reload."""
    env = os.environ if env is None else env
    journald = bool(env.get("JOURNAL_STREAM"))
    fmt = "%(name)s: %(message)s" if journald else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    formatter = RedactingFormatter(fmt, journald=journald, secrets=secrets)
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
