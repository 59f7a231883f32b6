"""syncd.config.loader: lookup, parsing, defaults, validation and error reporting."""

from __future__ import annotations

import dataclasses
import os
import pickle
import random
import re
import sys
import textwrap
from pathlib import Path

import platformdirs
import pytest

from syncd.config.loader import (
    AccountConfig,
    Config,
    ConfigError,
    MirrorConfig,
    config_path,
    load_config,
)
from tests.helpers.package_data import EXAMPLE_CONFIG

KEY = "key-5f2a9c77d1"
TOKEN = "token-81be07aa42"


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def env(home) -> dict[str, str]:
    return {"HOME": str(home), "EV_KEY": KEY, "EV_TOKEN": TOKEN}


@pytest.fixture
def load(tmp_path, env):
    """load(text, **extra_env) -> Config from a file holding ``text`` (dedented)."""

    def _load(text: str, **extra: str) -> Config:
        path = tmp_path / "config.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        path.chmod(0o600)
        return load_config(path, {**env, **extra})

    return _load


@pytest.fixture
def fails(load):
    """fails(text, **env) -> the ConfigError raised by loading ``text``."""

    def _fails(text: str, **extra: str) -> ConfigError:
        with pytest.raises(ConfigError) as info:
            load(text, **extra)
        return info.value

    return _fails


ACCOUNT = """\
account:
  url: https://acme.exavault.com/api/v2
  api_key: ${EV_KEY}
  access_token: ${EV_TOKEN}
"""


def cfg(mirrors: str, top: str = "") -> str:
    """A config with the standard account, ``top`` keys, and ``mirrors`` (YAML
    list items, written at column 0)."""
    return ACCOUNT + textwrap.dedent(top).lstrip("\n") + "mirrors:\n" + textwrap.indent(
        textwrap.dedent(mirrors).lstrip("\n"), "  ")


MIRROR = """\
- name: docs
  local: /data/docs
  remote: /docs
"""


def mirror_with(extra: str) -> str:
    """The standard mirror plus ``extra`` keys (mirror-level, unindented)."""
    return MIRROR + textwrap.indent(textwrap.dedent(extra).lstrip("\n"), "  ")


# --- a valid file and defaults --------------------------------------------------------

def test_minimal_file(load, tmp_path):
    c = load(cfg(MIRROR))
    assert c.path == tmp_path / "config.yaml"
    assert c.account.url == "https://acme.exavault.com/api/v2"
    assert c.account.api_key == KEY
    assert c.account.access_token == TOKEN
    assert len(c.mirrors) == 1
    m = c.mirrors[0]
    assert (m.name, m.local, m.remote) == ("docs", Path("/data/docs"), "/docs")
    assert c.warnings == ()


def test_every_default(load, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    c = load(cfg(MIRROR))
    assert c.account.budget is None
    assert c.account.reserve == 0.05
    assert c.account.timeout == 60.0
    assert c.state_dir == Path(platformdirs.user_state_dir("syncd"))
    if sys.platform.startswith("linux"):
        assert c.state_dir == tmp_path / "xdg-state" / "syncd"
    assert c.remote_trash == "/.syncd-trash"
    assert c.trash_days == 30
    m = c.mirrors[0]
    assert m.direction == "two-way"
    assert m.ignore == ()
    assert m.poll_interval == 300.0
    assert m.full_scan_interval == 86400.0
    assert m.max_delete is None
    assert m.remote_delete == "trash"
    assert m.transfers == 4
    assert (m.bandwidth_up, m.bandwidth_down) == (0, 0)
    # the dataclass defaults are the documented ones too
    assert m == MirrorConfig(name="docs", local=Path("/data/docs"), remote="/docs")
    acc = AccountConfig(url="https://x", api_key="k", access_token="t")
    assert (acc.budget, acc.reserve, acc.timeout) == (None, 0.05, 60.0)


def test_null_optional_values_take_defaults(load):
    c = load(cfg(mirror_with("""
        direction:
        ignore:
        max_delete: null
        bandwidth:
        transfers: ~
    """), top="state_dir:\ntrash_days:\n"))
    m = c.mirrors[0]
    assert (m.direction, m.ignore, m.max_delete, m.transfers) == ("two-way", (), None, 4)
    assert (m.bandwidth_up, m.bandwidth_down) == (0, 0)
    assert c.trash_days == 30
    assert c.state_dir == Path(platformdirs.user_state_dir("syncd"))


def test_every_option_set(load, home):
    c = load(cfg(mirror_with("""
        direction: upload-only
        ignore: ["*.tmp", "build/", "!keep.tmp"]
        poll_interval: 90s
        full_scan_interval: 2h
        max_delete: 25
        remote_delete: delete
        transfers: 8
        bandwidth: {up: 2MB, down: 500000}
    """), top="""
        state_dir: ~/state
        remote_trash: /trash/
        trash_days: 7
    """).replace("access_token: ${EV_TOKEN}\n",
                  "access_token: ${EV_TOKEN}\n  budget: 5000\n  reserve: 100\n  timeout: 2m\n"))
    assert (c.account.budget, c.account.reserve, c.account.timeout) == (5000, 100, 120.0)
    assert c.state_dir == home / "state"
    assert c.remote_trash == "/trash"
    assert c.trash_days == 7
    m = c.mirrors[0]
    assert m.direction == "upload-only"
    assert m.ignore == ("*.tmp", "build/", "!keep.tmp")
    assert (m.poll_interval, m.full_scan_interval) == (90.0, 7200.0)
    assert m.max_delete == 25 and isinstance(m.max_delete, int)
    assert m.remote_delete == "delete"
    assert m.transfers == 8
    assert (m.bandwidth_up, m.bandwidth_down) == (2_000_000, 500_000)


def test_mirror_lookup(load, tmp_path):
    c = load(cfg(MIRROR + "- {name: photos, local: /data/photos, remote: /photos}\n"))
    assert c.mirror("photos").remote == "/photos"
    with pytest.raises(ConfigError) as info:
        c.mirror("music")
    e = info.value
    assert e.key == "--mirror"
    assert "no mirror named 'music'" in e.message
    assert "docs, photos" in e.message


# --- ${VAR} expansion -----------------------------------------------------------------

def test_env_expansion_forms(load, home):
    c = load(cfg("""
        - name: ${NAME}
          local: ${BASE}/docs
          remote: /${UNSET:-fallback}/${EMPTY:-also}
          ignore: ["$$HOME", "price$5", "${NESTED:-${EV_KEY}x}"]
    """), NAME="docs", BASE="/srv", EMPTY="")
    m = c.mirrors[0]
    assert m.name == "docs"
    assert m.local == Path("/srv/docs")
    assert m.remote == "/fallback/also"
    # $$ is a literal $, a $ not followed by { or $ is kept, defaults may nest
    assert m.ignore == ("$HOME", "price$5", f"{KEY}x")


def test_env_expansion_feeds_typed_values(load):
    c = load(cfg(mirror_with("""
        transfers: ${N}
        poll_interval: ${POLL}
        bandwidth: {up: "${UP}"}
    """)), N="16", POLL="45", UP="1MiB")
    m = c.mirrors[0]
    assert (m.transfers, m.poll_interval, m.bandwidth_up) == (16, 45.0, 1024 * 1024)


def test_home_comes_from_env(load, home):
    c = load(cfg("""
        - name: docs
          local: ~/Documents/work
          remote: /work
    """))
    assert c.mirrors[0].local == home / "Documents" / "work"


def test_missing_variable_is_an_error_with_its_line(fails):
    e = fails(cfg("""
        - name: docs
          local: ${FOO}/x
          remote: /docs
    """))
    assert e.line == 7
    assert e.key == "mirrors[0].local"
    assert e.message == "environment variable FOO is not set"
    assert str(e).endswith(":7: mirrors[0].local: environment variable FOO is not set")


def test_missing_secret_variable(fails, env):
    del env["EV_TOKEN"]
    e = fails(cfg(MIRROR))
    assert (e.line, e.key) == (4, "account.access_token")
    assert "EV_TOKEN is not set" in e.message


@pytest.mark.parametrize("value", ["${}", "${1ABC}", "${A-b}", "${A", "x${A:-y"])
def test_bad_variable_syntax(fails, value):
    e = fails(cfg(mirror_with(f'direction: "{value}"\n')))
    assert e.key == "mirrors[0].direction"
    assert e.line == 9
    assert "${" in e.message


# --- unknown keys ---------------------------------------------------------------------

def test_unknown_top_level_key(fails, tmp_path):
    e = fails(cfg(MIRROR, top="stat_dir: /x\n"))
    assert e.line == 5
    assert e.key is None
    assert e.message == "unknown key 'stat_dir' (did you mean 'state_dir'?)"
    assert str(e) == f"{tmp_path / 'config.yaml'}:5: unknown key 'stat_dir' (did you mean 'state_dir'?)"


def test_unknown_account_key(fails):
    e = fails(cfg(MIRROR).replace("  url:", "  budjet: 5\n  url:"))
    assert (e.line, e.key) == (2, "account")
    assert e.message == "unknown key 'budjet' (did you mean 'budget'?)"


def test_unknown_mirror_key(fails, tmp_path):
    e = fails(cfg(mirror_with("dirction: upload-only\n")))
    assert (e.line, e.key) == (9, "mirrors[0]")
    assert str(e) == (f"{tmp_path / 'config.yaml'}:9: mirrors[0]: unknown key 'dirction' "
                      "(did you mean 'direction'?)")


def test_unknown_bandwidth_key(fails):
    e = fails(cfg(mirror_with("""
        bandwidth:
          up: 1M
          dwn: 2M
    """)))
    assert (e.line, e.key) == (11, "mirrors[0].bandwidth")
    assert e.message == "unknown key 'dwn' (did you mean 'down'?)"


def test_unknown_key_without_close_match_lists_known_keys(fails):
    e = fails(cfg(mirror_with("zzz: 1\n")))
    assert e.message.startswith("unknown key 'zzz' (known keys: name, local, remote,")


def test_unknown_key_in_second_mirror(fails):
    e = fails(cfg(MIRROR + "- name: b\n  local: /data/b\n  remote: /b\n  remot_delete: trash\n"))
    assert (e.line, e.key) == (12, "mirrors[1]")
    assert "did you mean 'remote_delete'?" in e.message


def test_duplicate_key(fails):
    e = fails(cfg(mirror_with("name: again\n")))
    assert (e.line, e.key) == (9, "mirrors[0]")
    assert e.message == "duplicate key 'name' (first at line 6)"


# --- missing keys and wrong types ------------------------------------------------------

def test_missing_required_mirror_key_names_parent_line(fails):
    e = fails(cfg(MIRROR + "- name: b\n  local: /data/b\n"))
    assert (e.line, e.key) == (9, "mirrors[1]")
    assert e.message == "missing required key 'remote'"


def test_missing_account_and_mirrors(fails):
    e = fails("state_dir: /tmp/s\n")
    assert (e.line, e.key, e.message) == (1, None, "missing required key 'account'")
    e = fails(ACCOUNT)
    assert (e.line, e.message) == (1, "missing required key 'mirrors'")
    e = fails(ACCOUNT.replace("  url: https://acme.exavault.com/api/v2\n", ""))
    assert (e.line, e.key, e.message) == (2, "account", "missing required key 'url'")


@pytest.mark.parametrize("mirrors", ["mirrors: []\n", "mirrors:\n"])
def test_mirrors_must_be_non_empty(fails, mirrors):
    e = fails(ACCOUNT + mirrors)
    assert (e.line, e.key) == (5, "mirrors")
    assert e.message == "must list at least one mirror"


@pytest.mark.parametrize("text, line, key, message", [
    (ACCOUNT + "mirrors: {name: docs}\n", 5, "mirrors", "must be a list of mirrors (got a mapping)"),
    (ACCOUNT + "mirrors:\n  - docs\n", 6, "mirrors[0]", "must be a mapping (got 'docs')"),
    (cfg(mirror_with("transfers: many\n")), 9, "mirrors[0].transfers",
     "must be a whole number (got 'many')"),
    (cfg(mirror_with("transfers: 2.5\n")), 9, "mirrors[0].transfers",
     "must be a whole number (got 2.5)"),
    (cfg(mirror_with("transfers: true\n")), 9, "mirrors[0].transfers",
     "must be a whole number (got true)"),
    (cfg(mirror_with("transfers: 0\n")), 9, "mirrors[0].transfers",
     "must be between 1 and 32 (got 0)"),
    (cfg(mirror_with("transfers: 33\n")), 9, "mirrors[0].transfers",
     "must be between 1 and 32 (got 33)"),
    (cfg(mirror_with("name: [a, b]\n").replace("- name: docs\n  ", "- ")), 8,
     "mirrors[0].name", "must be a string (got a list)"),
    (cfg(mirror_with("ignore: '*.tmp'\n")), 9, "mirrors[0].ignore",
     ("must be a list of gitignore-style patterns (got '*.tmp'; write ignore: ['*.tmp'] "
      "for one pattern)")),
    (cfg(mirror_with("ignore: [[a]]\n")), 9, "mirrors[0].ignore[0]",
     "must be a string (got a list)"),
    (cfg(mirror_with("ignore: ['ok', '!']\n")), 9, "mirrors[0].ignore[1]",
     "not a valid gitignore pattern: '!'"),
    (cfg(mirror_with("bandwidth: 2MB\n")), 9, "mirrors[0].bandwidth",
     "must be a mapping with up and/or down, like {up: 2MB, down: 500000} (got '2MB')"),
    (cfg(MIRROR, top="trash_days: 0\n"), 5, "trash_days", "must be at least 1 (got 0)"),
    (ACCOUNT.replace("account:\n", "account:\n  timeout: 0\n") + "mirrors: [x]\n", 2,
     "account.timeout", "must be more than 0 seconds"),
    (ACCOUNT.replace("account:\n", "account:\n  budget: 0\n") + "mirrors: [x]\n", 2,
     "account.budget", "must be at least 1 (got 0)"),
    ("account: [1]\nmirrors: []\n", 1, "account", "must be a mapping (got a list)"),
    ("account:\nmirrors: []\n", 1, "account", "needs url, api_key and access_token"),
])
def test_wrong_types_and_ranges(fails, text, line, key, message):
    e = fails(text)
    assert (e.line, e.key, e.message) == (line, key, message)


def test_string_fields_take_scalars_as_written(load):
    c = load(cfg("""
        - name: 2024
          local: /data/2024
          remote: /2024
          ignore: [42]
    """))
    assert c.mirrors[0].name == "2024"
    assert c.mirrors[0].ignore == ("42",)


@pytest.mark.parametrize("name", ["-docs", ".hidden", "a b", "a/b", "ä"])
def test_bad_mirror_name(fails, name):
    e = fails(cfg(MIRROR.replace("name: docs", f"name: '{name}'")))
    assert (e.line, e.key) == (6, "mirrors[0].name")
    assert e.message.startswith("must start with a letter or digit")


def test_bad_direction(fails, tmp_path):
    e = fails(cfg(mirror_with("direction: both\n")))
    assert str(e) == (f"{tmp_path / 'config.yaml'}:9: mirrors[0].direction: must be one of "
                      "two-way, upload-only, download-only (got 'both')")


def test_bad_remote_delete(fails):
    e = fails(cfg(mirror_with("remote_delete: shred\n")))
    assert (e.line, e.key) == (9, "mirrors[0].remote_delete")
    assert e.message == "must be one of trash, delete (got 'shred')"


# --- account ------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["ftp://acme.exavault.com", "acme.exavault.com/api/v2",
                                 "https://", "https:///api/v2", "http://:80/x"])
def test_bad_account_url(fails, url):
    e = fails(cfg(MIRROR).replace("https://acme.exavault.com/api/v2", url))
    assert (e.line, e.key) == (2, "account.url")
    assert e.message.startswith("must be an http:// or https:// URL with a host")


def test_url_accepts_http_and_port(load):
    c = load(cfg(MIRROR).replace("https://acme.exavault.com/api/v2",
                                 "http://127.0.0.1:8765/api/v2"))
    assert c.account.url == "http://127.0.0.1:8765/api/v2"


@pytest.mark.parametrize("field, line", [("api_key", 3), ("access_token", 4)])
def test_secrets_must_not_be_empty(fails, field, line):
    var = "${EV_KEY}" if field == "api_key" else "${EV_TOKEN}"
    e = fails(cfg(MIRROR).replace(f"{field}: {var}", f"{field}: '  '"))
    assert (e.line, e.key, e.message) == (line, f"account.{field}", "must not be empty")


def test_empty_secret_from_env(fails, env):
    env["EV_KEY"] = ""
    e = fails(cfg(MIRROR))
    assert (e.line, e.key, e.message) == (3, "account.api_key", "must not be empty")


@pytest.mark.parametrize("reserve, expected", [("'5%'", 0.05), ("12.5%", 0.125),
                                                ("0", 0), ("250", 250), ("0%", 0.0)])
def test_reserve_forms(load, reserve, expected):
    c = load(cfg(MIRROR).replace("account:\n", f"account:\n  reserve: {reserve}\n"))
    assert c.account.reserve == expected
    assert type(c.account.reserve) is type(expected)


@pytest.mark.parametrize("reserve, message", [
    ("0.05", "must be a whole number of transactions or a percentage like '25%' (got 0.05)"),
    ("-1", "must not be negative (got -1)"),
    ("150%", "must be a percentage of at most 99% (got '150%')"),
    ("lots", "must be a whole number of transactions or a percentage like '25%' (got 'lots')"),
])
def test_bad_reserve(fails, reserve, message):
    e = fails(cfg(MIRROR).replace("account:\n", f"account:\n  reserve: {reserve}\n"))
    assert (e.line, e.key, e.message) == (2, "account.reserve", message)


def test_reserve_count_must_be_below_budget(fails):
    e = fails(cfg(MIRROR).replace("account:\n", "account:\n  budget: 100\n  reserve: 100\n"))
    assert (e.line, e.key) == (3, "account.reserve")
    assert e.message == "must be smaller than account.budget (100) (got 100)"


# --- paths ---------------------------------------------------------------------------

@pytest.mark.parametrize("remote, expected", [
    ("/work/", "/work"), ("//a//b", "/a/b"), ("/", "/"), ("///", "/"),
    ("/a b/c", "/a b/c"), ("/x/.hidden/y", "/x/.hidden/y"),
])
def test_remote_normalisation(load, remote, expected):
    text = cfg(mirror_with("remote_delete: delete\n"))
    c = load(text.replace("remote: /docs", f"remote: '{remote}'"))
    assert c.mirrors[0].remote == expected


@pytest.mark.parametrize("remote, message", [
    ("/a/../b", "must not contain '.' or '..' segments (got '/a/../b')"),
    ("/a/./b", "must not contain '.' or '..' segments (got '/a/./b')"),
    ("/..", "must not contain '.' or '..' segments (got '/..')"),
    ("work", "must be an absolute remote path starting with / (got 'work')"),
    ("", "must be an absolute remote path starting with / (got '')"),
])
def test_bad_remote(fails, remote, message):
    e = fails(cfg(MIRROR.replace("remote: /docs", f"remote: '{remote}'")))
    assert (e.line, e.key, e.message) == (8, "mirrors[0].remote", message)


def test_local_is_made_absolute_and_normalised(load):
    c = load(cfg(MIRROR.replace("local: /data/docs", "local: /data//x/../docs/")))
    assert c.mirrors[0].local == Path("/data/docs")


def test_relative_local_is_an_error(fails):
    e = fails(cfg(MIRROR.replace("local: /data/docs", "local: docs")))
    assert (e.line, e.key) == (7, "mirrors[0].local")
    assert e.message == "must be an absolute path, or start with ~ (got 'docs')"


def test_missing_value_for_required_key(fails):
    e = fails(cfg(MIRROR.replace("local: /data/docs", "local:")))
    assert (e.line, e.key) == (7, "mirrors[0].local")
    assert e.message.startswith("needs a value")


def test_remote_trash_normalised_and_validated(load, fails):
    assert load(cfg(MIRROR, top="remote_trash: //t//x/\n")).remote_trash == "/t/x"
    e = fails(cfg(MIRROR, top="remote_trash: /t/../x\n"))
    assert (e.line, e.key) == (5, "remote_trash")
    e = fails(cfg(MIRROR, top="remote_trash: /\n"))
    assert (e.line, e.key, e.message) == (5, "remote_trash", "must be a folder below /, not / itself")


# --- durations and sizes ----------------------------------------------------------------

@pytest.mark.parametrize("value, seconds", [
    ("10", 10.0), ("600", 600.0), ("12.5", 12.5), ("'90'", 90.0), ("90s", 90.0),
    ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0), ("1h30m", 5400.0), ("1.5h", 5400.0),
    ("'2 h'", 7200.0),
])
def test_duration_parsing(load, value, seconds):
    c = load(cfg(mirror_with(f"poll_interval: {value}\n")))
    assert c.mirrors[0].poll_interval == seconds


DURATION_HELP = "must be a duration in seconds or with a unit, like 90, '90s', '5m', '2h', '1d' "


@pytest.mark.parametrize("field, value, message", [
    ("poll_interval", "5", "must be at least 10s (got 5s)"),
    ("poll_interval", "9s", "must be at least 10s (got 9s)"),
    ("full_scan_interval", "59s", "must be at least 60s (got 59s)"),
    ("poll_interval", "soon",
     DURATION_HELP + "(got 'soon')"),
    ("poll_interval", "5 minutes",
     DURATION_HELP + "(got '5 minutes')"),
    ("poll_interval", "-20",
     DURATION_HELP + "(got -20)"),
    ("poll_interval", ".inf",
     DURATION_HELP + "(got inf)"),
    ("full_scan_interval", "[1]",
     DURATION_HELP + "(got a list)"),
])
def test_bad_durations(fails, field, value, message):
    e = fails(cfg(mirror_with(f"{field}: {value}\n")))
    assert (e.line, e.key, e.message) == (9, f"mirrors[0].{field}", message)


@pytest.mark.parametrize("value, expected", [
    ("0", 0), ("500000", 500_000), ("'1000'", 1000), ("2MB", 2_000_000), ("2M", 2_000_000),
    ("500k", 500_000), ("500K", 500_000), ("500KB", 500_000), ("500KiB", 512_000),
    ("1MiB", 1024**2), ("1GiB", 1024**3), ("1G", 10**9), ("1GB/s", 10**9),
    ("1.5MB", 1_500_000), ("'2 MiB/s'", 2 * 1024**2), ("1.0e+6", 1_000_000),
])
def test_size_parsing(load, value, expected):
    c = load(cfg(mirror_with(f"bandwidth: {{up: {value}, down: {value}}}\n")))
    assert c.mirrors[0].bandwidth_up == expected
    assert c.mirrors[0].bandwidth_down == expected


def test_bandwidth_one_direction_only(load):
    m = load(cfg(mirror_with("bandwidth:\n  down: 1MB\n"))).mirrors[0]
    assert (m.bandwidth_up, m.bandwidth_down) == (0, 1_000_000)


@pytest.mark.parametrize("value, got", [
    ("fast", "'fast'"), ("2TB", "'2TB'"), ("-5", "-5"), ("1.5", "1.5"), ("'-5k'", "'-5k'"),
    ("2 M B", "'2 M B'"), ("true", "true"), ("MB", "'MB'"), ("[1]", "a list"),
])
def test_bad_sizes(fails, value, got):
    e = fails(cfg(mirror_with(f"bandwidth:\n  up: 1M\n  down: {value}\n")))
    assert (e.line, e.key) == (11, "mirrors[0].bandwidth.down")
    assert e.message.startswith("must be a rate in bytes per second")
    assert e.message.endswith(f"(got {got})")


# --- max_delete -----------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("0", 0), ("25", 25), ("'10'", 10), ("25%", 0.25), ("'2.5%'", 0.025), ("100%", 1.0),
])
def test_max_delete(load, value, expected):
    m = load(cfg(mirror_with(f"max_delete: {value}\n"))).mirrors[0]
    assert m.max_delete == expected
    assert type(m.max_delete) is type(expected)


@pytest.mark.parametrize("value, message", [
    ("0.25", "must be a whole number of deletions or a percentage like '25%' (got 0.25)"),
    ("-3", "must not be negative (got -3)"),
    ("150%", "must be a percentage of at most 100% (got '150%')"),
    ("half", "must be a whole number of deletions or a percentage like '25%' (got 'half')"),
    ("'%'", "must be a whole number of deletions or a percentage like '25%' (got '%')"),
])
def test_bad_max_delete(fails, value, message):
    e = fails(cfg(mirror_with(f"max_delete: {value}\n")))
    assert (e.line, e.key, e.message) == (9, "mirrors[0].max_delete", message)


# --- checks across mirrors --------------------------------------------------------------

TWO = """\
- name: {n1}
  local: {l1}
  remote: {r1}
- name: {n2}
  local: {l2}
  remote: {r2}
"""


def two(n1="a", l1="/data/a", r1="/a", n2="b", l2="/data/b", r2="/b") -> str:
    return cfg(TWO.format(n1=n1, l1=l1, r1=r1, n2=n2, l2=l2, r2=r2))


def test_two_separate_mirrors_are_fine(load):
    c = load(two(l1="/data/ab", l2="/data/a", r1="/x/ab", r2="/x/a"))
    assert [m.name for m in c.mirrors] == ["a", "b"]


@pytest.mark.parametrize("n2", ["a", "A"])
def test_duplicate_names(fails, n2):
    e = fails(two(n2=n2))
    assert (e.line, e.key) == (9, "mirrors[1].name")
    assert e.message == f"duplicate mirror name '{n2}' (also mirrors[0], line 6)"


@pytest.mark.parametrize("l1, l2, relation", [
    ("/data/a", "/data/a/", "is the same folder as"),
    ("/data", "/data/b/c", "is inside"),
    ("/data/b/c", "/data", "contains"),
])
def test_overlapping_locals(fails, l1, l2, relation):
    e = fails(two(l1=l1, l2=l2))
    assert (e.line, e.key) == (10, "mirrors[1].local")
    assert relation in e.message
    assert "mirrors[0].local" in e.message and "line 7" in e.message
    assert e.message.endswith("mirror folders must not overlap")


@pytest.mark.parametrize("r1, r2, relation", [
    ("/a", "/a/", "is the same folder as"),
    ("/", "/b", "is inside"),
    ("/a", "/a/b/c", "is inside"),
    ("/a/b", "/a", "contains"),
])
def test_overlapping_remotes(fails, r1, r2, relation):
    text = two(r1=r1, r2=r2).replace("    remote: /\n", "    remote: /\n    remote_delete: delete\n")
    e = fails(text)
    assert e.key == "mirrors[1].remote"
    assert e.line == (12 if r1 == "/" else 11)
    assert f"{r2.rstrip('/') or '/'} {relation} mirrors[0].remote" in e.message


def test_remote_prefix_is_not_nesting(load):
    c = load(two(r1="/work", r2="/workshop"))
    assert [m.remote for m in c.mirrors] == ["/work", "/workshop"]


def test_remote_trash_inside_trash_mirror(fails):
    e = fails(cfg(MIRROR, top="remote_trash: /docs/.trash\n"))
    assert (e.line, e.key) == (9, "mirrors[0].remote")
    assert "remote_trash (/docs/.trash) is inside this mirror's remote folder (/docs)" in e.message
    assert "set remote_delete: delete or choose another remote_trash" in e.message


def test_root_mirror_with_default_trash(fails, load):
    e = fails(cfg(MIRROR.replace("remote: /docs", "remote: /")))
    assert (e.line, e.key) == (8, "mirrors[0].remote")
    assert "remote_trash (/.syncd-trash)" in e.message
    c = load(cfg(mirror_with("remote_delete: delete\n").replace("remote: /docs", "remote: /")))
    assert c.mirrors[0].remote == "/"


def test_remote_trash_inside_other_mirror_when_trash_used(fails):
    text = two().replace("    remote: /a\n", "    remote: /a\n    remote_delete: delete\n")
    e = fails(text.replace("mirrors:\n", "remote_trash: /a/t\nmirrors:\n"))
    # mirrors[1] trashes into /a/t, inside mirrors[0]'s folder: deleted files would appear there
    assert e.key == "mirrors[0].remote"
    assert "is inside this mirror's remote folder (/a)" in e.message


def test_mirror_inside_remote_trash(fails):
    e = fails(cfg(MIRROR.replace("remote: /docs", "remote: /.syncd-trash/docs")))
    assert (e.line, e.key) == (8, "mirrors[0].remote")
    assert e.message == ("/.syncd-trash/docs is inside remote_trash (/.syncd-trash), "
                         "which syncd empties; choose another remote_trash")


@pytest.mark.parametrize("state_dir, local, relation", [
    ("/data/docs/.state", "/data/docs", "contains"),
    ("/data", "/data/docs", "is inside"),
    ("/data/docs", "/data/docs", "is the same folder as"),
])
def test_state_dir_overlap(fails, state_dir, local, relation):
    e = fails(cfg(MIRROR.replace("/data/docs", local), top=f"state_dir: {state_dir}\n"))
    assert (e.line, e.key) == (8, "mirrors[0].local")
    assert e.message.startswith(f"{local} {relation} state_dir ({state_dir})")


def test_state_dir_must_be_absolute(fails):
    e = fails(cfg(MIRROR, top="state_dir: state\n"))
    assert (e.line, e.key) == (5, "state_dir")
    assert e.message == "must be an absolute path, or start with ~ (got 'state')"


# --- lookup order -----------------------------------------------------------------------

def test_lookup_explicit_beats_env(tmp_path):
    env = {"SYNCD_CONFIG": str(tmp_path / "env.yaml")}
    assert config_path(tmp_path / "explicit.yaml", env) == tmp_path / "explicit.yaml"
    assert config_path(str(tmp_path / "explicit.yaml"), env) == tmp_path / "explicit.yaml"


def test_lookup_env_beats_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path(None, {"SYNCD_CONFIG": str(tmp_path / "env.yaml")}) == tmp_path / "env.yaml"
    monkeypatch.setenv("SYNCD_CONFIG", str(tmp_path / "os-env.yaml"))
    assert config_path() == tmp_path / "os-env.yaml"


def test_lookup_expands_tilde(tmp_path):
    assert config_path("~/c.yaml", {"HOME": str(tmp_path)}) == tmp_path / "c.yaml"
    assert config_path(None, {"HOME": "/h", "SYNCD_CONFIG": "~/s.yaml"}) == Path("/h/s.yaml")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG layout is Linux's")
def test_lookup_falls_back_to_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    expected = tmp_path / "xdg" / "syncd" / "config.yaml"
    assert config_path(None, {}) == expected
    assert config_path(None, {"SYNCD_CONFIG": ""}) == expected
    assert config_path("", {}) == expected
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    assert config_path() == expected


def test_load_uses_the_lookup(tmp_path, env, monkeypatch):
    (tmp_path / "xdg" / "syncd").mkdir(parents=True)
    (tmp_path / "xdg" / "syncd" / "config.yaml").write_text(cfg(MIRROR))
    (tmp_path / "env.yaml").write_text(cfg(MIRROR.replace("docs", "fromenv")))
    (tmp_path / "explicit.yaml").write_text(cfg(MIRROR.replace("docs", "explicit")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    env["SYNCD_CONFIG"] = str(tmp_path / "env.yaml")
    assert load_config(tmp_path / "explicit.yaml", env).mirrors[0].name == "explicit"
    assert load_config(None, env).mirrors[0].name == "fromenv"
    assert load_config(None, env).path == tmp_path / "env.yaml"
    del env["SYNCD_CONFIG"]
    if sys.platform.startswith("linux"):
        c = load_config(None, env)
        assert c.mirrors[0].name == "docs"
        assert c.path == tmp_path / "xdg" / "syncd" / "config.yaml"


# --- the file itself --------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    e = info.value
    assert e.file == str(path) and e.line is None and e.key is None
    assert str(e) == (f"{path}: no config file here: run `syncd init --config {path}` to write "
                      "one (or pass --config FILE, or set SYNCD_CONFIG)")


def test_missing_default_file_points_to_plain_init(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(None, {"SYNCD_CONFIG": str(tmp_path / "c.yaml")})
    assert "run `syncd init` to write one" in str(info.value)
    assert "config.example.yaml" not in str(info.value)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, {})
    assert info.value.file == str(tmp_path)
    assert "directory" in info.value.message


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions and a non-root user")
def test_unreadable_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(cfg(MIRROR))
    path.chmod(0)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.message == "cannot read config file: Permission denied"


def test_unreadable_file_reports_os_error(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("x")

    def deny(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(info.value) == f"{path}: cannot read config file: Permission denied"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(fails, text):
    e = fails(text)
    assert (e.line, e.key, e.message) == (None, None, "empty configuration")


def test_not_utf8(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"account:\n  url: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert (info.value.line, info.value.message) == (2, "not valid UTF-8 text")


@pytest.mark.parametrize("text, line, fragment", [
    ("account:\n  url: [x\nmirrors: []\n", 3, "invalid YAML: expected ',' or ']'"),
    ("account:\n\turl: x\n", 2, ("found character '\\t' that cannot start any token "
                                 "(indent with spaces, not tabs)")),
    ("a: b: c\n", 1, "invalid YAML: mapping values are not allowed here"),
    ("a: 1\n---\nb: 2\n", 2, ("invalid YAML: expected a single document in the stream, "
                              "but found another document")),
    ("a: *nope\n", 1, "invalid YAML: found undefined alias 'nope'"),
    ("a: 1\nb: \x07\n", 2, "invalid YAML: special characters are not allowed"),
    ("  - a\n b: c\n", 2, "invalid YAML:"),
])
def test_yaml_syntax_errors_have_a_line(fails, tmp_path, text, line, fragment):
    e = fails(text)
    assert e.line == line
    assert fragment in e.message
    assert str(e).startswith(f"{tmp_path / 'config.yaml'}:{line}: invalid YAML")
    assert "\n" not in str(e)


@pytest.mark.parametrize("text, line, message", [
    ("- a\n- b\n", 1, "the configuration must be a mapping of keys (got a list)"),
    ("just text\n", 1, "the configuration must be a mapping of keys (got 'just text')"),
    ("1: x\n", 1, "keys must be plain names (got 1)"),
    ("? [a]\n: x\n", 1, "keys must be plain names (got a list)"),
    ("account:\n  <<: {url: x}\n", 2, "YAML merge keys (<<) are not supported"),
    ("account: !custom {}\n", 1, "unsupported YAML tag '!custom'"),
    (ACCOUNT + "mirrors: !!set {a}\n", 5, "unsupported YAML tag 'tag:yaml.org,2002:set'"),
    (cfg(MIRROR, top="trash_days: !!binary aGVsbG8=\n"), 5,
     "unsupported YAML tag 'tag:yaml.org,2002:binary'"),
])
def test_odd_yaml(fails, text, line, message):
    e = fails(text)
    assert e.line == line
    assert e.message == message


def test_deep_nesting_is_an_error_not_a_crash(fails):
    e = fails("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "invalid YAML" in e.message


def test_mangled_example_never_raises_anything_but_config_error(tmp_path):
    """Random edits of config.example.yaml (tabs, brackets, quotes, control characters,
    stray $) produce a one-line ConfigError or a valid Config, never a traceback."""
    base = EXAMPLE_CONFIG.read_text()
    rnd = random.Random(20240601)
    alphabet = ":-[]{}\t\n #'\"$%!&*|>?,~\\/.0123456789abc\x00\x07\u00e9"
    path = tmp_path / "c.yaml"
    env = {**EXAMPLE_ENV, "HOME": str(tmp_path)}
    outcomes = {"ok": 0, "error": 0}
    for _ in range(600):
        text = list(base)
        for _ in range(rnd.randint(1, 5)):
            k = rnd.randrange(len(text))
            op = rnd.random()
            if op < 0.4:
                del text[k]
            elif op < 0.8:
                text.insert(k, rnd.choice(alphabet))
            else:
                text[k] = rnd.choice(alphabet)
        path.write_text("".join(text), encoding="utf-8")
        try:
            load_config(path, env)
            outcomes["ok"] += 1
        except ConfigError as e:
            assert "\n" not in str(e) and str(e).startswith(str(path))
            outcomes["error"] += 1
    assert outcomes["ok"] > 0 and outcomes["error"] > 0


def test_aliases_are_followed(load):
    c = load(cfg("""
        - &m
          name: a
          local: /data/a
          remote: /a
          transfers: &t 7
        - name: b
          local: /data/b
          remote: /b
          transfers: *t
    """))
    assert [m.transfers for m in c.mirrors] == [7, 7]


# --- permissions and secrets ------------------------------------------------------------

LITERAL = ACCOUNT.replace("${EV_KEY}", "literal-key-4d1e9f").replace(
    "${EV_TOKEN}", "literal-token-77aa01")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mode, warned", [(0o600, False), (0o640, True), (0o604, True),
                                          (0o400, False)])
def test_permission_warning_for_literal_secrets(tmp_path, mode, warned):
    path = tmp_path / "c.yaml"
    path.write_text(LITERAL + "mirrors:\n" + textwrap.indent(MIRROR, "  "))
    path.chmod(mode)
    c = load_config(path, {})
    expected = (f"{path} holds credentials but is readable by others; run chmod 600 {path}",)
    assert c.warnings == (expected if warned else ())


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_no_permission_warning_when_secrets_come_from_env(tmp_path, env):
    path = tmp_path / "c.yaml"
    path.write_text(cfg(MIRROR))
    path.chmod(0o644)
    assert load_config(path, env).warnings == ()


def test_secrets_not_in_repr(load):
    c = load(cfg(MIRROR))
    for text in (repr(c), repr(c.account), str(c)):
        assert KEY not in text and TOKEN not in text
        assert "api_key='***'" in text and "access_token='***'" in text


@pytest.mark.parametrize("broken", [
    # errors after the secrets are known, in fields that echo their value
    lambda t: t.replace("name: docs", f"name: '{KEY}!'"),
    lambda t: t.replace("remote: /docs", f"remote: {TOKEN}"),
    lambda t: t.replace("https://acme.exavault.com/api/v2", f"ftp://{KEY}"),
    lambda t: t.replace("https://acme.exavault.com/api/v2", f"https://u:{KEY}@/x"),
    lambda t: t.replace("remote: /docs", f"remote: /docs\n  direction: {TOKEN}"),
    # wrong types or bad ${...} in the secret fields themselves
    lambda t: t.replace("${EV_KEY}", f"'{KEY}${{oops'"),
    lambda t: t.replace("${EV_KEY}", f"'${{{KEY}}}'"),
    lambda t: t.replace("${EV_KEY}", f"[{KEY}]"),
    lambda t: t.replace("${EV_TOKEN}", f"{{x: {TOKEN}}}"),
])
def test_secrets_never_in_errors(tmp_path, env, broken):
    path = tmp_path / "c.yaml"
    path.write_text(broken(cfg(MIRROR)))
    with pytest.raises(ConfigError) as info:
        load_config(path, env)
    e = info.value
    for text in (str(e), repr(e), e.message, repr(e.args)):
        assert KEY not in text and TOKEN not in text


def test_error_is_one_line_and_pickles(fails):
    e = fails(cfg(mirror_with("direction: both\n")))
    assert "\n" not in str(e)
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.file, e2.line, e2.key, e2.message, str(e2)) == (
        e.file, e.line, e.key, e.message, str(e))


def test_error_formatting():
    assert str(ConfigError("m", file="f", line=3, key="k")) == "f:3: k: m"
    assert str(ConfigError("m", file="f", key="k")) == "f: k: m"
    assert str(ConfigError("m", file="f")) == "f: m"
    assert str(ConfigError("m")) == "m"
    assert str(ConfigError("a\nb", key="k")) == "k: a b"


# --- config.example.yaml --------------------------------------------------------------

EXAMPLE_ENV = {"EXAVAULT_API_KEY": "example-key", "EXAVAULT_ACCESS_TOKEN": "example-token"}


def test_example_loads_with_documented_defaults(home):
    c = load_config(EXAMPLE_CONFIG, {**EXAMPLE_ENV, "HOME": str(home)})
    assert c.account.url == "https://exampleaccount.exavault.com/api/v2"
    assert (c.account.api_key, c.account.access_token) == ("example-key", "example-token")
    assert (c.account.budget, c.account.reserve, c.account.timeout) == (None, 0.05, 60.0)
    assert c.state_dir == home / ".local" / "state" / "syncd"
    assert (c.remote_trash, c.trash_days) == ("/.syncd-trash", 30)
    assert c.warnings == ()
    assert len(c.mirrors) == 1
    m = c.mirrors[0]
    assert (m.name, m.local, m.remote) == ("docs", home / "Documents" / "work", "/work")
    # every optional mirror key is written out with exactly the dataclass default
    for f in dataclasses.fields(MirrorConfig):
        if f.name not in ("name", "local", "remote"):
            assert getattr(m, f.name) == f.default, f.name
    defaults = Config(path=Path("x"), account=c.account, state_dir=c.state_dir)
    assert (c.remote_trash, c.trash_days) == (defaults.remote_trash, defaults.trash_days)


def test_example_documents_every_key():
    text = EXAMPLE_CONFIG.read_text()
    lines = text.splitlines()
    for key in ("budget", "reserve", "timeout", "state_dir", "remote_trash", "trash_days",
                "direction", "ignore", "poll_interval", "full_scan_interval", "max_delete",
                "remote_delete", "transfers", "bandwidth"):
        # set (not commented out) in the first mirror/top level, with a comment on the
        # line itself or just above it
        i = next(i for i, line in enumerate(lines) if re.match(rf"\s*(- )?{key}:", line))
        assert "#" in lines[i] or lines[i - 1].lstrip().startswith("#"), key
    assert ".syncdignore" in text
    assert "symlink" in text.lower()


def test_example_second_mirror_loads_when_uncommented(tmp_path, home):
    text = EXAMPLE_CONFIG.read_text()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "# - name: photos")
    out = lines[:start]
    for line in lines[start:]:
        out.append(line.replace("  # ", "  ", 1) if line.startswith("  # ") else line)
    path = tmp_path / "c.yaml"
    path.write_text("\n".join(out) + "\n")
    c = load_config(path, {**EXAMPLE_ENV, "HOME": str(home)})
    photos = c.mirror("photos")
    assert photos.direction == "upload-only"
    assert photos.remote_delete == "delete"
    assert photos.max_delete == 0.10
    assert photos.bandwidth_up == 5 * 1024**2 and photos.bandwidth_down == 0
