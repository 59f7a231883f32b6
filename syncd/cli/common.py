"""What the commands that read the config share: loading it, and the one line and
exit code for a config error and for a failure of the state directory."""

from __future__ import annotations

import os
import sqlite3
import sys

from syncd.cli import exitcodes
from syncd.cli.errors import CommandError
from syncd.config.loader import ConfigError
from syncd.config.loader import load_config as _load
from syncd.state.index import FILENAME, IndexError_, as_corrupt

#: What a failing index (the state directory) raises.
STATE_ERRORS = (IndexError_, sqlite3.Error)


def config_error(exc: ConfigError) -> CommandError:
    """A config error (an unknown ``--mirror`` included): 78."""
    return CommandError(str(exc), exitcodes.CONFIG)


def load_config(path: str | None):
    """The config at ``path`` (else the default); its warnings go to stderr."""
    try:
        config = _load(path)
    except ConfigError as exc:
        raise config_error(exc) from exc
    for warning in config.warnings:
        print(f"syncd: warning: {warning}", file=sys.stderr)
    return config


def _space_problem(folder) -> str | None:
    """"No space left on device ..." when ``folder``'s file system is (nearly)
    full: SQLite reports a full disk as "disk I/O error" when it cannot grow its
    WAL, which tells the user nothing."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    free = st.f_bavail * st.f_frsize
    if free >= 256 * 1024:
        return None
    return f"No space left on device: {free} bytes free for {folder}"


def state_error(exc: BaseException, config) -> CommandError:
    """A failure of the index (the state directory) as one line and exit code:
    73 when its disk is full or read-only (free space, run again: nothing was
    lost), 70 otherwise; a damaged index file (found at open or at any later
    query) names the file and what to do."""
    exc = as_corrupt(config.state_dir / FILENAME, exc) or exc
    text = " ".join(str(exc).split()) or type(exc).__name__
    space = _space_problem(config.state_dir)
    if space and "No space left on device" not in text:
        text = f"{text} ({space})"
    elif not space and text.startswith("database or disk is full"):
        text = f"index {config.state_dir / 'index.sqlite3'}: {text}"
    if space or "disk is full" in text or "readonly database" in text:
        return CommandError(f"{text}; nothing was lost, run again once there is room",
                            exitcodes.CANTCREAT)
    return CommandError(text, exitcodes.SOFTWARE)
