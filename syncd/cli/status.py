"""`syncd status`: each mirror's state and the budget, from the index alone."""

from __future__ import annotations

import argparse
import sys

from syncd.cli import exitcodes
from syncd.cli.common import STATE_ERRORS, load_config, state_error
from syncd.daemon import metrics
from syncd.state import status


def command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        data = status.collect(config)
    except STATE_ERRORS as exc:
        raise state_error(exc, config) from exc
    if args.json:
        print(status.to_json(data))
    elif getattr(args, "prometheus", False):
        sys.stdout.write(metrics.exposition(data))
    else:
        sys.stdout.write(status.render(data))
    return exitcodes.OK
