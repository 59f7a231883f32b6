"""``${VAR}`` in the config is also read from systemd credentials: the file
``$CREDENTIALS_DIRECTORY/VAR`` that ``LoadCredential=`` puts there, so a unit can
keep the key and token out of the environment."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from syncd.config.loader import ConfigError, load_config

CONFIG = """\
account:
  url: https://acme.exavault.com/api/v2
  api_key: ${EXAVAULT_API_KEY}
  access_token: ${EXAVAULT_ACCESS_TOKEN}
mirrors:
  - name: docs
    local: ${DOCS_DIR:-/data/docs}
    remote: /docs
"""


@pytest.fixture
def creds(tmp_path) -> Path:
    d = tmp_path / "credentials"
    d.mkdir(mode=0o700)
    return d


def _load(tmp_path: Path, env: dict[str, str], text: str = CONFIG):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    path.chmod(0o600)
    return load_config(path, {"HOME": str(tmp_path), **env})


def test_secrets_come_from_the_credentials_directory(tmp_path, creds):
    (creds / "EXAVAULT_API_KEY").write_text("key-from-credential\n")  # `echo` style
    (creds / "EXAVAULT_ACCESS_TOKEN").write_bytes(b"token-from-credential")  # systemd-creds style
    c = _load(tmp_path, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert c.account.api_key == "key-from-credential"
    assert c.account.access_token == "token-from-credential"


def test_the_environment_comes_first(tmp_path, creds):
    (creds / "EXAVAULT_API_KEY").write_text("key-from-credential")
    (creds / "EXAVAULT_ACCESS_TOKEN").write_text("token-from-credential")
    c = _load(tmp_path, {"CREDENTIALS_DIRECTORY": str(creds),
                         "EXAVAULT_API_KEY": "key-from-env"})
    assert c.account.api_key == "key-from-env"
    assert c.account.access_token == "token-from-credential"


def test_a_credential_counts_before_the_default(tmp_path, creds):
    (creds / "EXAVAULT_API_KEY").write_text("k" * 8)
    (creds / "EXAVAULT_ACCESS_TOKEN").write_text("t" * 8)
    (creds / "DOCS_DIR").write_text("/srv/docs\r\n")
    c = _load(tmp_path, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert c.mirrors[0].local == Path("/srv/docs")
    os.remove(creds / "DOCS_DIR")
    assert _load(tmp_path, {"CREDENTIALS_DIRECTORY": str(creds)}).mirrors[0].local == Path(
        "/data/docs")


def test_missing_everywhere_says_where_it_looked(tmp_path, creds):
    (creds / "EXAVAULT_API_KEY").write_text("key-from-credential")
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert e.value.key == "account.access_token"
    assert e.value.message == ("environment variable EXAVAULT_ACCESS_TOKEN is not set "
                               "(nor a credential in $CREDENTIALS_DIRECTORY)")
    assert "key-from-credential" not in str(e.value)


def test_without_a_credentials_directory_the_message_is_the_old_one(tmp_path):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, {"EXAVAULT_API_KEY": "key-from-env"})
    assert e.value.message == "environment variable EXAVAULT_ACCESS_TOKEN is not set"


def test_an_unreadable_credential_is_one_clear_error(tmp_path, creds):
    (creds / "EXAVAULT_API_KEY").mkdir()  # reading a directory fails like a denied file
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert e.value.key == "account.api_key"
    assert e.value.message.startswith(
        "credential EXAVAULT_API_KEY in $CREDENTIALS_DIRECTORY cannot be read (")


def test_a_credential_that_is_not_text(tmp_path, creds):
    (creds / "EXAVAULT_API_KEY").write_bytes(b"\xff\xfe-binary")
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert e.value.message == (
        "credential EXAVAULT_API_KEY in $CREDENTIALS_DIRECTORY is not UTF-8 text")


def test_a_credential_used_outside_a_secret_key_is_never_quoted(tmp_path, creds):
    """A credential is a secret: an error about the value it fills in quotes
    ``${VAR}`` as written, and never the file's text."""
    (creds / "EXAVAULT_API_KEY").write_text("k" * 8)
    (creds / "EXAVAULT_ACCESS_TOKEN").write_text("t" * 8)
    (creds / "REMOTE").write_text("no-leading-slash-s3cret")
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, {"CREDENTIALS_DIRECTORY": str(creds)},
              CONFIG.replace("remote: /docs", "remote: ${REMOTE}"))
    assert e.value.key == "mirrors[0].remote"
    assert "s3cret" not in str(e.value)
