"""The daemon's logger: every module of syncd/daemon/ that runs inside `syncd run`
logs through this one name (log lines and their filters depend on it)."""

import logging

log = logging.getLogger("syncd.daemon.service")
