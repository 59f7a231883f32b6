"""The YAML reader: a config file's text as a tree of nodes that know their lines.

Parsing works on the composed YAML node tree (``yaml.compose`` with the safe
loader) rather than on constructed Python objects, so every problem can be
reported with the line it comes from. Every problem is a ``ConfigError`` whose
``str()`` is one line, ``FILE:LINE: KEY: message``.

Rules:

* Every unknown key is an error, with a did-you-mean hint; so is a duplicate
  key, a merge key (``<<``) and any tag but the plain YAML types.
* ``${VAR}``, ``${VAR:-default}`` (default used when VAR is unset *or empty*) and
  ``$$`` (a literal ``$``) are expanded in every string value before the value is
  checked; an unset variable without a default is an error. A ``$`` followed by
  anything else is kept literally.
* A variable not in the environment is looked up as a systemd credential: the
  file ``$CREDENTIALS_DIRECTORY/VAR`` (``LoadCredential=VAR:...`` in a unit), its
  text without the line break at its end.
* A value that came from ``${VAR}`` is quoted in messages as written
  (``${VAR}``), never as what the environment put there: a variable may hold a
  secret even where the config uses it for something else.
* A string field takes any plain scalar as its text (``name: 2024`` is the name
  ``"2024"``).
* Secrets never appear in a message: whatever follows a secret's key in the
  text is scrubbed, even when the YAML around it is broken (a block scalar can
  swallow it), and so is every secret value read.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from syncd.config.errors import ConfigError

SECRET_KEYS = ("account.api_key", "account.access_token", "account.webhook.token")

#: Where systemd puts a unit's credentials (systemd.exec(5), LoadCredential=).
CREDENTIALS = "CREDENTIALS_DIRECTORY"

VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_SECRET_TEXT_RE = re.compile(
    r"""(?:api_key|access_token|token)["']?[ \t]*:[ \t]*["']?[*&]?([^\s,{}\[\]"'#]+)""")
_NOT_SECRETS = ("null", "~", "true", "false", "yes", "no", "on", "off", "|", ">", "-")

TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == TAG + "null"


def expand_user(path: str, env: Mapping[str, str]) -> str:
    """A leading ``~`` or ``~/`` is ``$HOME`` of ``env``; ``~user`` as the OS says."""
    if path == "~" or path.startswith("~/"):
        home = env.get("HOME") or os.path.expanduser("~")
        return home + path[1:]
    return os.path.expanduser(path) if path.startswith("~") else path


def describe(value: Any) -> str:
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
        return quote(value)
    return quote(str(value), quoted=False)


def quote(text: str, *, quoted: bool = True, limit: int = 60,
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


@dataclass
class Entry:
    """One key of a YAML mapping: its key node and value node."""

    key: ScalarNode
    value: Node


class Reader:
    """Reads one config file's nodes; every error it makes names the file and
    no secret it has seen."""

    def __init__(self, file: Path | None, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env
        self.secrets: list[str] = []
        self.written: dict[str, str] = {}  # expanded value -> the text as written
        self.literal_secret = False        # a secret is written in the file itself
        self.lines: dict[str, int] = {}    # key -> the line of its value
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

    def describe_node(self, node: Node) -> str:
        if isinstance(node, ScalarNode):
            if node.tag == TAG + "null":
                return "nothing"
            if node.start_mark.line != node.end_mark.line:
                return "a text of several lines"
            return self.quote(node.value, quoted=node.tag == TAG + "str")
        return describe(node)

    def describe(self, value: Any) -> str:
        if isinstance(value, str):
            return self.quote(value)
        return describe(value)

    def quote(self, text: str, *, quoted: bool = True) -> str:
        return quote(self.written.get(text, text), quoted=quoted, secrets=self.secrets)

    # -- YAML structure ----------------------------------------------------------

    def compose(self, text: str) -> Node | None:
        """The document's root node; anything written after a secret's key is
        noted as a secret first."""
        for m in _SECRET_TEXT_RE.finditer(text):
            if m.group(1).lower() not in _NOT_SECRETS:
                self.secrets.append(m.group(1))
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
                line: int | None = None) -> dict[str, Entry]:
        """The entries of a mapping node, checking key types, duplicates and
        unknown keys (with a did-you-mean hint)."""
        self.check_tag(node, key, line)
        if not isinstance(node, MappingNode):
            got = self.describe_node(node)
            if key is None:
                raise self.error(f"the configuration must be a mapping of keys (got {got})",
                                 line=line_of(node))
            raise self.error(f"must be a mapping (got {got})", line=line or line_of(node),
                             key=key)
        entries: dict[str, Entry] = {}
        for knode, vnode in node.value:
            if knode.tag == TAG + "merge":
                raise self.error("YAML merge keys (<<) are not supported",
                                 line=line_of(knode), key=key)
            if not isinstance(knode, ScalarNode) or knode.tag != TAG + "str":
                raise self.error(f"keys must be plain names (got {self.describe_node(knode)})",
                                 line=line_of(knode), key=key)
            name = knode.value
            if name in entries:
                raise self.error(f"duplicate key {self.quote(name)} (first at line "
                                 f"{line_of(entries[name].key)})", line=line_of(knode), key=key)
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = (f"did you mean {close[0]!r}?" if close
                        else "known keys: " + ", ".join(allowed))
                raise self.error(f"unknown key {self.quote(name)} ({hint})",
                                 line=line_of(knode), key=key)
            entries[name] = Entry(knode, vnode)
        return entries

    def check_tag(self, node: Node, key: str | None, line: int | None = None) -> None:
        """Only the plain YAML types: no !!set, !!binary, !custom, ..."""
        kind = {MappingNode: "map", SequenceNode: "seq"}.get(type(node))
        ok = node.tag == TAG + kind if kind else node.tag in _SCALAR_TAGS
        if not ok:
            raise self.error(f"unsupported YAML tag {self.quote(node.tag)}",
                             line=line or line_of(node), key=key)

    def value_line(self, entry: Entry) -> int:
        """The line to blame for a key's value: the value's own line, or the
        key's when the value is empty or a collection."""
        v = entry.value
        if isinstance(v, ScalarNode) and v.tag != TAG + "null":
            return line_of(v)
        return line_of(entry.key)

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
            if tag == TAG + "null":
                return None
            if tag == TAG + "bool":
                return c.construct_yaml_bool(node)
            if tag == TAG + "int":
                return c.construct_yaml_int(node)
            if tag == TAG + "float":
                return c.construct_yaml_float(node)
        except (ValueError, KeyError, OverflowError, yaml.YAMLError):
            # e.g. "!!int x" (ValueError), "!!bool maybe" (KeyError)
            raise self.error(f"cannot read value {self.quote(node.value)}",
                             line=line, key=key) from None
        if tag == TAG + "timestamp":
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
            m = VAR_NAME_RE.match(body)
            rest = body[m.end():] if m else None
            if m is None or not (rest == "" or rest.startswith(":-")):
                shown = "" if key in SECRET_KEYS else f" ${{{body}}}"
                raise self.error(f"invalid variable reference{shown} "
                                 "(use ${NAME} or ${NAME:-default}; $$ for a literal $)",
                                 line=line, key=key)
            name = m.group()
            value = self.env.get(name)
            if value is None:
                value = self.credential(name, key, line)
            if rest.startswith(":-"):
                if not value:
                    value = self.expand(rest[2:], key, line)
            elif value is None:
                where = (" (nor a credential in $CREDENTIALS_DIRECTORY)"
                         if self.env.get(CREDENTIALS) else "")
                raise self.error(f"environment variable {name} is not set{where}",
                                 line=line, key=key)
            out.append(value)
            i = j
        return "".join(out)

    def credential(self, name: str, key: str, line: int) -> str | None:
        """The systemd credential ``name`` (a file in ``$CREDENTIALS_DIRECTORY``,
        which systemd fills from ``LoadCredential=``), or None when there is none."""
        directory = self.env.get(CREDENTIALS)
        if not directory:
            return None
        path = Path(directory) / name
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise self.error(f"credential {name} in $CREDENTIALS_DIRECTORY cannot be read "
                             f"({e.strerror or type(e).__name__})", line=line, key=key) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(f"credential {name} in $CREDENTIALS_DIRECTORY is not UTF-8 text",
                             line=line, key=key) from None
        if text.endswith("\n"):
            text = text[:-2] if text.endswith("\r\n") else text[:-1]
        self.secrets.append(text)  # a credential is a secret wherever it is used
        return text

    def get_str(self, entry: Entry, key: str, *, secret: bool = False) -> str | None:
        """The text of a scalar (None for an empty value); a secret is noted
        before anything can quote it."""
        line = self.value_line(entry)
        if secret and isinstance(entry.value, ScalarNode):
            self.secrets.append(entry.value.value)
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
