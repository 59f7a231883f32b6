"""Command line entry point: `syncd <command>`.

Every command reports failures as one line on stderr and exits with a
sysexits-style code (see `syncd.cli.exitcodes`); `--debug` shows the traceback.
The parser is `syncd.cli.parser`; each command is the ``command(args)`` of its
own module, imported only when it runs (`syncd --help` loads none of them).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from syncd import crashpoints
from syncd.cli import exitcodes
from syncd.cli.errors import CommandError
from syncd.cli.parser import build_parser

#: The module of each command.
COMMANDS = {
    "emulator": "syncd.cli.emulator",
    "sync": "syncd.cli.sync",
    "run": "syncd.cli.run",
    "status": "syncd.cli.status",
    "init": "syncd.cli.init",
    "check": "syncd.cli.check",
    "conflicts": "syncd.cli.conflicts",
    "demo": "syncd.cli.demo",
    "completion": "syncd.cli.completion",
    "man": "syncd.cli.manpage",
    "service": "syncd.cli.service",
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "emulator":
        args.emulator_args = extra  # the emulator parses its own options
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help(sys.stderr)
        return exitcodes.USAGE
    if crashpoints.error:  # a test-only switch; a typo must not silently test nothing
        print(f"syncd: {crashpoints.error}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        return importlib.import_module(COMMANDS[args.command]).command(args)
    except CommandError as exc:
        if args.debug:  # the traceback, then the same line and exit code as without
            traceback.print_exc(file=sys.stderr)
        print(f"syncd: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("syncd: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `syncd conflicts | head`: the reader is gone, say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
        return exitcodes.FAILURE
