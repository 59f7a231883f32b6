"""Stopping a sync midway: how many bytes a transfer has moved (as the disk and the
emulator show them), and waiting until it has moved some."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers.daemon import wait_for

MiB = 1 << 20


def temp_files(folder: Path) -> list[Path]:
    """syncd's download temp files in ``folder`` (``.syncd-….part``)."""
    return [p for p in folder.iterdir() if p.name.startswith(".syncd-") and p.is_file()]


def downloaded(folder: Path) -> int:
    """Bytes in the download temp files of ``folder``."""
    total = 0
    for p in temp_files(folder):
        try:
            total += p.stat().st_size
        except FileNotFoundError:  # renamed into place meanwhile
            pass
    return total


def uploaded(emu) -> int:
    """Bytes the emulator holds of uploads not finished: its staging files (in
    flight, and partial uploads kept for a resume)."""
    total = 0
    for p in Path(emu.store.staging).iterdir():
        try:
            total += p.stat().st_size
        except FileNotFoundError:
            pass
    return total


def wait_until_moved(measure, at_least: int, timeout: float = 60.0) -> int:
    """Wait until ``measure()`` reports ``at_least`` bytes; return what it reports."""
    assert wait_for(lambda: measure() >= at_least, timeout, step=0.02), \
        f"the transfer never reached {at_least} bytes (at {measure()})"
    return measure()


def settled(measure, step: float = 0.3, timeout: float = 10.0) -> int:
    """``measure()`` once it stopped changing (the transfer is over)."""
    end = time.monotonic() + timeout
    last = measure()
    while time.monotonic() < end:
        time.sleep(step)
        now = measure()
        if now == last:
            return now
        last = now
    return last
