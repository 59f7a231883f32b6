"""`syncd sync`: every mirror (or one) once; the exit code is the pass's outcome's."""

from __future__ import annotations

import argparse
import errno

from syncd.cli import exitcodes
from syncd.cli.common import STATE_ERRORS, config_error, load_config, state_error
from syncd.cli.errors import CommandError
from syncd.cli.interrupt import Interrupt
from syncd.cli.outcomes import exit_code
from syncd.config.loader import ConfigError
from syncd.engine import SyncEngine
from syncd.outcome import Outcome
from syncd.report import Reporter


def command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        if args.mirror:
            config.mirror(args.mirror)
        engine = SyncEngine(config, reporter=Reporter(quiet=args.quiet))
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
    if stop.signal is not None and result.outcome is not Outcome.OK:
        raise CommandError(result.message or "interrupted", stop.exit_code)
    if result.outcome is not Outcome.OK:
        raise CommandError(result.message or "sync failed", exit_code(result.outcome))
    return exitcodes.OK
