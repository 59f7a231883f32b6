"""A mirror's local folder before a pass: there (or made, for a first sync), and
no mount point inside it unmounted."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: local/ sits below config, state and the report
    from syncd.config.loader import MirrorConfig
    from syncd.report import MirrorReport
    from syncd.state.index import Index


def ready(index: Index, m: MirrorConfig, report: MirrorReport, dry_run: bool) -> bool:
    """True if ``m``'s local folder is there, made if it never synced (not in a dry
    run); else False, with the reason in ``report.error``."""
    root = Path(m.local)
    if root.is_dir():
        return True
    if os.path.lexists(root):
        report.error = f"local folder {root} is not a folder"
        return False
    if index.base_count(m.name):
        report.error = (f"local folder {root} is missing (unmounted?); nothing was "
                        "changed")
        return False
    if not dry_run:
        root.mkdir(parents=True, exist_ok=True)
    return True


def unmounted(root: str, mounts: list[str]) -> str:
    """The first of ``mounts`` (folders of the mirror that were mount points at the
    last full scan) that is now a plain folder on the device of the folder it is
    in: unmounted, its contents out of sight. ``""`` if none. (One that is gone
    is no longer a mount point: its deletion is guarded like any other.)"""
    for rel in mounts:
        path = os.path.join(root, rel)
        try:
            st = os.lstat(path)
            up = os.stat(os.path.dirname(path))
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_dev == up.st_dev:
            return rel
    return ""
