"""syncd.config.schema: the one table of keys drives the parser and the dataclasses."""

from __future__ import annotations

import dataclasses

import pytest

from syncd.config import schema
from syncd.config.loader import ConfigError, load_config
from syncd.config.model import AccountConfig, Config, DaemonConfig, MirrorConfig, WebhookConfig

MINIMAL = """\
account:
  url: http://127.0.0.1:9/api/v2
  api_key: key-1234
  access_token: token-1234
  webhook:
    listen: 127.0.0.1:8787
    token: hook-1234
mirrors:
  - name: docs
    local: /tmp/docs
    remote: /docs
    bandwidth:
      up: 1
daemon:
  settle: 2
"""

# Where each mapping of the schema sits in MINIMAL: (line before which an
# unknown key is put, its indent).
SECTIONS = {
    "": ("account:", ""),
    "account.": ("  url:", "  "),
    "account.webhook.": ("    listen:", "    "),
    "mirrors[].": ("    local:", "    "),
    "mirrors[].bandwidth.": ("      up:", "      "),
    "daemon.": ("  settle:", "  "),
}

FIELDS = {  # the dataclass that holds each mapping's keys
    "": Config, "account.": AccountConfig, "account.webhook.": WebhookConfig,
    "daemon.": DaemonConfig, "mirrors[].": MirrorConfig, "mirrors[].bandwidth.": MirrorConfig,
}


def _parent(path: str) -> str:
    return path[:path.rfind(".") + 1] if "." in path else ""


def _field(path: str) -> str:
    name = path.rsplit(".", 1)[-1]
    return f"bandwidth_{name}" if _parent(path) == "mirrors[].bandwidth." else name


def test_every_optional_key_has_a_default_the_dataclass_uses():
    checked = 0
    for path, key in schema.keys():
        if key.required or key.computed or isinstance(key.kind, (schema.Section,
                                                                 schema.Sections)):
            continue
        cls = FIELDS[_parent(path)]
        field = {f.name: f for f in dataclasses.fields(cls)}[_field(path)]
        assert field.default == schema.default(path), path
        checked += 1
    assert checked > 15


def test_every_key_is_a_field_of_its_dataclass():
    for path, key in schema.keys():
        if isinstance(key.kind, schema.Section) and key.kind.inline:
            continue
        names = {f.name for f in dataclasses.fields(FIELDS[_parent(path)])}
        if path == "account.webhook.listen":
            assert {"host", "port"} <= names
        else:
            assert _field(path) in names, path


@pytest.mark.parametrize("section", SECTIONS)
def test_the_parser_knows_exactly_the_schemas_keys(section, tmp_path):
    before, indent = SECTIONS[section]
    text = MINIMAL.replace(before, f"{indent}zzzz: 1\n{before}", 1)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    path.chmod(0o600)
    inner = schema.TOP
    for part in filter(None, section.rstrip(".").split(".")):
        inner = schema.section_of(next(k for k in inner.keys
                                       if k.name == part.removesuffix("[]")).kind)
    with pytest.raises(ConfigError, match="known keys: " + ", ".join(inner.names) + r"\)$"):
        load_config(path, env={})


def test_the_minimal_file_loads_with_the_schemas_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(MINIMAL)
    path.chmod(0o600)
    c = load_config(path, env={})
    (m,) = c.mirrors
    assert (m.bandwidth_up, m.bandwidth_down) == (1, schema.default("mirrors[].bandwidth.down"))
    assert m.transfers == schema.default("mirrors[].transfers") == 4
    assert c.account.webhook.path == schema.default("account.webhook.path") == "/"
    assert c.daemon.log_level == schema.default("daemon.log_level") == "info"
    assert c.account.reserve == schema.default("account.reserve") == 0.05


def test_every_mapping_of_the_schema_is_tried_above():
    mappings = {""} | {path + ("[]." if isinstance(key.kind, schema.Sections) else ".")
                       for path, key in schema.keys() if schema.section_of(key.kind)}
    assert mappings == set(SECTIONS) == set(FIELDS)
