"""The shipped systemd units, read for the unit tests and for `systemd-analyze`."""

from __future__ import annotations

from pathlib import Path

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"


USER_UNIT = UNIT_DIR / "syncd.service"


SYSTEM_UNIT = UNIT_DIR / "syncd@.service"
