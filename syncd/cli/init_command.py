"""`syncd init`: the parsed options, handed to ``syncd.cli.init.run_init``."""

from __future__ import annotations

import argparse

from syncd.cli.init import InitOptions, run_init


def command(args: argparse.Namespace) -> int:
    given = {k: v for k, v in vars(args).items()
             if v is not None and k in InitOptions.__dataclass_fields__}
    return run_init(InitOptions(**given))
