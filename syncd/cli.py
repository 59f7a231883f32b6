"""Command line entry point: `syncd <command>`.

Every command reports failures as one line on stderr and exits with a
sysexits-style code (see `syncd.exitcodes`); `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys

from syncd import __version__, crashpoints, exitcodes


class CommandError(Exception):
    """A failure to report as one line on stderr with an exit code."""

    def __init__(self, message: str, code: int = exitcodes.FAILURE):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with EX_USAGE (64), not argparse's 2."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(exitcodes.USAGE, f"{self.prog}: error: {message}\n")


def _cmd_emulator(args: argparse.Namespace) -> int:
    from syncd.emulator.cli import main as emulator_main

    return emulator_main(args.emulator_args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from syncd.demo import run_demo

    return run_demo(keep=args.keep)


def _load_config(path: str | None):
    from syncd.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        raise CommandError(str(exc), exitcodes.CONFIG) from exc
    for warning in config.warnings:
        print(f"syncd: warning: {warning}", file=sys.stderr)
    return config


def _space_problem(folder) -> str | None:
    """"No space left on device ..." when ``folder``'s file system is (nearly)
    full: SQLite reports a full disk as "disk I/O error" when it cannot grow its
    WAL, which tells the user nothing."""
    import os

    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    free = st.f_bavail * st.f_frsize
    if free >= 256 * 1024:
        return None
    return f"No space left on device: {free} bytes free for {folder}"


def _state_error(exc: BaseException, config) -> CommandError:
    """A failure of the index (the state directory) as one line and exit code:
    73 when its disk is full or read-only (free space, run again: nothing was
    lost), 70 otherwise."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    space = _space_problem(config.state_dir)
    if space and "No space left on device" not in text:
        text = f"{text} ({space})"
    elif not space and text.startswith("database or disk is full"):
        text = f"index {config.state_dir / 'index.sqlite3'}: {text}"
    if space or "disk is full" in text or "readonly database" in text:
        return CommandError(f"{text}; nothing was lost, run again once there is room",
                            exitcodes.CANTCREAT)
    return CommandError(text, exitcodes.SOFTWARE)


def _cmd_sync(args: argparse.Namespace) -> int:
    from syncd.config import ConfigError
    from syncd.engine import SyncEngine
    from syncd.index import IndexError_
    from syncd.report import Reporter

    config = _load_config(args.config)
    try:
        if args.mirror:
            config.mirror(args.mirror)
        engine = SyncEngine(config, reporter=Reporter(quiet=args.quiet))
        result = engine.run(mirror=args.mirror, dry_run=args.dry_run, force=args.force)
    except ConfigError as exc:
        raise CommandError(str(exc), exitcodes.CONFIG) from exc
    except (IndexError_, sqlite3.Error) as exc:
        raise _state_error(exc, config) from exc
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        code = exitcodes.CANTCREAT if exc.errno in (28, 30) else exitcodes.IOERR
        raise CommandError(f"{exc.strerror or exc}:{where}", code) from exc
    if result.exit_code:
        raise CommandError(result.message or "sync failed", result.exit_code)
    return exitcodes.OK


def _secrets(config) -> list[str]:
    a = config.account
    return [a.api_key, a.access_token] + ([a.webhook.token] if a.webhook else [])


def _cmd_run(args: argparse.Namespace) -> int:
    from syncd import logs
    from syncd.config import ConfigError, load_config
    from syncd.daemon import Daemon
    from syncd.index import IndexError_

    formatter = logs.setup("info")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise CommandError(str(exc), exitcodes.CONFIG) from exc
    formatter.set_secrets(_secrets(config))
    logs.set_level(args.log_level or config.daemon.log_level)
    for warning in config.warnings:
        logging.getLogger("syncd").warning("%s", warning)
    daemon = Daemon(config, config_file=args.config,
                    on_secrets=lambda c: formatter.set_secrets(_secrets(c)))
    try:
        return daemon.run()
    except (IndexError_, sqlite3.Error) as exc:
        raise _state_error(exc, config) from exc


def _cmd_status(args: argparse.Namespace) -> int:
    from syncd import status
    from syncd.index import IndexError_

    config = _load_config(args.config)
    try:
        data = status.collect(config)
    except (IndexError_, sqlite3.Error) as exc:
        raise _state_error(exc, config) from exc
    if args.json:
        print(status.to_json(data))
    else:
        sys.stdout.write(status.render(data))
    return exitcodes.OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="syncd",
        description="Two-way sync between local folders and ExaVault.",
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "emulator",
        help="run the embedded ExaVault API emulator on a loopback port",
        add_help=False,
        description="Run the ExaVault v2 API emulator (see `syncd emulator --help`).",
    )
    p.set_defaults(func=_cmd_emulator)

    p = sub.add_parser(
        "sync",
        help="sync every mirror once and exit",
        description="Sync every mirror (or one) once and exit. Exit codes: 0 in sync; "
                    "75 work deferred (budget exhausted, server unavailable), run again "
                    "later; 77 authentication refused; 78 configuration error; 1 otherwise.",
    )
    p.add_argument("--config", metavar="FILE",
                   help="config file (default: $SYNCD_CONFIG, else ~/.config/syncd/config.yaml)")
    p.add_argument("--mirror", metavar="NAME", help="sync only this mirror")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan; change nothing on either side")
    p.add_argument("--force", action="store_true",
                   help="let deletions through the safety guards")
    p.add_argument("-q", "--quiet", action="store_true", help="only summaries and errors")
    p.set_defaults(func=_cmd_sync)

    p = sub.add_parser(
        "run",
        help="keep every mirror in sync (the daemon; see systemd/)",
        description="Run in the foreground and keep every mirror in sync: local changes "
                    "within seconds, remote ones at each poll (or webhook push). SIGHUP "
                    "reloads the config, SIGTERM stops. Logs go to stderr. Exit codes: 0 "
                    "stopped; 75 another syncd runs on this state directory; 78 "
                    "configuration error.",
    )
    p.add_argument("--config", metavar="FILE",
                   help="config file (default: $SYNCD_CONFIG, else ~/.config/syncd/config.yaml)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                   help="overrides daemon.log_level from the config")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "status",
        help="show each mirror's state, queue, conflicts, errors and the budget",
        description="Show the state of every mirror and the account's transaction budget, "
                    "whether the daemon runs or not. Sends no request.",
    )
    p.add_argument("--config", metavar="FILE",
                   help="config file (default: $SYNCD_CONFIG, else ~/.config/syncd/config.yaml)")
    p.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser(
        "demo",
        help="run a short demonstration against the embedded emulator",
    )
    p.add_argument("--keep", action="store_true", help="keep the demo's temporary folders")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "func", None) is _cmd_emulator:
        args.emulator_args = extra  # the emulator parses its own options
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return exitcodes.USAGE
    if crashpoints.error:  # a test-only switch; a typo must not silently test nothing
        print(f"syncd: {crashpoints.error}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        return args.func(args)
    except CommandError as exc:
        if args.debug:  # the traceback, then the same line and exit code as without
            import traceback

            traceback.print_exc(file=sys.stderr)
        print(f"syncd: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("syncd: interrupted", file=sys.stderr)
        return 130
