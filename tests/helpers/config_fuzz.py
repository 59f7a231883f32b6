"""The config fuzzer: a valid base config, a seeded mutator, and the check that a
broken config is one clean `ConfigError` (never a traceback, never a secret)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from syncd.config.loader import ConfigError, load_config

KEY = "fuzz-api-key-7c1d93e0"


TOKEN = "fuzz-access-token-4b8a21f6"


HOOK = "fuzz-webhook-token-e3f055aa"


SECRETS = (KEY, TOKEN, HOOK)


# A valid config using most keys; the access token and webhook token are
# literal (so scrubbing is exercised), the API key comes from the environment.
BASE = f"""\
account:
  url: http://127.0.0.1:9/api/v2
  api_key: ${{EV_KEY}}
  access_token: {TOKEN}
  budget: 5000
  reserve: 5%
  timeout: 30
  transfer_share: 50%
  webhook:
    listen: 127.0.0.1:8787
    token: {HOOK}
    path: /hook
state_dir: STATE_DIR
remote_trash: /.syncd-trash
trash_days: 30
daemon:
  settle: 1.5s
  local_scan_interval: 1h
  log_level: info
mirrors:
  - name: docs
    local: ~/docs
    remote: /docs
    direction: two-way
    ignore: ["*.tmp", "build/"]
    poll_interval: 5m
    full_scan_interval: 1d
    max_delete: 25%
    remote_delete: trash
    transfers: 4
    bandwidth: {{up: 2MB, down: 500KiB}}
  - name: photos
    local: ~/photos
    remote: /photos
    direction: download-only
"""


BAD_VALUES = [
    "", "''", "~", "null", "-1", "0", "-0", "1.5", "-7.25", "99999999999999999999999999",
    "1e309", "-1e309", ".nan", ".inf", "-.inf", "0x1f", "0o17", "1_000", "+12", "1:30",
    "true", "false", "yes", "no", "on", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
    "ü☃ 名前", "'\u202e\u200b'", '"a\\0b"', '"\\x00"', '"a\\nb"', '"\\r\\n"', '"\\t"',
    '"\\u2028"', '"\\x85"', "[]", "{}", "[1, 2]", "{a: 1}", "[[[]]]", "- x", "!!binary aGVsbG8=",
    "!!set {a}", "!!python/object:os.system x", "!custom x", "!!str", "!!int x", "!!float x",
    "!!bool maybe", "!!null x", "!!timestamp x", "!!map x", "!!seq x", "&a x", "*a", "*nope",
    "&a [*a]", "'", '"', "{", "[", "]", "}", "|", ">", "|\n  block", "? x", ": x", "%", "@x",
    "`x`", "#", "${UNSET}", "${", "${}", "${1x}", "${EV_KEY", "${EV_KEY:-}", "${UNSET:-}",
    "${UNSET:-${EV_KEY}}", "$$", "$", "${EV_KEY:?x}", "x" * 5000, "/" + "a" * 300,
    "/a/../b", "/./x", "//", "/", "relative/path", "~nosuchuser/x", "http://", "http://:80",
    "ftp://x", "http://u:p@", "http://[::1", "http://127.0.0.1:99999999/", "http://h\u00e9/",
    "10s", "5m", "1h30m", "1d", "0s", "-5m", "5 parsecs", "100%", "101%", "-5%", "1e3%", "%",
    "0.5", "2MB", "1.5MiB/s", "-2MB", "1 TB", "9" * 400, "debug", "upload-only", "delete",
    "'*.tmp'", "'!'", "'\\\\'", '"' + "9" * 5000 + '"', "9" * 5000, "-" + "9" * 40, "127.0.0.1:0", "127.0.0.1:70000", "[::1]:8787", ":8787",
]


UNKNOWN_KEYS = ["colour", "api-key", "mirror", "locale", "nme", "trash_dayz", "<<", "? ",
                "1", "true", "null", "[a]", "{a: 1}", "\u00e9t\u00e9", "''", "k\u200bey"]


JUNK = [b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\x1b[31m", b"\x7f", b"\xc3", b"\xed\xa0\x80",
        b"\x85", b"\xe2\x80\xa8", b"\t", b"\r", b"\r\n", b"\x0b", b"\x0c", b"\xf0\x9f\x92\xa9",
        b"\xef\xbf\xbe", b"\x01\x02\x03"]


def anchor_bomb(depth: int = 12, width: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, depth):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def _value_split(line: str) -> tuple[str, str] | None:
    """``(prefix, value)`` for a ``key: value`` line (or ``- value``)."""
    stripped = line.lstrip(" ")
    if ": " in stripped:
        head, _, _ = line.partition(": ")
        return head + ": ", line[len(head) + 2:]
    if stripped.endswith(":"):
        return line + " ", ""
    if stripped.startswith("- "):
        indent = len(line) - len(stripped)
        return line[:indent + 2], stripped[2:]
    return None


def mutate(base: str, rng: random.Random) -> tuple[bytes, list[str]]:
    """One malformed config: 1-3 random mutations of ``base``. Returns the bytes
    and a description of each mutation (for the failure message)."""
    lines = base.splitlines()
    applied: list[str] = []
    data: bytes | None = None
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        op = rng.choice(OPS)
        n = len(lines)
        i = rng.randrange(n) if n else 0
        if op == "delete" and n:
            del lines[i]
        elif op == "duplicate" and n:
            lines.insert(i, lines[i])
        elif op == "swap" and n > 1:
            j = rng.randrange(n)
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent" and n:
            delta = rng.choice((-4, -2, -1, 1, 2, 3, 4))
            body = lines[i].lstrip(" ")
            lines[i] = " " * max(0, len(lines[i]) - len(body) + delta) + body
        elif op == "tab" and n:
            body = lines[i].lstrip(" ")
            lines[i] = rng.choice(("\t", " \t", "\t  ")) + body
        elif op == "value" and n:
            split = _value_split(lines[i])
            if split:
                value = rng.choice(BAD_VALUES)
                lines[i] = split[0] + value
                op = f"value={value!r}"
        elif op == "unknown_key" and n:
            indent = len(lines[i]) - len(lines[i].lstrip(" "))
            key = rng.choice(UNKNOWN_KEYS)
            lines.insert(i, " " * indent + f"{key}: {rng.choice(BAD_VALUES[:20])}")
            op = f"unknown_key={key!r}"
        elif op == "rename_key" and n:
            split = _value_split(lines[i])
            if split and split[0].rstrip().endswith(":"):
                indent = len(lines[i]) - len(lines[i].lstrip(" "))
                key = rng.choice(UNKNOWN_KEYS)
                lines[i] = " " * indent + f"{key}: " + split[1]
                op = f"rename_key={key!r}"
        elif op == "char" and n:
            line = lines[i]
            pos = rng.randrange(len(line) + 1)
            ch = rng.choice(":-[]{}&*!|>'\"%@`#,?\u00a0\u3000\u200b\ufeff\\\0\x07")
            lines[i] = line[:pos] + ch + line[pos:]
            op = f"char={ch!r}"
        elif op == "bomb":
            lines = anchor_bomb().splitlines() + lines
        elif op == "self_alias" and n:
            split = _value_split(lines[i])
            if split:
                lines[i] = split[0] + rng.choice(("&r [*r]", "&r {k: *r}", "*r"))
        elif op == "deep":
            depth = rng.choice((20, 60, 200))
            lines.insert(i, rng.choice(("x: ", "- ")) + "[" * depth + "]" * depth)
        op_desc = f"{op}@{i + 1}"
        applied.append(op_desc)
    text = "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")
    data = text.encode("utf-8")
    if rng.random() < 0.1:
        cut = rng.randrange(len(data) + 1)
        data = data[:cut]
        applied.append(f"truncate@{cut}")
    if rng.random() < 0.1:
        pos = rng.randrange(len(data) + 1)
        junk = rng.choice(JUNK)
        data = data[:pos] + junk + data[pos:]
        applied.append(f"junk={junk!r}@{pos}")
    return data, applied


OPS = ("delete", "duplicate", "swap", "indent", "tab", "value", "value", "value",
       "unknown_key", "rename_key", "char", "bomb", "self_alias", "deep")


def check_error(err: ConfigError, path: Path, data: bytes) -> str | None:
    """What is wrong with ``err`` as a user-facing config error, or None."""
    text = str(err)
    if any(c in text for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        return f"not one line: {text!r}"
    if err.file != str(path):
        return f"wrong file {err.file!r}"
    if err.line is None:
        if not text.startswith(f"{path}: "):
            return f"does not start with FILE: {text!r}"
    else:
        if not text.startswith(f"{path}:{err.line}: "):
            return f"does not start with FILE:LINE: {text!r}"
        if not 1 <= err.line <= data.count(b"\n") + 2:
            return f"line {err.line} outside the file"
    for secret in SECRETS:
        if secret in text or secret in repr(err):
            return f"secret in the message: {text!r}"
    return None


def load_one(path: Path, data: bytes, env: dict) -> tuple[str, str | None]:
    """("ok"|"error"|"bug", detail) for loading ``data`` from ``path``."""
    path.write_bytes(data)
    path.chmod(0o600)
    try:
        load_config(path, env)
    except ConfigError as err:
        problem = check_error(err, path, data)
        return ("bug", problem) if problem else ("error", str(err))
    except BaseException as exc:  # anything else is the bug we look for
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "bug", f"{type(exc).__name__}: {exc}"[:300]
    return "ok", None


def fuzz_env(tmp_path: Path) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "EV_KEY": KEY, "EMPTY": ""}


def base_text(tmp_path: Path) -> str:
    return BASE.replace("STATE_DIR", str(tmp_path / "state"))


def _seed() -> int:
    env = os.environ.get("SYNCD_FUZZ_SEED")
    return int(env) if env else random.SystemRandom().randrange(2**32)


SPECIAL = {
    "missing": (None, "no config file here: run `syncd init --config"),
    "directory": (None, "is a directory"),
    "unreadable": (b"account: {}\n", "cannot read config file: Permission denied"),
    "empty": (b"", "empty configuration"),
    "bom only": (b"\xef\xbb\xbf", "empty configuration"),
    "binary junk": (bytes(random.Random(5).randrange(256) for _ in range(4096)), ""),
    "not utf-8": (b"account:\n  url: caf\xe9\n", "not valid UTF-8 text"),
    "utf-16": ("account: {}\n".encode("utf-16"), "not valid UTF-8"),
    "anchor bomb": (anchor_bomb(20, 10).encode(), "unknown key 'a0'"),
    "recursive alias": (b"account: &a {url: *a}\nmirrors: []\n", ""),
    "deep nesting": (b"account: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "invalid YAML"),
    "a list": (b"- account\n- mirrors\n", "must be a mapping"),
    "a scalar": (b"hello\n", "must be a mapping"),
    "two documents": (b"account: {}\n---\nmirrors: []\n", "invalid YAML"),
    "NUL byte": (b"account:\x00\n", "invalid YAML"),
    "huge line": (b"account: " + b"x" * 2_000_000 + b"\n", "must be a mapping"),
}


def _special_path(tmp_path: Path, name: str) -> Path:
    data = SPECIAL[name][0]
    path = tmp_path / "config.yaml"
    if name == "directory":
        path.mkdir()
    elif data is not None:
        path.write_bytes(data)
        path.chmod(0 if name == "unreadable" else 0o600)
    return path
