"""`syncd sync`: every mirror (or one) once; the exit code is the pass's outcome's."""

from __future__ import annotations

import argparse
import errno
import json
import sys

from syncd.cli import exitcodes
from syncd.cli.common import STATE_ERRORS, config_error, load_config, state_error
from syncd.cli.errors import CommandError
from syncd.cli.interrupt import Interrupt
from syncd.cli.outcomes import exit_code
from syncd.config.loader import ConfigError
from syncd.engine import SyncEngine
from syncd.outcome import Outcome
from syncd.report import Reporter


def reporter(args: argparse.Namespace) -> Reporter:
    """``--json``: stdout is the JSON document only, the lines (summaries,
    conflicts) go to stderr; else progress on a terminal, plain lines off one."""
    if getattr(args, "json", False):
        return Reporter(sys.stderr, quiet=True, fancy=False)
    return Reporter(quiet=args.quiet, verbose=getattr(args, "verbose", False))


def command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        if args.mirror:
            config.mirror(args.mirror)
        engine = SyncEngine(config, reporter=reporter(args))
        with Interrupt() as stop:  # Ctrl-C, SIGTERM: "stopping", then exit 130 / 143
            result = engine.run(mirror=args.mirror, dry_run=args.dry_run, force=args.force,
                                cancel=stop.cancel)
    except ConfigError as exc:
        raise config_error(exc) from exc
    except STATE_ERRORS as exc:
        raise state_error(exc, config) from exc
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        code = exitcodes.CANTCREAT if exc.errno in (errno.ENOSPC, errno.EROFS) else exitcodes.IOERR
        raise CommandError(f"{exc.strerror or exc}:{where}", code) from exc
    if getattr(args, "json", False):
        print(json.dumps(result.to_dict(args.dry_run), indent=2, ensure_ascii=False),
              flush=True)
    if stop.signal is not None and result.outcome is not Outcome.OK:
        raise CommandError(result.message or "interrupted", stop.exit_code)
    if result.outcome is not Outcome.OK:
        raise CommandError(result.message or "sync failed", exit_code(result.outcome))
    return exitcodes.OK
