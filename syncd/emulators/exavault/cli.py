"""`syncd emulator` / `python -m syncd.emulators.exavault`: serve the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import tempfile
import threading

from .app import Emulator, loopback_address, webhook_target
from .faults import ALL_KINDS
from .faults import names as fault_names

EX_OK, EX_USAGE, EX_UNAVAILABLE, EX_CANTCREAT = 0, 64, 69, 73


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 64
        raise _Usage(message)


class _Usage(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="syncd emulator",
                description="Run the ExaVault API v2 emulator on a loopback port.")
    p.add_argument("--root", required=True, help="storage folder (created if missing)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="TCP port (default 0: pick a free one)")
    p.add_argument("--api-key", default="emulator-key")
    p.add_argument("--access-token", default="emulator-token")
    p.add_argument("--transactions", type=int, default=120000,
                   help="transactions allowed per rolling 24 h (default 120000)")
    p.add_argument("--files-com", action="store_true",
                   help="behave like a migrated Files.com account (no /activity, empty included)")
    p.add_argument("--fault-rate", type=float, default=0.0, help="probability of a fault per request")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    p.add_argument("--fault-kinds", default=None, metavar="K1,K2",
                   help="fault kinds to inject (default 500,503,reset,truncate; also "
                        "flip, badlength, badjson, errorbody)")
    p.add_argument("--latency", type=int, default=0, metavar="MS", help="added latency per request")
    p.add_argument("--bandwidth", type=int, default=None, metavar="BYTES_PER_S",
                   help="throttle each upload/download to this rate")
    p.add_argument("--no-range", action="store_true",
                   help="ignore Range on downloads (always 200 with the whole file)")
    p.add_argument("--webhook-url", default=None, metavar="URL",
                   help="POST an ExaVault webhook for every change to this http:// loopback URL")
    p.add_argument("--webhook-token", default=None, metavar="TOKEN",
                   help="verification token for X-Exavault-Signature (required with --webhook-url)")
    p.add_argument("--webhook-format", choices=("v1", "v2"), default="v1",
                   help="webhook payload format (default v1)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p


def _fail(message: str, code: int) -> int:
    print(f"syncd emulator: {message}", file=sys.stderr)
    return code


def check_common(args, kinds: tuple[str, ...], all_kinds: tuple[str, ...]) -> None:
    """The checks every emulator's command line shares: port, host, faults."""
    if not 0 <= args.port <= 65535:
        raise _Usage(f"--port must be between 0 and 65535, not {args.port}")
    if not 0.0 <= args.fault_rate <= 1.0:
        raise _Usage("--fault-rate must be between 0 and 1")
    unknown = set(kinds) - set(all_kinds)
    if unknown:
        raise _Usage(f"unknown --fault-kinds {', '.join(sorted(unknown))}; use "
                     f"{', '.join(all_kinds)}")
    try:
        loopback_address(args.host)
    except ValueError as exc:
        raise _Usage(str(exc)) from None


def _check_args(args) -> None:
    check_common(args, fault_names(args.fault_kinds), ALL_KINDS)
    if args.transactions < 0 or args.latency < 0 or (args.bandwidth is not None
                                                      and args.bandwidth <= 0):
        raise _Usage("--transactions and --latency must be >= 0, --bandwidth > 0")
    if args.webhook_url is not None:
        try:
            webhook_target(args.webhook_url)
        except ValueError as exc:
            raise _Usage(f"--webhook-url: {exc}") from None
        if not args.webhook_token:
            raise _Usage("--webhook-url needs --webhook-token")


def _check_root(root: str) -> str | None:
    try:
        os.makedirs(root, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        return f"cannot use --root {root}: {exc.strerror or exc}"
    return None


def parse(parser, check, argv):
    """The checked options, or the exit code when they are bad (one line said) or --help."""
    try:
        args = parser.parse_args(argv)
        check(args)
    except _Usage as exc:
        return _fail(str(exc), EX_USAGE)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    problem = _check_root(args.root)
    if problem:
        return _fail(problem, EX_CANTCREAT)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(build_parser(), _check_args, argv)
    if isinstance(args, int):
        return args
    emu = Emulator(args.root, api_key=args.api_key, access_token=args.access_token,
                   host=args.host, port=args.port, transactions=args.transactions,
                   files_com=args.files_com, fault_rate=args.fault_rate, seed=args.seed,
                   fault_kinds=fault_names(args.fault_kinds),
                   latency_ms=args.latency, bandwidth=args.bandwidth, verbose=args.verbose,
                   webhook_url=args.webhook_url, webhook_token=args.webhook_token,
                   webhook_format=args.webhook_format, ranges=not args.no_range)
    return serve(emu, args, lambda: (
        f"ExaVault emulator listening on {emu.url} "
        f"(ev-api-key: {emu.api_key}, ev-access-token: {emu.access_token}, "
        f"root: {args.root})"))


def serve(emu, args, banner) -> int:
    """Start ``emu``, print ``banner()`` and serve until SIGINT/SIGTERM (the exit code);
    a port in use, an unusable root or another start failure is one line on stderr."""
    try:
        emu.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail(f"port {args.port} on {args.host} is already in use", EX_UNAVAILABLE)
        if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EROFS):
            return _fail(f"cannot use --root {args.root}: {exc.strerror or exc}", EX_CANTCREAT)
        return _fail(f"cannot start: {exc.strerror or exc}", EX_UNAVAILABLE)
    except Exception as exc:  # e.g. a corrupt database file
        return _fail(f"cannot start: {exc}", EX_UNAVAILABLE)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(banner(), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return EX_OK
