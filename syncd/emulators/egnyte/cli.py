"""`syncd emulator --service egnyte` / `python -m syncd.emulators.egnyte`: serve until a signal."""

from __future__ import annotations

import sys

from syncd.emulators.exavault.cli import _Parser, _Usage, check_common, parse, serve

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
    p.add_argument("--auto-parents", action="store_true",
                   help="an upload into a missing folder creates it (default: 404)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p


def _check_args(args) -> None:
    check_common(args, kind_names(args.fault_kinds), ALL_KINDS)
    for name in ("qps", "daily_limit", "latency"):
        if getattr(args, name) < 0:
            raise _Usage(f"--{name.replace('_', '-')} must be >= 0")
    if args.min_chunk < 1 or args.event_retention < 1 or (args.bandwidth is not None
                                                          and args.bandwidth <= 0):
        raise _Usage("--min-chunk, --event-retention and --bandwidth must be > 0")
    if not args.access_token:
        raise _Usage("--access-token must not be empty")


def main(argv: list[str] | None = None) -> int:
    args = parse(build_parser(), _check_args, argv)
    if isinstance(args, int):
        return args
    emu = Emulator(args.root, access_token=args.access_token, other_token=args.other_token,
                   host=args.host, port=args.port, qps=args.qps, daily_limit=args.daily_limit,
                   throttle_status=args.throttle_status, event_retention=args.event_retention,
                   min_chunk=args.min_chunk, fault_rate=args.fault_rate, seed=args.seed,
                   fault_kinds=kind_names(args.fault_kinds), latency_ms=args.latency,
                   bandwidth=args.bandwidth, ranges=not args.no_range,
                   auto_parents=args.auto_parents, verbose=args.verbose)
    return serve(emu, args, lambda: (
        f"Egnyte emulator listening on {emu.base_url}/pubapi/v1 "
        f"(root: {args.root}; the access token is the one given)"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
