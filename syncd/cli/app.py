"""Command line entry point: `syncd <command>`.

Every command reports failures as one line on stderr and exits with a
sysexits-style code (see `syncd.cli.exitcodes`); `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys

from syncd import __version__, crashpoints

from syncd.cli import exitcodes


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


class _Formatter(argparse.HelpFormatter):
    """argparse measures sub-command names one indent level shallower than it prints
    them, so a long one ("conflicts") wraps; measure them where they are printed."""

    def add_argument(self, action):
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            self._action_max_length += 2


def _cmd_emulator(args: argparse.Namespace) -> int:
    from syncd.emulators.exavault.cli import main as emulator_main

    return emulator_main(args.emulator_args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from syncd.cli.demo import run_demo

    return run_demo(keep=args.keep)


def _load_config(path: str | None):
    from syncd.config.loader import ConfigError, load_config

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
    lost), 70 otherwise; a damaged index file (found at open or at any later
    query) names the file and what to do."""
    from syncd.state.index import FILENAME, as_corrupt

    exc = as_corrupt(config.state_dir / FILENAME, exc) or exc
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
    from syncd.config.loader import ConfigError
    from syncd.engine import SyncEngine
    from syncd.state.index import IndexError_
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
    from syncd.config.loader import ConfigError, load_config
    from syncd.daemon.service import Daemon
    from syncd.state.index import IndexError_

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
    from syncd.state import status
    from syncd.state.index import IndexError_

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


def _cmd_init(args: argparse.Namespace) -> int:
    from syncd.cli.init import InitOptions, run_init

    given = {k: v for k, v in vars(args).items()
             if v is not None and k in InitOptions.__dataclass_fields__}
    return run_init(InitOptions(**given))


def _cmd_check(args: argparse.Namespace) -> int:
    from syncd.cli.check import run_check
    from syncd.state.index import IndexError_

    config = _load_config(args.config)
    try:
        return run_check(config, probe=args.probe)
    except (IndexError_, sqlite3.Error) as exc:
        raise _state_error(exc, config) from exc


def _cmd_conflicts(args: argparse.Namespace) -> int:
    from syncd.cli import conflicts
    from syncd.config.loader import ConfigError
    from syncd.state.index import IndexError_

    config = _load_config(args.config)
    try:
        if args.action == "resolve":
            return _resolve(args, config)
        mirrors = [config.mirror(args.mirror)] if args.mirror else list(config.mirrors)
        listing = conflicts.find(config, mirrors)
    except ConfigError as exc:  # --mirror names no mirror: 78, as for sync
        raise CommandError(str(exc), exitcodes.CONFIG) from exc
    except (IndexError_, sqlite3.Error) as exc:
        raise _state_error(exc, config) from exc
    if args.json:
        print(conflicts.to_json(listing, config))
    else:
        sys.stdout.write(conflicts.render(listing, config, mirrors))
    return exitcodes.OK


def _resolve(args: argparse.Namespace, config) -> int:
    from syncd.cli import conflicts
    from syncd.state import status

    try:
        m, done = conflicts.resolve(config, args.path, args.keep, mirror=args.mirror)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise CommandError(f"{exc.strerror or exc}:{where}; nothing was lost",
                           exitcodes.IOERR) from exc
    for line in done:
        print(f"{m.name}: {line}")
    if args.no_sync:
        print("The next `syncd sync` (or the daemon) makes the server agree.")
        return exitcodes.OK
    daemon = status.collect(config)["daemon"]
    if daemon["running"]:
        print(f"The running daemon (pid {daemon['pid']}) makes the server agree within "
              "seconds.")
        return exitcodes.OK
    print(f"Syncing mirror {m.name}:")
    return _cmd_sync(argparse.Namespace(config=args.config, mirror=m.name, dry_run=False,
                                        force=False, quiet=False))


def _config_option(p: argparse.ArgumentParser, what: str = "config file", **kw) -> None:
    p.add_argument("--config", metavar="FILE", **kw,
                   help=f"{what} (default: $SYNCD_CONFIG, else ~/.config/syncd/config.yaml)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="syncd",
        description="Two-way sync between local folders and ExaVault.",
        formatter_class=_Formatter,
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
    _config_option(p)
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
    _config_option(p)
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                   help="overrides daemon.log_level from the config")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "status",
        help="show each mirror's state, queue, conflicts, errors and the budget",
        description="Show the state of every mirror and the account's transaction budget, "
                    "whether the daemon runs or not. Sends no request.",
    )
    _config_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser(
        "init",
        help="write a config file for a new mirror",
        description="Write a commented config file for one mirror, from the options or, "
                    "on a terminal, by asking. The API key and token are referenced as "
                    "${EXAVAULT_API_KEY} and ${EXAVAULT_ACCESS_TOKEN} (read from the "
                    "environment when syncd starts) unless --inline-secrets stores them in "
                    "the file; they are never shown. The file is created 0600, a folder "
                    "made for it 0700. Exit codes: 0 written; 64 a missing or invalid value "
                    "(without a terminal to ask); 65 a --secrets-file others may read or "
                    "without the two names; 66 an unreadable --secrets-file; 73 the file "
                    "exists (use --force) or cannot be written.",
    )
    _config_option(p, what="file to write")
    p.add_argument("--url", help="the account's API v2 URL, like "
                                 "https://ACCOUNT.exavault.com/api/v2")
    p.add_argument("--local", metavar="DIR", help="local folder to keep in sync")
    p.add_argument("--remote", metavar="PATH", help="remote folder, like /work")
    p.add_argument("--name", "--mirror-name", dest="name", metavar="NAME",
                   help="the mirror's name (default: the local folder's name)")
    p.add_argument("--state-dir", metavar="DIR",
                   help="where syncd keeps its index and trash (default: the XDG state dir)")
    p.add_argument("--api-key-env", metavar="VAR",
                   help="environment variable holding the API key (default: EXAVAULT_API_KEY)")
    p.add_argument("--token-env", metavar="VAR", help="environment variable holding the "
                                                      "access token (default: "
                                                      "EXAVAULT_ACCESS_TOKEN)")
    p.add_argument("--inline-secrets", action="store_true",
                   help="store the key and token in the file itself, taken from "
                        "--secrets-file, else from those variables, else asked without echo")
    p.add_argument("--secrets-file", metavar="FILE",
                   help="a file only you may read (chmod 600) with VAR=value lines for the "
                        "two variables; implies --inline-secrets")
    p.add_argument("--force", action="store_true", help="replace an existing config file")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser(
        "check",
        help="validate the config and reach the account (1 transaction)",
        description="Validate the config, reach the account with one transaction "
                    "(GET /account, never retried), and show the budget, whether the "
                    "activity feed is available, and per mirror whether both folders exist "
                    "and how many files the index knows on each side. --probe asks the "
                    "server what the index does not know yet: 1 more transaction for the "
                    "feed, 1 per remote folder. Exit codes: 0 ready; 1 a mirror has a "
                    "problem sync would stop at; 75 budget exhausted or server unavailable, "
                    "run again later; 77 authentication refused; 78 configuration error "
                    "(a URL that answers 404 included).",
    )
    _config_option(p)
    p.add_argument("--probe", action="store_true",
                   help="also ask the server what the index does not know (costs transactions)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser(
        "conflicts",
        help="list conflicted copies; `conflicts resolve` settles one",
        description="List the conflicted copies syncd kept (name (conflicted copy HOST "
                    "DATE TIME).ext) with their originals, sizes and times. Reads the local "
                    "folders and the index; sends no request. Exit codes: 0 listed; 78 "
                    "configuration error (an unknown --mirror included).",
    )
    _config_option(p)
    p.add_argument("--mirror", metavar="NAME", help="only this mirror")
    p.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
    p.set_defaults(func=_cmd_conflicts, action=None)
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    r = actions.add_parser(
        "resolve",
        help="keep one version (or both) of a conflict",
        description="Resolve one conflict in the local folder, then sync that mirror "
                    "(unless --no-sync, or a running daemon does it). --keep local: the "
                    "copy's version (made on the HOST in its name) takes the original name; "
                    "--keep remote: the original (the server's version) stays, the copy "
                    "goes; --keep both: the copy is renamed name (HOST DATE TIME).ext. What "
                    "is discarded goes to the local trash (state_dir/trash), and on the "
                    "server to remote_trash. Exit codes: 0 resolved (and synced); 64 bad "
                    "usage (not a conflict, ambiguous, not allowed for this mirror); 66 no "
                    "such file; 75 resolved, the sync was deferred (or run `syncd sync` "
                    "first: the copy is not here yet); 77, 78 and 1 as for sync.",
    )
    r.add_argument("path", metavar="PATH",
                   help="the conflicted copy or its original, absolute or relative to the "
                        "mirror's folder")
    r.add_argument("--keep", required=True, choices=("local", "remote", "both"),
                   help="which version to keep (see above)")
    _config_option(r, default=argparse.SUPPRESS)  # not to undo `conflicts --config F`
    r.add_argument("--mirror", metavar="NAME", default=argparse.SUPPRESS,
                   help="the mirror PATH is in (needed only when several match)")
    r.add_argument("--no-sync", action="store_true",
                   help="only change the local folder; the next sync propagates it")

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
    except BrokenPipeError:  # `syncd conflicts | head`: the reader is gone, say nothing
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
        return exitcodes.FAILURE
