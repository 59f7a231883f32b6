"""`python -m benchmarks`: every row of issue 6 in one run, written to BENCHMARKS.md.

    python -m benchmarks                 # full sizes; rewrites the results in BENCHMARKS.md
    python -m benchmarks --quick         # CI-sized data; prints the table only
    python -m benchmarks --only idle,changes --json out.json

Rows (``--only``): idle, trueup, changes, busy, scan, planner, rss, large, small,
latency. Data is generated in a temporary folder (in /dev/shm when it has room)
and removed afterwards; the emulator runs on 127.0.0.1. A full run writes
BENCHMARKS.md unless ``--out`` names another file; a quick or partial run writes
markdown only to ``--out``. Exit code 0 when every row ran (a missed target is
a result, not an error), 1 when a row could not run, 64 for bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks import economy, latency, local, memory, report, transfers
from benchmarks._harness import (
    QUICK,
    BenchError,
    Context,
    Result,
    Sizes,
    default_workdir,
)
from syncd.cli import exitcodes

# In the order: (name, what it measures, function).
ROWS: list[tuple[str, str, Callable[[Context], list[Result]]]] = [
    ("idle", "idle poll, activity mode (and its daily true-up)", economy.idle_poll),
    ("trueup", "idle true-up, fallback mode", economy.trueup_fallback),
    ("changes", "transactions per change", economy.per_change),
    ("busy", "a quiet pass on a busy account (40,000 changes elsewhere)", economy.busy_account),
    ("scan", "local scan and re-scan vs a bare walk", local.scan_rows),
    ("planner", "planner on 100k entries", local.planner_rows),
    ("rss", "daemon RSS with a 100k-file mirror", memory.rss),
    ("large", "1 GiB upload and download", transfers.large),
    ("small", "1,000 × 10 KB files", transfers.small_files),
    ("latency", "daemon latency, save → visible", latency.latency),
]
NAMES = [name for name, _, _ in ROWS]
REPO = Path(__file__).resolve().parent.parent


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 64 (argparse would exit 2)
        raise UsageError(message)


def parse(argv: list[str]) -> argparse.Namespace:
    p = Parser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI-sized data (proves the harness)")
    p.add_argument("--only", help=f"comma-separated rows: {','.join(NAMES)}")
    p.add_argument("--out", type=Path, help="markdown file to write the results into")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument("--dir", type=Path, help="where to make the temporary work folders "
                   "(default: /dev/shm when it has room)")
    args = p.parse_args(argv)
    if args.only:
        wanted = [x.strip() for x in args.only.split(",") if x.strip()]
        unknown = [x for x in wanted if x not in NAMES]
        if unknown or not wanted:
            raise UsageError(f"unknown row {', '.join(unknown) or repr(args.only)}; "
                             f"rows: {', '.join(NAMES)}")
        args.only = wanted
    if args.dir is not None and not args.dir.is_dir():
        raise UsageError(f"--dir {args.dir}: not a folder")
    return args


def run(args: argparse.Namespace, argv: list[str]) -> int:
    sizes: Sizes = QUICK if args.quick else Sizes()
    parent = args.dir or default_workdir(4 * sizes.large_size)
    ctx = Context(sizes, parent, args.quick, say=lambda text: print(text, flush=True))
    selected = [row for row in ROWS if not args.only or row[0] in args.only]
    started, t0 = time.strftime("%Y-%m-%d %H:%M %Z"), time.monotonic()
    load_before = report.load_average()
    results: list[Result] = []
    errors: dict[str, str] = {}
    for name, what, fn in selected:
        print(f"{name}: {what}", flush=True)
        t = time.monotonic()
        try:
            rows = fn(ctx)
        except BenchError as exc:
            errors[name] = str(exc).splitlines()[0]
            print(f"  error: {exc}", flush=True)
            continue
        except Exception as exc:  # noqa: BLE001 - one row's bug must not lose the others
            errors[name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            traceback.print_exc()
            continue
        results.extend(rows)
        print(report.terminal(rows, {}), flush=True)
        print(f"  ({time.monotonic() - t:.0f} s)", flush=True)
    info = {
        "command": report.command_line(argv),
        "quick": args.quick,
        "started": started,
        "minutes": (time.monotonic() - t0) / 60,
        "machine": report.machine(),
        "workdir": f"{parent or 'the system temp folder'}",
        "load_before": load_before,
        "load_after": report.load_average(),
        "sizes": dataclasses.asdict(sizes),
    }
    out = args.out
    if out is None and not args.quick and not args.only:
        out = REPO / "BENCHMARKS.md"
    if out is not None:
        report.write_markdown(out, info, results, errors)
        print(f"wrote {out}")
    if args.json is not None:
        args.json.write_text(json.dumps({**info, "rows": [dataclasses.asdict(r) for r in results],
                                         "errors": errors}, indent=2, default=str))
    print(report.terminal(results, errors))
    return exitcodes.FAILURE if errors else exitcodes.OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse(argv)
    except UsageError as exc:
        print(f"python -m benchmarks: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        return run(args, argv)
    except KeyboardInterrupt:
        print("python -m benchmarks: interrupted", file=sys.stderr)
        return exitcodes.FAILURE


if __name__ == "__main__":
    sys.exit(main())
