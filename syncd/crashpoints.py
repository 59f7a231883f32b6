"""Named crash points: where the crash tests stop syncd on purpose.

The worker, the index and the engine call :func:`hit` at the moments that matter
for crash safety: after a server-side effect and before the index records it,
between a temp file and its rename into place, before a transaction commits.
In normal use :func:`hit` does nothing (one global check).

Two ways to arm them:

* ``SYNCD_CRASH_AT=NAME[:N]`` in the environment (read when this module is first
  imported): the N-th time (default 1st) point NAME is reached, the process
  sends itself SIGKILL: nothing is flushed, no ``finally`` runs, exactly like a
  power cut of the process. ``NAME`` may be ``*`` (the N-th point reached,
  whatever its name). The kill -9 tests use this through ``syncd sync``.
* :func:`set_hook` (in-process, for the randomized end-to-end machine): the hook
  is called with the point's name and may raise (a simulated crash) or change
  the world (an edit during a transfer).

The names are listed in :data:`POINTS`; ``tests/reliability/test_crashpoints.py`` checks the
list against the code, so a renamed point cannot silently stop being tested.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

POINTS = (
    "upload.start",        # the local file is open, no byte sent yet
    "upload.body",         # the first chunk of the body has been read (the request is in flight)
    "upload.sent",         # the server stored the file; the index does not know yet
    "upload.aside",        # our upload landed under another name and was moved aside
    "download.body",       # the first chunk is in the .part file
    "download.fetched",    # the .part file is complete and synced; the target is untouched
    "download.replaced",   # the .part file has replaced the target; the index does not know
    "conflict.aside",      # the local version was renamed to its conflict name
    "conflict.replaced",   # the server's version took the name; the copy is not uploaded yet
    "move.local.done",     # renamed on disk; the index does not know
    "move.remote.done",    # moved on the server; the index does not know
    "mkdir.local.done",
    "mkdir.remote.done",
    "delete.local.done",   # moved to the local trash; the index does not know
    "delete.remote.done",  # deleted (or trashed) on the server; the index does not know
    "index.commit",        # a transaction is about to commit
    "pass.queued",         # the plan is stored as the queue; no action has run
    "pass.refreshed",      # the remote snapshot (and the feed cursor) is stored
)

_lock = threading.Lock()
_hook: Callable[[str], None] | None = None
_target: tuple[str, int] | None = None
_counts: dict[str, int] = {}
armed = False  # the one global check on the hot path


def _parse(spec: str) -> tuple[str, int] | None:
    spec = spec.strip()
    if not spec:
        return None
    name, _, n = spec.partition(":")
    if name != "*" and name not in POINTS:
        raise ValueError(f"SYNCD_CRASH_AT: unknown crash point {name!r}")
    return name, int(n) if n else 1


def configure(spec: str | None) -> None:
    """Arm (or with ``None``/"" disarm) the kill switch, as ``SYNCD_CRASH_AT`` does."""
    global _target, armed
    with _lock:
        _target = _parse(spec) if spec else None
        _counts.clear()
        armed = _target is not None or _hook is not None


def set_hook(hook: Callable[[str], None] | None) -> None:
    """Call ``hook(name)`` at every point (``None`` removes it)."""
    global _hook, armed
    with _lock:
        _hook = hook
        armed = _target is not None or _hook is not None


def hit(name: str) -> None:
    if not armed:
        return
    hook = _hook
    if hook is not None:
        hook(name)
    if _target is None:
        return
    with _lock:
        want, n = _target
        if want not in ("*", name):
            return
        _counts[want] = _counts.get(want, 0) + 1
        if _counts[want] < n:
            return
    os.kill(os.getpid(), signal.SIGKILL)


error: str | None = None  # a bad SYNCD_CRASH_AT, for the CLI to report
try:
    configure(os.environ.get("SYNCD_CRASH_AT"))
except ValueError as exc:
    error = str(exc)
