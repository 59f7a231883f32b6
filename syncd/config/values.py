"""The kinds of value a key may hold, each read from its YAML node.

A kind's ``read(r, entry, key, spec)`` returns the value, or None when the
value is empty (the key then takes its default, or is an error when required);
``r`` is the ``Reader`` that reports problems, ``spec`` the key's row in the
schema. A number field also takes a string of digits, so a ``${VAR}`` works
there too.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec
from yaml.nodes import ScalarNode, SequenceNode

from syncd.config.reader import Entry, Reader, expand_user, is_null, line_of

MAX_DURATION = 365 * 86400.0  # timers and socket timeouts overflow long before 1e300 s
MAX_INT = 10**15  # counts and sizes: far above any real one, far below float overflow

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
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_LISTEN_RE = re.compile(r"\[?([^\[\]]*?)\]?:([0-9]{1,5})")


# --- numbers ---------------------------------------------------------------------------

def _to_int(r: Reader, text: str, key: str, line: int) -> int:
    """int() of a string of digits; Python refuses more than 4300 digits."""
    if len(text) > 30:
        raise r.error(f"is far too large (a number of {len(text)} digits)", line=line, key=key)
    return int(text)


def _check_range(r: Reader, value: int, key: str, line: int, minimum: int | None,
                 maximum: int | None) -> None:
    got = f"(got {r.quote(str(value), quoted=False)})"
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise r.error(f"must be between {minimum} and {maximum} {got}", line=line, key=key)
    if minimum is not None and value < minimum:
        raise r.error(f"must be at least {minimum} {got}", line=line, key=key)
    if maximum is not None and value > maximum:
        raise r.error(f"must be at most {maximum} {got}", line=line, key=key)


@dataclass(frozen=True)
class Int:
    """A whole number, ``minimum <= n <= maximum``."""

    minimum: int | None = None
    maximum: int | None = None

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> int | None:
        line = r.value_line(entry)
        value = r.scalar(entry.value, key, line)
        if value is None:
            return None
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            value = _to_int(r, value.strip(), key, line)
        if isinstance(value, bool) or not isinstance(value, int):
            raise r.error(f"must be a whole number (got {r.describe(value)})", line=line, key=key)
        _check_range(r, value, key, line, self.minimum, self.maximum)
        _check_range(r, value, key, line, None, MAX_INT)
        return value


@dataclass(frozen=True)
class CountOrPercent:
    """A whole number >= 0 of ``what``, or "N%" -> N/100 (0 <= N <= max_percent).
    ``percent_only``: a count is refused."""

    what: str
    max_percent: float
    percent_only: bool = False

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> int | float | None:
        line = r.value_line(entry)
        value = r.scalar(entry.value, key, line)
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip()
            m = _PERCENT_RE.fullmatch(text)
            if m:
                percent = float(m.group(1))
                if percent > self.max_percent:
                    raise r.error(f"must be a percentage of at most {self.max_percent:g}% "
                                  f"(got {r.quote(text)})", line=line, key=key)
                return percent / 100
            if _INT_RE.fullmatch(text):
                value = _to_int(r, text, key, line)
        if isinstance(value, bool) or not isinstance(value, int):
            raise r.error(f"must be a whole number of {self.what} or a percentage like "
                          f"'25%' (got {r.describe(value)})", line=line, key=key)
        if value < 0:
            raise r.error(f"must not be negative (got {r.quote(str(value), quoted=False)})",
                          line=line, key=key)
        _check_range(r, value, key, line, None, MAX_INT)
        if self.percent_only:
            raise r.error(f"must be a percentage like '50%' (got {value})", line=line, key=key)
        return value


# --- durations and rates ---------------------------------------------------------------

def fmt_seconds(seconds: float) -> str:
    return f"{seconds:g}s"


def _fmt_limit(seconds: float) -> str:
    """A round limit in its largest unit: 600 -> "10m"."""
    for unit in ("d", "h", "m"):
        if seconds >= _DURATION_UNITS[unit] and seconds % _DURATION_UNITS[unit] == 0:
            return f"{seconds / _DURATION_UNITS[unit]:g}{unit}"
    return fmt_seconds(seconds)


def parse_duration(value: Any) -> float | None:
    """Seconds from a number, or from a string like "90", "90s", "5m", "1h30m"."""
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


def parse_size(value: Any) -> int | None:
    """Bytes from an int, or from a string like "500k", "2MB", "1.5MiB/s"."""
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


@dataclass(frozen=True)
class Duration:
    """Seconds, ``minimum <= s <= maximum`` (and never above 365 days);
    ``positive``: 0 is refused."""

    minimum: float
    maximum: float | None = None
    positive: bool = False

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> float | None:
        line = r.value_line(entry)
        value = r.scalar(entry.value, key, line)
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds is None:
            raise r.error("must be a duration in seconds or with a unit, like 90, "
                          f"'90s', '5m', '2h', '1d' (got {r.describe(value)})",
                          line=line, key=key)
        if seconds < self.minimum:
            raise r.error(f"must be at least {fmt_seconds(self.minimum)} "
                          f"(got {fmt_seconds(seconds)})", line=line, key=key)
        for maximum in (MAX_DURATION, self.maximum):
            if maximum is not None and seconds > maximum:
                raise r.error(f"must be at most {_fmt_limit(maximum)} "
                              f"(got {fmt_seconds(seconds)})", line=line, key=key)
        if self.positive and seconds <= 0:
            raise r.error("must be more than 0 seconds", line=line, key=key)
        return seconds


@dataclass(frozen=True)
class Rate:
    """Bytes per second: a whole number, or a number with a unit."""

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> int | None:
        line = r.value_line(entry)
        value = r.scalar(entry.value, key, line)
        if value is None:
            return None
        size = parse_size(value)
        if size is None:
            raise r.error("must be a rate in bytes per second, a whole number or a "
                          "number with a unit k, M, G (powers of 1000) or KiB, MiB, GiB "
                          f"(powers of 1024), like '2MB' or '500KiB/s' "
                          f"(got {r.describe(value)})", line=line, key=key)
        _check_range(r, size, key, line, None, MAX_INT)
        return size


# --- text --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> str | None:
        value = r.get_str(entry, key)
        if value is None:
            return None
        if value not in self.choices:
            raise r.error(f"must be one of {', '.join(self.choices)} (got {r.quote(value)})",
                          line=r.value_line(entry), key=key)
        return value


@dataclass(frozen=True)
class Name:
    """A name for logs and ``--mirror``: a letter or digit, then letters,
    digits, '.', '_' and '-'."""

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> str | None:
        name = r.get_str(entry, key)
        if name is not None and not NAME_RE.fullmatch(name):
            raise r.error("must start with a letter or digit and contain only letters, "
                          f"digits, '.', '_' and '-' (got {r.quote(name)})",
                          line=r.value_line(entry), key=key)
        return name


@dataclass(frozen=True)
class Secret:
    """An API key or token. They travel in HTTP headers: printable ASCII, no
    spaces (a key with a newline, say from a file read into ``${VAR}``, would
    otherwise fail every request as a "connection" error). Messages name the
    position of a bad character, never the secret. ``explain``: an empty value's
    message names the key's doc."""

    explain: bool = False

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> str:
        value = r.get_str(entry, key, secret=True)
        if value is None or not value.strip():
            why = f" ({spec.doc})" if self.explain else ""
            raise r.error(f"must not be empty{why}", line=r.value_line(entry), key=key)
        for i, ch in enumerate(value):
            if not "!" <= ch <= "~":
                what = {" ": "a space", "\t": "a tab", "\n": "a line break",
                        "\r": "a carriage return"}.get(ch, f"the character U+{ord(ch):04X}")
                raise r.error(f"must be printable ASCII without spaces; it has {what} at "
                              f"position {i + 1} of {len(value)} (check the value or the "
                              "variable it comes from)", line=r.value_line(entry), key=key)
        return value


@dataclass(frozen=True)
class Patterns:
    """A list of gitignore-style patterns."""

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None
             ) -> tuple[str, ...] | None:
        node = entry.value
        if is_null(node):
            return None
        r.check_tag(node, key, r.value_line(entry))
        if not isinstance(node, SequenceNode):
            hint = ""
            if isinstance(node, ScalarNode):
                hint = f"; write {entry.key.value}: [{r.quote(node.value)}] for one pattern"
            raise r.error(f"must be a list of gitignore-style patterns "
                          f"(got {r.describe_node(node)}{hint})",
                          line=r.value_line(entry), key=key)
        patterns = []
        for i, item in enumerate(node.value):
            ikey = f"{key}[{i}]"
            value = r.get_str(Entry(entry.key, item), ikey)
            line = line_of(item)
            if value is None:
                raise r.error("must be a pattern, not empty", line=line, key=ikey)
            try:
                pathspec.GitIgnoreSpec.from_lines([value])
            except ValueError:
                raise r.error(f"not a valid gitignore pattern: {r.quote(value)}",
                              line=line, key=ikey) from None
            patterns.append(value)
        return tuple(patterns)


# --- paths and addresses -------------------------------------------------------------

@dataclass(frozen=True)
class LocalPath:
    """Absolute, or starting with ``~``."""

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> Path | None:
        text = r.get_str(entry, key)
        if text is None:
            return None
        line = r.value_line(entry)
        if not text.strip():
            raise r.error("must not be empty", line=line, key=key)
        if "\0" in text:
            raise r.error("must not contain a NUL character", line=line, key=key)
        path = expand_user(text, r.env)
        if not os.path.isabs(path):
            raise r.error(f"must be an absolute path, or start with ~ (got {r.quote(text)})",
                          line=line, key=key)
        return Path(os.path.abspath(path))


@dataclass(frozen=True)
class RemotePath:
    """Absolute on the server; repeated slashes dropped, '.' and '..' refused.
    ``below_root``: '/' itself is refused."""

    below_root: bool = False

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> str | None:
        text = r.get_str(entry, key)
        if text is None:
            return None
        line = r.value_line(entry)
        if not text.startswith("/"):
            raise r.error(f"must be an absolute remote path starting with / "
                          f"(got {r.quote(text)})", line=line, key=key)
        if "\0" in text:
            raise r.error("must not contain a NUL character", line=line, key=key)
        parts = [p for p in text.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise r.error(f"must not contain '.' or '..' segments (got {r.quote(text)})",
                          line=line, key=key)
        if self.below_root and not parts:
            raise r.error("must be a folder below /, not / itself", line=line, key=key)
        return "/" + "/".join(parts)


@dataclass(frozen=True)
class Url:
    """An http(s) URL with a host. A typo is caught here, as a config error
    (exit 78), and not as a "server unavailable" that is retried and paid for."""

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> str | None:
        url = r.get_str(entry, key)
        if url is None:
            return None
        url = url.strip()
        m = re.fullmatch(r"(https?)://([^/?#]+)(.*)", url, flags=re.IGNORECASE)
        host = m.group(2).rpartition("@")[2] if m else ""
        if not m or not host or host.startswith(":"):
            shown = "" if "@" in url else f" (got {r.quote(url)})"
            raise r.error(f"must be an http:// or https:// URL with a host{shown}",
                          line=r.value_line(entry), key=key)
        problem = _url_problem(url, m.group(2), m.group(3))
        if problem:
            shown = "" if "@" in m.group(2) else f" (got {r.quote(url)})"
            raise r.error(f"{problem}{shown}", line=r.value_line(entry), key=key)
        return url


def _url_problem(url: str, authority: str, rest: str) -> str | None:
    """What is wrong with an http(s) URL whose authority and rest were split off,
    or None."""
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


@dataclass(frozen=True)
class Listen:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6), read as ``(host, port)``."""

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None
             ) -> tuple[str, int] | None:
        listen = r.get_str(entry, key)
        if listen is None:
            return None
        m = _LISTEN_RE.fullmatch(listen.strip())
        if not m or not m.group(1) or not 0 <= int(m.group(2)) <= 65535:
            raise r.error(f"must be HOST:PORT, like 127.0.0.1:8787 (got {r.quote(listen)})",
                          line=r.value_line(entry), key=key)
        return m.group(1), int(m.group(2))


@dataclass(frozen=True)
class UrlPath:
    """The path part of a URL: starts with '/', no '?', '#', space or NUL."""

    def read(self, r: Reader, entry: Entry, key: str, spec: Any = None) -> str | None:
        path = r.get_str(entry, key)
        if path is not None and (not path.startswith("/") or any(c in path for c in "?# \0")):
            raise r.error(f"must be a URL path starting with / (got {r.quote(path)})",
                          line=r.value_line(entry), key=key)
        return path
