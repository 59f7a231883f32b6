"""The layers of syncd, checked from the imports of every module (read with ``ast``,
nothing is imported): only ``syncd.session`` (and the CLI's service-specific
commands) know which service an account is, and the emulator stands alone."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "syncd"
SERVICE = "syncd.remote.exavault"

# Modules that see the remote side only through syncd.remote.backend.
SERVICE_NEUTRAL = ("syncd.engine", "syncd.reconcile", "syncd.transfer", "syncd.state",
                   "syncd.local", "syncd.remote.tracker", "syncd.remote.backend",
                   "syncd.remote.webhook", "syncd.remote.trash", "syncd.remote.errors",
                   "syncd.remote.confirm", "syncd.remote.snapshot")
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


def imports_of(source: str, package: str) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
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
    if any(within(name, layer) for layer in SERVICE_NEUTRAL):
        wrong = sorted(i for i in found if within(i, SERVICE))
        assert not wrong, f"{name} imports {wrong}: only syncd.session picks the service"
    if within(name, EMULATORS):
        wrong = sorted(i for i in found if within(i, "syncd") and not within(i, EMULATORS))
        assert not wrong, f"{name} imports {wrong}: the emulator imports nothing from syncd"


@pytest.mark.parametrize("line", [
    "from syncd.remote import exavault",
    "from syncd.remote.exavault.api import ExaVaultClient",
    "import syncd.remote.exavault.backend",
    "from .exavault import feed",
])
def test_the_check_sees_every_spelling(line):
    found = imports_of(line, "syncd.remote")
    assert any(within(i, SERVICE) for i in found)


def test_relative_imports_resolve_inside_the_emulator():
    found = imports_of("from . import render\nfrom .store import Row", "syncd.emulators.exavault")
    assert found == {"syncd.emulators.exavault", "syncd.emulators.exavault.render",
                     "syncd.emulators.exavault.store", "syncd.emulators.exavault.store.Row"}
