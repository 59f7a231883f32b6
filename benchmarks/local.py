"""CPU-bound rows: the local scan, the re-scan, and the planner, in this process.

The baseline of the scan rows is the least any scanner must do: a bare
``os.scandir`` walk that ``lstat``s every entry (``DirEntry.stat(follow_symlinks=False)``)
and keeps nothing. Scan and walk run interleaved, ``scan_repeat`` times each, on
the same tree in the work folder (tmpfs when it has room: warm, no disk); each
row compares the medians.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from benchmarks._harness import (
    BenchError,
    Context,
    Result,
    make_tree,
    median,
    timed,
    workdir,
)
from syncd import model
from syncd.reconcile import planner
from syncd.local.ignore import IgnoreRules
from syncd.local.scan import scan
from syncd.model import BaseEntry, RemoteEntry

SCAN_TARGET = 1.5
PLANNER_TARGET = 1.0  # seconds


def bare_walk(top: str) -> int:
    """Every entry under ``top`` listed and ``lstat``-ed; returns how many."""
    n = 0
    stack = [top]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                n += 1
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
    return n


def synced_base(entries) -> dict[str, BaseEntry]:
    """The base rows a completed sync of ``entries`` (a scan) leaves in the index
    (every file with its content hash; remote ids invented)."""
    base = {}
    for i, (k, e) in enumerate(entries.items()):
        sha = hashlib.sha256(e.path.encode()).hexdigest() if e.kind == model.FILE else None
        base[k] = BaseEntry(e.path, e.path, e.kind, e.size, e.mtime_ns, e.inode, sha,
                            remote_id=str(i + 2), remote_size=e.size if e.kind == model.FILE
                            else 0, remote_updated=1_700_000_000.0)
    return base


def remote_of(base: dict[str, BaseEntry]) -> dict[str, RemoteEntry]:
    return {b.remote_path: RemoteEntry(b.remote_path, b.kind, b.remote_id, b.remote_size,
                                       b.remote_updated) for b in base.values()}


def _ratio_rows(ctx: Context, root: Path, files: int, folders: int) -> list[Result]:
    s = ctx.sizes
    top = str(root)
    rules = IgnoreRules.for_root(root, ())
    patterns = IgnoreRules.for_root(root, ("*.tmp", "node_modules/", "/build/"))
    bare, first, again, ignoring = [], [], [], []
    hashed = []
    base = synced_base(scan(root, {}, rules).entries)  # (also warms the caches)
    entries = len(base)
    for _ in range(max(1, s.scan_repeat)):
        t, n = timed(lambda: bare_walk(top))
        bare.append(t)
        t, res = timed(lambda: scan(root, {}, rules))
        first.append(t)
        if len(res.entries) != n or n != entries:
            raise BenchError(f"scan found {len(res.entries)} entries, the walk {n}")
        t, res = timed(lambda: scan(root, base, rules))
        again.append(t)
        hashed.append(res.hashed)
        t, _ = timed(lambda: scan(root, base, patterns))
        ignoring.append(t)
    walk = median(bare)
    where = f"{files:,} files in {folders:,} folders ({entries:,} entries)"
    ratio = median(first) / walk
    ratio_again = median(again) / walk
    ratio_ignoring = median(ignoring) / walk
    timing = lambda xs: {"median_s": median(xs), "runs_s": xs}
    detail = {"bare_walk": timing(bare), "first_scan": timing(first),
              "rescan": timing(again), "rescan_with_patterns": timing(ignoring)}
    return [
        Result("Local scan vs bare walk", f"first scan (empty base), {where}", ratio,
               f"{ratio:.2f}× ({median(first):.3f} s vs {walk:.3f} s)",
               f"≤ {SCAN_TARGET}×", ratio <= SCAN_TARGET, detail),
        Result("Re-scan, no changes", f"scan against the synced base, {where}", ratio_again,
               f"{ratio_again:.2f}× ({median(again):.3f} s), {max(hashed)} hashed",
               f"≤ {SCAN_TARGET}×, 0 hashed", ratio_again <= SCAN_TARGET and max(hashed) == 0,
               {**detail, "hashed": hashed}),
        Result("Re-scan, no changes", "the same with 3 ignore patterns (context)",
               ratio_ignoring, f"{ratio_ignoring:.2f}× ({median(ignoring):.3f} s)", "-", None,
               detail),
    ]


def _tree(ctx: Context, tmp: Path, row: str) -> Path:
    s = ctx.sizes
    ctx.say(f"  {row}: writing {s.scan_files:,} files in {s.scan_folders:,} folders")
    make_tree(tmp / "tree", s.scan_files, s.scan_folders)
    return tmp / "tree"


def scan_rows(ctx: Context) -> list[Result]:
    s = ctx.sizes
    with workdir(ctx.parent) as tmp:
        return _ratio_rows(ctx, _tree(ctx, tmp, "scan"), s.scan_files, s.scan_folders)


def planner_rows(ctx: Context) -> list[Result]:
    s = ctx.sizes
    with workdir(ctx.parent) as tmp:
        root = _tree(ctx, tmp, "planner")
        local = scan(root, {}, IgnoreRules.for_root(root, ())).entries
    base = synced_base(local)
    # The re-scan's view: every file's hash copied from its unchanged base row.
    local = {k: model.LocalEntry(e.path, e.kind, e.size, e.mtime_ns, e.inode, base[k].sha256)
             for k, e in local.items()}
    remote = remote_of(base)
    options = model.PlanOptions("two-way", "benchhost", model.stamp(1_700_000_000.0))
    quiet, actions = [], 0
    for _ in range(max(1, s.planner_repeat)):
        t, p = timed(lambda: planner.plan(local, remote, base, options))
        quiet.append(t)
        actions = len(p.actions)
    if actions:
        raise BenchError(f"the planner wants {actions} actions for trees in sync")
    # 1% changed on each side: edits both ways, so the plan is not empty.
    changed_local, changed_remote = dict(local), dict(remote)
    files = [k for k, e in local.items() if e.kind == model.FILE]
    for k in files[0::200]:
        e = local[k]
        changed_local[k] = model.LocalEntry(e.path, e.kind, e.size + 1, e.mtime_ns + 1, e.inode)
    for k in files[100::200]:
        r = remote[base[k].remote_path]
        changed_remote[r.path] = RemoteEntry(r.path, r.kind, r.id, r.size + 1, r.updated + 1)
    busy = []
    for _ in range(max(1, s.planner_repeat)):
        t, p = timed(lambda: planner.plan(changed_local, changed_remote, base, options))
        busy.append(t)
        busy_actions = len(p.actions)
    n = len(local)
    t = median(quiet)
    return [
        Result("Planner on 100k entries", f"trees in sync, {n:,} entries on each side",
               t, f"{t:.2f} s", f"≤ {PLANNER_TARGET:.0f} s", t <= PLANNER_TARGET,
               {"runs_s": quiet}),
        Result("Planner on 100k entries",
               f"1% of the files changed on each side ({busy_actions:,} actions)",
               median(busy), f"{median(busy):.2f} s", f"≤ {PLANNER_TARGET:.0f} s",
               median(busy) <= PLANNER_TARGET, {"runs_s": busy}),
    ]
