"""`syncd emulator --service egnyte` / `python -m syncd.emulators.egnyte`: serve until a signal."""

from __future__ import annotations

import errno
import signal
import sys
import threading

from syncd.emulators.exavault.app import loopback_address
from syncd.emulators.exavault.cli import (EX_CANTCREAT, EX_OK, EX_UNAVAILABLE, EX_USAGE, _check_root,
                                          _fail, _Parser, _Usage)

from .app import Emulator
from .events import DEFAULT_RETENTION
from .faults import ALL_KINDS, DEFAULT_KINDS, kind_names
from .transfer import MIN_CHUNK


def build_parser() -> _Parser:
    p = _Parser(prog="syncd emulator --service egnyte",
                description="Run the Egnyte Public API emulator on a loopback port.")
    p.add_argument("--root", required=True, help="storage folder (created if missing)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="TCP port (default 0: pick a free one)")
    p.add_argument("--access-token", default="emulator-token",
                   help="the bearer token of the user (default emulator-token)")
    p.add_argument("--other-token", default=None,
                   help="bearer token of a second user (default: ACCESS_TOKEN-other)")
    p.add_argument("--min-chunk", type=int, default=MIN_CHUNK, metavar="BYTES",
                   help=f"smallest chunk but the last of a chunked upload (default {MIN_CHUNK})")
    p.add_argument("--qps", type=int, default=2,
                   help="calls per second per token (default 2, as Egnyte; 0: no limit)")
    p.add_argument("--daily-limit", type=int, default=1000,
                   help="calls per UTC day per token (default 1000, as Egnyte; 0: no limit)")
    p.add_argument("--throttle-status", type=int, choices=(403, 429), default=403,
                   help="status of a throttled call: 403 + X-Mashery-Error-Code (Egnyte's "
                        "documented answer, default) or 429")
    p.add_argument("--event-retention", type=int, default=DEFAULT_RETENTION, metavar="N",
                   help=f"events kept (default {DEFAULT_RETENTION}; also at most 30 days)")
    p.add_argument("--fault-rate", type=float, default=0.0, help="probability of a fault per call")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    p.add_argument("--fault-kinds", default=None, metavar="K1,K2",
                   help=f"fault kinds (default {','.join(DEFAULT_KINDS)}; also corrupt)")
    p.add_argument("--latency", type=int, default=0, metavar="MS", help="added latency per call")
    p.add_argument("--bandwidth", type=int, default=None, metavar="BYTES_PER_S",
                   help="throttle each upload/download to this rate")
    p.add_argument("--no-range", action="store_true",
                   help="ignore Range on downloads (always 200 with the whole file)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p


def _check_args(args) -> None:
    if not 0 <= args.port <= 65535:
        raise _Usage(f"--port must be between 0 and 65535, not {args.port}")
    if not 0.0 <= args.fault_rate <= 1.0:
        raise _Usage("--fault-rate must be between 0 and 1")
    unknown = set(kind_names(args.fault_kinds)) - set(ALL_KINDS)
    if unknown:
        raise _Usage(f"unknown --fault-kinds {', '.join(sorted(unknown))}; use "
                     f"{', '.join(ALL_KINDS)}")
    for name in ("qps", "daily_limit", "latency"):
        if getattr(args, name) < 0:
            raise _Usage(f"--{name.replace('_', '-')} must be >= 0")
    if args.min_chunk < 1 or args.event_retention < 1 or (args.bandwidth is not None
                                                          and args.bandwidth <= 0):
        raise _Usage("--min-chunk, --event-retention and --bandwidth must be > 0")
    if not args.access_token:
        raise _Usage("--access-token must not be empty")
    try:
        loopback_address(args.host)
    except ValueError as exc:
        raise _Usage(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _check_args(args)
    except _Usage as exc:
        return _fail(str(exc), EX_USAGE)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    problem = _check_root(args.root)
    if problem:
        return _fail(problem, EX_CANTCREAT)
    emu = Emulator(args.root, access_token=args.access_token, other_token=args.other_token,
                   host=args.host, port=args.port, qps=args.qps, daily_limit=args.daily_limit,
                   throttle_status=args.throttle_status, event_retention=args.event_retention,
                   min_chunk=args.min_chunk, fault_rate=args.fault_rate, seed=args.seed,
                   fault_kinds=kind_names(args.fault_kinds), latency_ms=args.latency,
                   bandwidth=args.bandwidth, ranges=not args.no_range, verbose=args.verbose)
    try:
        emu.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail(f"port {args.port} on {args.host} is already in use", EX_UNAVAILABLE)
        if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EROFS):
            return _fail(f"cannot use --root {args.root}: {exc.strerror or exc}", EX_CANTCREAT)
        return _fail(f"cannot start: {exc.strerror or exc}", EX_UNAVAILABLE)
    except Exception as exc:  # e.g. a corrupt state file
        return _fail(f"cannot start: {exc}", EX_UNAVAILABLE)

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda signum, frame: stop.set())
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"Egnyte emulator listening on {emu.base_url}/pubapi/v1 "
              f"(root: {args.root}; the access token is the one given)", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return EX_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
