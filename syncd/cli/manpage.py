"""`syncd man`: the manual page syncd(1), as roff, generated from the parser.

Every command, option and help text comes from ``syncd.cli.parser`` (with the
emulator's own options, as for completion), and the exit codes from
``syncd.cli.exitcodes``, so the page cannot drift from the program. The page
has no date: the same syncd prints the same page.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys

from syncd import __version__
from syncd.cli import exitcodes
from syncd.cli.completion import full_parser, help_of, walk

_EXIT_CODE = re.compile(r"^([A-Z]+) = (\d+)(?:\s*#\s*(?:EX_[A-Z]+:\s*)?(.*))?$", re.MULTILINE)

_UNCOMMENTED = {"OK": "success", "FAILURE": "a failure no other code describes"}

ENVIRONMENT = [
    ("SYNCD_CONFIG", "The config file when --config is not given (default "
                     "~/.config/syncd/config.yaml)."),
    ("EXAVAULT_API_KEY, EXAVAULT_ACCESS_TOKEN", "The API key and access token, as "
     "`syncd init` writes them into the config: ${EXAVAULT_API_KEY}. Any ${VAR} in the "
     "config is read from the environment, else from the file $CREDENTIALS_DIRECTORY/VAR."),
    ("CREDENTIALS_DIRECTORY", "Set by systemd for a unit with LoadCredential=: the folder "
     "whose files hold the unit's credentials (see CREDENTIALS)."),
    ("XDG_CONFIG_HOME, XDG_STATE_HOME", "Where the config (syncd/config.yaml), the user "
     "units (systemd/user/) and the state (syncd/: index, lock, trash) are; default "
     "~/.config and ~/.local/state."),
]

FILES = [
    ("~/.config/syncd/config.yaml", "The configuration (`syncd init` writes it, 0600)."),
    ("~/.local/state/syncd/", "The index, the lock and the local trash (state_dir)."),
    ("~/.config/systemd/user/syncd.service", "The daemon's user unit "
     "(`syncd service install`)."),
    ("~/.config/systemd/user/syncd.timer, syncd-sync.service", "A sync every 15 minutes "
     "instead of the daemon (`syncd service install --timer`)."),
    ("~/.config/syncd/credentials/", "The key and token for LoadCredential= "
     "(`syncd service install --credentials`), each file 0600."),
]

CREDENTIALS = (
    "A service does not share your shell's environment. `syncd service install "
    "--credentials` copies the variables the config names (${EXAVAULT_API_KEY}, "
    "${EXAVAULT_ACCESS_TOKEN}) from the shell into ~/.config/syncd/credentials/, files "
    "only you can read, and the unit passes them with LoadCredential=NAME:PATH; syncd "
    "reads $CREDENTIALS_DIRECTORY/NAME for a variable not in its environment. The "
    "environment still works: an EnvironmentFile= in a drop-in (`systemctl --user edit "
    "syncd`) with NAME=value lines.")

EXAMPLES = [
    ("syncd init --url https://ACCOUNT.exavault.com/api/v2 --local ~/work --remote /work",
     "Write the config for one mirror (the key and token stay in the environment)."),
    ("syncd check", "Validate the config and reach the account (1 transaction)."),
    ("syncd sync --dry-run", "Show the first sync's plan; change nothing."),
    ("syncd service install --credentials",
     "Run the daemon under systemd, the key and token passed as credentials."),
    ("syncd conflicts resolve 'notes (conflicted copy laptop 2026-01-05 101500).txt' "
     "--keep local", "Keep this machine's version of a conflict."),
]

SEE_ALSO = "systemctl(1), journalctl(1), systemd.exec(5), systemd.timer(5), systemd.unit(5)"


def roff(text: str) -> str:
    """Text as roff reads it literally: backslashes and hyphens escaped, and no
    line that starts like a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.split("\n"))


def metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    if action.choices:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.dest.upper()


def options(parser: argparse.ArgumentParser) -> list[str]:
    """A tagged paragraph per option and positional argument, help first."""
    out = []
    for action in parser._actions:
        if (isinstance(action, argparse._SubParsersAction)
                or action.help == argparse.SUPPRESS):
            continue
        if action.option_strings:
            names = ", ".join(f"\\fB{roff(s)}\\fR" for s in action.option_strings)
            tag = names if action.nargs == 0 else f"{names} \\fI{roff(metavar(action))}\\fR"
        else:
            tag = f"\\fI{roff(metavar(action))}\\fR"
        out += [".TP", tag, roff(action.help or "")]
    return out


def usage(parser: argparse.ArgumentParser) -> str:
    text = parser.format_usage().removeprefix("usage: ")
    return " ".join(text.split())


def exit_codes() -> list[tuple[int, str, str]]:
    """``(code, NAME, meaning)`` from the comments of syncd/cli/exitcodes.py."""
    rows = [(int(code), name, meaning or _UNCOMMENTED.get(name, ""))
            for name, code, meaning in _EXIT_CODE.findall(inspect.getsource(exitcodes))]
    rows.sort()
    return rows


def page() -> str:
    parser = full_parser()
    lines = [
        f'.TH SYNCD 1 "" "syncd {roff(__version__)}" "User Commands"',
        ".nh",    # no hyphenation: option names and paths stay whole
        ".ad l",  # ragged right
        ".SH NAME",
        "syncd \\- two\\-way sync between local folders and ExaVault",
        ".SH SYNOPSIS",
        ".B syncd",
        "[\\fB\\-\\-debug\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
        ".br",
        ".B syncd",
        "\\fB\\-\\-version\\fR | \\fB\\-h\\fR",
        ".SH DESCRIPTION",
        roff(parser.description or ""),
        ".PP",
        roff("`syncd sync` makes one pass over every mirror and exits; `syncd run` is the "
             "daemon that keeps them in sync. Each command's own --help says the same as "
             "its section below."),
        ".SH OPTIONS",
        *options(parser),
        ".SH COMMANDS",
    ]
    for path, sub in walk(parser):
        if not path:
            continue
        summary = help_of(dict(walk(parser))[path[:-1]], path[-1])
        lines += [f".SS {roff(' '.join(('syncd',) + path))}", roff(summary), ".PP",
                  f"\\fB{roff(usage(sub))}\\fR"]
        if sub.description:
            lines += [".PP", roff(sub.description)]
        lines += options(sub)
    lines.append(".SH EXIT STATUS")
    for code, name, meaning in exit_codes():
        lines += [".TP", f"\\fB{code}\\fR", roff(f"{name}: {meaning}" if meaning else name)]
    lines.append(".SH ENVIRONMENT")
    for name, text in ENVIRONMENT:
        lines += [".TP", f"\\fB{roff(name)}\\fR", roff(text)]
    lines.append(".SH FILES")
    for name, text in FILES:
        lines += [".TP", f"\\fI{roff(name)}\\fR", roff(text)]
    lines += [".SH CREDENTIALS", roff(CREDENTIALS), ".SH EXAMPLES"]
    for example, text in EXAMPLES:
        lines += [".TP", f"\\fB{roff(example)}\\fR", roff(text)]
    lines += [".SH SEE ALSO", roff(SEE_ALSO)]
    return "\n".join(lines) + "\n"


def command(args: argparse.Namespace) -> int:
    sys.stdout.write(page())
    return 0
