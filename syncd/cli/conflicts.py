"""`syncd conflicts`: find the conflicted copies syncd kept, and resolve them.

When both sides changed a file, syncd keeps both versions on both sides: the
server's version stays under the original name and the local version (of the
machine that found the conflict) is renamed to a *conflicted copy*::

    dir/name (conflicted copy HOST YYYY-MM-DD HHMMSS).ext

(``model.conflict_name``; planner rule C, and ``Compare`` at a first meeting).
A copy's name is kept within 255 bytes: the stem of a long name is cut and
ends in ``…``; its original is then the one item beside it whose name starts
with that stem and has the extension.
No extra state is kept: the list comes from the mirror's local tree (a scan,
no request) and the index's snapshot of the server (for a copy not downloaded
yet, and the server's times). A name is a copy only if ``conflict_name``
could have produced it from the original it names.

``resolve PATH --keep local|remote|both`` (PATH: the copy or its original,
relative to the mirror root or absolute) edits only the local tree, inside the
mirror's root; the next pass propagates the result like any local change:

* ``local``  - keep the copy's version (this machine's, or HOST's when another
  machine found the conflict): the original moves to the local trash and the
  copy takes its name. The next pass uploads it over the server's version and
  moves the copy on the server to the remote trash.
* ``remote`` - keep the original's version (the server's): the copy moves to
  the local trash; the next pass moves it to the remote trash.
* ``both``   - keep both as ordinary files: the copy is renamed to
  ``name (HOST YYYY-MM-DD HHMMSS).ext``; the next pass renames it on the server.

Nothing is unlinked: what a resolution discards goes to
``state_dir/trash/<mirror>/`` (purged after ``trash_days``), and on the server
to ``remote_trash`` (or is deleted, with ``remote_delete: delete``). A
resolution deletes one entry, so the default deletion guard (more than 50% and
more than 10 entries) never holds it back; a ``max_delete`` of 0 does, and then
the server keeps the copy until `syncd sync --force` (the kept version is never
at risk: the held-back deletion touches only the copy).

Refused, with the reason: a path outside every mirror; a file that is neither a
copy nor an original with exactly one copy; ``local``/``remote`` when one of the
two is a folder (a file/folder conflict: which side each came from is not
recorded, so ``both`` is the only unambiguous choice); ``local`` in a
download-only mirror (the server's version wins there by definition); a copy
that exists only on the server (upload-only mirrors never download it; in the
other directions the next sync does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from syncd import model
from syncd.cli import exitcodes, sync
from syncd.cli.common import STATE_ERRORS, config_error, load_config, state_error
from syncd.cli.errors import CommandError
from syncd.config.loader import Config, ConfigError, MirrorConfig
from syncd.local.ignore import IgnoreFileError, IgnoreRules
from syncd.local.scan import LocalRootMissing, scan
from syncd.local.trash import LocalTrash
from syncd.state import status
from syncd.state.index import Index

KEEPS = ("local", "remote", "both")

parse_copy = model.parse_copy  # (it lives beside model.conflict_name, its inverse)

def plain_name(path: str, taken: set[str]) -> str:
    """The copy's name without "conflicted copy" (``name (HOST DATE TIME).ext``),
    numbered when its key is in ``taken``."""
    folder, leaf = model.parent(path), model.name(path)
    m = model.COPY_RE.fullmatch(leaf)
    assert m is not None
    n = 1
    while True:
        tag = f"{m.group('host')} {m.group('stamp')}" + (f" {n}" if n > 1 else "")
        candidate = model.join(folder, f"{m.group('stem')} ({tag}){m.group('ext') or ''}")
        if model.key(candidate) not in taken:
            return candidate
        n += 1


@dataclass
class Version:
    """One side's copy of a path: its spelling there, kind, size and time (the local
    mtime, or the server's updatedAt from the index)."""

    path: str
    kind: str
    size: int
    time: float


@dataclass
class Conflict:
    mirror: str
    copy: str  # relative to the mirror root
    original: str
    host: str
    stamp: str  # "YYYY-MM-DD HHMMSS", local time of the machine that found it
    copy_local: Version | None = None
    copy_remote: Version | None = None
    original_local: Version | None = None
    original_remote: Version | None = None


@dataclass
class Listing:
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # mirrors that could not be scanned
    taken: dict[str, set[str]] = field(default_factory=dict)  # mirror -> keys in use


def _rules(m: MirrorConfig) -> IgnoreRules:
    try:
        return IgnoreRules.for_root(Path(m.local), m.ignore)
    except IgnoreFileError:
        return IgnoreRules(m.ignore)  # sync reports the broken file; list anyway


def find(config: Config, mirrors: list[MirrorConfig]) -> Listing:
    """Every conflicted copy in ``mirrors``, sorted by mirror, original, copy."""
    out = Listing()
    path = config.state_dir / "index.sqlite3"
    index = Index(path) if path.exists() else None
    try:
        for m in mirrors:
            rules = _rules(m)
            base = index.base(m.name) if index else {}
            local: dict[str, model.LocalEntry] = {}
            try:
                # a dummy hash: only names, sizes and times are wanted here
                local = scan(Path(m.local), base, rules, hash_file=lambda p: "").entries
            except LocalRootMissing as exc:
                out.notes.append(f"{m.name}: {exc}")
            remote = {model.key(p): e for p, e in (index.remote(m.name) if index else {}).items()
                      if not rules.ignored(p, e.kind == model.DIR) and not model.unsafe(p)}
            out.taken[m.name] = set(local) | set(remote)
            found = []
            for k in sorted(set(local) | set(remote)):
                spelled = (local.get(k) or remote[k]).path
                parsed = parse_copy(spelled)
                if parsed is None:
                    continue
                original, host, stamp = parsed
                ok = model.key(original)
                if ok not in local and ok not in remote:
                    ok, original = _long_original(spelled, original, local, remote)
                found.append(Conflict(
                    m.name, spelled, original, host, stamp,
                    _local_version(local.get(k)), _remote_version(remote.get(k)),
                    _local_version(local.get(ok)), _remote_version(remote.get(ok))))
            found.sort(key=lambda c: (model.key(c.original), model.key(c.copy)))
            out.conflicts.extend(found)
    finally:
        if index is not None:
            index.close()
    return out


def _long_original(copy: str, original: str, local: dict, remote: dict) -> tuple[str, str]:
    """The copy of a long name has a shortened stem (``model.fit_name``: it ends
    in ``…``), so the name it gives is not the original's: find the one item
    beside it (not a copy itself) whose name starts with that stem and has the
    extension; none or several: the name as given."""
    folder, leaf = model.parent(original), model.name(original)
    kept, cut, _ = leaf.rpartition(model.CUT)
    if not cut or not kept:
        return model.key(original), original
    ext = leaf[len(kept) + 1:]
    found = {k: (local.get(k) or remote[k]).path for k in set(local) | set(remote)
             if model.parent(k) == model.key(folder) and k != model.key(copy)}
    matches = [p for k, p in found.items()
               if model.name(k).startswith(model.key(kept)) and model.name(k).endswith(
                   model.key(ext)) and parse_copy(p) is None]
    if len(matches) == 1:
        return model.key(matches[0]), matches[0]
    return model.key(original), original


def _local_version(e: model.LocalEntry | None) -> Version | None:
    return None if e is None else Version(e.path, e.kind, e.size, e.mtime_ns / 1e9)


def _remote_version(e: model.RemoteEntry | None) -> Version | None:
    return None if e is None else Version(e.path, e.kind, e.size, e.updated)


# ---------------------------------------------------------------------- showing

def _t(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _describe(local: Version | None, remote: Version | None) -> str:
    parts = []
    v = local or remote
    if v is not None and v.kind == model.DIR:
        parts.append("folder")
    elif v is not None:
        parts.append(f"{v.size} B")
    parts.append(f"modified {_t(local.time)}" if local else "not here")
    if remote:
        parts.append(f"server {_t(remote.time)}")
    elif local:
        parts.append("not on the server (yet)")
    return ", ".join(parts)


def render(listing: Listing, config: Config, mirrors: list[MirrorConfig]) -> str:
    lines = [f"syncd: warning: {note}" for note in listing.notes]
    if not listing.conflicts:
        names = ", ".join(m.name for m in mirrors)
        lines.append(f"No conflicted copies in {names}.")
        return "\n".join(lines) + "\n"
    roots = {m.name: m.local for m in config.mirrors}
    for m in mirrors:
        mine = [c for c in listing.conflicts if c.mirror == m.name]
        if not mine:
            continue
        lines.append(f"{m.name}: {len(mine)} conflicted cop{'y' if len(mine) == 1 else 'ies'} "
                     f"in {roots[m.name]}")
        for c in mine:
            lines.append(f"  {c.copy}")
            lines.append(f"    copy:     {_describe(c.copy_local, c.copy_remote)}"
                         f" (the version made on {c.host}; --keep local)")
            lines.append(f"    original: {c.original}, "
                         f"{_describe(c.original_local, c.original_remote)}"
                         " (the server's version; --keep remote)")
    lines.append("Resolve one with: syncd conflicts resolve PATH --keep local|remote|both "
                 "(PATH: the copy or its original)")
    return "\n".join(lines) + "\n"


def to_json(listing: Listing, config: Config) -> str:
    """Stable keys (``"version": 1``; keys are only ever added)."""
    roots = {m.name: m.local for m in config.mirrors}

    def side(rel: str, local: Version | None, remote: Version | None, root: Path
             ) -> dict[str, Any]:
        return {"path": rel, "local_path": str(root / rel) if local else None,
                "local": asdict(local) if local else None,
                "remote": asdict(remote) if remote else None}

    items = [{"mirror": c.mirror, "host": c.host, "stamp": c.stamp,
              "copy": side(c.copy, c.copy_local, c.copy_remote, roots[c.mirror]),
              "original": side(c.original, c.original_local, c.original_remote,
                               roots[c.mirror])}
             for c in listing.conflicts]
    return json.dumps({"version": 1, "conflicts": items, "warnings": listing.notes}, indent=2)


# ---------------------------------------------------------------------- resolving

def _usage(message: str) -> CommandError:
    return CommandError(message, exitcodes.USAGE)


def _inside(path: str, root: Path) -> str | None:
    """``path`` (absolute) relative to ``root`` as a POSIX path, or None if outside."""
    p = Path(path)
    if p != root and p.is_relative_to(root):
        return p.relative_to(root).as_posix()
    return None


def locate(config: Config, path: str, mirror: str | None, cwd: str | None = None
           ) -> tuple[MirrorConfig, str]:
    """The mirror and relative path that ``path`` names (see the module doc)."""
    mirrors = [config.mirror(mirror)] if mirror else list(config.mirrors)
    given = os.path.expanduser(path)
    cwd = cwd or os.getcwd()
    absolute = os.path.abspath(os.path.join(cwd, given))
    hits: list[tuple[MirrorConfig, str]] = []
    for m in mirrors:  # an absolute path, or one relative to the current folder
        for candidate, root in ((absolute, m.local),
                                (os.path.realpath(absolute), Path(os.path.realpath(m.local)))):
            rel = _inside(candidate, root)
            if rel is not None and (os.path.isabs(given) or os.path.lexists(candidate)):
                hits.append((m, rel))
                break
    if not hits and os.path.isabs(given):
        where = "; ".join(f"{m.name}: {m.local}" for m in mirrors)
        raise _usage(f"{path} is not inside a mirror's local folder ({where})")
    if not hits:  # relative to a mirror root
        rel = Path(given).as_posix().strip("/")
        if model.unsafe(rel) or rel.startswith("../"):
            raise _usage(f"{path}: not a path inside a mirror")
        for m in mirrors:
            if os.path.lexists(m.local / rel) or any(
                    model.key(rel) in (model.key(c.copy), model.key(c.original))
                    for c in find(config, [m]).conflicts):
                hits.append((m, rel))
    if not hits:
        raise CommandError(f"{path}: no such file in "
                           f"{'mirror ' + mirror if mirror else 'any mirror'}",
                           exitcodes.NOINPUT)
    if len(hits) > 1:
        raise _usage(f"{path} is in mirrors {', '.join(m.name for m, _ in hits)}: "
                     "add --mirror NAME")
    return hits[0]


def _pick(listing: Listing, m: MirrorConfig, rel: str) -> Conflict:
    k = model.key(rel)
    mine = [c for c in listing.conflicts if c.mirror == m.name]
    for c in mine:
        if model.key(c.copy) == k:
            return c
    copies = [c for c in mine if model.key(c.original) == k]
    if len(copies) == 1:
        return copies[0]
    if copies:
        raise _usage(f"{rel} has {len(copies)} conflicted copies; resolve each by its "
                     "copy's path: " + "; ".join(c.copy for c in copies))
    raise _usage(f"{rel} in mirror {m.name} is not a conflicted copy and has none "
                 "(`syncd conflicts` lists them)")


def _move_free(src: Path, dst: Path) -> None:
    """Rename within the mirror, never replacing anything at ``dst``."""
    if os.path.lexists(dst):
        raise CommandError(f"{dst} exists (it appeared meanwhile); nothing was changed",
                           exitcodes.TEMPFAIL)
    os.rename(src, dst)


def resolve(config: Config, path: str, keep: str, *, mirror: str | None = None,
            cwd: str | None = None, now=time.time) -> tuple[MirrorConfig, list[str]]:
    """Resolve one conflict in the local tree; returns the mirror and what was done."""
    if keep not in KEEPS:
        raise _usage(f"--keep must be one of {', '.join(KEEPS)}")
    m, rel = locate(config, path, mirror, cwd)
    listing = find(config, [m])
    c = _pick(listing, m, rel)
    root = m.local
    if c.copy_local is None:
        if m.direction == "upload-only":
            raise CommandError(
                f"{c.copy} exists only on the server: an upload-only mirror never downloads "
                "it, so it cannot be resolved here; delete or rename it on the server",
                exitcodes.FAILURE)
        raise CommandError(f"{c.copy} is on the server only so far; run `syncd sync "
                           f"--mirror {m.name}` first", exitcodes.TEMPFAIL)
    copy_abs, original_abs = root / c.copy_local.path, root / c.original
    if c.original_local is not None:
        original_abs = root / c.original_local.path
    if keep != "both":
        if c.original_local is not None and c.original_local.kind != c.copy_local.kind:
            kinds = {model.DIR: "a folder", model.FILE: "a file"}
            raise _usage(f"{c.original} is {kinds[c.original_local.kind]} and its conflicted "
                         f"copy {kinds[c.copy_local.kind]}: which side each came from is not "
                         "recorded; use --keep both, or delete the one you do not want")
        if keep == "local" and m.direction == "download-only":
            raise _usage(f"mirror {m.name} is download-only: the server's version always "
                         "wins there; use --keep remote or --keep both")
    trash = LocalTrash(config.state_dir, m.name, now)
    done: list[str] = []
    if keep == "remote":
        if c.original_local is None:
            if c.original_remote is not None:
                raise CommandError(f"{c.original} is on the server only so far; run `syncd "
                                   f"sync --mirror {m.name}` first", exitcodes.TEMPFAIL)
            raise _usage(f"{c.original} no longer exists, so there is no other version to "
                         "keep; use --keep local or --keep both")
        where = trash.put(str(copy_abs), c.copy_local.path)
        done.append(f"kept {c.original} (the server's version); the copy "
                    f"{c.copy_local.path} went to the local trash: {where}")
    elif keep == "local":
        if c.original_local is not None:
            where = trash.put(str(original_abs), c.original_local.path)
            done.append(f"the previous {c.original_local.path} (the server's version) went "
                        f"to the local trash: {where}")
        _move_free(copy_abs, original_abs)
        done.insert(0, f"kept the version made on {c.host}: {c.copy_local.path} -> "
                       f"{original_abs.relative_to(root).as_posix()}")
    else:
        new = plain_name(c.copy_local.path, listing.taken.get(m.name, set()))
        _move_free(copy_abs, root / new)
        done.append(f"kept both: {c.copy_local.path} -> {new} "
                    f"(beside {c.original}; no longer a conflicted copy)")
    return m, done


# ---------------------------------------------------------------------- the command

def command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        if args.action == "resolve":
            return _resolve_command(args, config)
        mirrors = [config.mirror(args.mirror)] if args.mirror else list(config.mirrors)
        listing = find(config, mirrors)
    except ConfigError as exc:  # --mirror names no mirror: 78, as for sync
        raise config_error(exc) from exc
    except STATE_ERRORS as exc:
        raise state_error(exc, config) from exc
    if args.json:
        print(to_json(listing, config))
    else:
        sys.stdout.write(render(listing, config, mirrors))
    return exitcodes.OK


def _resolve_command(args: argparse.Namespace, config: Config) -> int:
    try:
        m, done = resolve(config, args.path, args.keep, mirror=args.mirror)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise CommandError(f"{exc.strerror or exc}:{where}; nothing was lost",
                           exitcodes.IOERR) from exc
    for line in done:
        print(f"{m.name}: {line}")
    if args.no_sync:
        print("The next `syncd sync` (or the daemon) makes the server agree.")
        return exitcodes.OK
    daemon = status.collect(config)["daemon"]
    if daemon["running"]:
        print(f"The running daemon (pid {daemon['pid']}) makes the server agree within "
              "seconds.")
        return exitcodes.OK
    print(f"Syncing mirror {m.name}:")
    return sync.command(argparse.Namespace(config=args.config, mirror=m.name, dry_run=False,
                                           force=False, quiet=False))
