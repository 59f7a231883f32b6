"""The configuration file: where it is, and what it means.

The file is YAML and a public interface (docs/configuration.md documents every
key; config.example.yaml shows them). Lookup order: an explicit path
(``--config``), else ``$SYNCD_CONFIG``, else ``config.yaml`` in the XDG config
directory (``platformdirs.user_config_dir``).

``load_config`` walks the schema (``syncd.config.schema``) over the YAML nodes
(``syncd.config.reader``): each key is read by its kind, an optional key that
is left out or empty takes its default, a key's rule runs right after it is
read. Every problem is a ``ConfigError`` whose ``str()`` is one line,
``FILE:LINE: KEY: message``, and mentions no secret. Nothing is printed here.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import platformdirs
from yaml.nodes import MappingNode, Node, SequenceNode

from syncd.config.errors import ConfigError
from syncd.config.model import AccountConfig, Config, DaemonConfig, MirrorConfig, WebhookConfig
from syncd.config.reader import Entry, Reader, expand_user, is_null, line_of
from syncd.config.rules import permission_warnings
from syncd.config.schema import (
    APP_NAME,
    DIRECTIONS,
    LOG_LEVELS,
    REMOTE_DELETE_MODES,
    TOP,
    Key,
    Section,
    Sections,
    default,
)

__all__ = [
    "APP_NAME",
    "DIRECTIONS",
    "LOG_LEVELS",
    "REMOTE_DELETE_MODES",
    "AccountConfig",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "MirrorConfig",
    "WebhookConfig",
    "config_path",
    "load_config",
]

CONFIG_FILENAME = "config.yaml"
ENV_CONFIG = "SYNCD_CONFIG"


def config_path(explicit: str | os.PathLike | None = None,
                env: Mapping[str, str] | None = None) -> Path:
    """Where the configuration is: ``explicit`` (``--config``), else
    ``$SYNCD_CONFIG``, else ``user_config_dir("syncd")/config.yaml``. A leading
    ``~`` is expanded; the file need not exist."""
    env = os.environ if env is None else env
    if explicit is not None and os.fspath(explicit) != "":
        return Path(expand_user(os.fspath(explicit), env))
    from_env = env.get(ENV_CONFIG)
    if from_env:
        return Path(expand_user(from_env, env))
    return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILENAME


def load_config(path: str | os.PathLike | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Find, read and validate the configuration (see ``config_path``).
    ``env`` (default ``os.environ``) supplies ``${VAR}`` and ``~``/``$SYNCD_CONFIG``.
    Raises ConfigError for every problem."""
    env = os.environ if env is None else env
    file = config_path(path, env)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        init = "syncd init" + (f" --config {shlex.quote(str(file))}" if path is not None else "")
        raise ConfigError(
            f"no config file here: run `{init}` to write one (or pass --config FILE, or set "
            "SYNCD_CONFIG)", file=file) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", file=file) from None
    except OSError as e:
        raise ConfigError(f"cannot read config file: {e.strerror or e}", file=file) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError("not valid UTF-8 text", file=file, line=line) from None
    reader = Reader(file, env)
    try:
        return _parse(reader, text)
    except ConfigError as e:
        raise reader.scrub(e) from None


# --- walking the schema --------------------------------------------------------------

def _webhook(listen: tuple[str, int], **values: Any) -> WebhookConfig:
    host, port = listen
    return WebhookConfig(host=host, port=port, **values)


# What each mapping of the schema becomes, by its path, called with its values
# by key name; an inline mapping's keys are fields of its parent instead.
_BUILD: dict[str, Callable[..., Any]] = {
    "account": AccountConfig,
    "account.webhook": _webhook,
    "daemon": DaemonConfig,
    "mirrors[]": MirrorConfig,
}


def _parse(r: Reader, text: str) -> Config:
    root = r.compose(text)
    if root is None or is_null(root):
        raise r.error("empty configuration")
    values = _read_mapping(r, TOP, root, None, "")
    return Config(path=r.file, **values,
                  warnings=tuple(permission_warnings(r.file, r.literal_secret)))


def _read_mapping(r: Reader, section: Section, node: Node, key: str | None,
                  path: str) -> dict[str, Any]:
    """The values of one mapping node by field name, defaults filled in.
    ``key`` names the mapping in messages (``mirrors[0]``), ``path`` in the
    schema (``mirrors[].``)."""
    entries = r.mapping(node, key, section.names)
    prefix = f"{key}." if key else ""
    values: dict[str, Any] = {}
    for spec in section.reading_order():
        name, spath = prefix + spec.name, path + spec.name
        entry = entries.get(spec.name)
        value = None
        if entry is not None:
            r.lines[name] = r.value_line(entry)
            value = _read_value(r, spec, entry, name, spath)
        if value is None:
            if spec.required and entry is None:
                raise r.error(f"missing required key {spec.name!r}", line=line_of(node),
                              key=key)
            if spec.required:
                raise r.error(f"needs a value ({spec.doc})", line=line_of(entry.key), key=name)
            value = spec.computed() if spec.computed else _default(spec, spath)
        if isinstance(spec.kind, Section) and spec.kind.inline:
            values.update({f"{spec.name}_{k}": v for k, v in value.items()})
        else:
            values[spec.name] = value
        if spec.check:
            spec.check(r, values, name)
    return values


def _default(spec: Key, path: str) -> Any:
    """What an optional key that is left out or empty stands for."""
    if not isinstance(spec.kind, Section) or spec.default == "null":
        return default(path)
    values = {k.name: default(f"{path}.{k.name}") for k in spec.kind.keys}
    return values if spec.kind.inline else _BUILD[path](**values)


def _read_value(r: Reader, spec: Key, entry: Entry, key: str, path: str) -> Any:
    if isinstance(spec.kind, Section):
        return _read_section(r, spec.kind, entry, key, path)
    if isinstance(spec.kind, Sections):
        return _read_list(r, spec.kind, entry, key, path)
    return spec.kind.read(r, entry, key, spec)


def _read_section(r: Reader, section: Section, entry: Entry, key: str, path: str) -> Any:
    """A nested mapping, built into its dataclass (an inline one stays a dict);
    None when it is empty."""
    node = entry.value
    if is_null(node):
        if section.on_null:
            raise r.error(section.on_null, line=line_of(entry.key), key=key)
        return None
    line = line_of(entry.key) if section.blame_key else r.value_line(entry)
    r.check_tag(node, key, line)
    if not isinstance(node, MappingNode):
        raise r.error(f"{section.shape} (got {r.describe_node(node)})", line=line, key=key)
    values = _read_mapping(r, section, node, key, path + ".")
    return values if section.inline else _BUILD[path](**values)


def _read_list(r: Reader, kind: Sections, entry: Entry, key: str, path: str) -> tuple:
    node = entry.value
    line = line_of(entry.key)
    if is_null(node):
        raise r.error(kind.empty, line=line, key=key)
    r.check_tag(node, key, line)
    if not isinstance(node, SequenceNode):
        raise r.error(f"{kind.shape} (got {r.describe_node(node)})", line=line, key=key)
    if not node.value:
        raise r.error(kind.empty, line=line, key=key)
    build = _BUILD[path + "[]"]
    return tuple(build(**_read_mapping(r, kind.item, item, f"{key}[{i}]", path + "[]."))
                 for i, item in enumerate(node.value))
