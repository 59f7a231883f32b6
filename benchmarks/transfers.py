"""Throughput rows: one large file, and many small ones, against raw ``requests``.

The emulator runs in its own process here, so it does not share this process's
interpreter lock with the client being timed; its CPU time is read from /proc
for each step, to show whether it (rather than the client) was the bottleneck.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from benchmarks import large_transfer
from benchmarks._harness import (
    KEY,
    TOKEN,
    BenchError,
    Context,
    Result,
    cpu_seconds,
    emulator_process,
    make_tree,
    median,
    new_setup,
    workdir,
)
from syncd.remote.exavault.feed import OVERLAP

RATIO_TARGET = 0.8
FLAT = 48 << 20  # RSS growth that still counts as flat for a 1 GiB transfer (the test's bound)
MIB = 1 << 20


def large(ctx: Context) -> list[Result]:
    s = ctx.sizes
    ctx.say(f"  large: {s.large_size / MIB:.0f} MiB up and down, {s.large_repeat} rounds")
    with workdir(ctx.parent) as tmp:
        out = large_transfer.run(s.large_size, tmp, max(1, s.large_repeat))
    if not out["sha256_ok"]:
        raise BenchError("large transfer: the downloaded bytes differ from the source")
    by = {r["step"]: r for r in out["rows"]}
    results = []
    for way in ("upload", "download"):
        mine, raw = by[f"syncd {way}"], by[f"raw {way}"]
        ratio = out[f"{way}_ratio"]
        best = mine["mb_per_s_range"][1] / raw["mb_per_s_range"][1]
        client, emu = mine["client_rss_growth"], mine["emulator_rss_growth"]
        flat = client < FLAT and emu < FLAT
        results.append(Result(
            "1 GiB upload and download vs raw streaming requests",
            f"{s.large_size / MIB:,.0f} MiB {way}, median of {out['repeat']} rounds",
            ratio, f"{ratio:.2f}× ({mine['mb_per_s']:.0f} vs {raw['mb_per_s']:.0f} MB/s; "
                   f"best runs {best:.2f}×); RSS +{client / MIB:.1f} MiB client, "
                   f"+{emu / MIB:.1f} MiB emulator",
            f"≥ {RATIO_TARGET}×, flat memory", ratio >= RATIO_TARGET and flat,
            {"syncd": mine, "raw": raw, "best_ratio": best}))
    return results


# ----------------------------------------------------------------------------- small files

class RawClient:
    """The baseline: a hand-written loop of plain ``requests`` calls on a thread pool,
    one session (connection) per thread, as many threads as syncd's transfers."""

    def __init__(self, url: str, threads: int):
        self.url = url
        self.threads = threads
        self._local = threading.local()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = requests.Session()
            s.headers.update({"ev-api-key": KEY, "ev-access-token": TOKEN})
        return s

    def upload(self, src: Path, files: list[str], remote: str) -> None:
        def one(rel: str) -> None:
            data = (src / rel).read_bytes()
            r = self._session().post(
                f"{self.url}/resources/upload",
                params={"path": f"{remote}/{rel}", "fileSize": len(data),
                        "allowOverwrite": "false"},
                files={"file": ("blob", data, "application/octet-stream")}, timeout=60)
            r.raise_for_status()
        self._all(one, files)

    def download(self, remote: str, files: list[str], dst: Path) -> None:
        def one(rel: str) -> None:
            r = self._session().get(f"{self.url}/resources/download",
                                    params={"resources[]": f"{remote}/{rel}"}, timeout=60)
            r.raise_for_status()
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(r.content)
        self._all(one, files)

    def _all(self, fn, items: list[str]) -> None:
        with ThreadPoolExecutor(self.threads) as pool:
            for _ in pool.map(fn, items):
                pass


QUIET = OVERLAP + 1.0  # seconds between steps (see small_files)


def _step(emu_pid: int, fn) -> dict:
    time.sleep(QUIET)
    cpu = cpu_seconds(emu_pid)
    me = cpu_seconds()
    t = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t
    return {"seconds": wall, "emulator_cpu": (cpu_seconds(emu_pid) - cpu) / wall,
            "client_cpu": (cpu_seconds() - me) / wall,
            "requests": getattr(out, "transactions", None)}


def _same(a: Path, b: Path, files: list[str]) -> None:
    for rel in files:
        if (a / rel).read_bytes() != (b / rel).read_bytes():
            raise BenchError(f"{rel}: the downloaded copy differs")


def small_files(ctx: Context) -> list[Result]:
    """syncd and the baseline each talk to an emulator of their own (same build, same
    options): the activity feed is account-wide, so on a shared one each syncd pass
    would also pay to read the baseline's uploads. Steps start ``QUIET`` seconds
    apart: a feed query reaches ``OVERLAP`` seconds back (timestamps have 1 s
    resolution), so a pass started right after another would also read (and pay
    for) the tail of the previous step's thousand entries, which a real pass,
    minutes after the last, does not."""
    s = ctx.sizes
    n, size, threads = s.small_files, s.small_size, s.transfers
    steps: dict[str, list[dict]] = {}
    with workdir(ctx.parent) as tmp, emulator_process(tmp / "emulator") as (pid, url), \
            emulator_process(tmp / "emulator-raw") as (raw_pid, raw_url):
        src = tmp / "source"
        files = make_tree(src, n, max(1, n // 100), size)
        raw = RawClient(raw_url, threads)
        ctx.say(f"  small files: {n:,} × {size // 1024} KiB, {threads} in parallel, "
                f"{s.small_repeat} rounds")
        for i in range(max(1, s.small_repeat)):
            up = new_setup(url, tmp / f"up{i}")
            up.mirrors["up"] = {"name": "up", "local": str(src), "remote": f"/up{i}",
                                "transfers": threads}
            up.write()
            steps.setdefault("syncd upload", []).append(_step(pid, up.sync))
            steps.setdefault("raw upload", []).append(
                _step(raw_pid, lambda i=i: raw.upload(src, files, f"/raw{i}")))
            down = new_setup(url, tmp / f"down{i}")
            back = down.add_mirror("down", transfers=threads)
            down.mirrors["down"]["remote"] = f"/up{i}"
            down.write()
            steps.setdefault("syncd download", []).append(_step(pid, down.sync))
            raw_back = tmp / f"raw-back{i}"
            steps.setdefault("raw download", []).append(
                _step(raw_pid, lambda i=i, to=raw_back: raw.download(f"/raw{i}", files, to)))
            _same(src, back, files)
            _same(src, raw_back, files)
    results = []
    for way in ("upload", "download"):
        mine, base = steps[f"syncd {way}"], steps[f"raw {way}"]
        t_mine = median(x["seconds"] for x in mine)
        t_raw = median(x["seconds"] for x in base)
        ratio = t_raw / t_mine
        emu_cpu = max(x["emulator_cpu"] for x in mine + base)
        results.append(Result(
            "1,000 × 10 KB files vs a threaded requests loop",
            f"{n:,} × {size // 1024} KiB {way}, {threads} in parallel, median of {len(mine)}",
            ratio, f"{ratio:.2f}× ({n / t_mine:.0f} vs {n / t_raw:.0f} files/s; syncd's pass "
                   f"{max(x['requests'] for x in mine):,} requests; emulator CPU "
                   f"≤ {emu_cpu:.0%} of a core)",
            f"≥ {RATIO_TARGET}×", ratio >= RATIO_TARGET,
            {"syncd": mine, "raw": base}))
    return results
