"""Every key of the configuration, written once.

``TOP`` is the table: each ``Key`` has its name, its kind (how its value is read
and checked: ``syncd.config.values``), its default as YAML text (``None``: the
key is required) and a one-line doc. Everything else follows from it:

* the parser (``syncd.config.loader``) accepts exactly these keys, reads them in
  this order (within a mapping, secrets first, so that every later message can
  be scrubbed of them) and fills in these defaults;
* the dataclasses of ``syncd.config.model`` take their defaults from
  ``default(path)``, the default text read as the parser reads a value;
* ``syncd init`` writes its template from it (``syncd.cli.init``), and tests
  check config.example.yaml and docs/configuration.md against it.

A key's ``check`` is a rule run right after its value is read, with the values
of its mapping read so far (``syncd.config.rules``). A ``doc`` is the comment
``syncd init`` writes beside the key (a line break continues it on the next
line); for a required key it also says what is missing ("needs a value (DOC)").
"""

from __future__ import annotations

import functools
import os
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import yaml
from yaml.nodes import ScalarNode

from syncd import model
from syncd.config import rules
from syncd.config.reader import TAG, Entry, Reader
from syncd.config.values import (
    Choice,
    CountOrPercent,
    Duration,
    Int,
    Listen,
    LocalPath,
    Name,
    Patterns,
    Rate,
    RemotePath,
    Secret,
    Url,
    UrlPath,
)
from syncd.logs import FORMATS, LEVELS

APP_NAME = "syncd"

DIRECTIONS = typing.get_args(model.Direction)
REMOTE_DELETE_MODES = ("trash", "delete")
LOG_LEVELS = LEVELS
LOG_FORMATS = FORMATS
MIN_POLL_INTERVAL = 10.0
MIN_FULL_SCAN_INTERVAL = 60.0
MAX_TRANSFERS = 32


@dataclass(frozen=True)
class Key:
    """One key: ``kind`` reads its value (a ``Section`` or ``Sections`` holds
    keys of its own), ``default`` is YAML text or None for a required key,
    ``computed`` gives the real default where it depends on the machine (the
    text then shows the usual one)."""

    name: str
    kind: Any
    default: str | None  # as written in YAML; None: required
    doc: str
    check: Callable[[Reader, dict[str, Any], str], None] | None = None
    computed: Callable[[], Any] | None = None

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Section:
    """A mapping of keys. ``shape``: the message for a value that is not a
    mapping. ``on_null``: the error for an empty value (else it takes the
    defaults). ``blame_key``: problems with the value itself are reported at the
    key's line. ``inline``: written as one flow mapping, ``{up: 0, down: 0}``,
    its keys becoming fields of the parent (``bandwidth_up``)."""

    keys: tuple[Key, ...]
    shape: str = "must be a mapping"
    on_null: str | None = None
    blame_key: bool = False
    inline: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    def reading_order(self) -> list[Key]:
        return sorted(self.keys, key=lambda k: not isinstance(k.kind, Secret))


@dataclass(frozen=True)
class Sections:
    """A list of mappings, at least one. ``shape``: the message for a value
    that is not a list; ``empty``: for an empty one."""

    item: Section
    shape: str
    empty: str


def _state_dir() -> Path:
    return Path(os.path.abspath(platformdirs.user_state_dir(APP_NAME)))


WEBHOOK = Section(
    shape=("must be a mapping with listen and token, like "
           "{listen: '127.0.0.1:8787', token: ${EXAVAULT_WEBHOOK_TOKEN}}"),
    keys=(
        Key("listen", Listen(), None, "an address like 127.0.0.1:8787"),
        Key("token", Secret(explain=True), None, "the webhook's verification token"),
        Key("path", UrlPath(), "/", "URL path the pushes are sent to"),
    ))

ACCOUNT = Section(
    on_null="needs url, api_key and access_token", blame_key=True,
    keys=(
        Key("url", Url(), None, "the account's API URL"),
        Key("api_key", Secret(), None, "the API key"),
        Key("access_token", Secret(), None, "the access token"),
        Key("budget", Int(minimum=1), "null",
            "daily API transactions syncd may spend; null = the account's whole limit"),
        Key("reserve", CountOrPercent("transactions", max_percent=99), "5%",
            "transactions never spent: a count (e.g. 200) or a % of the daily limit",
            check=rules.reserve_below_budget),
        Key("timeout", Duration(minimum=0.0, positive=True), "60",
            "seconds to wait for the server before a request fails"),
        Key("transfer_share", CountOrPercent("percent", max_percent=95, percent_only=True),
            "50%", "of the daily budget kept for transfers; `syncd run` polls with the rest"),
        Key("webhook", WEBHOOK, "null",
            "webhook pushes for `syncd run`; null = no pushes, poll instead"),
    ))

DAEMON = Section(
    shape="must be a mapping (settle, local_scan_interval, log_level, log_format, metrics)",
    keys=(
        Key("settle", Duration(minimum=0.1, maximum=600), "1.5s",
            "a changed file is synced once quiet for this long"),
        Key("local_scan_interval", Duration(minimum=MIN_FULL_SCAN_INTERVAL), "1h",
            "full local true-up scan"),
        Key("log_level", Choice(LOG_LEVELS), "info", " | ".join(LOG_LEVELS)),
        Key("log_format", Choice(LOG_FORMATS), "text",
            "text | json (one JSON object per line)"),
        Key("metrics", Listen(), "null",
            "Prometheus /metrics on a loopback HOST:PORT, e.g. 127.0.0.1:9464; null = off",
            check=rules.loopback_only),
    ))

BANDWIDTH = Section(
    shape="must be a mapping with up and/or down, like {up: 2MB, down: 500000}",
    inline=True,
    keys=(
        Key("up", Rate(), "0", "bytes/s the mirror's uploads may use together; 0 = unlimited"),
        Key("down", Rate(), "0", "bytes/s the mirror's downloads may use together; 0 = unlimited"),
    ))

MIRROR = Section(keys=(
    Key("name", Name(), None, "the mirror's name"),
    Key("local", LocalPath(), None, "a local folder"),
    Key("remote", RemotePath(), None, "a remote folder"),
    Key("direction", Choice(DIRECTIONS), model.DEFAULT_DIRECTION, " | ".join(DIRECTIONS)),
    Key("ignore", Patterns(), "[]", 'gitignore-style patterns, e.g. ["*.tmp", "build/"]'),
    Key("poll_interval", Duration(minimum=MIN_POLL_INTERVAL), "5m",
        "how often `syncd run` looks for remote changes"),
    Key("full_scan_interval", Duration(minimum=MIN_FULL_SCAN_INTERVAL), "1d",
        "how often the whole remote folder is listed as a true-up"),
    Key("max_delete", CountOrPercent("deletions", max_percent=100), "null",
        'max deletions per run (count or "25%"); null = hold back\n'
        "when more than 50% and more than 10 entries would go"),
    Key("remote_delete", Choice(REMOTE_DELETE_MODES), "trash",
        "trash (move to remote_trash) | delete (permanently)"),
    Key("transfers", Int(minimum=1, maximum=MAX_TRANSFERS), "4",
        f"parallel uploads/downloads, 1..{MAX_TRANSFERS}"),
    Key("bandwidth", BANDWIDTH, "{}", "bytes/s, e.g. {up: 2MB, down: 500KiB}; 0 = unlimited"),
))

TOP = Section(keys=(
    Key("account", ACCOUNT, None, "the ExaVault account"),
    Key("state_dir", LocalPath(), "~/.local/state/syncd", "index, logs and local trash",
        computed=_state_dir),
    Key("remote_trash", RemotePath(below_root=True), "/.syncd-trash",
        "remote folder that receives remote deletions"),
    Key("trash_days", Int(minimum=1), "30",
        "days deleted files are kept in the local and remote trash"),
    Key("mirrors", Sections(MIRROR, shape="must be a list of mirrors",
                            empty="must list at least one mirror"), None,
        "the folders to keep in sync", check=rules.mirrors_apart),
    Key("daemon", DAEMON, "{}", "`syncd run` only"),
))


# --- looking keys up -------------------------------------------------------------------

def section_of(kind: Any) -> Section | None:
    """The mapping a key's kind holds (a list's items), or None for a value."""
    if isinstance(kind, Sections):
        return kind.item
    return kind if isinstance(kind, Section) else None


def keys(section: Section = TOP, prefix: str = "") -> Iterator[tuple[str, Key]]:
    """``(path, key)`` of every key, dotted: ``mirrors[].bandwidth.up``."""
    for key in section.keys:
        path = prefix + key.name
        yield path, key
        inner = section_of(key.kind)
        if inner is not None:
            yield from keys(inner, path + ("[]." if isinstance(key.kind, Sections) else "."))


def key(path: str) -> Key:
    for p, k in keys():
        if p == path:
            return k
    raise KeyError(path)


def default_text(k: Key) -> str | None:
    """The default as written in YAML; an inline mapping shows its keys'."""
    if isinstance(k.kind, Section) and k.kind.inline:
        return "{" + ", ".join(f"{c.name}: {c.default}" for c in k.kind.keys) + "}"
    return k.default


@functools.cache
def default(path: str) -> Any:
    """The value a key takes when it is left out: its default text, read as the
    parser reads the file."""
    k = key(path)
    if k.default == "null":
        return None
    if k.required or isinstance(k.kind, (Section, Sections)):
        raise ValueError(f"{path} has no default value of its own")
    node = yaml.compose(k.default, Loader=yaml.SafeLoader)
    name = ScalarNode(TAG + "str", k.name, node.start_mark, node.end_mark)
    return k.kind.read(Reader(None, {}), Entry(name, node), path, k)
