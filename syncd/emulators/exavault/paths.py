"""Remote path and identifier rules: normalisation, name checks, wildcards, auto-rename.

Paths are relative to the account home folder (the emulator root) and are
always stored and returned with a leading ``/``.  Names are kept exactly as
sent (no Unicode normalisation, case preserved and significant).
"""

from __future__ import annotations

import functools
import re


class PathError(ValueError):
    """An identifier or name that can never be valid (maps to 400)."""


def normalize_path(raw: str) -> str:
    """Return the canonical form ``/a/b`` of a path; ``/`` is the home folder.

    A missing leading slash is accepted, repeated and trailing slashes are
    collapsed.  ``.`` and ``..`` segments and NUL characters are refused.
    """
    if raw is None:
        raise PathError("A path is required.")
    if not isinstance(raw, str):
        raise PathError("A path must be a string.")
    if "\x00" in raw:
        raise PathError("Paths cannot contain NUL characters.")
    _check_utf8(raw)
    parts = [p for p in raw.split("/") if p != ""]
    for part in parts:
        if part in (".", ".."):
            raise PathError("Paths cannot contain '.' or '..' segments.")
    return "/" + "/".join(parts)


def split_path(path: str) -> tuple[str, str]:
    """Split a normalised path into (parent path, name); the root has name ''."""
    if path == "/":
        return "/", ""
    parent, _, name = path.rpartition("/")
    return (parent or "/"), name


def join_path(parent: str, name: str) -> str:
    return ("" if parent == "/" else parent) + "/" + name


def ancestors(path: str) -> list[str]:
    """Every folder path strictly above ``path``, root first."""
    if path == "/":
        return []
    result = ["/"]
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        result.append("/" + "/".join(parts[:i]))
    return result


def check_name(name: str) -> str:
    """Validate a single path segment (folder name, rename target)."""
    if not isinstance(name, str) or name == "":
        raise PathError("A name is required.")
    if "/" in name or "\x00" in name:
        raise PathError("Names cannot contain '/' or NUL characters.")
    if name in (".", ".."):
        raise PathError("'.' and '..' are not valid names.")
    _check_utf8(name)
    return name


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PathError("Names must be valid Unicode (no lone surrogates).") from None


def parse_identifier(raw: str) -> tuple[str, object]:
    """Classify a resource identifier: ('id', int), ('hash', str) or ('path', str).

    ``id:<digits>`` and ``hash:<value>`` are recognised only without a leading
    slash; ``/id:5`` is the path of an item literally named ``id:5``.
    """
    if raw is None:
        raise PathError("A resource identifier is required.")
    if not isinstance(raw, str):
        raise PathError("A resource identifier must be a string.")
    if raw.startswith("id:"):
        value = raw[3:]
        if not value.isdigit():
            raise PathError(f"Invalid resource id: {raw!r}.")
        return "id", int(value)
    if raw.startswith("hash:"):
        return "hash", raw[5:]
    return "path", normalize_path(raw)


@functools.lru_cache(maxsize=256)
def wildcard_regex(pattern: str) -> re.Pattern:
    """Compile a search pattern: ``*`` any run, ``?`` one character, case-insensitive, whole name."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def wildcard_match(pattern: str, name: str) -> bool:
    return wildcard_regex(pattern).fullmatch(name) is not None


def numbered_name(name: str, n: int) -> str:
    """``report.txt`` -> ``report (n).txt``; ``README`` / ``.bashrc`` -> ``README (n)``."""
    stem, dot, ext = name.rpartition(".")
    if not dot or stem == "":
        return f"{name} ({n})"
    return f"{stem} ({n}).{ext}"


def extension(name: str) -> str:
    """Extension without the dot ('' when none; a leading-dot name has none)."""
    stem, dot, ext = name.rpartition(".")
    return ext if dot and stem else ""
