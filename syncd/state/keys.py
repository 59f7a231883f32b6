"""The index's ``state`` table, by name: one typed accessor per value.

The table holds small JSON values by (scope, name). A scope is
``mirror:<name>`` (one mirror's values, dropped with the mirror) or
``account:<url>`` (the account's). Nobody outside this module spells a scope
or a name: callers read and write ``index.mirror_state(name).cursor`` or
``index.account_state(url).feed``. A value never written reads as None;
writing stores JSON (tuples come back as lists).

Stored names are the attribute names below; they are a file format and never
change.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

MIRROR_PREFIX = "mirror:"
ACCOUNT_PREFIX = "account:"
INTENT_PREFIX = "download:"  # + key: a download put in place but maybe not recorded


def mirror_scope(name: str) -> str:
    return MIRROR_PREFIX + name


class _Store(Protocol):
    def get_state(self, scope: str, name: str, default: Any = None) -> Any: ...
    def set_state(self, scope: str, name: str, value: Any) -> None: ...


class Value:
    """One named value of a scope (a descriptor). ``tree``: it describes the
    mirror's two trees, so it is forgotten with them when a root changes."""

    def __init__(self, doc: str, *, tree: bool = False):
        self.__doc__ = doc
        self.tree = tree
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: _Scope | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.index.get_state(obj.scope, self.name)

    def __set__(self, obj: _Scope, value: Any) -> None:
        obj.index.set_state(obj.scope, self.name, value)


class _Scope:
    PREFIX: ClassVar[str]

    def __init__(self, index: _Store, key: str):
        self.index = index
        self.scope = self.PREFIX + key

    @classmethod
    def values(cls) -> tuple[Value, ...]:
        return tuple(v for v in vars(cls).values() if isinstance(v, Value))


class MirrorState(_Scope):
    """The values of one mirror (``mirror:<name>``)."""

    PREFIX = MIRROR_PREFIX

    status = Value("what `syncd status` shows: state, since, message, conflicts, counts")
    roots = Value('{"local": ..., "remote": ...} of the config the mirror last synced with')
    cursor = Value('the activity feed position: {"at": iso time, "ids": [...]}', tree=True)
    listed_at = Value("time of the last complete listing of the remote folder", tree=True)
    device = Value("st_dev of the local root folder", tree=True)
    root_inode = Value("st_ino of the local root folder", tree=True)
    empty_listing = Value("the last listing was empty (and not trusted yet)", tree=True)
    mounts = Value("mount points found under the local root")
    ignore_lines = Value("the ignore rules the last pass used, as lines")
    trash_purged_at = Value("time the remote trash was last purged")
    temp_key = Value("the hex key of this mirror's download temp names (local/scan.py)")
    kept = Value("[side, path] of folders kept for their ignored items (local/kept.py)")
    remote_trash = Value("[folder, created, last used] of each trash folder (local/trash.py)")
    remote_trash_open = Value('the trash folder group in use: {"base": ..., "names": {...}}')
    partials = Value("downloads stopped midway, kept to resume: {key: {part, id, size, "
                     "updated, have, at}} (transfer/downloads.py)")

    @classmethod
    def tree_names(cls) -> tuple[str, ...]:
        """The names forgotten with the trees (``Index.forget_trees``)."""
        return tuple(v.name for v in cls.values() if v.tree)


class AccountState(_Scope):
    """The values of the account (``account:<url>``)."""

    PREFIX = ACCOUNT_PREFIX

    feed = Value('"yes" / "no": does the server have an activity feed (None: not probed)')
    pass_open = Value("a pass began and has not ended (it was killed)")
    daemon = Value("the running daemon's facts: pid, started, poll interval, webhook, watch")
    rate = Value("the server's rate counters: limit, remaining, reserve, at")
    detection = Value("how the last refresh learnt the server's changes, and what each way "
                      "cost or would have cost (remote/tracker.py)")
    api_base = Value("time GET /account proved account.url an API base (syncd.session)")
