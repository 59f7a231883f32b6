"""The documentation is checked against the code, so it cannot drift.

* docs/configuration.md documents exactly the keys of the config schema
  (``syncd/config/schema.py``, which the parser walks), each with the schema's
  default, and each documented default loads to the same configuration as
  leaving the key out;
* config.example.yaml writes out every key, each with the schema's default;
* docs/architecture.md's rule table is the planner's;
* docs/operations.md lists every exit code of ``syncd/cli/exitcodes.py``, and its
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

from syncd.cli import exitcodes
from syncd.config import schema
from syncd.config.loader import ConfigError, load_config
from tests.helpers.package_data import EXAMPLE_CONFIG

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

def schema_keys() -> list[str]:
    """Every key of the configuration, dotted (``mirrors[].bandwidth.up``): the
    schema's table, which the parser walks."""
    return [path for path, _ in schema.keys()]


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


def test_configuration_md_shows_the_schemas_defaults():
    documented = documented_keys((DOCS / "configuration.md").read_text(encoding="utf-8"))
    wrong = []
    for path, key in schema.keys():
        want = "required" if key.required else f"`{schema.default_text(key)}`"
        if documented.get(path) != want:
            wrong.append(f"{path}: {documented.get(path)} (the schema says {want})")
    assert not wrong, f"docs/configuration.md's defaults differ from the schema: {wrong}"


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
    return EXAMPLE_CONFIG.read_text(encoding="utf-8")


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


def test_example_writes_the_schemas_defaults():
    doc = yaml.safe_load(_example_text())
    hooked = yaml.safe_load(_example_with_webhook())
    wrong = []
    for path, key in schema.keys():
        if key.required:
            continue
        node, leaf = _parent(copy.deepcopy(hooked if path.startswith("account.webhook.")
                                           else doc), path)
        want, got = yaml.safe_load(schema.default_text(key)), node[leaf]
        if isinstance(want, dict) and isinstance(got, dict):  # its keys are checked one by one
            got = {k: got.get(k) for k in want}
        if got != want:
            wrong.append(f"{path}: {got!r} (the schema says {schema.default_text(key)})")
    assert not wrong, f"config.example.yaml's values differ from the defaults: {wrong}"


def test_example_values_are_the_defaults(tmp_path, home):
    example = load_config(EXAMPLE_CONFIG, {**EXAMPLE_ENV, "HOME": str(home)})
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


# --- architecture.md ----------------------------------------------------------------

def planner_rules() -> list[tuple[str, str, str]]:
    """(rule, local, remote) of each row of the rule table in planner.py's docstring."""
    from syncd.reconcile import planner

    lines = planner.__doc__.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Rules per key, two-way"))
    seps = [i for i in range(start, len(lines)) if re.fullmatch(r"=+(  +=+)+", lines[i])][:3]
    assert len(seps) == 3, "the rule table's layout changed"
    cols = [m.span() for m in re.finditer(r"=+", lines[seps[0]])]
    rows = []
    for line in lines[seps[1] + 1:seps[2]]:
        cells = [line[start:cols[c + 1][0] if c + 1 < len(cols) else None].strip()
                 for c, (start, _) in enumerate(cols)]
        if cells[0]:
            rows.append((cells[0], cells[1], cells[2]))
    return rows


def doc_rules() -> list[tuple[str, str, str]]:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        m = re.fullmatch(r"\| (\d+|C) \| `([^`]+)` \| `([^`]+)` \| .+ \|", line.strip())
        if m:
            rows.append(m.groups())
    return rows


def test_architecture_rule_table_is_the_planners():
    rules = planner_rules()
    assert len(rules) > 20 and ("C", "file", "file") in rules
    assert doc_rules() == rules


def test_architecture_names_every_backend_method():
    from syncd.remote.backend import Backend

    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    methods = [n for n, v in vars(Backend).items() if callable(v) and not n.startswith("_")]
    assert len(methods) >= 10
    missing = [n for n in methods if not re.search(rf"\| `{n}\(", text)]
    assert not missing, f"Backend methods not in docs/architecture.md: {missing}"


def test_architecture_names_every_index_table():
    from syncd.state import index

    tables = set()
    for migration in index.MIGRATIONS:
        tables |= set(re.findall(r"CREATE TABLE (\w+)", inspect.getsource(migration)))
    assert {"base", "remote", "queue"} <= tables
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    missing = [t for t in sorted(tables) if f"| `{t}` |" not in text]
    assert not missing, f"index tables not in docs/architecture.md: {missing}"


# --- operations.md ------------------------------------------------------------------

def test_operations_lists_every_exit_code():
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    codes = {n: v for n, v in vars(exitcodes).items() if n.isupper() and isinstance(v, int)}
    assert len(codes) >= 10
    missing = [f"{v} {n}" for n, v in codes.items() if not re.search(rf"^\| {v} \| `{n}` \| \w",
                                                                       text, re.MULTILINE)]
    assert not missing, f"exit codes not in docs/operations.md's table: {missing}"


# --- emulator.md --------------------------------------------------------------------

def test_emulator_md_shows_the_constructor_as_it_is():
    from syncd.emulators.exavault import Emulator

    text = (DOCS / "emulator.md").read_text(encoding="utf-8")
    m = re.search(r"emu = (Emulator\(root, \*,.*?\))\.start\(\)", text, re.DOTALL)
    assert m, "docs/emulator.md lost its Emulator(...) signature"
    call = ast.parse(m.group(1).replace("*,", "", 1), mode="eval").body
    documented = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    params = inspect.signature(Emulator.__init__).parameters
    actual = {n: p.default for n, p in params.items() if n not in ("self", "root")}
    assert documented == actual


def test_emulator_md_shows_the_egnyte_constructor_and_switches():
    from syncd.emulators.egnyte import Emulator
    from syncd.emulators.egnyte.cli import build_parser

    text = (DOCS / "emulator.md").read_text(encoding="utf-8")
    m = re.search(r"egnyte = (Emulator\(root, \*,.*?\))\.start\(\)", text, re.DOTALL)
    assert m, "docs/emulator.md lost the Egnyte Emulator(...) signature"
    call = ast.parse(m.group(1).replace("*,", "", 1), mode="eval").body
    documented = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    params = inspect.signature(Emulator.__init__).parameters
    assert documented == {n: p.default for n, p in params.items() if n not in ("self", "root")}
    usage = text[text.index("## Command line (Egnyte)"):text.index("## Storage (Egnyte)")]
    flags = [s for a in build_parser()._actions for s in a.option_strings
             if s.startswith("--") and s != "--help"]
    missing = [f for f in flags if not re.search(rf"{re.escape(f)}\b", usage)]
    assert not missing, f"Egnyte emulator switches not in docs/emulator.md: {missing}"


def test_emulator_md_names_every_command_line_switch():
    from syncd.emulators.exavault.cli import build_parser

    text = (DOCS / "emulator.md").read_text(encoding="utf-8")
    usage = text[text.index("## Command line"):text.index("## Storage")]
    flags = [s for a in build_parser()._actions for s in a.option_strings
             if s.startswith("--") and s != "--help"]
    assert "--fault-kinds" in flags
    missing = [f for f in flags if not re.search(rf"{re.escape(f)}\b", usage)]
    assert not missing, f"emulator switches not in docs/emulator.md: {missing}"


# --- README and links ---------------------------------------------------------------

def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_test_command_is_what_ci_runs():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in ci.splitlines() if "pytest" in line and "venv" in line)
    assert command.strip() in _readme()


def test_every_command_is_in_the_readme_and_every_readme_command_exists():
    from syncd.cli.app import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    commands = set(sub.choices)
    assert {"sync", "run", "status", "demo", "emulator"} <= commands
    text = _readme()
    blocks = "\n".join(re.findall(r"```sh\n(.*?)```", text, re.DOTALL))
    used = set(re.findall(r"(?:^|&& |\bbin/)syncd ([a-z]+)", blocks, re.MULTILINE))
    assert not used - commands, f"README runs commands that do not exist: {used - commands}"
    assert not commands - used, f"commands the README does not show: {commands - used}"


def _links(path: Path) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8")
    return re.findall(r"\]\(([^)#\s]*)(#[^)\s]*)?\)", text)


@pytest.mark.parametrize("doc", ["README.md", "docs/architecture.md", "docs/configuration.md",
                                 "docs/operations.md", "docs/emulator.md", "docs/sync.md",
                                 "docs/exavault-api.md",
                                 "docs/daemon.md", "systemd/README.md"])
def test_relative_links_lead_to_existing_files_and_headings(doc):
    path = REPO / doc
    bad = []
    for target, anchor in _links(path):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        dest = (path.parent / target).resolve() if target else path
        if not dest.exists():
            bad.append(target)
            continue
        if anchor and dest.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", dest.read_text(encoding="utf-8"), re.MULTILINE)
            slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                     for h in headings}
            if anchor[1:] not in slugs:
                bad.append(target + anchor)
    assert not bad, f"{doc}: broken links {bad}"
