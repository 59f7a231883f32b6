"""The command line's shape (issue 17): the parser and each command's module agree,
and no command module imports ``syncd.cli.app`` (the entry point imports them)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import syncd.cli
from syncd.cli.app import COMMANDS
from syncd.cli.parser import build_parser

CLI = Path(syncd.cli.__file__).parent


def test_every_parsed_command_has_a_module_with_command():
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == set(COMMANDS)
    for name, module in COMMANDS.items():
        assert callable(getattr(importlib.import_module(module), "command", None)), name


def test_no_cli_module_imports_the_entry_point():
    for path in CLI.glob("*.py"):
        if path.name == "app.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert "syncd.cli.app" not in names, path.name
