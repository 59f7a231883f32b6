"""`syncd`'s command line: every command, option and help text (the commands
themselves are in one module each; ``syncd.cli.app.main`` runs them)."""

from __future__ import annotations

import argparse
import sys

from syncd import __version__
from syncd.cli import exitcodes
from syncd.logs import FORMATS, LEVELS


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

    sub.add_parser(
        "emulator",
        help="run an embedded API emulator (ExaVault, or --service egnyte) on a loopback port",
        add_help=False,
        description="Run the ExaVault v2 API emulator, or with --service egnyte the Egnyte "
                    "Public API emulator (see `syncd emulator [--service egnyte] --help`).",
    )

    p = sub.add_parser(
        "sync",
        help="sync every mirror once and exit",
        description="Sync every mirror (or one) once and exit. Exit codes: 0 in sync; "
                    "75 work deferred (budget exhausted, server unavailable), run again "
                    "later; 77 authentication refused; 78 configuration error (an account URL "
                    "that is not an API base included); 130 stopped by Ctrl-C (143 by "
                    "SIGTERM), the next run resumes; 1 otherwise.",
    )
    _config_option(p)
    p.add_argument("--mirror", metavar="NAME", help="sync only this mirror")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan; change nothing on either side")
    p.add_argument("--force", action="store_true",
                   help="let deletions through the safety guards")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-q", "--quiet", action="store_true",
                     help="only summaries, conflicts and errors")
    out.add_argument("-v", "--verbose", action="store_true",
                     help="list each action, also on a terminal (above the progress display)")
    out.add_argument("--json", action="store_true",
                     help="print the result as JSON on stdout (stable keys, see docs/sync.md); "
                          "the summary lines go to stderr")

    p = sub.add_parser(
        "run",
        help="keep every mirror in sync (the daemon; `syncd service install`)",
        description="Run in the foreground and keep every mirror in sync: local changes "
                    "within seconds, remote ones at each poll (or webhook push). SIGHUP "
                    "reloads the config, SIGTERM stops. Logs go to stderr. Exit codes: 0 "
                    "stopped; 75 another syncd runs on this state directory; 78 "
                    "configuration error (an account URL that is not an API base "
                    "included).",
    )
    _config_option(p)
    p.add_argument("--log-level", choices=LEVELS,
                   help="overrides daemon.log_level from the config")
    p.add_argument("--log-format", choices=FORMATS,
                   help="text, or json: one JSON object per line (overrides daemon.log_format)")

    p = sub.add_parser(
        "status",
        help="show each mirror's state, queue, conflicts, errors and the budget",
        description="Show the state of every mirror and the account's transaction budget, "
                    "whether the daemon runs or not. Sends no request.",
    )
    _config_option(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
    out.add_argument("--prometheus", action="store_true",
                     help="Prometheus text format, for node_exporter's textfile collector")

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

    p = sub.add_parser(
        "check",
        help="validate the config and reach the account (1 transaction)",
        description="Validate the config, reach the account with one transaction "
                    "(GET /account, never retried), and show the budget, whether the "
                    "activity feed is available, and per mirror whether both folders exist "
                    "(the remote one asked now: 1 transaction per mirror), whether you may "
                    "write the local one, and how many files the index knows on each side. "
                    "--probe asks whether the server has an activity feed when the index "
                    "does not know yet: 1 more transaction. Exit codes: 0 ready; 1 a "
                    "mirror has a problem sync would stop at; 75 budget exhausted (none "
                    "left to spend now) or server unavailable, run again later; 77 "
                    "authentication refused; 78 configuration error (a URL that is not an "
                    "API base included).",
    )
    _config_option(p)
    p.add_argument("--probe", action="store_true",
                   help="also ask the server whether it has an activity feed when the index "
                        "does not know yet (1 more transaction)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (stable keys, see docs/operations.md) "
                        "instead of the lines; the exit code is the same")

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
    p.set_defaults(action=None)
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

    # -- the Linux toolbox: completion, manual page, systemd units ---------------------
    p = sub.add_parser(
        "completion",
        help="print the shell completion script (bash, zsh or fish)",
        description="Print the completion script for SHELL, generated from this command "
                    "line. Load it now with `source <(syncd completion bash)`, or install "
                    "it (make the folder first): `syncd completion bash > "
                    "~/.local/share/bash-completion/completions/syncd`, `syncd completion "
                    "zsh > ~/.zfunc/_syncd` (with fpath+=~/.zfunc before compinit in "
                    "~/.zshrc), `syncd completion fish > "
                    "~/.config/fish/completions/syncd.fish`.",
    )
    p.add_argument("shell", metavar="SHELL", choices=("bash", "zsh", "fish"),
                   help="bash, zsh or fish")

    p = sub.add_parser(
        "man",
        help="print the manual page (roff), generated from this command line",
        description="Print syncd(1) as roff: read it with `syncd man | man -l -`, or "
                    "install it with `mkdir -p ~/.local/share/man/man1 && syncd man > "
                    "~/.local/share/man/man1/syncd.1`, then `man syncd`.",
    )

    p = sub.add_parser(
        "service",
        help="install the systemd user units for this syncd",
        description="Manage syncd's systemd user units. Exit codes: 0 done; 73 a unit "
                    "exists and differs (use --force) or cannot be written; 78 no config "
                    "file, or --credentials without the variables set; 69 --now without "
                    "systemctl; 1 a systemctl command failed.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser,
                               required=True)
    i = actions.add_parser(
        "install",
        help="write syncd.service (or with --timer, syncd.timer) to ~/.config/systemd/user",
        description="Write the user unit that runs `syncd run` (the daemon), or with "
                    "--timer a timer that runs `syncd sync` every 15 minutes, to "
                    "$XDG_CONFIG_HOME/systemd/user with the ExecStart= of this "
                    "installation (its venv, pipx or ~/.local/bin), then print the "
                    "systemctl commands that start it (--now runs them).",
    )
    _config_option(i, what="the config file the service uses")
    i.add_argument("--timer", action="store_true",
                   help="install syncd.timer + syncd-sync.service (a sync every 15 "
                        "minutes) instead of the daemon")
    i.add_argument("--credentials", action="store_true",
                   help="store the key and token the config reads as ${VAR} from this "
                        "shell in ~/.config/syncd/credentials (0600) and load them with "
                        "LoadCredential=")
    i.add_argument("--now", action="store_true",
                   help="also run systemctl --user daemon-reload and enable --now")
    i.add_argument("--force", action="store_true", help="replace units that differ")
    i.add_argument("--print", action="store_true",
                   help="print the units that would be written; write nothing")
    return parser
