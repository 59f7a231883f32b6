"""The layers of syncd, checked from the imports of every module (read with ``ast``,
nothing is imported): only ``syncd.session`` knows which service an account is,
each part imports only the parts below it, and the emulator stands alone."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "syncd"
SERVICES = ("syncd.remote.exavault", "syncd.remote.egnyte")

EMULATORS = "syncd.emulators"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (``from a import b`` counts as
    ``a`` and ``a.b``: ``b`` may be a submodule)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imports_of(path.read_text(encoding="utf-8"), package)


def _runtime_nodes(tree: ast.AST):
    """Every node, except those under ``if TYPE_CHECKING:`` (imports for type
    annotations only, never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in (
                    "TYPE_CHECKING", "typing.TYPE_CHECKING"):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def imports_of(source: str, package: str) -> set[str]:
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_seen():
    names = {module_name(p) for p in MODULES}
    assert {"syncd.engine", "syncd.session", "syncd.remote.tracker",
            "syncd.emulators.exavault.app"} <= names


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_layers(path):
    name = module_name(path)
    found = imports(path)
    mine = [s for s in SERVICES if within(name, s)]
    if name != "syncd.session":
        wrong = sorted(i for i in found for s in SERVICES if within(i, s) and s not in mine)
        assert not wrong, f"{name} imports {wrong}: only syncd.session knows the service"
    if within(name, EMULATORS):
        wrong = sorted(i for i in found if within(i, "syncd") and not within(i, EMULATORS))
        assert not wrong, f"{name} imports {wrong}: the emulator imports nothing from syncd"


@pytest.mark.parametrize("line", [
    "from syncd.remote import exavault",
    "from syncd.remote.exavault.api import ExaVaultClient",
    "import syncd.remote.exavault.backend",
    "from .exavault import feed",
    "from syncd.remote.egnyte.backend import EgnyteBackend",
    "from .egnyte import api",
])
def test_the_check_sees_every_spelling(line):
    found = imports_of(line, "syncd.remote")
    assert any(within(i, s) for i in found for s in SERVICES)


def test_relative_imports_resolve_inside_the_emulator():
    found = imports_of("from . import render\nfrom .store import Row", "syncd.emulators.exavault")
    assert found == {"syncd.emulators.exavault", "syncd.emulators.exavault.render",
                     "syncd.emulators.exavault.store", "syncd.emulators.exavault.store.Row"}


# ----------------------------------------------------------------------------- the layers
# What each part of syncd may import besides itself (docs/architecture.md shows the
# same table; test_the_architecture_page_shows_this_table keeps them equal). The
# parts are the folders of syncd/ and its top-level modules; ``remote/exavault`` is
# its own part. A part not listed may import nothing from syncd.
ANY = "anything"
MAY_IMPORT: dict[str, set[str] | str] = {
    "model": set(),
    "logs": set(),
    "crashpoints": set(),
    "heartbeat": set(),
    "report": set(),
    "config": {"model", "logs"},
    "local": {"model", "config", "crashpoints", "heartbeat"},
    "reconcile": {"model"},
    "outcome": {"remote"},
    "state": {"model", "config", "local", "remote", "report", "crashpoints"},
    "remote": {"model", "state"},
    "remote/exavault": {"model", "remote"},
    "remote/egnyte": {"model", "remote"},
    "transfer": {"model", "local", "remote", "state", "crashpoints", "heartbeat"},
    "session": {"config", "remote", "remote/exavault", "remote/egnyte", "state"},
    "result": {"outcome", "remote", "report", "state", "cli"},
    "engine": {"model", "config", "local", "reconcile", "remote", "state", "transfer",
               "session", "outcome", "result", "report", "crashpoints"},
    "daemon": {"model", "config", "local", "remote", "state", "engine", "session",
               "outcome", "result", "report", "heartbeat", "logs", "cli"},
    "cli": ANY,
    "__main__": {"cli"},
    "emulators": set(),
}


def part_of(name: str) -> str | None:
    """The part a module of syncd belongs to (``syncd.transfer.uploads``: transfer)."""
    bits = name.split(".")
    if bits[0] != "syncd" or len(bits) == 1:
        return None
    if bits[1:3] in (["remote", "exavault"], ["remote", "egnyte"]):
        return "remote/" + bits[2]
    return bits[1]


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_each_part_imports_only_the_parts_below_it(path):
    name = module_name(path)
    me = part_of(name)
    if me is None:  # syncd/__init__.py
        return
    assert me in MAY_IMPORT, f"{name}: a new part of syncd: give it a row in MAY_IMPORT"
    allowed = MAY_IMPORT[me]
    used = {part_of(i) for i in imports(path) if i != "syncd.__version__"} - {None, me}
    wrong = set() if allowed == ANY else used - allowed
    assert not wrong, f"{name} ({me}/) imports {sorted(wrong)}; it may import {sorted(allowed)}"


def test_the_check_sees_runtime_imports_only():
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from syncd.state import index\n" \
             "from syncd import model\n"
    assert imports_of(source, "syncd.local") == {"typing", "typing.TYPE_CHECKING", "syncd",
                                                 "syncd.model"}


def test_the_architecture_page_shows_this_table():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith("`") \
                and "may import" not in cells[2]:
            part = cells[0].strip("`").rstrip("/").removesuffix(".py")
            if part in MAY_IMPORT:
                rows[part] = cells[2]
    assert set(rows) == set(MAY_IMPORT), "docs/architecture.md lacks a part's row"
    for part, allowed in MAY_IMPORT.items():
        shown = rows[part]
        if allowed == ANY:
            assert shown == ANY, part
        else:
            names = {n.strip("` ").rstrip("/").removesuffix(".py") for n in shown.split(",")} - {"nothing", ""}
            assert names == allowed, f"{part}: the page says {shown!r}"


def test_the_architecture_page_names_every_module():
    """docs/architecture.md's tree names each module of syncd/ (the emulators have
    their own page) under its folder, so a new module gets its line."""
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = page.split("## The tree", 1)[1].split("```", 2)[1]
    groups: dict[str, str] = {}
    top = None
    for line in block.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            top = line.split()[0]
            groups[top] = ""
        if top is not None:
            groups[top] += " " + line
    missing = []
    for path in MODULES:
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "emulators" or path.name == "__init__.py":
            continue
        head = rel.parts[0] + ("/" if len(rel.parts) > 1 else "")
        if head not in groups or (len(rel.parts) > 1 and f"{rel.name}" not in groups[head]):
            missing.append(str(rel))
    assert not missing, f"not in docs/architecture.md's tree: {missing}"
