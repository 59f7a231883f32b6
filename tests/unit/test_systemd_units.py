"""The unit files in systemd/ (shipped in the wheel as syncd/data/systemd/): a strict parse, the directives the daemon relies
on, and (where systemd-analyze exists) systemd's own verdict on them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from syncd.cli import exitcodes
from syncd.daemon.notify import Notifier
from tests.helpers.systemd_units import (
    SYNC_UNIT,
    SYSTEM_UNIT,
    TIMER_UNIT,
    USER_UNIT,
    UnitSyntaxError,
    load,
    one,
    parse_unit,
    seconds,
    words,
)

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
    assert set(load(path)) == {"Unit", "Service", "Install"}


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


# --- credentials -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [USER_UNIT, SYSTEM_UNIT, SYNC_UNIT],
                         ids=["user", "system", "sync"])
def test_units_show_how_to_load_the_secrets_as_credentials(path):
    """Each unit shows LoadCredential= for the two variables `syncd init` writes
    (commented out: a missing credential file would stop the unit from starting),
    with names that are the variables' (syncd reads $CREDENTIALS_DIRECTORY/NAME)."""
    examples = re.findall(r"^#LoadCredential=([A-Z_]+):(\S+)$", path.read_text(), re.MULTILINE)
    assert [name for name, _ in examples] == ["EXAVAULT_API_KEY", "EXAVAULT_ACCESS_TOKEN"]
    assert all(source.endswith("/" + name) for name, source in examples)
    assert "LoadCredential" not in load(path)["Service"]


# --- the timer: a sync every 15 minutes ----------------------------------------------------


def test_timer_starts_the_oneshot_not_the_daemon():
    timer = load(TIMER_UNIT)
    assert set(timer) == {"Unit", "Timer", "Install"}
    # Without Unit=, syncd.timer would start syncd.service, the daemon.
    assert one(timer, "Timer", "Unit") == SYNC_UNIT.name
    assert one(timer, "Timer", "OnCalendar") == "*:0/15"
    assert one(timer, "Timer", "Persistent") == "true"
    assert seconds(one(timer, "Timer", "RandomizedDelaySec")) <= 300
    assert one(timer, "Install", "WantedBy") == "timers.target"


def test_sync_unit_is_a_quiet_oneshot_sync():
    unit = load(SYNC_UNIT)
    assert set(unit) == {"Unit", "Service"}  # started by the timer, never enabled itself
    assert one(unit, "Service", "Type") == "oneshot"
    assert one(unit, "Service", "ExecStart") == "%h/.local/bin/syncd sync --quiet"
    # "run again later" (budget, server down, the daemon holds the lock) is no failure:
    # the next tick is the retry.
    assert words(unit, "Service", "SuccessExitStatus") == [str(exitcodes.TEMPFAIL)]
    assert "Restart" not in unit["Service"] and "WatchdogSec" not in unit["Service"]


def test_sync_unit_has_the_user_units_hardening():
    """The same unprivileged restrictions as syncd.service, and none that needs a
    user namespace."""
    daemon, sync = load(USER_UNIT)["Service"], load(SYNC_UNIT)["Service"]
    hardening = {k for k in daemon if k.startswith(("Restrict", "SystemCall", "Lock",
                                                    "NoNew", "MemoryDeny", "UMask"))}
    assert len(hardening) >= 9
    assert {k: sync.get(k) for k in hardening} == {k: daemon[k] for k in hardening}
    assert not set(sync) & NEEDS_USER_NAMESPACE
