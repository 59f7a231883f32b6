"""The shipped systemd units, and a strict reader of unit files, for the unit tests and
for `systemd-analyze`."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers.package_data import UNIT_DIR

USER_UNIT = UNIT_DIR / "syncd.service"

SYSTEM_UNIT = UNIT_DIR / "syncd@.service"

SYNC_UNIT = UNIT_DIR / "syncd-sync.service"

TIMER_UNIT = UNIT_DIR / "syncd.timer"

SECTIONS = {"Unit", "Service", "Timer", "Install"}
# Directives systemd lets a unit repeat (list-valued ones); any other key given
# twice is a mistake: systemd silently keeps the last one.
REPEATABLE = {
    "After", "Before", "Wants", "Requires", "RequiresMountsFor", "Documentation",
    "Environment", "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths",
    "SystemCallFilter", "RestrictAddressFamilies", "RestartPreventExitStatus",
    "SuccessExitStatus", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop",
    "ExecStopPost", "WantedBy", "Alias", "LoadCredential",
}

_SECTION = re.compile(r"\[([A-Za-z][A-Za-z0-9-]*)\]")
_ASSIGNMENT = re.compile(r"([A-Z][A-Za-z0-9]*)=(.*)")


class UnitSyntaxError(ValueError):
    pass


def parse_unit(text: str, name: str = "<unit>") -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values in order]}}``; raises UnitSyntaxError on
    anything systemd would ignore, merge or misread silently."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno, line = i + 1, lines[i]
        i += 1
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        where = f"{name}:{lineno}"
        if stripped.startswith("["):
            match = _SECTION.fullmatch(stripped)
            if not match:
                raise UnitSyntaxError(f"{where}: malformed section header {stripped!r}")
            section = match.group(1)
            if section not in SECTIONS:
                raise UnitSyntaxError(f"{where}: unknown section [{section}]")
            if section in sections:
                raise UnitSyntaxError(f"{where}: section [{section}] given twice")
            current = sections[section] = {}
            continue
        if current is None:
            raise UnitSyntaxError(f"{where}: assignment outside any section")
        if line != line.lstrip():
            raise UnitSyntaxError(f"{where}: indented line {line!r}")
        while stripped.endswith("\\"):  # a continuation line
            if i >= len(lines):
                raise UnitSyntaxError(f"{where}: continuation at end of file")
            stripped = stripped[:-1] + " " + lines[i].strip()
            i += 1
        match = _ASSIGNMENT.fullmatch(stripped)
        if not match:
            raise UnitSyntaxError(f"{where}: not a Key=value line: {stripped!r}")
        key, value = match.groups()
        if value != value.strip():
            raise UnitSyntaxError(f"{where}: stray whitespace around the value of {key}")
        if key in current and key not in REPEATABLE:
            raise UnitSyntaxError(f"{where}: {key}= given twice")
        current.setdefault(key, []).append(value)
    return sections


_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}


def seconds(value: str) -> float:
    """A systemd time span ("120s", "2min 30s", "90") in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
        raise ValueError(f"not a time span: {value!r}")
    return sum(float(n) * _TIME_UNITS[u or "s"] for n, u in parts)


def load(path: Path) -> dict[str, dict[str, list[str]]]:
    return parse_unit(path.read_text(encoding="utf-8"), path.name)


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    values = unit[section].get(key)
    assert values, f"[{section}] {key}= missing"
    assert len(values) == 1, f"[{section}] {key}= given {len(values)} times"
    return values[0]


def words(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> list[str]:
    return [w for v in unit[section].get(key, []) for w in v.split()]
