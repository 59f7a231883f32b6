"""Ctrl-C and SIGTERM during `syncd sync`: stop within a second, keep nothing partial.

The first SIGINT or SIGTERM sets the pass's cancel event and says so once on stderr
("stopping"). The pass then ends at its next check: a transfer between two chunks
(at most a fifth of a second with a bandwidth limit), otherwise between actions; a
request that still blocks after half a second is cut (``transfer.errors.AbortWatch``).
An upload cut short is never stored by the server; a download's bytes stay in its
temp file (``.syncd-….part``, never under the user's name) and a big one's are kept
for the next run to go on from. The command then exits ``128 + the signal``: 130
for Ctrl-C, 143 for SIGTERM, as shells report a process a signal ended.

A second signal ends the process at once (``os._exit``), with the same code: files
are only ever put in place by a rename, so nothing partial is under a user's name
then either; temp files left behind are removed (or resumed) by the next run.

The handler itself only sets the event and writes with ``os.write`` (no buffered
stream is touched from inside a signal handler).
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

from syncd.cli import exitcodes

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupt:
    """``with Interrupt() as stop:`` catches SIGINT and SIGTERM for the block;
    ``stop.cancel`` is the event to pass to ``SyncEngine.run``; ``stop.signal``
    the first signal caught (None: none)."""

    def __init__(self, fd: int = 2):
        self.cancel = threading.Event()
        self.signal: int | None = None
        self._fd = fd
        self._old: dict[int, object] = {}

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as shells report it (exitcodes: 130 for
        SIGINT, 143 for SIGTERM)."""
        return {signal.SIGTERM: exitcodes.TERMINATED}.get(self.signal, exitcodes.INTERRUPTED)

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:  # the second one: out, now
            self._say("stopped at once (the next run cleans up and resumes)")
            os._exit(self.exit_code)
        self.signal = signum
        self.cancel.set()
        again = "Ctrl-C" if signum == signal.SIGINT else "signal"
        self._say(f"stopping (another {again} quits at once)")

    def _say(self, text: str) -> None:
        try:  # (on a terminal, off the line Ctrl-C's "^C" or a progress bar is on)
            start = "\n" if os.isatty(self._fd) else ""
            os.write(self._fd, f"{start}syncd: {text}\n".encode())
        except OSError:
            pass
