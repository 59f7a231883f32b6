"""The unit files in systemd/: a strict parse, the directives the daemon relies
on, and (where systemd-analyze exists) systemd's own verdict on them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from syncd.cli import exitcodes
from syncd.daemon.notify import Notifier
from tests.helpers.systemd_units import SYSTEM_UNIT, USER_UNIT

SECTIONS = {"Unit", "Service", "Install"}
# Directives systemd lets a unit repeat (list-valued ones); any other key given
# twice is a mistake: systemd silently keeps the last one.
REPEATABLE = {
    "After", "Before", "Wants", "Requires", "RequiresMountsFor", "Documentation",
    "Environment", "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths",
    "SystemCallFilter", "RestrictAddressFamilies", "RestartPreventExitStatus",
    "SuccessExitStatus", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop",
    "ExecStopPost", "WantedBy", "Alias",
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


BOTH = pytest.mark.parametrize("path", [USER_UNIT, SYSTEM_UNIT], ids=["user", "system"])


# --- the parser itself ----------------------------------------------------------------


def test_parser_reads_sections_and_repeats():
    unit = parse_unit("# c\n[Unit]\nAfter=a\nAfter=b\n\n[Service]\n; c\nExecStart=/x \\\n  run\n")
    assert unit == {"Unit": {"After": ["a", "b"]}, "Service": {"ExecStart": ["/x  run"]}}


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[Service]\nType=notify\nType=simple\n", "given twice"),
        ("[Sevrice]\nType=notify\n", "unknown section"),
        ("[Service]\n[Service]\n", "section [Service] given twice"),
        ("Type=notify\n", "outside any section"),
        ("[Service]\nType notify\n", "not a Key=value"),
        ("[Service]\nType = notify\n", "not a Key=value"),
        ("[Service]\n  Type=notify\n", "indented"),
        ("[Service\n", "malformed section"),
        ("[Service]\nExecStart=/x \\\n", "continuation"),
    ],
)
def test_parser_is_strict(text, complaint):
    with pytest.raises(UnitSyntaxError, match=re.escape(complaint)):
        parse_unit(text)


def test_time_spans():
    assert seconds("120s") == 120
    assert seconds("2min") == 120
    assert seconds("1min 30s") == 90
    assert seconds("30") == 30
    with pytest.raises(ValueError):
        seconds("soon")


# --- what both units must say ------------------------------------------------------------


@BOTH
def test_unit_parses_with_known_sections(path):
    assert set(load(path)) == SECTIONS


@BOTH
def test_notify_watchdog_and_reload(path):
    unit = load(path)
    assert one(unit, "Service", "Type") == "notify"
    assert one(unit, "Service", "NotifyAccess") == "main"
    watchdog = seconds(one(unit, "Service", "WatchdogSec"))
    assert 30 <= watchdog <= 600
    # What the daemon will read back: systemd exports WatchdogSec in µs as
    # $WATCHDOG_USEC; syncd pings at half of it.
    n = Notifier.from_env({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": str(int(watchdog * 1e6))})
    assert n.watchdog_interval == watchdog / 2
    reload = one(unit, "Service", "ExecReload").split()
    assert Path(reload[0]).name == "kill" and reload[1:] == ["-HUP", "$MAINPID"]


@BOTH
def test_exec_start_runs_the_daemon(path):
    argv = one(load(path), "Service", "ExecStart").split()
    assert len(argv) == 2 and argv[0].endswith("/syncd") and argv[1] == "run"


@BOTH
def test_restart_policy(path):
    unit = load(path)
    assert one(unit, "Service", "Restart") == "on-failure"
    assert seconds(one(unit, "Service", "RestartSec")) >= 5
    prevent = words(unit, "Service", "RestartPreventExitStatus")
    assert str(exitcodes.CONFIG) in prevent  # a config error must not restart-loop
    assert str(exitcodes.NOPERM) in prevent
    assert str(exitcodes.TEMPFAIL) not in prevent  # "run again later" is exactly a restart
    # The daemon stops within 10 s of SIGTERM.
    assert seconds(one(unit, "Service", "TimeoutStopSec")) >= 20


@BOTH
def test_baseline_hardening(path):
    unit = load(path)
    assert one(unit, "Service", "NoNewPrivileges") == "yes"
    assert one(unit, "Service", "UMask") == "0077"
    assert one(unit, "Service", "LockPersonality") == "yes"
    assert one(unit, "Service", "RestrictRealtime") == "yes"
    assert one(unit, "Service", "SystemCallArchitectures") == "native"
    assert one(unit, "Service", "MemoryDenyWriteExecute") == "yes"
    assert set(words(unit, "Service", "RestrictAddressFamilies")) == {
        "AF_UNIX", "AF_INET", "AF_INET6"}


# --- the user unit -------------------------------------------------------------------------


def test_user_unit_specifics():
    unit = load(USER_UNIT)
    assert one(unit, "Service", "ExecStart") == "%h/.local/bin/syncd run"
    assert one(unit, "Install", "WantedBy") == "default.target"
    # A user manager cannot switch users, and has no system targets to order on.
    assert "User" not in unit["Service"]
    assert "network-online.target" not in " ".join(unit["Unit"].get("After", []))


# Settings a per-user manager can only apply inside an unprivileged user
# namespace; where those are unavailable the unit would not start at all.
NEEDS_USER_NAMESPACE = {
    "PrivateTmp", "PrivateDevices", "PrivateNetwork", "PrivateIPC", "PrivateMounts",
    "PrivateUsers", "ProtectSystem", "ProtectHome", "ReadWritePaths", "ReadOnlyPaths",
    "InaccessiblePaths", "TemporaryFileSystem", "ProtectHostname", "ProtectClock",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
    "ProtectControlGroups", "ProtectProc", "ProcSubset", "RemoveIPC",
    "CapabilityBoundingSet",
}


def test_user_unit_avoids_namespace_sandboxing():
    used = set(load(USER_UNIT)["Service"]) & NEEDS_USER_NAMESPACE
    assert not used


# --- the system template -----------------------------------------------------------------


def test_system_unit_runs_as_the_instance_user():
    unit = load(SYSTEM_UNIT)
    assert one(unit, "Service", "User") == "%i"
    assert one(unit, "Service", "ExecStart") == "/usr/local/bin/syncd run"
    assert one(unit, "Install", "WantedBy") == "multi-user.target"
    assert "network-online.target" in words(unit, "Unit", "Wants")
    assert "network-online.target" in words(unit, "Unit", "After")


def test_system_unit_does_not_use_manager_user_specifiers():
    """In the system manager %h/%u/%U/%s are root's, whatever User= says."""
    text = "\n".join(line for line in SYSTEM_UNIT.read_text().splitlines()
                     if not line.lstrip().startswith(("#", ";")))
    assert not re.findall(r"%[huUsgG]", text)


def test_system_unit_sandbox():
    unit = load(SYSTEM_UNIT)
    service = unit["Service"]
    assert one(unit, "Service", "ProtectSystem") == "strict"
    assert one(unit, "Service", "ProtectHome") == "read-only"
    assert one(unit, "Service", "PrivateTmp") == "yes"
    for key in ("ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
                "RestrictSUIDSGID", "RestrictNamespaces", "PrivateDevices"):
        assert one(unit, "Service", key) == "yes", key
    assert one(unit, "Service", "CapabilityBoundingSet") == ""
    assert words(unit, "Service", "ReadWritePaths") == ["/home/%i/.local/state/syncd"]
    # Removing a real login user's IPC objects would hurt their other sessions.
    assert "RemoveIPC" not in service
    assert "226" in words(unit, "Service", "RestartPreventExitStatus")


# --- systemd's own opinion ------------------------------------------------------------------


