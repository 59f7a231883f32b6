"""The configuration: its keys (``schema``), the YAML reader (``reader``), the
rules across keys (``rules``) and ``load_config`` (``loader``)."""

from syncd.config.errors import ConfigError
from syncd.config.loader import config_path, load_config
from syncd.config.model import AccountConfig, Config, DaemonConfig, MirrorConfig, WebhookConfig

__all__ = ["AccountConfig", "Config", "ConfigError", "DaemonConfig", "MirrorConfig",
           "WebhookConfig", "config_path", "load_config"]
