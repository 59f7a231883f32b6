"""syncd.config.loader: the keys used by `syncd run`: daemon.*, account.transfer_share and
account.webhook."""

from __future__ import annotations

import textwrap

import pytest

from syncd.config.loader import Config, ConfigError, DaemonConfig, WebhookConfig, load_config

KEY = "key-5f2a9c77d1"
TOKEN = "token-81be07aa42"
HOOK = "hook-secret-6e0d2b"

ACCOUNT = """\
account:
  url: http://127.0.0.1:9/api/v2
  api_key: ${EV_KEY}
  access_token: ${EV_TOKEN}
"""
MIRRORS = """\
mirrors:
  - name: docs
    local: /data/docs
    remote: /docs
"""


@pytest.fixture
def path(tmp_path):
    return tmp_path / "config.yaml"


@pytest.fixture
def load(path, tmp_path):
    """load(text) -> Config from a file holding ``text`` (dedented)."""

    def _load(text: str, **extra: str) -> Config:
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        path.chmod(0o600)
        env = {"HOME": str(tmp_path), "EV_KEY": KEY, "EV_TOKEN": TOKEN, "EV_HOOK": HOOK,
               **extra}
        return load_config(path, env)

    return _load


@pytest.fixture
def fails(load):
    def _fails(text: str, **extra: str) -> ConfigError:
        with pytest.raises(ConfigError) as info:
            load(text, **extra)
        return info.value

    return _fails


def with_daemon(body: str) -> str:
    """ACCOUNT + MIRRORS + a daemon section (``body`` indented under it); the
    first daemon key is on line 10."""
    return ACCOUNT + MIRRORS + "daemon:\n" + textwrap.indent(textwrap.dedent(body), "  ")


def with_account(extra: str) -> str:
    """Extra account keys (indented under account:); the first one is on line 5."""
    return (ACCOUNT + textwrap.indent(textwrap.dedent(extra).lstrip("\n"), "  ") + MIRRORS)


def check_error(e: ConfigError, path, line: int, key: str, message: str) -> None:
    assert (e.line, e.key, e.message) == (line, key, message)
    assert str(e) == f"{path}:{line}: {key}: {message}"


# --- daemon -----------------------------------------------------------------------------

def test_daemon_defaults(load):
    c = load(ACCOUNT + MIRRORS)
    assert c.daemon == DaemonConfig()
    assert (c.daemon.settle, c.daemon.local_scan_interval, c.daemon.log_level) == (
        1.5, 3600.0, "info")


def test_daemon_null_takes_defaults(load):
    assert load(ACCOUNT + MIRRORS + "daemon:\n").daemon == DaemonConfig()
    assert load(ACCOUNT + MIRRORS + "daemon: {}\n").daemon == DaemonConfig()


def test_daemon_every_key(load):
    c = load(with_daemon("settle: 0.25\nlocal_scan_interval: 2h\nlog_level: debug\n"))
    assert c.daemon == DaemonConfig(settle=0.25, local_scan_interval=7200.0, log_level="debug")


@pytest.mark.parametrize("value, seconds", [("0.1", 0.1), ("3", 3.0), ("90s", 90.0),
                                            ("10m", 600.0), ("600", 600.0)])
def test_settle_range_accepted(load, value, seconds):
    assert load(with_daemon(f"settle: {value}\n")).daemon.settle == seconds


@pytest.mark.parametrize("value, message", [
    ("0.05", "must be at least 0.1s (got 0.05s)"),
    ("0", "must be at least 0.1s (got 0s)"),
    ("601", "must be at most 10m (got 601s)"),
    ("1h", "must be at most 10m (got 3600s)"),
    ("soon", ("must be a duration in seconds or with a unit, like 90, '90s', '5m', '2h', "
              "'1d' (got 'soon')")),
])
def test_bad_settle(fails, path, value, message):
    check_error(fails(with_daemon(f"settle: {value}\n")), path, 10, "daemon.settle", message)


@pytest.mark.parametrize("value, seconds", [("60", 60.0), ("1m", 60.0), ("1d", 86400.0)])
def test_local_scan_interval_accepted(load, value, seconds):
    c = load(with_daemon(f"local_scan_interval: {value}\n"))
    assert c.daemon.local_scan_interval == seconds


@pytest.mark.parametrize("value, message", [("59", "must be at least 60s (got 59s)"),
                                            ("30s", "must be at least 60s (got 30s)")])
def test_bad_local_scan_interval(fails, path, value, message):
    check_error(fails(with_daemon(f"local_scan_interval: {value}\n")), path, 10,
                "daemon.local_scan_interval", message)


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_log_levels(load, level):
    assert load(with_daemon(f"log_level: {level}\n")).daemon.log_level == level


@pytest.mark.parametrize("level", ["verbose", "critical", "''", "1"])
def test_bad_log_level(fails, path, level):
    e = fails(with_daemon(f"log_level: {level}\n"))
    assert (e.line, e.key) == (10, "daemon.log_level")
    assert e.message.startswith("must be one of debug, info, warning, error (got ")
    assert str(e).startswith(f"{path}:10: daemon.log_level: must be one of")


def test_unknown_daemon_key_has_did_you_mean(fails, path):
    e = fails(with_daemon("settle: 2\nsettel: 3\n"))
    check_error(e, path, 11, "daemon", "unknown key 'settel' (did you mean 'settle'?)")
    e = fails(with_daemon("loglevel: debug\n"))
    check_error(e, path, 10, "daemon", "unknown key 'loglevel' (did you mean 'log_level'?)")


def test_daemon_must_be_a_mapping(fails, path):
    e = fails(ACCOUNT + MIRRORS + "daemon: fast\n")
    assert (e.line, e.key) == (9, "daemon")
    assert "must be a mapping" in e.message and "(got 'fast')" in e.message


# --- account.transfer_share -------------------------------------------------------------

def test_transfer_share_default(load):
    assert load(ACCOUNT + MIRRORS).account.transfer_share == 0.5


@pytest.mark.parametrize("value, share", [("40%", 0.4), ("'40%'", 0.4), ("0%", 0.0),
                                          ("95%", 0.95), ("12.5%", 0.125), ("", 0.5)])
def test_transfer_share_percentages(load, value, share):
    assert load(with_account(f"transfer_share: {value}\n")).account.transfer_share == share


@pytest.mark.parametrize("value, message", [
    ("96%", "must be a percentage of at most 95% (got '96%')"),
    ("100%", "must be a percentage of at most 95% (got '100%')"),
    ("40", "must be a percentage like '50%' (got 40)"),
    ("'40'", "must be a percentage like '50%' (got 40)"),
    ("0", "must be a percentage like '50%' (got 0)"),
])
def test_bad_transfer_share(fails, path, value, message):
    check_error(fails(with_account(f"transfer_share: {value}\n")), path, 5,
                "account.transfer_share", message)


@pytest.mark.parametrize("value", ["0.4", "half", "-5%", "[1]"])
def test_transfer_share_other_garbage(fails, value):
    e = fails(with_account(f"transfer_share: {value}\n"))
    assert (e.line, e.key) == (5, "account.transfer_share")


# --- account.webhook --------------------------------------------------------------------

def webhook(body: str) -> str:
    """A webhook section (``body`` under it); its first key is on line 6."""
    return with_account("webhook:\n" + textwrap.indent(textwrap.dedent(body).lstrip("\n"),
                                                       "  "))


def test_webhook_default_is_none(load):
    assert load(ACCOUNT + MIRRORS).account.webhook is None
    assert load(with_account("webhook:\n")).account.webhook is None
    assert load(with_account("webhook: null\n")).account.webhook is None


def test_webhook_full(load):
    c = load(webhook("listen: 127.0.0.1:8787\ntoken: ${EV_HOOK}\npath: /hooks/exavault\n"))
    assert c.account.webhook == WebhookConfig(host="127.0.0.1", port=8787, token=HOOK,
                                              path="/hooks/exavault")


def test_webhook_path_defaults_to_root(load):
    c = load(webhook("listen: 0.0.0.0:9000\ntoken: ${EV_HOOK}\n"))
    assert c.account.webhook.path == "/"
    assert (c.account.webhook.host, c.account.webhook.port) == ("0.0.0.0", 9000)


@pytest.mark.parametrize("listen, host, port", [
    ("'[::1]:8787'", "::1", 8787), ("localhost:80", "localhost", 80),
    ("hooks.example.org:65535", "hooks.example.org", 65535),
])
def test_webhook_listen_forms(load, listen, host, port):
    w = load(webhook(f"listen: {listen}\ntoken: ${{EV_HOOK}}\n")).account.webhook
    assert (w.host, w.port) == (host, port)


@pytest.mark.parametrize("listen", ["localhost", "127.0.0.1", ":8787", "host:99999",
                                    "host:port", "'[::1]'"])
def test_bad_webhook_listen(fails, path, listen):
    e = fails(webhook(f"listen: {listen}\ntoken: ${{EV_HOOK}}\n"))
    assert (e.line, e.key) == (6, "account.webhook.listen")
    assert e.message.startswith("must be HOST:PORT, like 127.0.0.1:8787 (got ")
    assert str(e).startswith(f"{path}:6: account.webhook.listen: must be HOST:PORT")


def test_webhook_token_required(fails, path):
    e = fails(webhook("listen: 127.0.0.1:8787\n"))
    check_error(e, path, 6, "account.webhook", "missing required key 'token'")


@pytest.mark.parametrize("token", ["''", "' '", "${EMPTY}"])
def test_webhook_token_not_empty(fails, token):
    e = fails(webhook(f"listen: 127.0.0.1:8787\ntoken: {token}\n"), EMPTY="")
    assert (e.line, e.key) == (7, "account.webhook.token")
    assert e.message.startswith("must not be empty")


def test_webhook_listen_required(fails, path):
    e = fails(webhook("token: ${EV_HOOK}\n"))
    check_error(e, path, 6, "account.webhook", "missing required key 'listen'")


@pytest.mark.parametrize("p", ["hooks", "'/a b'", "'/x?y=1'", "/x#frag"])
def test_bad_webhook_path(fails, path, p):
    e = fails(webhook(f"listen: 127.0.0.1:8787\ntoken: ${{EV_HOOK}}\npath: {p}\n"))
    assert (e.line, e.key) == (8, "account.webhook.path")
    assert e.message.startswith("must be a URL path starting with / (got ")


def test_unknown_webhook_key(fails, path):
    e = fails(webhook("listen: 127.0.0.1:8787\ntokn: x\n"))
    check_error(e, path, 7, "account.webhook", "unknown key 'tokn' (did you mean 'token'?)")


def test_webhook_must_be_a_mapping(fails):
    e = fails(with_account("webhook: 127.0.0.1:8787\n"))
    assert (e.line, e.key) == (5, "account.webhook")
    assert e.message.startswith("must be a mapping with listen and token")


def test_webhook_token_not_in_repr(load):
    c = load(webhook(f"listen: 127.0.0.1:8787\ntoken: {HOOK}\n"))
    assert c.account.webhook.token == HOOK
    for text in (repr(c), str(c), repr(c.account), repr(c.account.webhook)):
        assert HOOK not in text
        assert "token='***'" in text


def test_literal_webhook_token_triggers_the_permission_warning(path, tmp_path):
    path.write_text(webhook(f"listen: 127.0.0.1:8787\ntoken: {HOOK}\n"))
    path.chmod(0o644)
    c = load_config(path, {"HOME": str(tmp_path), "EV_KEY": KEY, "EV_TOKEN": TOKEN})
    assert any("chmod 600" in w for w in c.warnings)


@pytest.mark.parametrize("broken", [
    # later values that echo what they got
    f"listen: {HOOK}\ntoken: {HOOK}\n",
    f"listen: '{HOOK}:1'\ntoken: {HOOK}\n".replace(":1'", ":999999'"),
    f"listen: 127.0.0.1:8787\ntoken: {HOOK}\npath: {HOOK}\n",
    f"token: {HOOK}\nlisten: '[{HOOK}]'\n",
    # the token itself malformed
    f"listen: 127.0.0.1:8787\ntoken: '{HOOK}${{oops'\n",
    f"listen: 127.0.0.1:8787\ntoken: '${{{HOOK}}}'\n",
    f"listen: 127.0.0.1:8787\ntoken: [{HOOK}]\n",
    f"listen: 127.0.0.1:8787\ntoken: {{x: {HOOK}}}\n",
])
def test_webhook_token_never_in_errors(fails, broken):
    e = fails(webhook(broken))
    assert e.key.startswith("account.webhook")
    for text in (str(e), repr(e), e.message, repr(e.args)):
        assert HOOK not in text


def test_webhook_token_scrubbed_from_later_mirror_errors(fails):
    text = webhook(f"listen: 127.0.0.1:8787\ntoken: {HOOK}\n").replace(
        "remote: /docs", f"remote: {HOOK}")
    e = fails(text)
    assert e.key == "mirrors[0].remote"
    assert HOOK not in str(e) and "***" in str(e)


def test_webhook_token_with_bad_tag_not_in_errors(fails):
    e = fails(webhook(f"listen: 127.0.0.1:8787\ntoken: !!float {HOOK}\n"))
    assert e.key == "account.webhook.token"
    assert HOOK not in str(e)
