"""The shipped systemd units, read for the unit tests and for `systemd-analyze`."""

from __future__ import annotations

from tests.helpers.package_data import UNIT_DIR

USER_UNIT = UNIT_DIR / "syncd.service"

SYSTEM_UNIT = UNIT_DIR / "syncd@.service"

SYNC_UNIT = UNIT_DIR / "syncd-sync.service"

TIMER_UNIT = UNIT_DIR / "syncd.timer"
