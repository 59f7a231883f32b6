"""``CommandError``: a failure a command reports as one line on stderr (``syncd:
...``) and ends with its exit code (``syncd.cli.exitcodes``)."""

from __future__ import annotations

from syncd.cli import exitcodes


class CommandError(Exception):
    """A failure to report as one line on stderr with an exit code."""

    def __init__(self, message: str, code: int = exitcodes.FAILURE):
        super().__init__(message)
        self.code = code
