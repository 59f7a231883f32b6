"""The documentation is checked against the code, so it cannot drift.

* docs/configuration.md documents exactly the keys the config parser accepts
  (taken from ``syncd/config.py``), and each documented default loads to the
  same configuration as leaving the key out;
* config.example.yaml writes out every key, each with its default;
* docs/architecture.md's rule table is the planner's;
* docs/operations.md lists every exit code of ``syncd/exitcodes.py``, and its
  account of a lost index is what a sync does;
* docs/emulator.md names every switch and constructor option of the emulator;
* README's commands exist, and relative links in the docs lead somewhere.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
import re
from pathlib import Path

import pytest
import yaml

from syncd import config as config_module
from syncd import exitcodes
from syncd.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"

# Each mapping the parser validates (the tuple of allowed keys it hands to
# ``_Parser.mapping``) and where that mapping sits in the file.
SECTIONS = {
    "_TOP_KEYS": "",
    "_ACCOUNT_KEYS": "account.",
    "_WEBHOOK_KEYS": "account.webhook.",
    "_DAEMON_KEYS": "daemon.",
    "_MIRROR_KEYS": "mirrors[].",
    "_BANDWIDTH_KEYS": "mirrors[].bandwidth.",
}


def _mapping_tuples() -> set[str]:
    """The names of the allowed-key tuples the parser passes to ``self.mapping``."""
    tree = ast.parse(Path(config_module.__file__).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "mapping" and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "self"):
            allowed = node.args[2] if len(node.args) > 2 else None
            assert isinstance(allowed, ast.Name), ast.dump(node)
            names.add(allowed.id)
    return names


def schema_keys() -> list[str]:
    """Every key of the configuration, dotted (``mirrors[].bandwidth.up``)."""
    # A new section in the parser must be added to SECTIONS (and documented).
    assert _mapping_tuples() == set(SECTIONS)
    keys = []
    for tuple_name, prefix in SECTIONS.items():
        keys += [prefix + k for k in getattr(config_module, tuple_name)]
    return keys


def documented_keys(text: str) -> dict[str, str]:
    """``key -> default cell`` of the Key | Default | Meaning tables."""
    rows: dict[str, str] = {}
    in_table = False
    for line in text.splitlines():
        if re.fullmatch(r"\| *Key *\| *Default *\| *Meaning *\|", line.strip()):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        if in_table and not re.fullmatch(r"\|[-| :]+\|", line.strip()):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            m = re.fullmatch(r"`([^`]+)`", cells[0])
            assert m, f"a key cell must be one `key`: {line}"
            assert m.group(1) not in rows, f"documented twice: {m.group(1)}"
            assert cells[2], f"no meaning given: {line}"
            rows[m.group(1)] = cells[1]
    return rows


# --- configuration.md ---------------------------------------------------------------

def test_configuration_md_documents_exactly_the_keys_the_parser_accepts():
    documented = documented_keys((DOCS / "configuration.md").read_text(encoding="utf-8"))
    schema = schema_keys()
    assert len(schema) > 25  # the derivation found the schema, not an empty set
    missing = [k for k in schema if k not in documented]
    unknown = [k for k in documented if k not in schema]
    assert not missing, f"keys missing from docs/configuration.md: {missing}"
    assert not unknown, f"docs/configuration.md documents keys that do not exist: {unknown}"


BASE = {
    "account": {"url": "http://127.0.0.1:9/api/v2", "api_key": "key-1234",
                "access_token": "token-1234"},
    "mirrors": [{"name": "docs", "local": "~/docs", "remote": "/docs"}],
}
WEBHOOK = {"listen": "127.0.0.1:8787", "token": "hook-1234"}


def _base_for(key: str) -> dict:
    doc = copy.deepcopy(BASE)
    if key.startswith("account.webhook."):
        doc["account"]["webhook"] = dict(WEBHOOK)
    return doc


def _parent(doc: dict, key: str) -> tuple[dict, str]:
    *parts, leaf = key.split(".")
    node = doc
    for part in parts:
        node = node["mirrors"][0] if part == "mirrors[]" else node.setdefault(part, {})
    return node, leaf


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A home of our own, for ``~`` and for the XDG default of ``state_dir``."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    for var in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "SYNCD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return h


def _load(tmp_path: Path, name: str, doc: dict, home: Path):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    path.chmod(0o600)
    return load_config(path, {"HOME": str(home)})


@pytest.mark.parametrize("key", schema_keys())
def test_configuration_md_default_is_the_parsers(key, tmp_path, home):
    default = documented_keys((DOCS / "configuration.md").read_text(encoding="utf-8"))[key]
    without = _base_for(key)
    node, leaf = _parent(without, key)
    if default.startswith("required"):
        node.pop(leaf, None)
        with pytest.raises(ConfigError, match=f"missing required key '{leaf}'"):
            _load(tmp_path, "without.yaml", without, home)
        return
    m = re.fullmatch(r"`([^`]*)`", default)
    assert m, f"{key}: the default must be 'required' or one `yaml value`, not {default!r}"
    node.pop(leaf, None)
    expected = _load(tmp_path, "without.yaml", without, home)
    written = _base_for(key)
    node, leaf = _parent(written, key)
    node[leaf] = yaml.safe_load(m.group(1))
    got = _load(tmp_path, "with.yaml", written, home)
    assert dataclasses.replace(got, path=expected.path) == expected, (
        f"{key}: {m.group(1)} is not the default")


def test_a_wrong_default_in_the_docs_would_be_caught(tmp_path, home):
    """The check above can fail: a value other than the default loads differently."""
    doc = copy.deepcopy(BASE)
    doc["mirrors"][0]["transfers"] = 5
    plain = _load(tmp_path, "a.yaml", copy.deepcopy(BASE), home)
    assert dataclasses.replace(_load(tmp_path, "b.yaml", doc, home), path=plain.path) != plain


# --- config.example.yaml ------------------------------------------------------------

EXAMPLE_ENV = {"EXAVAULT_API_KEY": "example-key", "EXAVAULT_ACCESS_TOKEN": "example-token",
               "EXAVAULT_WEBHOOK_TOKEN": "example-hook-token"}


def _example_text() -> str:
    return (REPO / "config.example.yaml").read_text(encoding="utf-8")


def _example_with_webhook() -> str:
    """The example with its commented-out webhook block put in place of ``webhook: null``."""
    lines = _example_text().splitlines()
    i = next(i for i, line in enumerate(lines) if re.match(r"  webhook: null\b", line))
    block = []
    for line in lines[i + 1:]:
        if not line.startswith("  # "):
            break
        block.append("  " + line[4:])
    assert block and block[0].startswith("  webhook:"), block
    return "\n".join(lines[:i] + block + lines[i + 1 + len(block):]) + "\n"


def test_example_writes_out_every_key():
    doc = yaml.safe_load(_example_text())
    hooked = yaml.safe_load(_example_with_webhook())
    missing = []
    for key in schema_keys():
        source = hooked if key.startswith("account.webhook.") else doc
        try:
            node, leaf = _parent(copy.deepcopy(source), key)
        except (KeyError, IndexError, TypeError):
            missing.append(key)
            continue
        if not isinstance(node, dict) or leaf not in node:
            missing.append(key)
    assert not missing, f"keys not written out in config.example.yaml: {missing}"


def test_example_values_are_the_defaults(tmp_path, home):
    example = load_config(REPO / "config.example.yaml", {**EXAMPLE_ENV, "HOME": str(home)})
    m = example.mirrors[0]
    minimal = {"account": {"url": example.account.url, "api_key": "example-key",
                           "access_token": "example-token"},
               "mirrors": [{"name": m.name, "local": str(m.local), "remote": m.remote}]}
    plain = _load(tmp_path, "minimal.yaml", minimal, home)
    assert dataclasses.replace(example, path=plain.path) == plain


def test_example_webhook_block_loads_with_its_defaults(tmp_path, home):
    path = tmp_path / "hooked.yaml"
    path.write_text(_example_with_webhook(), encoding="utf-8")
    c = load_config(path, {**EXAMPLE_ENV, "HOME": str(home)})
    hook = c.account.webhook
    assert (hook.host, hook.port, hook.token, hook.path) == (
        "127.0.0.1", 8787, "example-hook-token", "/")
