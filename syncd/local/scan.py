"""The local tree of a mirror: one walk of the local root into ``LocalEntry`` rows.

``scan()`` lists every folder with ``os.scandir`` and ``lstat``s every entry; it
never follows symbolic links and reads a file's content only when the stat alone
cannot tell whether it changed (same size as the base, but another mtime or
inode: a touch or a same-size save). Everything it deliberately leaves out is
reported in ``ScanResult.notes``; anything it could not read is reported in
``ScanResult.unreadable`` *and* carried over from the base unchanged, so an
unreadable item is never mistaken for a deleted one.
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import logging
import operator
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from syncd.local.ignore import IGNORE_FILE, TEMP_PREFIX, IgnoreRules, is_own_temp_name, is_temp_name
from syncd.model import DIR, FILE, BaseEntry, LocalEntry, ancestors, key

__all__ = ["LocalRootMissing", "ScanResult", "clean_temp_files", "hash_file", "scan",
           "temp_key"]

log = logging.getLogger(__name__)

HASH_CHUNK = 1 << 20

NOTE_SYMLINK = "symbolic link: not synced"
NOTE_SPECIAL = "special file: not synced"
NOTE_BAD_NAME = "name is not valid UTF-8: not synced"


class LocalRootMissing(Exception):
    """The mirror's local root does not exist, is not a folder, or cannot be listed."""


@dataclass
class ScanResult:
    """``entries`` is keyed by ``key(path)`` (NFC); each value's ``path`` is the on-disk
    spelling. ``notes`` holds ``(relative path, reason)`` for everything skipped.
    ``unreadable`` lists the paths that could not be read (their base entries were
    carried over). ``hashed``/``hashed_bytes`` count the files this scan read."""

    entries: dict[str, LocalEntry] = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)  # folders on another device than
    # the folder they are in (mount points inside the mirror), relative paths
    hashed: int = 0
    hashed_bytes: int = 0


def hash_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    buf = bytearray(HASH_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


_default_hash_file = hash_file


def _printable(name: str) -> str:
    """A name with undecodable bytes (surrogate escapes) shown as ``\\xNN``, safe to print."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _valid_utf8(name: str) -> bool:
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _name_key(name: str) -> str:
    return name if name.isascii() else key(name)


_by_name = operator.attrgetter("name")


def _join(folder: str, leaf: str) -> str:
    return f"{folder}/{leaf}" if folder else leaf


def _dup_note(kept: str) -> str:
    return f"same name as {kept} after Unicode normalisation: not synced"


def _strerror(e: OSError) -> str:
    return e.strerror or str(e)


def _check_root(root: Path) -> str:
    top = os.fspath(root)
    try:
        st = os.stat(top)
    except FileNotFoundError:
        raise LocalRootMissing(f"local folder {top} does not exist") from None
    except NotADirectoryError:
        raise LocalRootMissing(f"local folder {top} does not exist") from None
    except OSError as e:
        raise LocalRootMissing(f"cannot read local folder {top}: {_strerror(e)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise LocalRootMissing(f"local folder {top} is not a directory")
    return top


class _BaseIndex:
    """Finds the base entries at or under a path without scanning the whole base
    each time (built on first use: unreadable items are rare)."""

    def __init__(self, base: Mapping[str, BaseEntry]):
        self.base = base
        self._keys: list[str] | None = None

    def at_or_under(self, k: str) -> list[BaseEntry]:
        found = []
        b = self.base.get(k)
        if b is not None:
            found.append(b)
        if self._keys is None:
            self._keys = sorted(self.base)
        keys = self._keys
        prefix = k + "/"
        i = bisect.bisect_left(keys, prefix)
        while i < len(keys) and keys[i].startswith(prefix):
            found.append(self.base[keys[i]])
            i += 1
        return found


def scan(root: Path, base: Mapping[str, BaseEntry], rules: IgnoreRules, *,
         hash_file: Callable[[str], str] | None = None,
         only: Iterable[str] | None = None) -> ScanResult:
    """Walk ``root`` and describe everything under it that is synced.

    ``base`` is the index's base rows keyed by ``key(local_path)``; it decides which
    files need hashing (see :class:`~syncd.model.LocalEntry`) and supplies the view
    of anything unreadable. ``hash_file`` (default: this module's ``hash_file``) is
    called with the file's path as a ``str``. Raises :class:`LocalRootMissing` when
    the root does not exist, is not a folder, or cannot be listed.

    ``only`` (keys relative to the root) limits the scan to those paths, everything
    under them, and the folders on the way to them: the daemon re-reads just what
    its watcher saw change. The folders on the way are listed (not just
    ``lstat``-ed), so a path is found whatever its on-disk Unicode spelling."""
    with _gc_paused():
        return _scan(root, base, rules, hash_file, only)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector. A scan allocates objects by the hundred
    thousand and frees none of them, so the collector would walk the growing heap
    again and again (about a fifth of a 100k-entry scan) only to find no cycles;
    they are collected as usual after the walk."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _scan(root: Path, base: Mapping[str, BaseEntry], rules: IgnoreRules,
          hash_file: Callable[[str], str] | None, only: Iterable[str] | None) -> ScanResult:
    focus = None if only is None else set(only)
    if focus is not None and "" in focus:
        focus = None
    on_the_way = ancestors(focus) if focus is not None else set()
    hasher = hash_file if hash_file is not None else _default_hash_file
    top = _check_root(root)
    result = ScanResult()
    entries = result.entries
    notes = result.notes
    base_index = _BaseIndex(base)
    base_held: set[str] = set()  # keys of synced items now links (held as the base knows)
    ignored = rules.ignored_entry

    def carry_over(rel: str, k: str, e: OSError) -> None:
        notes.append((rel, f"unreadable: {_strerror(e)}"))
        result.unreadable.append(rel)
        entries.pop(k, None)
        for b in base_index.at_or_under(k):
            entries[b.key] = LocalEntry(b.local_path, b.kind, b.size, b.mtime_ns, b.inode,
                                        b.sha256)

    # The hot loop runs once per entry (100k+ for big mirrors): names are bound
    # locally, paths are built by concatenation, and with no ignore patterns the
    # rules' per-entry call is skipped (what it would still check, temp names and
    # the root's .syncdignore, is checked inline).
    patterned = bool(rules.lines)
    base_get = base.get
    S_ISDIR, S_ISREG = stat.S_ISDIR, stat.S_ISREG

    # Folders still to list: (absolute path, relative path, key of relative path,
    # whether everything in it is wanted, its device).
    stack: list[tuple[str, str, str, bool, int]] = [
        (top, "", "", focus is None, os.stat(top).st_dev)]
    mounts = result.mounts
    while stack:
        abs_dir, rel_dir, key_dir, whole, dev_dir = stack.pop()
        try:
            with os.scandir(abs_dir) as it:
                items = list(it)
        except FileNotFoundError:
            if not rel_dir:
                raise LocalRootMissing(f"local folder {top} does not exist") from None
            entries.pop(key_dir, None)  # vanished since it was listed: absent
            continue
        except OSError as e:
            if not rel_dir:
                raise LocalRootMissing(
                    f"cannot read local folder {top}: {_strerror(e)}") from None
            carry_over(rel_dir, key_dir, e)
            continue

        if not all([item.name.isascii() for item in items]):
            # Name order decides which of two spellings of one name is kept (the
            # first); only non-ASCII names can have two, so only then it matters.
            items.sort(key=_by_name)
        rel_prefix = rel_dir + "/" if rel_dir else ""
        key_prefix = key_dir + "/" if key_dir else ""
        same_spelling = key_prefix == rel_prefix
        at_root = not rel_dir
        seen: dict[str, str] = {}  # NFC name -> on-disk relative path kept
        subdirs: list[tuple[str, str, str, bool, int]] = []
        for item in items:
            name = item.name
            if name.startswith(TEMP_PREFIX) and is_temp_name(name):
                continue
            ascii_name = name.isascii()
            all_of_it = whole
            if not whole:
                wanted = key_prefix + (name if ascii_name else key(name))
                all_of_it = wanted in focus
                if not all_of_it and wanted not in on_the_way:
                    continue
            rel = rel_prefix + name
            valid = ascii_name or _valid_utf8(name)
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # vanished since the listing: absent
            except OSError as e:  # e.g. a folder that can be listed but not searched
                if ignored(rel, False) and ignored(rel, True):
                    continue
                if not valid:
                    notes.append((rel_prefix + _printable(name), NOTE_BAD_NAME))
                    continue
                nk = _name_key(name)
                if nk in seen:
                    notes.append((rel, _dup_note(seen[nk])))
                    continue
                seen[nk] = rel
                carry_over(rel, key_prefix + nk, e)
                continue
            mode = st.st_mode
            is_dir = S_ISDIR(mode)
            if patterned:
                if ignored(rel, is_dir):
                    continue
            elif at_root and name == IGNORE_FILE:
                continue
            if not valid:
                notes.append((rel_prefix + _printable(name), NOTE_BAD_NAME))
                continue
            if not is_dir and not S_ISREG(mode):
                notes.append((rel, NOTE_SYMLINK if stat.S_ISLNK(mode) else NOTE_SPECIAL))
                # A synced item the user replaced by a link (a folder moved to
                # another disk and linked back) is not deleted: it is held as the
                # base knows it, like an unreadable one, and nothing is written
                # through the link.
                k = key_prefix + (name if ascii_name else key(name))
                if k not in entries and k not in base_held:
                    base_held.add(k)
                    for b in base_index.at_or_under(k):
                        entries[b.key] = LocalEntry(b.local_path, b.kind, b.size, b.mtime_ns,
                                                    b.inode, b.sha256)
                continue
            nk = name if ascii_name else key(name)
            first = seen.get(nk)
            if first is not None:
                notes.append((rel, _dup_note(first)))
                continue
            seen[nk] = rel
            # (one string for path and key when they are equal: the common case)
            k = rel if ascii_name and same_spelling else key_prefix + nk

            if is_dir:
                entries[k] = LocalEntry(rel, DIR, 0, st.st_mtime_ns, st.st_ino)
                if st.st_dev != dev_dir:
                    mounts.append(rel)
                subdirs.append((item.path, rel, k, all_of_it, st.st_dev))
                continue

            size, mtime_ns, inode = st.st_size, st.st_mtime_ns, st.st_ino
            sha = None
            b = base_get(k)
            if b is not None and b.size == size and b.kind == FILE:
                if b.mtime_ns == mtime_ns and b.inode == inode:
                    sha = b.sha256
                elif b.sha256 is not None:
                    try:
                        sha = hasher(item.path)
                    except FileNotFoundError:
                        continue
                    except OSError as e:
                        carry_over(rel, k, e)
                        continue
                    result.hashed += 1
                    result.hashed_bytes += size
            entries[k] = LocalEntry(rel, FILE, size, mtime_ns, inode, sha)

        stack.extend(reversed(subdirs))
    notes.sort()  # (folders are listed in the file system's order)
    result.unreadable.sort()
    mounts.sort()
    return result


def temp_key(index, mirror: str) -> bytes:
    """The mirror's key for download temp names (made once, kept in the index's
    state): only names made with it are syncd's (:func:`~syncd.local.ignore.new_temp_name`)."""
    state = index.mirror_state(mirror)
    value = state.temp_key
    if not isinstance(value, str) or len(value) != 32:
        value = secrets.token_hex(16)
        state.temp_key = value
    return bytes.fromhex(value)


def clean_temp_files(root: Path, rules: IgnoreRules | None = None, *,
                     key: bytes, keep: frozenset[str] = frozenset()) -> list[str]:
    """Delete leftover download temp files that syncd made (names signed with the
    mirror's temp ``key``, see :func:`~syncd.local.ignore.is_own_temp_name`) anywhere
    under ``root`` - also in a folder the user renamed while a download ran -
    without following symbolic links, and return their relative paths. A user's
    file is never deleted, whatever its name: one of the temp files' shape that
    syncd did not make stays where it is.

    Only regular files are removed. Folders that cannot be listed are passed over
    (logged). With ``rules``, ignored folders are not entered (syncd never downloads
    into them); folders whose names are not valid UTF-8 are not entered either, for
    the same reason. A missing root raises :class:`LocalRootMissing`. ``keep``:
    relative paths of temp files kept on purpose (downloads stopped midway, to be
    resumed: transfer/downloads.py)."""
    top = _check_root(root)
    removed: list[str] = []
    stack: list[tuple[str, str]] = [(top, "")]
    while stack:
        abs_dir, rel_dir = stack.pop()
        try:
            with os.scandir(abs_dir) as it:
                items = sorted(it, key=lambda d: d.name)
        except FileNotFoundError:
            continue
        except OSError as e:
            log.warning("cannot look for temp files in %s: %s", abs_dir, _strerror(e))
            continue
        subdirs = []
        for item in items:
            name = item.name
            rel = _join(rel_dir, name)
            try:
                if name.startswith(TEMP_PREFIX) and is_own_temp_name(name, key):
                    if item.is_file(follow_symlinks=False) and rel not in keep:
                        os.unlink(item.path)
                        removed.append(_printable(rel))
                    continue
                if not item.is_dir(follow_symlinks=False) or not _valid_utf8(name):
                    continue
            except FileNotFoundError:
                continue
            except OSError as e:
                log.warning("cannot remove temp file %s: %s", item.path, _strerror(e))
                continue
            if rules is not None and rules.ignored_entry(rel, True):
                continue
            subdirs.append((item.path, rel))
        stack.extend(reversed(subdirs))
    return removed
