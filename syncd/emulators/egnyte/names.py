"""Egnyte's name rules and its case-insensitive, case-preserving namespace."""

from __future__ import annotations

import re
import unicodedata

MAX_COMPONENT_BYTES = 245
MAX_PATH_BYTES = 5000
FORBIDDEN_CHARS = frozenset('\\/":<>|*?')

# The names Egnyte filters (never stored): compared case-insensitively.
_FILTERED_EXACT = frozenset({".ds_store", ".metadata_never_index", ".thumbs.db", "thumbs.db",
                             "powerpoint temp", "desktop.ini", "icon\r"})
_FILTERED_SUFFIXES = ("~", "._attribs_", "._rights_", "._egn_", "_egnmeta", ".tmp",
                      "-spotlight", ".ac$", ".sv$", ".~vsdx")
_FILTERED_PREFIXES = ("._", ".~", "word work file", "_egn_.", ".smbdelete")
_FILTERED_RE = re.compile(
    r"~.*\.(idlk|xlsx|pptx)( \(deleted\))?|~\$.*\.(docx?|xlsx?|pptx?|dotx?|xlsm|docm|pptm)"
    r"|atmp\d{4}|.*\.sas\.b\d\d|aa.\d{5}", re.IGNORECASE)
_FILTERED_FOLDERS = frozenset({".data", ".tmp"})


class NameError_(ValueError):
    """A path Egnyte refuses (answered 400)."""


def key(name: str) -> str:
    """The comparison key of one name: NFC, then case-folded (NFC and NFD forms are equal)."""
    return unicodedata.normalize("NFC", name).casefold()


def refusal(name: str, *, folder: bool = False) -> str | None:
    """Why Egnyte refuses ``name`` as a path component, or None when it is allowed."""
    if not name or name in (".", ".."):
        return "The name is empty."
    bad = sorted(set(name) & FORBIDDEN_CHARS)
    if bad:
        return f"The name contains a forbidden character: {''.join(bad)}"
    if any(ord(c) < 32 or ord(c) == 127 for c in name) and name != "Icon\r":
        return "The name contains a control character."
    if any(ord(c) > 0xFFFF for c in name):
        return "The name contains a character of 4 UTF-8 bytes (emoji are not supported)."
    if name.endswith(".") or name.endswith(" ") or name.startswith(" "):
        return "A name cannot end with a period or a space, or start with a space."
    if len(name.encode("utf-8")) > MAX_COMPONENT_BYTES:
        return f"A name cannot be longer than {MAX_COMPONENT_BYTES} bytes."
    low = name.casefold()
    if (low in _FILTERED_EXACT or low.endswith(_FILTERED_SUFFIXES)
            or low.startswith(_FILTERED_PREFIXES) or _FILTERED_RE.fullmatch(name)
            or (folder and (low in _FILTERED_FOLDERS or low.startswith(".spotlight-")))):
        return "This file name is filtered and cannot be stored."
    return None


def split(path: str) -> list[str]:
    """The components of an absolute path ("/Shared/a/" -> ["Shared", "a"])."""
    return [p for p in path.split("/") if p]


def check_path(parts: list[str], *, folder: bool = False) -> None:
    """Raise NameError_ when a new item at ``parts`` would break a name rule."""
    if len(("/" + "/".join(parts)).encode("utf-8")) > MAX_PATH_BYTES:
        raise NameError_(f"A path cannot be longer than {MAX_PATH_BYTES} bytes.")
    why = refusal(parts[-1], folder=folder) if parts else "The root cannot be created."
    if why:
        raise NameError_(why)
