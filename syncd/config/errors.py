"""The one error type of the configuration."""

from __future__ import annotations

import os


class ConfigError(Exception):
    """A problem with the configuration. ``str(err)`` is one line:
    ``FILE:LINE: KEY: message``, leaving out the parts that are ``None``."""

    def __init__(self, message: str, *, file: str | os.PathLike | None = None,
                 line: int | None = None, key: str | None = None) -> None:
        self.message = " ".join(str(message).split())  # always one line
        self.file = os.fspath(file) if file is not None else None
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.key:
            parts.append(self.key)
        parts.append(self.message)
        return ": ".join(parts)

    def __reduce__(self):
        return (_rebuild_error, (self.message, self.file, self.line, self.key))


def _rebuild_error(message, file, line, key) -> ConfigError:
    return ConfigError(message, file=file, line=line, key=key)
