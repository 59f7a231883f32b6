"""`syncd emulator [--service exavault|egnyte]`: an embedded emulator, which parses its own options."""

from __future__ import annotations

import argparse
import sys

SERVICES = ("exavault", "egnyte")


def split_service(argv: list[str]) -> tuple[str | None, list[str]]:
    """(the --service value, the other arguments); the value None when it is invalid."""
    rest, service, i = [], "exavault", 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--service":
            service = argv[i + 1] if i + 1 < len(argv) else ""
            i += 2
            continue
        if arg.startswith("--service="):
            service = arg.partition("=")[2]
        else:
            rest.append(arg)
        i += 1
    return (service if service in SERVICES else None), rest


def command(args: argparse.Namespace) -> int:
    argv = list(args.emulator_args or [])
    service, rest = split_service(argv)
    if service is None:
        print(f"syncd emulator: --service must be one of {', '.join(SERVICES)}", file=sys.stderr)
        return 64
    if service == "egnyte":
        from syncd.emulators.egnyte.cli import main
        return main(rest)
    from syncd.emulators.exavault.cli import main
    code = main(rest)
    if {"-h", "--help"} & set(rest):
        print("\n--service egnyte runs the Egnyte Public API emulator instead: "
              "see `syncd emulator --service egnyte --help`.")
    return code
