"""The configuration file: where it is, what it may say, and what it means.

The file is YAML and a public interface (``config.example.yaml`` documents every
key). Lookup order: an explicit path (``--config``), else ``$SYNCD_CONFIG``, else
``config.yaml`` in the XDG config directory (``platformdirs.user_config_dir``).

Parsing works on the composed YAML node tree (``yaml.compose`` with the safe
loader) rather than on constructed Python objects, so every problem can be
reported with the line it comes from. Every problem is a ``ConfigError`` whose
``str()`` is one line, ``FILE:LINE: KEY: message``. Nothing is printed here.

Rules worth knowing when reading the code:

* Every unknown key is an error, with a did-you-mean hint.
* ``${VAR}``, ``${VAR:-default}`` (default used when VAR is unset *or empty*) and
  ``$$`` (a literal ``$``) are expanded in every string value before the value is
  checked; an unset variable without a default is an error. A ``$`` followed by
  anything else is kept literally.
* A string field takes any plain scalar as its text (``name: 2024`` is the
  name ``"2024"``); a number field takes a number or a string of digits (so a
  ``${VAR}`` expansion works there too).
* An optional key whose value is empty/``null`` takes its default.
* Secrets (``account.api_key``, ``account.access_token``) never appear in an
  error message or a ``repr``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pathspec
import platformdirs
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "DIRECTIONS",
    "REMOTE_DELETE_MODES",
    "AccountConfig",
    "Config",
    "ConfigError",
    "MirrorConfig",
    "config_path",
    "load_config",
]

APP_NAME = "syncd"
CONFIG_FILENAME = "config.yaml"
ENV_CONFIG = "SYNCD_CONFIG"

DIRECTIONS = ("two-way", "upload-only", "download-only")
REMOTE_DELETE_MODES = ("trash", "delete")

MIN_POLL_INTERVAL = 10.0
MIN_FULL_SCAN_INTERVAL = 60.0
MAX_TRANSFERS = 32
MAX_DURATION = 365 * 86400.0
MAX_INT = 10**15  # counts and sizes: far above any real one, far below float overflow

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_PERCENT_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*%")
_DURATION_PART_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*(?:/\s*s)?")
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
}

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


# --- the error -----------------------------------------------------------------------

class ConfigError(Exception):
    """A problem with the configuration. ``str(err)`` is one line:
    ``FILE:LINE: KEY: message``, leaving out the parts that are ``None``."""

    def __init__(self, message: str, *, file: str | os.PathLike | None = None,
                 line: int | None = None, key: str | None = None) -> None:
        self.message = " ".join(str(message).split())  # always one line
        self.file = os.fspath(file) if file is not None else None
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.key:
            parts.append(self.key)
        parts.append(self.message)
        return ": ".join(parts)

    def __reduce__(self):
        return (_rebuild_error, (self.message, self.file, self.line, self.key))


def _rebuild_error(message, file, line, key) -> ConfigError:
    return ConfigError(message, file=file, line=line, key=key)


# --- the result ----------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class AccountConfig:
    """The ExaVault account. ``budget``: daily transactions syncd may spend (None =
    the server's ``X-RateLimit-Limit``). ``reserve``: transactions never spent, an
    int count or a float fraction (0..1) of the daily limit. ``timeout``: seconds."""

    url: str
    api_key: str
    access_token: str
    budget: int | None = None
    reserve: int | float = 0.05
    timeout: float = 60.0
    transfer_share: float = 0.5
    webhook: WebhookConfig | None = None

    def __repr__(self) -> str:
        return (f"AccountConfig(url={self.url!r}, api_key='***', access_token='***', "
                f"budget={self.budget!r}, reserve={self.reserve!r}, timeout={self.timeout!r}, "
                f"transfer_share={self.transfer_share!r}, webhook={self.webhook!r})")


@dataclass(frozen=True, repr=False)
class WebhookConfig:
    """Where ``syncd run`` listens for ExaVault webhook pushes, and the account's
    verification token (``X-Exavault-Signature`` = md5(token + body))."""

    host: str
    port: int
    token: str
    path: str = "/"

    def __repr__(self) -> str:
        return (f"WebhookConfig(host={self.host!r}, port={self.port!r}, token='***', "
                f"path={self.path!r})")


@dataclass(frozen=True)
class DaemonConfig:
    """Settings of ``syncd run``: ``settle`` seconds a changed file must stay quiet
    before it is synced; ``local_scan_interval`` between full local true-up scans;
    ``log_level`` of the daemon's log on stderr."""

    settle: float = 1.5
    local_scan_interval: float = 3600.0
    log_level: str = "info"


@dataclass(frozen=True)
class MirrorConfig:
    """One local folder kept in sync with one remote folder."""

    name: str
    local: Path
    remote: str
    direction: str = "two-way"
    ignore: tuple[str, ...] = ()
    poll_interval: float = 300.0
    full_scan_interval: float = 86400.0
    max_delete: int | float | None = None
    remote_delete: str = "trash"
    transfers: int = 4
    bandwidth_up: int = 0
    bandwidth_down: int = 0

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
    to show (this module prints nothing)."""

    path: Path
    account: AccountConfig
    state_dir: Path
    remote_trash: str = "/.syncd-trash"
    trash_days: int = 30
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


# --- lookup --------------------------------------------------------------------------

def config_path(explicit: str | os.PathLike | None = None,
                env: Mapping[str, str] | None = None) -> Path:
    """Where the configuration is: ``explicit`` (``--config``), else
    ``$SYNCD_CONFIG``, else ``user_config_dir("syncd")/config.yaml``. A leading
    ``~`` is expanded; the file need not exist."""
    env = os.environ if env is None else env
    if explicit is not None and os.fspath(explicit) != "":
        return Path(_expand_user(os.fspath(explicit), env))
    from_env = env.get(ENV_CONFIG)
    if from_env:
        return Path(_expand_user(from_env, env))
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
        raise ConfigError(
            f"no config file at {file} (create one from config.example.yaml, "
            "or pass --config / set SYNCD_CONFIG)", file=file) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", file=file) from None
    except OSError as e:
        raise ConfigError(f"cannot read config file: {e.strerror or e}", file=file) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError("not valid UTF-8 text", file=file, line=line) from None
    parser = _Parser(file, env)
    try:
        return parser.parse(text)
    except ConfigError as e:
        raise parser.scrub(e) from None


# --- parsing -------------------------------------------------------------------------

_TOP_KEYS = ("account", "state_dir", "remote_trash", "trash_days", "mirrors", "daemon")
_ACCOUNT_KEYS = ("url", "api_key", "access_token", "budget", "reserve", "timeout",
                 "transfer_share", "webhook")
_WEBHOOK_KEYS = ("listen", "token", "path")
_DAEMON_KEYS = ("settle", "local_scan_interval", "log_level")
LOG_LEVELS = ("debug", "info", "warning", "error")
_MIRROR_KEYS = ("name", "local", "remote", "direction", "ignore", "poll_interval",
                "full_scan_interval", "max_delete", "remote_delete", "transfers",
                "bandwidth")
_BANDWIDTH_KEYS = ("up", "down")
_SECRET_KEYS = ("account.api_key", "account.access_token", "account.webhook.token")
_SECRET_TEXT_RE = re.compile(
    r"""(?:api_key|access_token|token)["']?[ \t]*:[ \t]*["']?[*&]?([^\s,{}\[\]"'#]+)""")
_NOT_SECRETS = ("null", "~", "true", "false", "yes", "no", "on", "off", "|", ">", "-")


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _expand_user(path: str, env: Mapping[str, str]) -> str:
    if path == "~" or path.startswith("~/"):
        home = env.get("HOME") or os.path.expanduser("~")
        return home + path[1:]
    return os.path.expanduser(path) if path.startswith("~") else path


def _describe(value: Any) -> str:
    """How a wrong value is shown in a message ("got ...")."""
    if isinstance(value, MappingNode):
        return "a mapping"
    if isinstance(value, SequenceNode):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    return _quote(str(value), quoted=False)


def _quote(text: str, *, quoted: bool = True, limit: int = 60,
           secrets: tuple[str, ...] | list[str] = ()) -> str:
    """A user's value as shown in a message: ``repr`` when short and on one line,
    with any of ``secrets`` replaced by ``***`` before a long value is cut; a value
    of several lines is not quoted at all (a block scalar that swallowed the lines
    below it could hold a secret)."""
    if "\n" in text.strip("\n") or "\r" in text:
        return "a text of several lines"
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    if len(text) > limit:
        text = text[:limit] + "..."
    return repr(text) if quoted else text


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:g}s"


@dataclass
class _Entry:
    """One key of a YAML mapping: its key node and value node."""

    key: ScalarNode
    value: Node


class _Parser:
    def __init__(self, file: Path, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env
        self.secrets: list[str] = []
        # A value that came from ${VAR} expansion is shown in messages as written
        # (``${VAR}``), never as what the environment put there: a variable may hold
        # a secret even where the config uses it for something else.
        self.written: dict[str, str] = {}
        self.literal_secret = False
        self._constructor = yaml.SafeLoader("")

    # -- errors ------------------------------------------------------------------

    def error(self, message: str, line: int | None = None, key: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, line=line, key=key)

    def scrub(self, err: ConfigError) -> ConfigError:
        """Belt and braces: no message mentions a secret seen so far."""
        message = err.message
        for secret in self.secrets:
            if len(secret) >= 4 and secret in message:
                message = message.replace(secret, "***")
        if message == err.message:
            return err
        return ConfigError(message, file=err.file, line=err.line, key=err.key)

    # -- YAML structure ----------------------------------------------------------

    def compose(self, text: str) -> Node | None:
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            problem = e.problem or e.context or "syntax error"
            if e.context and problem.startswith("but "):
                problem = f"{e.context}, {problem}"
            if "'\\t'" in problem:
                problem += " (indent with spaces, not tabs)"
            raise self.error(f"invalid YAML: {problem}",
                             line=mark.line + 1 if mark else None) from None
        except yaml.reader.ReaderError as e:
            line = text[:e.position].count("\n") + 1 if isinstance(e.position, int) else None
            code = ord(e.character) if isinstance(e.character, str) else e.character
            raise self.error(f"invalid YAML: {e.reason} (character {code:#x})",
                             line=line) from None
        except yaml.YAMLError as e:  # pragma: no cover - every pyyaml error is one of the above
            raise self.error(f"invalid YAML: {type(e).__name__}") from None
        except RecursionError:
            raise self.error("invalid YAML: nested too deeply") from None

    def mapping(self, node: Node, key: str | None, allowed: tuple[str, ...],
                line: int | None = None) -> dict[str, _Entry]:
        """The entries of a mapping node, checking key types, duplicates and
        unknown keys (with a did-you-mean hint)."""
        self.check_tag(node, key, line)
        if not isinstance(node, MappingNode):
            got = self.describe_node(node)
            if key is None:
                raise self.error(f"the configuration must be a mapping of keys (got {got})",
                                 line=_line(node))
            raise self.error(f"must be a mapping (got {got})", line=line or _line(node), key=key)
        entries: dict[str, _Entry] = {}
        for knode, vnode in node.value:
            if knode.tag == _TAG + "merge":
                raise self.error("YAML merge keys (<<) are not supported",
                                 line=_line(knode), key=key)
            if not isinstance(knode, ScalarNode) or knode.tag != _TAG + "str":
                raise self.error(f"keys must be plain names (got {self.describe_node(knode)})",
                                 line=_line(knode), key=key)
            name = knode.value
            if name in entries:
                raise self.error(f"duplicate key {self.quote(name)} (first at line "
                                 f"{_line(entries[name].key)})", line=_line(knode), key=key)
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = (f"did you mean {close[0]!r}?" if close
                        else "known keys: " + ", ".join(allowed))
                raise self.error(f"unknown key {self.quote(name)} ({hint})",
                                 line=_line(knode), key=key)
            entries[name] = _Entry(knode, vnode)
        return entries

    def check_tag(self, node: Node, key: str | None, line: int | None = None) -> None:
        """Only the plain YAML types: no !!set, !!binary, !custom, ..."""
        kind = {MappingNode: "map", SequenceNode: "seq"}.get(type(node))
        ok = node.tag == _TAG + kind if kind else node.tag in _SCALAR_TAGS
        if not ok:
            raise self.error(f"unsupported YAML tag {self.quote(node.tag)}",
                             line=line or _line(node), key=key)

    def describe_node(self, node: Node) -> str:
        if isinstance(node, ScalarNode):
            if node.tag == _TAG + "null":
                return "nothing"
            if node.start_mark.line != node.end_mark.line:
                return "a text of several lines"
            return self.quote(node.value, quoted=node.tag == _TAG + "str")
        return _describe(node)

    def describe(self, value: Any) -> str:
        if isinstance(value, str):
            return self.quote(value)
        return _describe(value)

    def quote(self, text: str, *, quoted: bool = True) -> str:
        return _quote(self.written.get(text, text), quoted=quoted, secrets=self.secrets)

    def value_line(self, entry: _Entry) -> int:
        """The line to blame for a key's value: the value's own line, or the
        key's when the value is empty or a collection."""
        v = entry.value
        if isinstance(v, ScalarNode) and v.tag != _TAG + "null":
            return _line(v)
        return _line(entry.key)

    # -- scalars -----------------------------------------------------------------

    def scalar(self, node: Node, key: str, line: int) -> Any:
        """The Python value of a scalar node: str (``${VAR}`` expanded), int,
        float, bool or None; a mapping/sequence node is returned as is."""
        if not isinstance(node, ScalarNode):
            return node
        self.check_tag(node, key, line)
        tag = node.tag
        c = self._constructor
        try:
            if tag == _TAG + "null":
                return None
            if tag == _TAG + "bool":
                return c.construct_yaml_bool(node)
            if tag == _TAG + "int":
                return c.construct_yaml_int(node)
            if tag == _TAG + "float":
                return c.construct_yaml_float(node)
        except (ValueError, KeyError, OverflowError, yaml.YAMLError):
            # e.g. "!!int x" (ValueError), "!!bool maybe" (KeyError)
            raise self.error(f"cannot read value {self.quote(node.value)}",
                             line=line, key=key) from None
        if tag == _TAG + "timestamp":
            return node.value
        surrogate = _SURROGATE_RE.search(node.value)
        if surrogate:
            # YAML's "\ud83d\ude00" is two lone surrogates, not one emoji; no path,
            # header or log line can hold them
            raise self.error(f"has the invalid character U+{ord(surrogate.group()):04X} (a "
                             "UTF-16 surrogate: write the character itself, or \\U0001F600 "
                             "style escapes)", line=line, key=key)
        value = self.expand(node.value, key, line)
        if value != node.value:
            self.written[value] = node.value
        return value

    def expand(self, text: str, key: str, line: int) -> str:
        """``${VAR}``, ``${VAR:-default}`` and ``$$``; other ``$`` are literal."""
        if "$" not in text:
            return text
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch != "$" or i + 1 >= n or text[i + 1] not in "${":
                out.append(ch)
                i += 1
                continue
            if text[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            # ${ ... } with nesting allowed in the default
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("${", j):
                    depth += 1
                    j += 2
                    continue
                if text[j] == "}":
                    depth -= 1
                j += 1
            if depth:
                raise self.error("unterminated ${ in value (write $$ for a literal $)",
                                 line=line, key=key)
            body = text[i + 2:j - 1]
            m = _VAR_NAME_RE.match(body)
            rest = body[m.end():] if m else None
            if m is None or not (rest == "" or rest.startswith(":-")):
                shown = "" if key in _SECRET_KEYS else f" ${{{body}}}"
                raise self.error(f"invalid variable reference{shown} "
                                 "(use ${NAME} or ${NAME:-default}; $$ for a literal $)",
                                 line=line, key=key)
            name = m.group()
            value = self.env.get(name)
            if rest.startswith(":-"):
                if not value:
                    value = self.expand(rest[2:], key, line)
            elif value is None:
                raise self.error(f"environment variable {name} is not set", line=line, key=key)
            out.append(value)
            i = j
        return "".join(out)

    # -- typed values ------------------------------------------------------------

    def get_str(self, entry: _Entry, key: str, *, secret: bool = False) -> str | None:
        line = self.value_line(entry)
        if secret and isinstance(entry.value, ScalarNode):
            self.secrets.append(entry.value.value)  # before anything can quote it
        value = self.scalar(entry.value, key, line)
        if value is None:
            return None
        if isinstance(value, (MappingNode, SequenceNode)):
            raise self.error(f"must be a string (got {self.describe(value)})", line=line, key=key)
        if not isinstance(value, str):
            value = entry.value.value  # the text as written: name: 2024 is "2024"
        if secret:
            self.secrets.append(value)
            if "${" not in entry.value.value:
                self.literal_secret = True
        return value

    def get_int(self, entry: _Entry, key: str, *, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        line = self.value_line(entry)
        value = self.scalar(entry.value, key, line)
        if value is None:
            return None
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            value = self.to_int(value.strip(), key, line)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"must be a whole number (got {self.describe(value)})",
                             line=line, key=key)
        self.check_range(value, key, line, minimum, maximum)
        self.check_range(value, key, line, None, MAX_INT)
        return value

    def to_int(self, text: str, key: str, line: int) -> int:
        """int() of a string of digits; Python refuses more than 4300 digits."""
        if len(text) > 30:
            raise self.error(f"is far too large (a number of {len(text)} digits)",
                             line=line, key=key)
        return int(text)

    def check_range(self, value: int, key: str, line: int, minimum: int | None,
                    maximum: int | None) -> None:
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            raise self.error(f"must be between {minimum} and {maximum} "
                             f"(got {self.quote(str(value), quoted=False)})",
                             line=line, key=key)
        if minimum is not None and value < minimum:
            raise self.error(f"must be at least {minimum} "
                             f"(got {self.quote(str(value), quoted=False)})", line=line, key=key)
        if maximum is not None and value > maximum:
            raise self.error(f"must be at most {maximum} "
                             f"(got {self.quote(str(value), quoted=False)})", line=line, key=key)

    def get_duration(self, entry: _Entry, key: str, *, minimum: float) -> float | None:
        """Seconds: a number, or a string like "90", "90s", "5m", "2h", "1d", "1h30m"."""
        line = self.value_line(entry)
        value = self.scalar(entry.value, key, line)
        if value is None:
            return None
        seconds = _parse_duration(value)
        if seconds is None:
            raise self.error("must be a duration in seconds or with a unit, like 90, "
                             f"'90s', '5m', '2h', '1d' (got {self.describe(value)})",
                             line=line, key=key)
        if seconds < minimum:
            raise self.error(f"must be at least {_fmt_seconds(minimum)} "
                             f"(got {_fmt_seconds(seconds)})", line=line, key=key)
        if seconds > MAX_DURATION:
            # timers and socket timeouts overflow long before 1e300 seconds
            raise self.error(f"must be at most 365d (got {_fmt_seconds(seconds)})",
                             line=line, key=key)
        return seconds

    def get_size(self, entry: _Entry, key: str) -> int | None:
        """Bytes per second: an int, or a string like "500k", "2MB", "1.5MiB/s"."""
        line = self.value_line(entry)
        value = self.scalar(entry.value, key, line)
        if value is None:
            return None
        size = _parse_size(value)
        if size is None:
            raise self.error("must be a rate in bytes per second, a whole number or a "
                             "number with a unit k, M, G (powers of 1000) or KiB, MiB, GiB "
                             f"(powers of 1024), like '2MB' or '500KiB/s' "
                             f"(got {self.describe(value)})", line=line, key=key)
        self.check_range(size, key, line, None, MAX_INT)
        return size

    def get_count_or_percent(self, entry: _Entry, key: str, *, what: str,
                             max_percent: float) -> int | float | None:
        """A whole number >= 0, or "N%" -> N/100 (0 <= N <= max_percent)."""
        line = self.value_line(entry)
        value = self.scalar(entry.value, key, line)
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip()
            m = _PERCENT_RE.fullmatch(text)
            if m:
                percent = float(m.group(1))
                if percent > max_percent:
                    limit = f"{max_percent:g}%"
                    raise self.error(f"must be a percentage of at most {limit} "
                                     f"(got {self.quote(text)})",
                                     line=line, key=key)
                return percent / 100
            if _INT_RE.fullmatch(text):
                value = self.to_int(text, key, line)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"must be a whole number of {what} or a percentage like "
                             f"'25%' (got {self.describe(value)})", line=line, key=key)
        if value < 0:
            raise self.error(f"must not be negative (got {self.quote(str(value), quoted=False)})",
                             line=line, key=key)
        self.check_range(value, key, line, None, MAX_INT)
        return value

    def get_choice(self, entry: _Entry, key: str, choices: tuple[str, ...]) -> str | None:
        value = self.get_str(entry, key)
        if value is None:
            return None
        if value not in choices:
            raise self.error(f"must be one of {', '.join(choices)} "
                             f"(got {self.quote(value)})",
                             line=self.value_line(entry), key=key)
        return value

    def get_local_path(self, entry: _Entry, key: str) -> Path | None:
        text = self.get_str(entry, key)
        if text is None:
            return None
        line = self.value_line(entry)
        if not text.strip():
            raise self.error("must not be empty", line=line, key=key)
        if "\0" in text:
            raise self.error("must not contain a NUL character", line=line, key=key)
        path = _expand_user(text, self.env)
        if not os.path.isabs(path):
            raise self.error("must be an absolute path, or start with ~ "
                             f"(got {self.quote(text)})",
                             line=line, key=key)
        return Path(os.path.abspath(path))

    def get_remote_path(self, entry: _Entry, key: str) -> str | None:
        text = self.get_str(entry, key)
        if text is None:
            return None
        line = self.value_line(entry)
        if not text.startswith("/"):
            raise self.error("must be an absolute remote path starting with / "
                             f"(got {self.quote(text)})",
                             line=line, key=key)
        if "\0" in text:
            raise self.error("must not contain a NUL character", line=line, key=key)
        parts = [p for p in text.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise self.error(f"must not contain '.' or '..' segments (got {self.quote(text)})",
                             line=line, key=key)
        return "/" + "/".join(parts)

    def check_secret_text(self, value: str, entry: _Entry, key: str) -> None:
        """API keys and tokens travel in HTTP headers: printable ASCII, no spaces.
        (A key with a newline, say from a file read into ``${VAR}``, would
        otherwise fail every request as a "connection" error.) The message
        names the position, never the secret."""
        for i, ch in enumerate(value):
            if not "!" <= ch <= "~":
                what = {" ": "a space", "\t": "a tab", "\n": "a line break",
                        "\r": "a carriage return"}.get(ch, f"the character U+{ord(ch):04X}")
                raise self.error(f"must be printable ASCII without spaces; it has {what} at "
                                 f"position {i + 1} of {len(value)} (check the value or the "
                                 "variable it comes from)", line=self.value_line(entry), key=key)

    def require(self, entries: dict[str, _Entry], name: str, parent: Node,
                parent_key: str | None) -> _Entry:
        entry = entries.get(name)
        if entry is None:
            raise self.error(f"missing required key {name!r}", line=_line(parent),
                             key=parent_key)
        return entry

    def required_value(self, value: Any, entry: _Entry, key: str, what: str) -> Any:
        if value is None:
            raise self.error(f"needs a value ({what})", line=_line(entry.key), key=key)
        return value

    # -- the document ------------------------------------------------------------

    def parse(self, text: str) -> Config:
        # Anything written after a secret's key is a secret to scrub from messages,
        # even when the YAML around it is broken (a block scalar can swallow it).
        for m in _SECRET_TEXT_RE.finditer(text):
            if m.group(1).lower() not in _NOT_SECRETS:
                self.secrets.append(m.group(1))
        root = self.compose(text)
        if root is None or (isinstance(root, ScalarNode) and root.tag == _TAG + "null"):
            raise self.error("empty configuration")
        top = self.mapping(root, None, _TOP_KEYS)

        account = self.parse_account(self.require(top, "account", root, None))

        state_dir: Path | None = None
        if "state_dir" in top:
            state_dir = self.get_local_path(top["state_dir"], "state_dir")
        if state_dir is None:
            state_dir = Path(os.path.abspath(platformdirs.user_state_dir(APP_NAME)))

        remote_trash = "/.syncd-trash"
        if "remote_trash" in top:
            entry = top["remote_trash"]
            remote_trash = self.get_remote_path(entry, "remote_trash") or remote_trash
            if remote_trash == "/":
                raise self.error("must be a folder below /, not / itself",
                                 line=self.value_line(entry), key="remote_trash")

        trash_days = 30
        if "trash_days" in top:
            days = self.get_int(top["trash_days"], "trash_days", minimum=1)
            trash_days = trash_days if days is None else days

        mirrors_entry = self.require(top, "mirrors", root, None)
        mirrors = self.parse_mirrors(mirrors_entry)

        self.check_overlaps(mirrors, state_dir, remote_trash)

        daemon = DaemonConfig()
        if "daemon" in top:
            daemon = self.parse_daemon(top["daemon"])

        config = Config(
            path=self.file,
            account=account,
            state_dir=state_dir,
            remote_trash=remote_trash,
            trash_days=trash_days,
            mirrors=tuple(m for m, _ in mirrors),
            daemon=daemon,
            warnings=tuple(self.warnings()),
        )
        return config

    def warnings(self) -> list[str]:
        """At most one line about the file's permissions, with the chmod to run:
        credentials written in it must be for its owner only; and a file others
        may change could point syncd (and the keys from the environment) at
        another server."""
        try:
            mode = self.file.stat().st_mode
        except OSError:
            mode = 0
        if self.literal_secret and mode & 0o077:
            return [(f"{self.file} holds credentials but is readable by others; "
                     f"run chmod 600 {self.file}")]
        if mode & 0o022:
            return [(f"{self.file} is writable by others, who could send syncd's "
                     f"credentials to another server; run chmod go-w {self.file}")]
        return []

    def parse_account(self, entry: _Entry) -> AccountConfig:
        node = entry.value
        if isinstance(node, ScalarNode) and node.tag == _TAG + "null":
            raise self.error("needs url, api_key and access_token", line=_line(entry.key),
                             key="account")
        a = self.mapping(node, "account", _ACCOUNT_KEYS, line=_line(entry.key))

        # Read the secrets first, so any later message can be scrubbed of them.
        secrets = {}
        for name in ("api_key", "access_token"):
            key = f"account.{name}"
            e = self.require(a, name, node, "account")
            value = self.get_str(e, key, secret=True)
            if value is None or not value.strip():
                raise self.error("must not be empty", line=self.value_line(e), key=key)
            self.check_secret_text(value, e, key)
            secrets[name] = value

        e = self.require(a, "url", node, "account")
        url = self.required_value(self.get_str(e, "account.url"), e, "account.url",
                                  "the account's API URL")
        url = url.strip()
        m = re.fullmatch(r"(https?)://([^/?#]+)(.*)", url, flags=re.IGNORECASE)
        host = m.group(2).rpartition("@")[2] if m else ""
        if not m or not host or host.startswith(":"):
            shown = "" if "@" in url else f" (got {self.quote(url)})"
            raise self.error(f"must be an http:// or https:// URL with a host{shown}",
                             line=self.value_line(e), key="account.url")
        problem = _url_problem(url, m.group(2), m.group(3))
        if problem:
            shown = "" if "@" in m.group(2) else f" (got {self.quote(url)})"
            raise self.error(f"{problem}{shown}", line=self.value_line(e), key="account.url")

        budget = None
        if "budget" in a:
            budget = self.get_int(a["budget"], "account.budget", minimum=1)
        reserve: int | float = 0.05
        if "reserve" in a:
            r = self.get_count_or_percent(a["reserve"], "account.reserve",
                                          what="transactions", max_percent=99)
            reserve = reserve if r is None else r
            if budget is not None and isinstance(r, int) and r >= budget:
                raise self.error(f"must be smaller than account.budget ({budget}) "
                                 f"(got {r})", line=self.value_line(a["reserve"]),
                                 key="account.reserve")
        timeout = 60.0
        if "timeout" in a:
            t = self.get_duration(a["timeout"], "account.timeout", minimum=0.0)
            if t is not None and t <= 0:
                raise self.error("must be more than 0 seconds", key="account.timeout",
                                 line=self.value_line(a["timeout"]))
            timeout = timeout if t is None else t

        transfer_share = 0.5
        if "transfer_share" in a:
            e = a["transfer_share"]
            share = self.get_count_or_percent(e, "account.transfer_share",
                                              what="percent", max_percent=95)
            if isinstance(share, int):
                raise self.error(f"must be a percentage like '50%' (got {share})",
                                 line=self.value_line(e), key="account.transfer_share")
            transfer_share = transfer_share if share is None else share
        webhook = None
        if "webhook" in a:
            webhook = self.parse_webhook(a["webhook"])

        return AccountConfig(url=url, api_key=secrets["api_key"],
                             access_token=secrets["access_token"], budget=budget,
                             reserve=reserve, timeout=timeout,
                             transfer_share=transfer_share, webhook=webhook)

    def parse_webhook(self, entry: _Entry) -> WebhookConfig | None:
        node = entry.value
        key = "account.webhook"
        if isinstance(node, ScalarNode) and node.tag == _TAG + "null":
            return None
        self.check_tag(node, key, self.value_line(entry))
        if not isinstance(node, MappingNode):
            raise self.error("must be a mapping with listen and token, like "
                             "{listen: '127.0.0.1:8787', token: ${EXAVAULT_WEBHOOK_TOKEN}} "
                             f"(got {self.describe_node(node)})",
                             line=self.value_line(entry), key=key)
        w = self.mapping(node, key, _WEBHOOK_KEYS)
        e = self.require(w, "token", node, key)
        token = self.get_str(e, f"{key}.token", secret=True)
        if token is None or not token.strip():
            raise self.error("must not be empty (the webhook's verification token)",
                             line=self.value_line(e), key=f"{key}.token")
        self.check_secret_text(token, e, f"{key}.token")
        e = self.require(w, "listen", node, key)
        listen = self.required_value(self.get_str(e, f"{key}.listen"), e, f"{key}.listen",
                                     "an address like 127.0.0.1:8787")
        m = re.fullmatch(r"\[?([^\[\]]*?)\]?:([0-9]{1,5})", listen.strip())
        if not m or not m.group(1) or not 0 <= int(m.group(2)) <= 65535:
            raise self.error("must be HOST:PORT, like 127.0.0.1:8787 "
                             f"(got {self.quote(listen)})",
                             line=self.value_line(e), key=f"{key}.listen")
        path = "/"
        if "path" in w:
            p = self.get_str(w["path"], f"{key}.path")
            if p is not None:
                if not p.startswith("/") or any(c in p for c in "?# \0"):
                    raise self.error("must be a URL path starting with / "
                                     f"(got {self.quote(p)})",
                                     line=self.value_line(w["path"]), key=f"{key}.path")
                path = p
        return WebhookConfig(host=m.group(1), port=int(m.group(2)), token=token, path=path)

    def parse_daemon(self, entry: _Entry) -> DaemonConfig:
        node = entry.value
        if isinstance(node, ScalarNode) and node.tag == _TAG + "null":
            return DaemonConfig()
        self.check_tag(node, "daemon", self.value_line(entry))
        if not isinstance(node, MappingNode):
            raise self.error("must be a mapping (settle, local_scan_interval, log_level) "
                             f"(got {self.describe_node(node)})",
                             line=self.value_line(entry), key="daemon")
        d = self.mapping(node, "daemon", _DAEMON_KEYS)
        values: dict[str, Any] = {}
        if "settle" in d:
            v = self.get_duration(d["settle"], "daemon.settle", minimum=0.1)
            if v is not None:
                if v > 600:
                    raise self.error(f"must be at most 10m (got {_fmt_seconds(v)})",
                                     line=self.value_line(d["settle"]), key="daemon.settle")
                values["settle"] = v
        if "local_scan_interval" in d:
            v = self.get_duration(d["local_scan_interval"], "daemon.local_scan_interval",
                                  minimum=MIN_FULL_SCAN_INTERVAL)
            if v is not None:
                values["local_scan_interval"] = v
        if "log_level" in d:
            v = self.get_choice(d["log_level"], "daemon.log_level", LOG_LEVELS)
            if v is not None:
                values["log_level"] = v
        return DaemonConfig(**values)

    def parse_mirrors(self, entry: _Entry) -> list[tuple[MirrorConfig, dict[str, _Entry]]]:
        node = entry.value
        line = _line(entry.key)
        if isinstance(node, ScalarNode) and node.tag == _TAG + "null":
            raise self.error("must list at least one mirror", line=line, key="mirrors")
        self.check_tag(node, "mirrors", line)
        if not isinstance(node, SequenceNode):
            raise self.error(f"must be a list of mirrors (got {self.describe_node(node)})",
                             line=line, key="mirrors")
        if not node.value:
            raise self.error("must list at least one mirror", line=line, key="mirrors")
        return [self.parse_mirror(item, f"mirrors[{i}]") for i, item in enumerate(node.value)]

    def parse_mirror(self, node: Node, mkey: str) -> tuple[MirrorConfig, dict[str, _Entry]]:
        m = self.mapping(node, mkey, _MIRROR_KEYS)
        values: dict[str, Any] = {}

        e = self.require(m, "name", node, mkey)
        name = self.required_value(self.get_str(e, f"{mkey}.name"), e, f"{mkey}.name",
                                   "the mirror's name")
        if not _NAME_RE.fullmatch(name):
            raise self.error("must start with a letter or digit and contain only letters, "
                             f"digits, '.', '_' and '-' (got {self.quote(name)})",
                             line=self.value_line(e), key=f"{mkey}.name")
        values["name"] = name

        e = self.require(m, "local", node, mkey)
        values["local"] = self.required_value(self.get_local_path(e, f"{mkey}.local"), e,
                                              f"{mkey}.local", "a local folder")
        e = self.require(m, "remote", node, mkey)
        values["remote"] = self.required_value(self.get_remote_path(e, f"{mkey}.remote"), e,
                                               f"{mkey}.remote", "a remote folder")

        optional = {
            "direction": lambda e, k: self.get_choice(e, k, DIRECTIONS),
            "ignore": self.get_patterns,
            "poll_interval": lambda e, k: self.get_duration(e, k, minimum=MIN_POLL_INTERVAL),
            "full_scan_interval":
                lambda e, k: self.get_duration(e, k, minimum=MIN_FULL_SCAN_INTERVAL),
            "max_delete": lambda e, k: self.get_count_or_percent(
                e, k, what="deletions", max_percent=100),
            "remote_delete": lambda e, k: self.get_choice(e, k, REMOTE_DELETE_MODES),
            "transfers": lambda e, k: self.get_int(e, k, minimum=1, maximum=MAX_TRANSFERS),
        }
        for name, get in optional.items():
            if name in m:
                value = get(m[name], f"{mkey}.{name}")
                if value is not None:
                    values[name] = value
        if "bandwidth" in m:
            values.update(self.parse_bandwidth(m["bandwidth"], f"{mkey}.bandwidth"))
        return MirrorConfig(**values), m

    def get_patterns(self, entry: _Entry, key: str) -> tuple[str, ...] | None:
        node = entry.value
        if isinstance(node, ScalarNode) and node.tag == _TAG + "null":
            return None
        self.check_tag(node, key, self.value_line(entry))
        if not isinstance(node, SequenceNode):
            hint = ""
            if isinstance(node, ScalarNode):
                hint = f"; write {entry.key.value}: [{self.quote(node.value)}] for one pattern"
            raise self.error(f"must be a list of gitignore-style patterns "
                             f"(got {self.describe_node(node)}{hint})",
                             line=self.value_line(entry), key=key)
        patterns = []
        for i, item in enumerate(node.value):
            ikey = f"{key}[{i}]"
            value = self.get_str(_Entry(entry.key, item), ikey)
            line = _line(item)
            if value is None:
                raise self.error("must be a pattern, not empty", line=line, key=ikey)
            try:
                pathspec.GitIgnoreSpec.from_lines([value])
            except ValueError:
                raise self.error(f"not a valid gitignore pattern: {self.quote(value)}",
                                 line=line, key=ikey) from None
            patterns.append(value)
        return tuple(patterns)

    def parse_bandwidth(self, entry: _Entry, key: str) -> dict[str, int]:
        node = entry.value
        if isinstance(node, ScalarNode) and node.tag == _TAG + "null":
            return {}
        self.check_tag(node, key, self.value_line(entry))
        if not isinstance(node, MappingNode):
            raise self.error(f"must be a mapping with up and/or down, like "
                             f"{{up: 2MB, down: 500000}} (got {self.describe_node(node)})",
                             line=self.value_line(entry), key=key)
        b = self.mapping(node, key, _BANDWIDTH_KEYS)
        out = {}
        for name in _BANDWIDTH_KEYS:
            if name in b:
                size = self.get_size(b[name], f"{key}.{name}")
                if size is not None:
                    out[f"bandwidth_{name}"] = size
        return out

    # -- checks across mirrors ---------------------------------------------------

    def check_overlaps(self, mirrors: list[tuple[MirrorConfig, dict[str, _Entry]]],
                       state_dir: Path, remote_trash: str) -> None:
        def where(i: int, name: str) -> tuple[str, int]:
            return f"mirrors[{i}].{name}", self.value_line(mirrors[i][1][name])

        for j, (mj, _) in enumerate(mirrors):
            for i in range(j):
                mi = mirrors[i][0]
                if mi.name.casefold() == mj.name.casefold():
                    key, line = where(j, "name")
                    raise self.error(f"duplicate mirror name {mj.name!r} (also mirrors[{i}], "
                                     f"line {where(i, 'name')[1]})", line=line, key=key)
                relation = _path_relation(mj.local, mi.local)
                if relation:
                    key, line = where(j, "local")
                    raise self.error(f"{mj.local} {relation} mirrors[{i}].local ({mi.local}, "
                                     f"line {where(i, 'local')[1]}); mirror folders must "
                                     "not overlap", line=line, key=key)
                relation = _remote_relation(mj.remote, mi.remote)
                if relation:
                    key, line = where(j, "remote")
                    raise self.error(f"{mj.remote} {relation} mirrors[{i}].remote "
                                     f"({mi.remote}, line {where(i, 'remote')[1]}); mirror "
                                     "folders must not overlap", line=line, key=key)

        uses_trash = any(m.remote_delete == "trash" for m, _ in mirrors)
        for i, (m, _) in enumerate(mirrors):
            relation = _path_relation(m.local, state_dir)
            if relation:
                key, line = where(i, "local")
                raise self.error(f"{m.local} {relation} state_dir ({state_dir}); the local "
                                 "folder and syncd's state must be kept apart",
                                 line=line, key=key)
            if uses_trash and _remote_relation(remote_trash, m.remote) in _SAME_OR_INSIDE:
                key, line = where(i, "remote")
                raise self.error(
                    f"remote_trash ({remote_trash}) is inside this mirror's remote folder "
                    f"({m.remote}), so deleted files would be synced back; set "
                    "remote_delete: delete or choose another remote_trash",
                    line=line, key=key)
            if _remote_relation(m.remote, remote_trash) in _SAME_OR_INSIDE:
                key, line = where(i, "remote")
                raise self.error(f"{m.remote} is inside remote_trash ({remote_trash}), "
                                 "which syncd empties; choose another remote_trash",
                                 line=line, key=key)


_SAME_OR_INSIDE = ("is the same folder as", "is inside")


def _path_relation(a: Path, b: Path) -> str | None:
    """How local path ``a`` relates to ``b``: "is the same folder as", "is inside",
    "contains", or None when they are apart."""
    if a == b:
        return "is the same folder as"
    if a.is_relative_to(b):
        return "is inside"
    if b.is_relative_to(a):
        return "contains"
    return None


def _remote_relation(a: str, b: str) -> str | None:
    pa = PurePosixPath(unicodedata.normalize("NFC", a))
    pb = PurePosixPath(unicodedata.normalize("NFC", b))
    if pa == pb:
        return "is the same folder as"
    if pa.is_relative_to(pb):
        return "is inside"
    if pb.is_relative_to(pa):
        return "contains"
    return None


def _url_problem(url: str, authority: str, rest: str) -> str | None:
    """What is wrong with an http(s) URL whose authority and rest were split off,
    or None. Caught here so that a typo is a config error (exit 78) and not a
    "server unavailable" that is retried and paid for."""
    if "@" in authority:
        return ("must not contain user:password@ (the API key and access token "
                "authenticate)")
    if any(not "!" <= ch <= "~" for ch in url):
        return "must not contain spaces, control or non-ASCII characters"
    if "?" in rest or "#" in rest:
        return "must not have a ?query or #fragment"
    host, port = authority, None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0 or (authority[end + 1:] and not authority[end + 1:].startswith(":")):
            return "has a malformed [IPv6] host"
        host, tail = authority[:end + 1], authority[end + 1:]
        port = tail[1:] if tail else None
    elif ":" in authority:
        host, _, port = authority.rpartition(":")
        if ":" in host or "[" in host or "]" in host:
            return "has a malformed host (write an IPv6 address in [brackets])"
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        return f"has an invalid port {port[:20]!r} (1-65535)"
    if not host.startswith("[") and not re.fullmatch(r"[A-Za-z0-9._~%!$&'()*+,;=-]+", host):
        return "has an invalid host name"
    return None


def _parse_duration(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str):
        text = value.strip()
        if _NUMBER_RE.fullmatch(text):
            seconds = float(text)
        else:
            pos, seconds = 0, 0.0
            for m in _DURATION_PART_RE.finditer(text):
                if m.start() != pos:
                    return None
                seconds += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
                pos = m.end()
            if pos == 0 or pos != len(text):
                return None
    else:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _parse_size(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value >= 0 and value.is_integer() else None
    if not isinstance(value, str):
        return None
    m = _SIZE_RE.fullmatch(value.strip())
    if not m:
        return None
    multiplier = _SIZE_UNITS.get(m.group(2).lower())
    if multiplier is None:
        return None
    size = float(m.group(1)) * multiplier
    return round(size) if math.isfinite(size) else None
