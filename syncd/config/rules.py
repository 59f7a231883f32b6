"""Rules across keys, and the file's permissions.

A rule runs right after the key it is attached to in the schema is read
(``Key.check``), with the values of that key's mapping read so far, so its
error comes in the same order as the key's own problems would.

* ``account.reserve``, when a count, is smaller than ``account.budget``.
* Mirrors have distinct names (ignoring case); the local folders of two
  mirrors do not overlap, nor do their remote folders; no local folder
  overlaps ``state_dir``; ``remote_trash`` is not inside the remote folder of a
  mirror that uses it, and no mirror's remote folder is inside it.
"""

from __future__ import annotations

import ipaddress

import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any

from syncd.config.reader import Reader

_SAME_OR_INSIDE = ("is the same folder as", "is inside")


def reserve_below_budget(r: Reader, values: dict[str, Any], key: str) -> None:
    budget, reserve = values["budget"], values["reserve"]
    if budget is not None and isinstance(reserve, int) and reserve >= budget:
        raise r.error(f"must be smaller than account.budget ({budget}) (got {reserve})",
                      line=r.lines[key], key=key)


def loopback_only(r: Reader, values: dict[str, Any], key: str) -> None:
    """A metrics endpoint listens on this machine only (127.0.0.0/8, ::1, localhost)."""
    listen = values[key.rpartition(".")[2]]
    if listen is None:
        return
    host = listen[0].strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise r.error(f"must be a loopback address like 127.0.0.1:9464 (got {host}): "
                      "the metrics endpoint is not for the network", line=r.lines[key], key=key)


def mirrors_apart(r: Reader, values: dict[str, Any], key: str) -> None:
    mirrors, state_dir, remote_trash = values["mirrors"], values["state_dir"], values["remote_trash"]

    def where(i: int, name: str) -> tuple[str, int]:
        path = f"{key}[{i}].{name}"
        return path, r.lines[path]

    for j, mj in enumerate(mirrors):
        for i in range(j):
            mi = mirrors[i]
            if mi.name.casefold() == mj.name.casefold():
                path, line = where(j, "name")
                raise r.error(f"duplicate mirror name {mj.name!r} (also mirrors[{i}], "
                              f"line {where(i, 'name')[1]})", line=line, key=path)
            relation = _path_relation(mj.local, mi.local)
            if relation:
                path, line = where(j, "local")
                raise r.error(f"{mj.local} {relation} mirrors[{i}].local ({mi.local}, "
                              f"line {where(i, 'local')[1]}); mirror folders must "
                              "not overlap", line=line, key=path)
            relation = _remote_relation(mj.remote, mi.remote)
            if relation:
                path, line = where(j, "remote")
                raise r.error(f"{mj.remote} {relation} mirrors[{i}].remote "
                              f"({mi.remote}, line {where(i, 'remote')[1]}); mirror "
                              "folders must not overlap", line=line, key=path)

    uses_trash = any(m.remote_delete == "trash" for m in mirrors)
    for i, m in enumerate(mirrors):
        relation = _path_relation(m.local, state_dir)
        if relation:
            path, line = where(i, "local")
            raise r.error(f"{m.local} {relation} state_dir ({state_dir}); the local "
                          "folder and syncd's state must be kept apart", line=line, key=path)
        if uses_trash and _remote_relation(remote_trash, m.remote) in _SAME_OR_INSIDE:
            path, line = where(i, "remote")
            raise r.error(
                f"remote_trash ({remote_trash}) is inside this mirror's remote folder "
                f"({m.remote}), so deleted files would be synced back; set "
                "remote_delete: delete or choose another remote_trash", line=line, key=path)
        if _remote_relation(m.remote, remote_trash) in _SAME_OR_INSIDE:
            path, line = where(i, "remote")
            raise r.error(f"{m.remote} is inside remote_trash ({remote_trash}), "
                          "which syncd empties; choose another remote_trash",
                          line=line, key=path)


def _path_relation(a: Path, b: Path) -> str | None:
    """How local path ``a`` relates to ``b``: "is the same folder as", "is inside",
    "contains", or None when they are apart."""
    if a == b:
        return "is the same folder as"
    if a.is_relative_to(b):
        return "is inside"
    if b.is_relative_to(a):
        return "contains"
    return None


def _remote_relation(a: str, b: str) -> str | None:
    pa = PurePosixPath(unicodedata.normalize("NFC", a))
    pb = PurePosixPath(unicodedata.normalize("NFC", b))
    if pa == pb:
        return "is the same folder as"
    if pa.is_relative_to(pb):
        return "is inside"
    if pb.is_relative_to(pa):
        return "contains"
    return None


def permission_warnings(file: Path, literal_secret: bool) -> list[str]:
    """At most one line about the file's permissions, with the chmod to run:
    credentials written in it must be for its owner only; and a file others
    may change could point syncd (and the keys from the environment) at
    another server."""
    try:
        mode = file.stat().st_mode
    except OSError:
        mode = 0
    if literal_secret and mode & 0o077:
        return [(f"{file} holds credentials but is readable by others; "
                 f"run chmod 600 {file}")]
    if mode & 0o022:
        return [(f"{file} is writable by others, who could send syncd's "
                 f"credentials to another server; run chmod go-w {file}")]
    return []
