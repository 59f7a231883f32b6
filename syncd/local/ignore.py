"""Which paths of a mirror are left out of syncing.

Rules use gitignore syntax (https://git-scm.com/docs/gitignore), relative to the
mirror's root, and come from two places, in this order:

1. the mirror's ``ignore:`` patterns in the configuration file;
2. the lines of ``<local root>/.syncdignore``, if that file exists.

As in git, a later line wins over an earlier one, so ``.syncdignore`` can re-include
(``!pattern``) what the configuration ignores. Supported forms include ``*.tmp``
(any depth), ``build/`` (folders only), ``/top-only`` (anchored at the root),
``**/cache``, ``docs/*.md`` and negation ``!keep.tmp``; ``#`` starts a comment.

The same rules are applied to local paths (by the scanner) and to remote paths
(by the remote listing), so a path is ignored on both sides or on neither.

Semantics worth knowing:

* **Ignored folders are ignored with everything in them.** Like git, a path inside an
  ignored folder cannot be re-included by a negation: with ``build/`` and
  ``!build/keep``, ``build/keep`` is still ignored (the scanner never descends into
  ``build/``, and :meth:`IgnoreRules.ignored` answers the same for remote paths).
* **Matching is done on the NFC form** of both patterns and paths, so a pattern
  typed as ``café`` also matches a name stored on disk in NFD form (macOS).
* Matching is case-sensitive.

Always ignored, whatever the patterns say (a negation cannot re-include them):

* atomic-download temp files, ``.syncd-<32 hex digits>.part`` (at any depth):
  they belong to a running download or were left behind by a crash. Only that
  exact shape: a user's ``.syncd-notes.part`` is synced like any other file.
  The digits are a random nonce and a keyed MAC of it (the key is kept in the
  index, per mirror), so the cleaner deletes only names syncd made itself
  (:func:`is_own_temp_name`); a user's file that merely has the shape is
  ignored but never deleted;
* ``.syncdignore`` at the mirror root: **the rules file is local to each machine and
  is never synced** (neither uploaded nor downloaded). Each machine syncing the
  same remote folder keeps its own ``.syncdignore``. A ``.syncdignore`` in a
  sub-folder has no special meaning and is synced like any other file.

There are no other built-in ignores: nothing is left out unless a rule says so.
"""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import pathspec

TEMP_PREFIX = ".syncd-"
TEMP_SUFFIX = ".part"
IGNORE_FILE = ".syncdignore"

__all__ = [
    "IGNORE_FILE",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "IgnoreFileError",
    "IgnorePatternError",
    "IgnoreRules",
    "is_own_temp_name",
    "is_temp_name",
    "new_temp_name",
]

_TEMP_NAME = re.compile(r"\.syncd-([0-9a-f]{16})([0-9a-f]{16})\.part\Z")


def is_temp_name(name: str) -> bool:
    """True for a name of the shape of syncd's download temp files,
    ``.syncd-<32 lowercase hex digits>.part``: never synced (whoever made it)."""
    return name.startswith(TEMP_PREFIX) and _TEMP_NAME.match(name) is not None


def _mac(key: bytes, nonce: str) -> str:
    return hmac.new(key, nonce.encode("ascii"), "sha256").hexdigest()[:16]


def new_temp_name(key: bytes) -> str:
    """A fresh download temp file name: a random nonce and its MAC under ``key``
    (the mirror's temp key), so that :func:`is_own_temp_name` can tell it from a
    user's file of the same shape."""
    nonce = secrets.token_hex(8)
    return f"{TEMP_PREFIX}{nonce}{_mac(key, nonce)}{TEMP_SUFFIX}"


def is_own_temp_name(name: str, key: bytes) -> bool:
    """True only for a name :func:`new_temp_name` made with ``key``: a temp file
    syncd created (the only kind it ever deletes on sight)."""
    m = _TEMP_NAME.match(name)
    return m is not None and hmac.compare_digest(m[2], _mac(key, m[1]))


class IgnoreFileError(Exception):
    """``.syncdignore`` exists but cannot be used (unreadable, not UTF-8, bad pattern).
    The message is one line and names the file."""


class IgnorePatternError(ValueError):
    """An ignore pattern that is not valid gitignore syntax (e.g. ``!`` alone, or a
    trailing unescaped backslash). ``index`` is its position in the list it came
    from; ``from_file`` tells whether that list was ``extra_lines``."""

    def __init__(self, pattern: str, index: int, from_file: bool):
        super().__init__(f"invalid ignore pattern {pattern!r}")
        self.pattern = pattern
        self.index = index
        self.from_file = from_file


def _nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _validated(lines: Sequence[str], from_file: bool) -> list[str]:
    out = [_nfc(line) for line in lines]
    for i, line in enumerate(out):
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except ValueError:
            raise IgnorePatternError(lines[i], i, from_file) from None
    return out


class IgnoreRules:
    """Compiled ignore rules for one mirror. Cheap to query; immutable."""

    def __init__(self, patterns: Sequence[str] = (), extra_lines: Sequence[str] = ()):
        if isinstance(patterns, str) or isinstance(extra_lines, str):
            raise TypeError("patterns and extra_lines must be sequences of lines, not a str")
        lines = _validated(patterns, False) + _validated(extra_lines, True)
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
        # Blank lines and comments compile to no-op patterns: skip matching entirely
        # when nothing can match (the common case).
        self._spec: pathspec.GitIgnoreSpec | None = (
            spec if any(p.include is not None for p in spec.patterns) else None)
        self.lines: tuple[str, ...] = tuple(lines)

    @classmethod
    def for_root(cls, root: Path, patterns: Sequence[str]) -> IgnoreRules:
        """The configuration ``patterns`` followed by the lines of
        ``<root>/.syncdignore`` when that file exists. Raises :class:`IgnoreFileError`
        if the file cannot be read, is not UTF-8, or holds an invalid pattern;
        :class:`IgnorePatternError` for an invalid configuration pattern."""
        path = Path(root) / IGNORE_FILE
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            return cls(patterns)
        except UnicodeDecodeError as e:
            raise IgnoreFileError(
                f"cannot read ignore file {path}: not valid UTF-8 (byte {e.start})") from None
        except OSError as e:
            raise IgnoreFileError(
                f"cannot read ignore file {path}: {e.strerror or e}") from None
        lines = text.splitlines()
        try:
            return cls(patterns, lines)
        except IgnorePatternError as e:
            if not e.from_file:
                raise
            raise IgnoreFileError(
                f"ignore file {path}, line {e.index + 1}: invalid pattern {e.pattern!r}"
            ) from None

    def __repr__(self) -> str:
        return f"IgnoreRules({list(self.lines)!r})"

    def ignored(self, rel_path: str, is_dir: bool) -> bool:
        """Is ``rel_path`` (relative to the mirror root, ``/``-separated, any Unicode
        normalisation) ignored? ``is_dir`` says whether it is a folder (needed for
        folder-only patterns such as ``build/``). A path inside an ignored folder is
        ignored, whatever later negations say."""
        parts = rel_path.split("/")
        if rel_path == IGNORE_FILE or any(is_temp_name(p) for p in parts):
            return True
        spec = self._spec
        if spec is None:
            return False
        path = _nfc(rel_path)
        if len(parts) > 1:
            end = -1
            while True:
                end = path.find("/", end + 1)
                if end < 0:
                    break
                if spec.match_file(path[:end + 1]):
                    return True
        return spec.match_file(path + "/" if is_dir else path)

    def ignored_entry(self, rel_path: str, is_dir: bool) -> bool:
        """Like :meth:`ignored`, for a walker that has already checked that no parent
        folder of ``rel_path`` is ignored (it does not descend into ignored folders):
        only the path itself is tested."""
        leaf = rel_path.rpartition("/")[2]
        if is_temp_name(leaf) or rel_path == IGNORE_FILE:
            return True
        spec = self._spec
        if spec is None:
            return False
        path = _nfc(rel_path)
        return spec.match_file(path + "/" if is_dir else path)
