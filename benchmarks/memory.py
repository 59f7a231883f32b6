"""Memory of the daemon with a big mirror, and what a quiet full pass costs there.

A real `syncd run` process (subprocess) syncs a fresh local tree of
``rss_files`` files to the emulator (in this process), becomes idle, and its
resident set (VmRSS) is read once it has used no CPU for two seconds; VmHWM
gives its peak during that first sync. Then it is stopped and started again on
the same, now indexed, mirror: the resident set after that start's first pass
is the "indexed and idle" figure a long-running daemon has after a restart.
Finally a one-shot quiet `syncd sync` pass runs in this process on the same
state, timed and profiled (cProfile), for the CPU side of "idle".
"""

from __future__ import annotations

import cProfile
import io
import pstats

from benchmarks._harness import (
    BenchError,
    Context,
    Daemon,
    Result,
    emulator,
    make_tree,
    measure_pass,
    new_setup,
    proc_status,
    timed,
    workdir,
)
from benchmarks.economy import QUIET_AFTER

RSS_TARGET_MB = 150
MB = 1e6  # the unit


def _daemon_rss(setup, log, timeout: float) -> dict:
    with Daemon(setup, log) as d:
        d.wait_idle(timeout=timeout)
        d.wait_quiet(timeout=timeout)
        return {"rss": proc_status(d.pid, "VmRSS"), "peak": proc_status(d.pid, "VmHWM"),
                "log_tail": d.log()[-600:]}


def _top(profile: cProfile.Profile, n: int = 8) -> list[str]:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(n + 12)
    lines = [ln.strip() for ln in out.getvalue().splitlines() if "syncd/" in ln]
    return lines[:n]


def rss(ctx: Context) -> list[Result]:
    s = ctx.sizes
    n = s.rss_files
    timeout = max(120.0, n / 100)  # the first sync uploads every file
    with workdir(ctx.parent) as tmp, emulator(tmp / "emulator") as emu:
        setup = new_setup(emu.url, tmp / "syncd")
        local = setup.add_mirror("big")
        ctx.say(f"  rss: writing {n:,} files; `syncd run` uploads them")
        make_tree(local, n, s.rss_folders)
        first = _daemon_rss(setup, tmp / "daemon-1.log", timeout)
        on_server = sum(1 for p, r in emu.other.tree().items()
                        if p.startswith("/big/") and r["attributes"]["type"] == "file")
        if on_server != n:
            raise BenchError(f"the daemon's first sync left {on_server} of {n} files on the "
                             f"server:\n{first['log_tail']}")
        ctx.say("  rss: restarting `syncd run` on the indexed mirror")
        again = _daemon_rss(setup, tmp / "daemon-2.log", timeout)
        # The CPU side: a one-shot quiet pass over the same state, in this process
        # (after passes that read the daemon's last uploads back from the feed).
        setup.sync()
        emu.advance_clock(QUIET_AFTER)
        setup.sync()
        profile = cProfile.Profile()
        secs, (_, cost) = timed(lambda: measure_pass(emu, setup.sync))
        profile.runcall(setup.sync)
    after_sync, restarted = first["rss"] / MB, again["rss"] / MB
    where = f"{n:,} files in {s.rss_folders:,} folders, one mirror"
    return [
        Result("RSS, 100k-file mirror indexed and idle",
               f"`syncd run` idle after its first sync uploaded {where}", after_sync,
               f"{after_sync:.0f} MB (peak {first['peak'] / MB:.0f} MB during the sync)",
               f"≤ {RSS_TARGET_MB} MB", after_sync <= RSS_TARGET_MB,
               {"vmrss": first["rss"], "vmhwm": first["peak"]}),
        Result("RSS, 100k-file mirror indexed and idle",
               "`syncd run` restarted on the indexed mirror, idle after its first pass",
               restarted, f"{restarted:.0f} MB (peak {again['peak'] / MB:.0f} MB)",
               f"≤ {RSS_TARGET_MB} MB", restarted <= RSS_TARGET_MB,
               {"vmrss": again["rss"], "vmhwm": again["peak"]}),
        Result("RSS, 100k-file mirror indexed and idle",
               "a quiet one-shot `syncd sync` pass on that mirror: wall time (context)",
               secs, f"{secs:.2f} s, {cost.total} transaction{'' if cost.total == 1 else 's'}", "-", None,
               {"by": cost.by, "profile_top_cumulative": _top(profile)}),
    ]
