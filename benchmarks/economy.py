"""Transaction economy: what a quiet account and single changes cost.

Counts, not timings: every number here is the emulator's request log for one
`syncd sync` pass (run in this process against an in-process emulator), checked
against the engine's own count (the client's ``on_request`` hook). A pass is
split into *poll* requests (activity-feed pages and listings: learning what
changed on the server) and *change* requests (everything else: the upload,
rename, move or delete that propagates the change, and any stat it needs).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from benchmarks._harness import (
    BenchError,
    Context,
    PassCost,
    Result,
    Setup,
    emulator,
    make_tree,
    measure_pass,
    new_setup,
    split_evenly,
    workdir,
)
from syncd.remote.exavault.feed import OVERLAP, SETTLE

QUIET_AFTER = SETTLE + OVERLAP + 1.0  # seconds after which a feed query no longer sees a burst
DAY = 86400.0


def _mirrors(emu, tmp: Path, files: int, folders: int, count: int) -> Setup:
    setup = new_setup(emu.url, tmp / "syncd")
    for i, (n_files, n_folders) in enumerate(zip(split_evenly(files, count),
                                                 split_evenly(folders, count))):
        local = setup.add_mirror(f"m{i}")
        make_tree(local, n_files, n_folders, prefix=f"m{i}-")
    return setup


def _remote_items(emu, root: str) -> int:
    """Files and folders under ``root`` on the server (the root itself not counted)."""
    return sum(1 for p in emu.other.tree() if p.startswith(root.rstrip("/") + "/"))


def _where(s) -> str:
    return f"{s.idle_files:,} files in {s.idle_folders:,} folders over {s.idle_mirrors} mirrors"


def _costs(costs: list[PassCost]) -> str:
    return ", ".join(str(c.total) for c in costs)


def idle_poll(ctx: Context) -> list[Result]:
    s = ctx.sizes
    where = _where(s)
    with workdir(ctx.parent) as tmp, emulator(tmp / "emulator") as emu:
        setup = _mirrors(emu, tmp, s.idle_files, s.idle_folders, s.idle_mirrors)
        ctx.say(f"  idle: initial sync of {where}")
        _, first = measure_pass(emu, setup.sync)
        # The first poll after the upload burst (a daemon polls minutes later) still
        # reads the burst's last OVERLAP seconds; from the next one on the account is quiet.
        emu.advance_clock(QUIET_AFTER)
        _, burst = measure_pass(emu, setup.sync)
        idle = [measure_pass(emu, setup.sync)[1] for _ in range(s.idle_polls)]
        # The daily true-up in activity mode: the engine's clock a day later.
        _, trueup = measure_pass(emu, lambda: setup.sync(clock_offset=DAY + 1))
        items = [_remote_items(emu, setup.remote(m)) for m in setup.mirrors]
    pages = sum(math.ceil(n / 100) for n in items)
    worst = max(c.total for c in idle)
    return [
        Result("Idle poll, activity mode", f"quiet `syncd sync` pass, {where}", worst,
               f"{worst} ({_costs(idle)} in {len(idle)} passes)", "1", worst == 1, {
                   "passes": [c.by for c in idle],
                   "initial_sync": first.by,
                   "first_pass_after_burst": burst.by,
                   "quiet_after_s": QUIET_AFTER}),
        Result("Idle poll, activity mode",
               f"the first poll after the initial sync's {s.idle_files:,} uploads (context)",
               burst.total, f"{burst.total} ({burst.describe()})", "-", None,
               {"by": burst.by}),
        Result("Idle true-up, fallback mode",
               f"activity mode's daily true-up (full_scan_interval elapsed), {where}",
               trueup.total, f"{trueup.total} ({trueup.describe()})",
               f"{pages} (Σ⌈N/100⌉, N = {'/'.join(map(str, items))})",
               trueup.total <= pages, {"by": trueup.by, "items": items}),
    ]


def trueup_fallback(ctx: Context) -> list[Result]:
    s = ctx.sizes
    where = _where(s)
    with workdir(ctx.parent) as tmp, emulator(tmp / "emulator", files_com=True) as emu:
        setup = _mirrors(emu, tmp, s.idle_files, s.idle_folders, s.idle_mirrors)
        ctx.say(f"  true-up: initial sync of {where} (no activity feed)")
        _, first = measure_pass(emu, setup.sync)
        idle = [measure_pass(emu, setup.sync)[1] for _ in range(s.idle_polls)]
        items = [_remote_items(emu, setup.remote(m)) for m in setup.mirrors]
    pages = sum(math.ceil(n / 100) for n in items)
    worst = max(c.total for c in idle)
    return [Result(
        "Idle true-up, fallback mode", f"quiet pass without an activity feed, {where}",
        worst, f"{worst} ({_costs(idle)} in {len(idle)} passes; {idle[0].describe()})",
        f"{pages} (Σ⌈N/100⌉, N = {'/'.join(map(str, items))})", worst <= pages,
        {"passes": [c.by for c in idle], "items": items, "initial_sync": first.by})]


def busy_account(ctx: Context) -> list[Result]:
    """A quiet pass after many changes elsewhere on the account (issue 18, item 5):
    the feed holds them all, the mirrors none. Reading it would cost ⌈n/100⌉ + 1;
    the tracker lists the mirrors instead when that is cheaper."""
    s = ctx.sizes
    n = s.busy_changes
    where = _where(s)
    with workdir(ctx.parent) as tmp, emulator(tmp / "emulator") as emu:
        setup = _mirrors(emu, tmp, s.idle_files, s.idle_folders, s.idle_mirrors)
        ctx.say(f"  busy: initial sync of {where}")
        setup.sync()
        emu.advance_clock(QUIET_AFTER)
        setup.sync()  # reads the initial burst's tail once (see idle_poll)
        emu.advance_clock(QUIET_AFTER)
        _, quiet = measure_pass(emu, setup.sync)
        ctx.say(f"  busy: {n:,} changes by another user outside the mirrors")
        for i in range(n):
            emu.other.write(f"/elsewhere/{i // 1000:03d}/f{i:05d}.txt", b"x")
        # The pass comes a little later (the next pass reads the feed from this one's
        # start less a few seconds of overlap; whole-second dates add up to one more).
        emu.advance_clock(QUIET_AFTER + 1.0)
        _, busy = measure_pass(emu, setup.sync)
        emu.advance_clock(QUIET_AFTER)
        _, after = measure_pass(emu, setup.sync)
        items = [_remote_items(emu, setup.remote(m)) for m in setup.mirrors]
    pages = sum(math.ceil(k / 100) for k in items)
    feed = math.ceil((n + 1) / 100)
    target = f"{pages} (Σ⌈N/100⌉, N = {'/'.join(map(str, items))})"
    return [
        Result("Busy account, quiet mirrors",
               f"quiet `syncd sync` pass after {n:,} changes elsewhere on the account, "
               f"{where}", busy.total,
               f"{busy.total} ({busy.describe()}; the whole feed: {feed})",
               f"≤ {target} + 2", busy.total <= pages + 2,
               {"by": busy.by, "items": items, "feed_pages": feed,
                "quiet_before": quiet.by}),
        Result("Busy account, quiet mirrors", "the next quiet pass (context)", after.total,
               f"{after.total} ({after.describe()})", "1", after.total == 1,
               {"by": after.by}),
    ]


# ----------------------------------------------------------------------------- per change

def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _expect(emu, present: dict[str, int | None], absent: list[str]) -> None:
    """The server holds each ``present`` path (with that size, None: a folder) and
    none of ``absent``: the change really propagated."""
    for path, size in present.items():
        info = emu.other.info(path)
        if info is None:
            raise BenchError(f"{path} did not reach the server")
        if size is not None and info["attributes"]["size"] != size:
            raise BenchError(f"{path} has size {info['attributes']['size']} on the server, "
                             f"want {size}")
    for path in absent:
        if emu.other.info(path) is not None:
            raise BenchError(f"{path} is still on the server")


def per_change(ctx: Context) -> list[Result]:
    n = ctx.sizes.change_files
    if n < 600:  # (more than 50% deleted would trip the deletion guard)
        raise BenchError("per-change needs a mirror of at least 600 files (300 are deleted)")
    results: list[Result] = []
    with workdir(ctx.parent) as tmp, emulator(tmp / "emulator") as emu:
        setup = new_setup(emu.url, tmp / "syncd")
        local = setup.add_mirror("docs", remote_delete="delete")
        paths = make_tree(local, n, 12)
        setup.sync()
        emu.advance_clock(QUIET_AFTER)
        setup.sync()  # reads the initial burst's tail once (see idle_poll)
        emu.advance_clock(QUIET_AFTER)
        r = "/docs/"

        def step(label: str, target: int, change, present, absent, *, exact=True):
            change()
            _, cost = measure_pass(emu, setup.sync)
            _expect(emu, present, absent)
            ok = cost.change == target if exact else cost.change <= target
            results.append(Result(
                "Transactions per change", label, cost.change,
                f"{cost.change} ({_change_part(cost)}; pass total {cost.total})",
                f"{'' if exact else '≤ '}{target}", ok, {"by": cost.by, "total": cost.total}))
            emu.advance_clock(QUIET_AFTER)

        new = "d000/s0000/new file.txt"
        step("new file", 1, lambda: _write(local / new, b"a new file\n"),
             {r + new: 11}, [])
        edited = paths[1]
        step("edit", 2, lambda: _write(local / edited, b"edited, longer than before\n"),
             {r + edited: 27}, [], exact=False)
        a, a2 = paths[2], paths[2].replace(".txt", " renamed.txt")
        step("rename", 1, lambda: os.rename(local / a, local / a2), {r + a2: None}, [r + a])
        b = paths[3]
        b_dst = f"{paths[4].rsplit('/', 1)[0]}/{b.rsplit('/', 1)[1]}"
        if b_dst.rsplit("/", 1)[0] == b.rsplit("/", 1)[0]:
            raise BenchError("move source and destination folders coincide")
        step("move (to another folder)", 1, lambda: os.rename(local / b, local / b_dst),
             {r + b_dst: None}, [r + b])
        folder = paths[5].rsplit("/", 1)[0]
        moved_folder = folder + " moved"
        inside = sum(1 for p in paths if p.startswith(folder + "/"))
        # The folder was made by the uploads into it (the API creates missing
        # parents), whose answers carry no id for it; renaming needs the id.
        step(f"folder rename ({inside} files inside), folder not listed since its "
             "uploads made it", 1,
             lambda: os.rename(local / folder, local / moved_folder),
             {r + moved_folder: None}, [r + folder])
        setup.sync(clock_offset=DAY)  # the daily true-up: every id is known now
        emu.advance_clock(QUIET_AFTER)
        other = next(p.rsplit("/", 1)[0] for p in paths
                     if not p.startswith((folder + "/", moved_folder + "/")))
        other_moved = other + " moved"
        inside = sum(1 for p in paths if p.startswith(other + "/"))
        step(f"folder rename ({inside} files inside), folder listed before", 1,
             lambda: os.rename(local / other, local / other_moved),
             {r + other_moved: None}, [r + other])
        gone = [p for p in paths[6:]
                if not p.startswith((folder + "/", other + "/"))][:300]
        first, second, third = gone[:100], gone[100:200], gone[200:]
        step("100 deletes (remote_delete: delete)", 1,
             lambda: [os.unlink(local / p) for p in first], {}, [r + p for p in first])
        setup.mirrors["docs"]["remote_delete"] = "trash"
        setup.write()
        step("100 deletes (remote_delete: trash, the default), the day's first", 1,
             lambda: [os.unlink(local / p) for p in second], {}, [r + p for p in second])
        step("100 deletes (remote_delete: trash), later the same day", 1,
             lambda: [os.unlink(local / p) for p in third], {}, [r + p for p in third])
    return results


def _change_part(cost: PassCost) -> str:
    parts = {e: k for e, k in cost.by.items() if e not in ("activity", "list")}
    return " + ".join(f"{k} {e}" for e, k in sorted(parts.items())) or "none"
