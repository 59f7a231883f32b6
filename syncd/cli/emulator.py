"""`syncd emulator`: the embedded ExaVault emulator, which parses its own options."""

from __future__ import annotations

import argparse

from syncd.emulators.exavault.cli import main as emulator_main


def command(args: argparse.Namespace) -> int:
    return emulator_main(args.emulator_args)
