"""`syncd run`: the daemon in the foreground, its log on stderr."""

from __future__ import annotations

import argparse
import logging

from syncd import logs
from syncd.cli.common import STATE_ERRORS, config_error, state_error
from syncd.config.loader import ConfigError, load_config
from syncd.daemon.service import Daemon


def _secrets(config) -> list[str]:
    a = config.account
    return [a.api_key, a.access_token] + ([a.webhook.token] if a.webhook else [])


def command(args: argparse.Namespace) -> int:
    chosen = getattr(args, "log_format", None)
    formatter = logs.setup("info", fmt=chosen or "text")
    try:
        config = load_config(args.config)  # (its warnings go to the log)
    except ConfigError as exc:
        raise config_error(exc) from exc
    if (chosen or config.daemon.log_format) != (chosen or "text"):
        formatter = logs.setup("info", fmt=config.daemon.log_format)
    formatter.set_secrets(_secrets(config))
    logs.set_level(args.log_level or config.daemon.log_level)
    for warning in config.warnings:
        logging.getLogger("syncd").warning("%s", warning)
    daemon = Daemon(config, config_file=args.config,
                    on_secrets=lambda c: formatter.set_secrets(_secrets(c)))
    try:
        return daemon.run()
    except STATE_ERRORS as exc:
        raise state_error(exc, config) from exc
