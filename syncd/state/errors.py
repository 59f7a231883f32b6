"""The index's errors, and how to tell a damaged index file from other failures."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class IndexError_(Exception):  # trailing underscore: the builtin IndexError is taken
    """Base class of the index's own errors."""


class IndexVersionError(IndexError_):
    """The index file was written by a newer syncd (schema version unknown here)."""


class IndexCorruptError(IndexError_):
    """The index file is not a (readable) SQLite database, or holds undecodable data."""


def corrupt_message(path: Path | str, error: BaseException | str) -> str:
    """The one line for an unusable index file (docs/operations.md, "Recovering
    from a lost or corrupt index"): which file, and what to do."""
    return (f"{path} is not a usable syncd index (SQLite: {error}); move it aside "
            f"to start from an empty index")


def as_corrupt(path: Path | str, exc: BaseException) -> IndexCorruptError | None:
    """``exc`` as the documented error naming index file ``path``, when it says
    the file is damaged (see :func:`is_corrupt`); None for any other error."""
    if isinstance(exc, IndexCorruptError):
        return exc
    if not is_corrupt(exc):
        return None
    return IndexCorruptError(corrupt_message(path, " ".join(str(exc).split())))


def is_corrupt(exc: BaseException) -> bool:
    """Does ``exc`` say the index file is damaged or not a database? SQLite may
    notice a damaged page only at the first query that reads it ("database disk
    image is malformed"), long after the file was opened."""
    if isinstance(exc, IndexCorruptError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        # Python's own error for a text cell that is not UTF-8: damaged bytes
        return str(exc).startswith("Could not decode to UTF-8")
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.InterfaceError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    text = str(exc)
    return "malformed" in text or "not a database" in text
