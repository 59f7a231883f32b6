"""The sync engine's shared vocabulary: the three trees and the plan.

No I/O here. Every path in these types is *relative to a mirror's root*, POSIX
style (``a/b.txt``), never empty, never starting or ending with ``/``, and spelled
exactly as that side spells it (no normalisation applied). ``key()`` gives the
identity used to pair entries across the three trees: the NFC form of the path,
so an NFD name on disk and an NFC name on the server are the same file, never two.

* ``LocalEntry``  - what the local scan saw now.
* ``RemoteEntry`` - what is known of the server now (listing, activity, own results).
* ``BaseEntry``   - the last state both sides agreed on (the index's base row).

Entries are values: nothing changes one after it is made (``dataclasses.replace``
makes a new one). They are not ``frozen`` dataclasses because a frozen
dataclass's ``__init__`` sets each field through ``object.__setattr__``: four
times the cost of a plain slotted class, paid once per file by every scan of a
100k-file mirror and every index read (BENCHMARKS.md, local scan).

The planner (``syncd.reconcile.planner``) is a pure function of these three maps plus
``PlanOptions``; the worker (``syncd.transfer.worker``) executes the ``Action``s it returns.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

Kind = Literal["file", "dir"]
FILE: Kind = "file"
DIR: Kind = "dir"

Direction = Literal["two-way", "upload-only", "download-only"]
DEFAULT_DIRECTION: Direction = "two-way"


def key(path: str) -> str:
    """The pairing identity of a relative path: its NFC normalisation."""
    return unicodedata.normalize("NFC", path)


def parent(path: str) -> str:
    """``a/b/c`` -> ``a/b``; ``c`` -> ``""`` (the mirror root)."""
    return path.rpartition("/")[0]


def name(path: str) -> str:
    return path.rpartition("/")[2]


def join(folder: str, leaf: str) -> str:
    return f"{folder}/{leaf}" if folder else leaf


def ancestors(paths: Iterable[str]) -> set[str]:
    """Every strict ancestor folder of ``paths`` (relative, ``/``-separated; the
    root ``""`` is not included)."""
    out: set[str] = set()
    for p in paths:
        while "/" in p:
            p = p.rsplit("/", 1)[0]
            if p in out:
                break
            out.add(p)
    return out


def unsafe(path: str) -> bool:
    """A relative path with an empty, ``.``/``..`` or NUL-bearing segment: it could
    leave the mirror's root, so it is never read back, written or synced."""
    return not path or any(p in ("", ".", "..") or "\x00" in p for p in path.split("/"))


def is_under(path: str, folder: str) -> bool:
    """True if ``path`` is ``folder`` itself or inside it (``folder == ""`` is the root)."""
    return not folder or path == folder or path.startswith(folder + "/")


def under_any(path: str, folders: set[str]) -> bool:
    """True if ``path`` is one of ``folders`` or inside one (a walk up its
    ancestors: linear in its depth, not in the number of folders)."""
    if not folders:
        return False
    while True:
        if path in folders:
            return True
        if "/" not in path:
            return False
        path = path.rsplit("/", 1)[0]


def rebase(path: str, old: str, new: str) -> str:
    """``path`` (inside ``old``) re-rooted under ``new``: rebase("a/x", "a", "b") == "b/x"."""
    return new if path == old else new + path[len(old):]


@dataclass(slots=True, unsafe_hash=True)
class LocalEntry:
    """One file or folder under a mirror's local root, from ``os.scandir`` + ``lstat``.

    ``sha256`` is the hex SHA-256 of the content when known: copied from the base
    when size, mtime_ns and inode are unchanged, computed by the scan when only
    mtime/inode changed (so a touched-but-identical file is not re-uploaded), and
    ``None`` when not needed (new files, size changes, folders)."""

    path: str
    kind: Kind
    size: int = 0
    mtime_ns: int = 0
    inode: int = 0
    sha256: str | None = None


@dataclass(slots=True, unsafe_hash=True)
class RemoteEntry:
    """One file or folder under a mirror's remote root. ``id`` is the server's
    stable identity (survives move and rename); ``updated`` is ``updatedAt`` as
    UNIX seconds. Remote change detection is ``(id, size, updated)``: the server
    has no content checksum."""

    path: str
    kind: Kind
    id: str
    size: int = 0
    updated: float = 0.0


@dataclass(slots=True, unsafe_hash=True)
class BaseEntry:
    """The last synced state of one path, both sides. ``local_path`` and
    ``remote_path`` are each side's own spelling (they differ only in Unicode
    normalisation). Remote fields describe the server version the local file was
    last equal to; local fields the local file. For folders, sizes/hashes are 0/None."""

    local_path: str
    remote_path: str
    kind: Kind
    size: int = 0
    mtime_ns: int = 0
    inode: int = 0
    sha256: str | None = None
    remote_id: str = ""
    remote_size: int = 0
    remote_updated: float = 0.0

    @property
    def key(self) -> str:
        return key(self.local_path)


# ----------------------------------------------------------------------------- actions
#
# Every action names the state it expects to find (``local``/``remote`` fields as
# seen at planning time). The worker re-checks that expectation just before acting
# and skips the action (to be re-planned) when the world moved on, so nothing the
# user changed after planning is ever overwritten.
#
# Each action type also says what it is, once, for the planner, the guards, the
# engine and the worker (see ``_Action``); the worker's table of handlers
# (``syncd.transfer.worker.HANDLERS``) says how it is done. ``tests/test_actions.py``
# fails for a type that lacks either.


class _Action:
    """What every action type states about itself (each class sets all but ``size``):

    * ``phase``: the worker phase that runs it: ``move``, ``mkdir``, ``transfer``,
      ``record`` or ``delete`` (``syncd.transfer.worker`` runs them in that order);
    * ``deletes``: it deletes an item (the guards count it, ``--force`` lifts them);
    * ``subject``: the path it is about (as the side it acts on spells it):
      failures are backed off under it, the plan sorts by it;
    * ``paths``: every relative path it touches (an action waits when one of
      them, or a folder above, is backed off or troubled);
    * ``writes``: the local paths whose base row it writes; by key, where it
      creates an item (a deletion that clears one of them runs first);
    * ``description``: what it does, in one line (a dry run prints "would " + it);
    * ``size``: the bytes it transfers (0: none)."""

    __slots__ = ()
    phase: ClassVar[str]
    deletes: ClassVar[bool]
    size = 0


@dataclass(frozen=True)
class Upload(_Action):
    """Send local file ``path`` to remote ``remote_path``. ``replace`` is the remote
    version it may overwrite (``None`` = the remote path must be free)."""

    path: str
    remote_path: str
    local: LocalEntry
    replace: RemoteEntry | None = None

    phase, deletes = "transfer", False
    subject = property(lambda self: self.path)
    paths = property(lambda self: (self.path, self.remote_path))
    writes = property(lambda self: (self.path,))
    size = property(lambda self: self.local.size)

    @property
    def description(self) -> str:
        return f"upload {self.path} ({self.size} B)" + (
            " replacing the remote copy" if self.replace else "")


@dataclass(frozen=True)
class Download(_Action):
    """Fetch remote file ``remote_path`` into local ``path``. ``replace`` is the local
    version it may overwrite (``None`` = the local path must be free). ``base``: a
    restore of a file deleted locally whose server "edit" has the synced size: when
    the bytes fetched are the synced ones (its SHA-256), the edit is none (the synced
    bytes sent again, or a version recorded before the bytes changed under it): the
    base takes the server's version instead and the deletion is planned again."""

    remote_path: str
    path: str
    remote: RemoteEntry
    replace: LocalEntry | None = None
    base: BaseEntry | None = None

    phase, deletes = "transfer", False
    subject = property(lambda self: self.path)
    paths = property(lambda self: (self.path, self.remote_path))
    writes = property(lambda self: (self.path,))
    size = property(lambda self: self.remote.size)

    @property
    def description(self) -> str:
        return f"download {self.remote_path} ({self.size} B)" + (
            " replacing the local copy" if self.replace else "")


@dataclass(frozen=True)
class Compare(_Action):
    """Both sides have a file at the same path whose contents may be equal: download
    the remote copy (one transfer) and compare contents. Equal -> record as synced.
    With ``base`` (both sides changed since it, and the server's file has the base's
    size): the server's bytes equal to the base's (a re-upload of the same content)
    -> the base takes the server's new version and the local edit is planned again
    (it goes up). Otherwise -> conflict (local copy renamed ``conflict_path`` and
    uploaded, remote copy installed under ``path``)."""

    path: str
    remote_path: str
    local: LocalEntry
    remote: RemoteEntry
    conflict_path: str
    base: BaseEntry | None = None

    phase, deletes = "transfer", False
    subject = property(lambda self: self.path)
    paths = property(lambda self: (self.path, self.remote_path, self.conflict_path))
    writes = property(lambda self: (self.path, self.conflict_path))
    size = property(lambda self: self.remote.size)
    description = property(lambda self: f"compare {self.path} (download and compare contents)")


@dataclass(frozen=True)
class MakeRemoteDir(_Action):
    remote_path: str
    local: LocalEntry

    phase, deletes = "mkdir", False
    subject = property(lambda self: self.remote_path)
    paths = property(lambda self: (self.remote_path,))
    writes = property(lambda self: (self.local.path,))
    description = property(lambda self: f"create remote folder {self.remote_path}")


@dataclass(frozen=True)
class MakeLocalDir(_Action):
    path: str
    remote: RemoteEntry

    phase, deletes = "mkdir", False
    subject = property(lambda self: self.path)
    paths = property(lambda self: (self.path,))
    writes = property(lambda self: (self.path,))
    description = property(lambda self: f"create local folder {self.path}")


@dataclass(frozen=True)
class MoveRemote(_Action):
    """Move/rename a remote file or folder (one server move and/or rename). For a
    folder the whole subtree follows; the base and remote rows under ``src`` are
    re-rooted at ``dst``. An aside (a conflict's ``(conflicted copy …)`` name)
    does not carry base rows: ``forget_base`` drops them (the item moved is the
    base item, now a new copy), ``keep_base`` leaves them at ``src`` (the item
    moved replaced the base item, which the plan keeps or re-creates there)."""

    src: str
    dst: str
    remote: RemoteEntry
    forget_base: bool = False
    keep_base: bool = False

    phase, deletes = "move", False
    subject = property(lambda self: self.src)
    paths = property(lambda self: (self.src, self.dst))
    writes = property(lambda self: (self.dst,))
    description = property(lambda self: f"move remote {self.src} -> {self.dst}")


@dataclass(frozen=True)
class MoveLocal(_Action):
    """Rename a local file or folder inside the mirror root (``os.rename``, never
    replacing an existing target). Also used to give a conflict's local copy its
    ``(conflicted copy …)`` name; then ``forget_base`` / ``keep_base`` as for
    ``MoveRemote``."""

    src: str
    dst: str
    local: LocalEntry
    forget_base: bool = False
    keep_base: bool = False

    phase, deletes = "move", False
    subject = property(lambda self: self.src)
    paths = property(lambda self: (self.src, self.dst))
    writes = property(lambda self: (self.dst,))
    description = property(lambda self: f"move local {self.src} -> {self.dst}")


@dataclass(frozen=True)
class DeleteRemote(_Action):
    """Delete (or move to the remote trash) a remote file or folder with its subtree."""

    remote_path: str
    remote: RemoteEntry

    phase, deletes = "delete", True
    subject = property(lambda self: self.remote_path)
    paths = property(lambda self: (self.remote_path,))
    writes = property(lambda self: ())
    description = property(lambda self: f"delete remote {self.remote_path}")


@dataclass(frozen=True)
class DeleteLocal(_Action):
    """Move a local file or folder (with its subtree) into the recoverable local trash."""

    path: str
    local: LocalEntry

    phase, deletes = "delete", True
    subject = property(lambda self: self.path)
    paths = property(lambda self: (self.path,))
    writes = property(lambda self: ())
    description = property(lambda self: f"delete local {self.path} (to the local trash)")


@dataclass(frozen=True)
class RecordBase(_Action):
    """No transfer needed: both sides already agree (e.g. folders created on both
    sides, a touched file whose content is unchanged). Write this base row."""

    base: BaseEntry

    phase, deletes = "record", False
    subject = property(lambda self: self.base.local_path)
    paths = property(lambda self: (self.base.local_path,))
    writes = property(lambda self: ())
    description = property(lambda self: f"record {self.base.local_path} as in sync")


@dataclass(frozen=True)
class ForgetBase(_Action):
    """Both sides lost the path: drop its base row (and its subtree's)."""

    path: str

    phase, deletes = "record", False
    subject = property(lambda self: self.path)
    paths = property(lambda self: (self.path,))
    writes = property(lambda self: ())
    description = property(lambda self: f"forget {self.path}")


Action = (Upload | Download | Compare | MakeRemoteDir | MakeLocalDir | MoveRemote
          | MoveLocal | DeleteRemote | DeleteLocal | RecordBase | ForgetBase)


@dataclass(frozen=True)
class PlanOptions:
    """Inputs to the planner besides the three trees. ``host`` and ``timestamp``
    (``YYYY-MM-DD HHMMSS``, local time, supplied by the caller: the planner reads
    no clock) go into conflict names."""

    direction: Direction = DEFAULT_DIRECTION
    host: str = "host"
    timestamp: str = "1970-01-01 000000"


@dataclass
class Plan:
    """The planner's answer. ``actions`` are in a valid execution order (parents
    before children for creations, moves before transfers, deletes last).
    ``conflicts`` lists the keys that became conflicts; ``notes`` holds
    (path, message) pairs for entries deliberately left alone (e.g. two local
    names that normalise to the same key, a remote change ignored by
    ``upload-only``)."""

    actions: list[Action] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    def count(self, *types: type) -> int:
        return sum(isinstance(a, types) for a in self.actions)


STAMP = "%Y-%m-%d %H%M%S"


def stamp(at: float) -> str:
    """``YYYY-MM-DD HHMMSS`` in local time, as used in conflict names and trash folders."""
    return time.strftime(STAMP, time.localtime(at))


NAME_MAX = 255
"""Bytes a name (one path component) may take in UTF-8: the local file systems'
limit (ext4, XFS, btrfs, APFS). The ExaVault API documents no limit, so the local
one is the stricter and names syncd makes are kept within it."""

CUT = "\u2026"  # "…" marks where fit_name shortened a name


def name_size(leaf: str) -> int:
    """The UTF-8 size of a name in its longer Unicode spelling (NFD or NFC): the
    local disk may keep either (macOS), the server gets NFC."""
    if leaf.isascii():
        return len(leaf)
    return max(len(leaf.encode("utf-8", "surrogateescape")),
               len(unicodedata.normalize("NFD", leaf).encode("utf-8", "surrogateescape")),
               len(unicodedata.normalize("NFC", leaf).encode("utf-8", "surrogateescape")))


def fit_name(stem: str, tail: str, limit: int = NAME_MAX) -> str:
    """``stem + tail``, or, when that is longer than ``limit`` bytes (see
    :func:`name_size`), ``stem`` cut at a character boundary (never before a
    combining mark, which belongs to the character before it) followed by
    ``…`` and ``tail``. ``tail`` is kept whole: the caller makes it fit."""
    if name_size(stem + tail) <= limit:
        return stem + tail
    cut = len(stem)
    while cut > 0 and name_size(stem[:cut] + CUT + tail) > limit:
        cut -= 1
    while 0 < cut < len(stem) and unicodedata.combining(stem[cut]):
        cut -= 1
    return stem[:cut] + CUT + tail


COPY_RE = re.compile(r"(?P<stem>.+) \(conflicted copy (?P<host>[^ ()/]+) "
                     r"(?P<stamp>\d{4}-\d{2}-\d{2} \d{6})(?: (?P<n>[1-9][0-9]*))?\)"
                     r"(?P<ext>\.[^.]*)?", re.DOTALL)  # a name may hold any character


def parse_copy(path: str) -> tuple[str, str, str] | None:
    """``(original path, host, "YYYY-MM-DD HHMMSS")`` if ``path`` (relative) is a name
    ``conflict_name`` gives, else None."""
    folder, leaf = parent(path), name(path)
    m = COPY_RE.fullmatch(leaf)
    if not m:
        return None
    stem, ext = m.group("stem"), m.group("ext") or ""
    original = stem + ext
    dot = original.rfind(".")
    if (ext and dot != len(stem)) or (not ext and dot > 0):
        return None  # conflict_name puts the tag before the last suffix, if any
    return join(folder, original), m.group("host"), m.group("stamp")


def conflict_name(path: str, host: str, timestamp: str, taken: set[str] | frozenset = frozenset()
                  ) -> str:
    """``dir/name (conflicted copy HOST YYYY-MM-DD HHMMSS).ext``; the extension is the
    last suffix of the name (``a.tar.gz`` -> ``a.tar (…).gz``; dotfiles ``.bashrc`` and
    names without a dot get the tag at the end). If the result's key is in ``taken``,
    `` 2``, `` 3`` … is added inside the parentheses.

    The name fits :data:`NAME_MAX` (a copy's name that does not can be written on
    neither side, and the conflict would never settle): the stem is shortened,
    ending in ``…``, and the tag and extension are kept. An extension too long to
    leave room for a stem is treated as part of the stem. Numbering applies to
    the shortened name, so two long names that share their start still get two
    names."""
    folder, leaf = parent(path), name(path)
    dot = leaf.rfind(".")
    stem, ext = (leaf[:dot], leaf[dot:]) if dot > 0 else (leaf, "")
    n = 1
    while True:
        tag = f"conflicted copy {host} {timestamp}" + (f" {n}" if n > 1 else "")
        tail = f" ({tag}){ext}"
        if name_size("x" + CUT + tail) > NAME_MAX:  # a huge extension: cut it too
            candidate = join(folder, fit_name(leaf, f" ({tag})"))
        else:
            candidate = join(folder, fit_name(stem, tail))
        if key(candidate) not in taken:
            return candidate
        n += 1
