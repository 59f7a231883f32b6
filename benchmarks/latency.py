"""Daemon latency: a local save until the server has the file.

A real `syncd run` (subprocess, ``daemon.settle`` = ``Sizes.settle``) keeps a
small mirror in sync with the emulator (in this process). Each sample writes a
new file, takes the time when the write is closed, and polls the emulator's
store (no HTTP, no transactions) every 5 ms until the file is there with its
full size. The daemon is idle again before the next sample.
"""

from __future__ import annotations

import time

from benchmarks._harness import (
    BenchError,
    Context,
    Daemon,
    Result,
    emulator,
    make_tree,
    median,
    new_setup,
    workdir,
)

POLL = 0.005
ALLOWANCE = 1.0  # the target: settle + 1 s


def _visible(emu, path: str, size: int, timeout: float) -> float:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        info = emu.other.info(path)
        if info is not None and info["attributes"]["size"] == size:
            return time.monotonic()
        time.sleep(POLL)
    raise BenchError(f"{path} did not reach the server within {timeout:.0f}s")


def latency(ctx: Context) -> list[Result]:
    s = ctx.sizes
    samples: list[float] = []
    with workdir(ctx.parent) as tmp, emulator(tmp / "emulator") as emu:
        setup = new_setup(emu.url, tmp / "syncd")
        local = setup.add_mirror("live")
        make_tree(local, 20, 4)
        setup.daemon = {"settle": s.settle}
        setup.write()
        ctx.say(f"  latency: {s.latency_samples} saves, daemon.settle {s.settle}s")
        with Daemon(setup, tmp / "daemon.log") as d:
            seen = d.wait_idle(timeout=60)
            for i in range(s.latency_samples):
                data = f"sample {i}\n".encode() * (i + 1)
                rel = f"saved/sample {i:02d}.txt"
                (local / "saved").mkdir(exist_ok=True)
                with open(local / rel, "wb") as f:
                    f.write(data)
                saved = time.monotonic()
                samples.append(_visible(emu, f"/live/{rel}", len(data), 30) - saved)
                seen = d.wait_idle(after=seen, timeout=30)
                time.sleep(0.1)
    target = s.settle + ALLOWANCE
    mid = median(samples)
    ordered = sorted(samples)
    return [Result(
        "Daemon latency: local save → remote visible",
        f"median of {len(samples)} saves, daemon.settle {s.settle}s", mid,
        f"{mid:.2f} s (min {ordered[0]:.2f}, max {ordered[-1]:.2f})",
        f"≤ {target:.1f} s (settle + {ALLOWANCE:.0f} s)", mid <= target,
        {"samples_s": samples, "settle_s": s.settle})]
