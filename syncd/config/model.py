"""A loaded configuration, as frozen dataclasses. Every default comes from the
schema (``syncd.config.schema``); the meaning of each key is in
docs/configuration.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from syncd.config.errors import ConfigError
from syncd.config.schema import default


@dataclass(frozen=True, repr=False)
class WebhookConfig:
    """Where ``syncd run`` listens for ExaVault webhook pushes, and the account's
    verification token (``X-Exavault-Signature`` = md5(token + body))."""

    host: str
    port: int
    token: str
    path: str = default("account.webhook.path")

    def __repr__(self) -> str:
        return (f"WebhookConfig(host={self.host!r}, port={self.port!r}, token='***', "
                f"path={self.path!r})")


@dataclass(frozen=True, repr=False)
class AccountConfig:
    """The ExaVault account. ``budget``: daily transactions syncd may spend (None =
    the server's ``X-RateLimit-Limit``). ``reserve``: transactions never spent, an
    int count or a float fraction (0..1) of the daily limit. ``timeout``: seconds."""

    url: str
    api_key: str
    access_token: str
    budget: int | None = default("account.budget")
    reserve: int | float = default("account.reserve")
    timeout: float = default("account.timeout")
    transfer_share: float = default("account.transfer_share")
    webhook: WebhookConfig | None = default("account.webhook")

    def __repr__(self) -> str:
        return (f"AccountConfig(url={self.url!r}, api_key='***', access_token='***', "
                f"budget={self.budget!r}, reserve={self.reserve!r}, timeout={self.timeout!r}, "
                f"transfer_share={self.transfer_share!r}, webhook={self.webhook!r})")


@dataclass(frozen=True)
class DaemonConfig:
    """Settings of ``syncd run``: ``settle`` seconds a changed file must stay quiet
    before it is synced; ``local_scan_interval`` between full local true-up scans;
    ``log_level`` and ``log_format`` of the daemon's log on stderr; ``metrics``:
    (host, port) of the Prometheus endpoint on a loopback address, or None."""

    settle: float = default("daemon.settle")
    local_scan_interval: float = default("daemon.local_scan_interval")
    log_level: str = default("daemon.log_level")
    log_format: str = default("daemon.log_format")
    metrics: tuple[str, int] | None = default("daemon.metrics")


@dataclass(frozen=True)
class MirrorConfig:
    """One local folder kept in sync with one remote folder."""

    name: str
    local: Path
    remote: str
    direction: str = default("mirrors[].direction")
    ignore: tuple[str, ...] = default("mirrors[].ignore")
    poll_interval: float = default("mirrors[].poll_interval")
    full_scan_interval: float = default("mirrors[].full_scan_interval")
    max_delete: int | float | None = default("mirrors[].max_delete")
    remote_delete: str = default("mirrors[].remote_delete")
    transfers: int = default("mirrors[].transfers")
    bandwidth_up: int = default("mirrors[].bandwidth.up")
    bandwidth_down: int = default("mirrors[].bandwidth.down")

    def __post_init__(self) -> None:
        # Convenience for code that builds a MirrorConfig by hand (tests):
        # coerce the container types; no validation here, load_config does that.
        if not isinstance(self.local, Path):
            object.__setattr__(self, "local", Path(self.local))
        if not isinstance(self.ignore, tuple):
            object.__setattr__(self, "ignore", tuple(self.ignore))


@dataclass(frozen=True)
class Config:
    """A loaded configuration. ``warnings`` holds non-fatal notes for the caller
    to show (nothing here prints)."""

    path: Path
    account: AccountConfig
    state_dir: Path
    remote_trash: str = default("remote_trash")
    trash_days: int = default("trash_days")
    mirrors: tuple[MirrorConfig, ...] = ()
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def mirror(self, name: str) -> MirrorConfig:
        """The mirror called ``name``; ConfigError(key="--mirror") if there is none."""
        for m in self.mirrors:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.mirrors) or "none"
        raise ConfigError(f"no mirror named {name!r} (known: {known})",
                          file=self.path, key="--mirror")
