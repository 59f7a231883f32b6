"""`syncd service install`: the units it writes start this installation's syncd,
load the credentials it stored, and nothing is replaced or printed that should not
be. (Running systemctl with --now, and systemd's verdict on the written units, are
in tests/integration/test_systemd_analyze.py.)"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from syncd.cli import exitcodes, service
from syncd.cli.app import main
from tests.helpers.package_data import EXAMPLE_CONFIG
from tests.helpers.systemd_units import parse_unit

KEY, TOKEN = "key-5f2a9c77d1", "token-81be07aa42"

CONFIG = EXAMPLE_CONFIG.read_text()  # its secrets are ${EXAVAULT_API_KEY}, ...


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A home with a config in its default place, syncd started as
    ``HOME/venv/bin/syncd``, and the secrets exported."""
    home = tmp_path / "home"
    (home / ".config" / "syncd").mkdir(parents=True)
    config = home / ".config" / "syncd" / "config.yaml"
    config.write_text(CONFIG)
    config.chmod(0o600)
    bindir = home / "venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "syncd").write_text("#!/bin/sh\n")
    (bindir / "syncd").chmod(0o755)
    for var in ("XDG_CONFIG_HOME", "SYNCD_CONFIG", "EXAVAULT_API_KEY", "EXAVAULT_ACCESS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("EXAVAULT_API_KEY", KEY)
    monkeypatch.setenv("EXAVAULT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setattr("sys.argv", [str(bindir / "syncd"), "service", "install"])
    monkeypatch.setattr("sys.executable", str(bindir / "python"))
    return home


def units(home: Path) -> Path:
    return home / ".config" / "systemd" / "user"


def service_of(path: Path) -> dict[str, list[str]]:
    return parse_unit(path.read_text(), path.name)["Service"]


# --- which syncd the unit starts ----------------------------------------------------------


def test_the_script_that_runs_now(tmp_path):
    script = tmp_path / "venv" / "bin" / "syncd"
    script.parent.mkdir(parents=True)
    script.write_text("")
    assert service.syncd_command(str(script), "/usr/bin/python3") == [str(script)]


def test_a_pipx_link_is_kept_as_a_link(tmp_path):
    """pipx's ~/.local/bin/syncd points into its venv; the link is what survives
    `pipx reinstall`."""
    target = tmp_path / "pipx" / "venvs" / "syncd" / "bin" / "syncd"
    target.parent.mkdir(parents=True)
    target.write_text("")
    link = tmp_path / "bin" / "syncd"
    link.parent.mkdir()
    link.symlink_to(target)
    assert service.syncd_command(str(link), str(target.parent / "python")) == [str(link)]


def test_python_dash_m_finds_the_script_beside_its_python(tmp_path):
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "syncd").write_text("")
    (bindir / "syncd").chmod(0o755)
    assert service.syncd_command("/src/syncd/__main__.py", str(bindir / "python")) == [
        str(bindir / "syncd")]


def test_without_a_script_python_dash_m(tmp_path):
    python = str(tmp_path / "python3")
    assert service.syncd_command("/src/syncd/__main__.py", python) == [python, "-m", "syncd"]


@pytest.mark.parametrize(("arg", "written"), [
    ("/opt/syncd/bin/syncd", "/opt/syncd/bin/syncd"),
    ("/home/ann/.local/bin/syncd", "%h/.local/bin/syncd"),
    ("/home/annex/bin/syncd", "/home/annex/bin/syncd"),  # not under /home/ann
    ("/opt/my tools/syncd", '"/opt/my tools/syncd"'),
    ("/opt/100%/syncd", "/opt/100%%/syncd"),
    ("/opt/$HOME/syncd", "/opt/$$HOME/syncd"),
    ('/opt/a"b\\c/syncd', '"/opt/a\\"b\\\\c/syncd"'),
    ("/home/ann/my dir/syncd", '"%h/my dir/syncd"'),
])
def test_exec_start_words_are_escaped_for_systemd(arg, written):
    assert service.exec_arg(arg, "/home/ann") == written


# --- what is written -----------------------------------------------------------------------


def test_install_writes_the_daemon_unit_with_this_syncd(home, capsys):
    assert main(["service", "install"]) == 0
    unit = units(home) / "syncd.service"
    assert service_of(unit)["ExecStart"] == ["%h/venv/bin/syncd run"]
    # Everything else is the shipped unit, line for line.
    shipped = service.shipped_unit("syncd.service").splitlines()
    written = unit.read_text().splitlines()
    assert [a for a, b in zip(shipped, written, strict=True) if a != b] == [
        "ExecStart=%h/.local/bin/syncd run"]
    out = capsys.readouterr().out
    assert f"wrote {unit}" in out
    assert "  systemctl --user daemon-reload\n" in out
    assert "  systemctl --user enable --now syncd.service\n" in out
    assert "loginctl enable-linger" in out
    # The config reads the secrets from the environment: say how the service gets them.
    assert "EXAVAULT_API_KEY, EXAVAULT_ACCESS_TOKEN" in out and "--credentials" in out
    assert KEY not in out and TOKEN not in out


def test_install_timer_writes_the_timer_and_its_oneshot(home, capsys):
    assert main(["service", "install", "--timer"]) == 0
    assert sorted(p.name for p in units(home).iterdir()) == ["syncd-sync.service",
                                                             "syncd.timer"]
    assert service_of(units(home) / "syncd-sync.service")["ExecStart"] == [
        "%h/venv/bin/syncd sync --quiet"]
    assert (units(home) / "syncd.timer").read_text() == service.shipped_unit("syncd.timer")
    out = capsys.readouterr().out
    assert "  systemctl --user enable --now syncd.timer\n" in out
    assert "list-timers" in out


def test_installing_both_kinds_says_to_pick_one(home, capsys):
    assert main(["service", "install"]) == 0
    assert main(["service", "install", "--timer"]) == 0
    assert "note: the daemon syncd.service is installed too; run only one of the two" in (
        capsys.readouterr().out)


def test_an_explicit_config_goes_into_exec_start(home, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere" / "sync config.yaml"
    other.parent.mkdir()
    other.write_text(CONFIG)
    assert main(["service", "install", "--config", str(other)]) == 0
    assert service_of(units(home) / "syncd.service")["ExecStart"] == [
        f'%h/venv/bin/syncd run --config "{other}"']
    # $SYNCD_CONFIG counts too: the service would not see the shell's variable.
    monkeypatch.setenv("SYNCD_CONFIG", str(home / ".config" / "syncd" / "config.yaml"))
    assert main(["service", "install", "--timer"]) == 0
    assert service_of(units(home) / "syncd-sync.service")["ExecStart"] == [
        "%h/venv/bin/syncd sync --quiet --config %h/.config/syncd/config.yaml"]


def test_unchanged_units_are_left_alone_and_a_changed_one_needs_force(home, capsys):
    assert main(["service", "install"]) == 0
    unit = units(home) / "syncd.service"
    assert main(["service", "install"]) == 0
    assert f"unchanged {unit}" in capsys.readouterr().out
    unit.write_text(unit.read_text() + "# my edit\n")
    assert main(["service", "install"]) == exitcodes.CANTCREAT
    err = capsys.readouterr().err
    assert err == f"syncd: {unit} exists and differs (use --force to replace it)\n"
    assert unit.read_text().endswith("# my edit\n")
    assert main(["service", "install", "--force"]) == 0
    assert "# my edit" not in unit.read_text()


def test_print_writes_nothing(home, capsys):
    assert main(["service", "install", "--timer", "--credentials", "--print"]) == 0
    out = capsys.readouterr().out
    assert f"# {units(home) / 'syncd.timer'}\n" in out
    assert "ExecStart=%h/venv/bin/syncd sync --quiet" in out
    assert "LoadCredential=EXAVAULT_API_KEY:%h/.config/syncd/credentials/EXAVAULT_API_KEY" in out
    assert not units(home).exists()
    assert not (home / ".config" / "syncd" / "credentials").exists()
    assert KEY not in out and TOKEN not in out


def test_without_a_config_it_points_to_init(home, capsys):
    (home / ".config" / "syncd" / "config.yaml").unlink()
    assert main(["service", "install"]) == exitcodes.CONFIG
    err = capsys.readouterr().err
    assert err.startswith("syncd: no config file at ") and "run `syncd init` first" in err
    assert not units(home).exists()


# --- credentials -----------------------------------------------------------------------


def test_credentials_are_stored_privately_and_loaded_by_the_unit(home, capsys):
    assert main(["service", "install", "--credentials"]) == 0
    store = home / ".config" / "syncd" / "credentials"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert (store / "EXAVAULT_API_KEY").read_text() == KEY
    assert (store / "EXAVAULT_ACCESS_TOKEN").read_text() == TOKEN
    for f in store.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert service_of(units(home) / "syncd.service")["LoadCredential"] == [
        "EXAVAULT_API_KEY:%h/.config/syncd/credentials/EXAVAULT_API_KEY",
        "EXAVAULT_ACCESS_TOKEN:%h/.config/syncd/credentials/EXAVAULT_ACCESS_TOKEN"]
    assert "#LoadCredential" not in (units(home) / "syncd.service").read_text()
    out = capsys.readouterr().out
    assert "EXAVAULT_API_KEY, EXAVAULT_ACCESS_TOKEN: stored in" in out
    assert KEY not in out and TOKEN not in out


def test_credentials_follow_the_names_the_config_uses(home, monkeypatch):
    config = home / ".config" / "syncd" / "config.yaml"
    config.write_text(CONFIG.replace("${EXAVAULT_ACCESS_TOKEN}", "${WORK_TOKEN}")
                      .replace("${EXAVAULT_API_KEY}", "literal-key-in-file"))
    monkeypatch.setenv("WORK_TOKEN", "tok-123456")
    assert main(["service", "install", "--timer", "--credentials"]) == 0
    assert service_of(units(home) / "syncd-sync.service")["LoadCredential"] == [
        "WORK_TOKEN:%h/.config/syncd/credentials/WORK_TOKEN"]


def test_credentials_need_the_variables_set(home, monkeypatch, capsys):
    monkeypatch.delenv("EXAVAULT_ACCESS_TOKEN")
    assert main(["service", "install", "--credentials"]) == exitcodes.CONFIG
    assert capsys.readouterr().err == (
        "syncd: --credentials: EXAVAULT_ACCESS_TOKEN is not set in this shell; export the "
        "value, then run this again\n")
    assert not (home / ".config" / "syncd" / "credentials").exists()
    assert not units(home).exists()


def test_the_written_credentials_are_what_syncd_reads_back(home):
    """The loop closed: the config loads with the stored files as
    $CREDENTIALS_DIRECTORY and no secret in the environment (as in the unit)."""
    from syncd.config.loader import load_config

    assert main(["service", "install", "--credentials"]) == 0
    store = home / ".config" / "syncd" / "credentials"
    config = load_config(home / ".config" / "syncd" / "config.yaml",
                         {"HOME": str(home), "CREDENTIALS_DIRECTORY": str(store)})
    assert (config.account.api_key, config.account.access_token) == (KEY, TOKEN)


def test_a_refused_install_stores_no_credentials(home):
    unit = units(home) / "syncd.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("# the user's own unit\n")
    assert main(["service", "install", "--credentials"]) == exitcodes.CANTCREAT
    assert not (home / ".config" / "syncd" / "credentials").exists()
    assert unit.read_text() == "# the user's own unit\n"


def test_credentials_stored_earlier_are_loaded_by_a_later_install(home, capsys, monkeypatch):
    """A reinstall (the timer now, or --force after an upgrade) keeps loading the
    stored secrets; only --credentials writes them."""
    assert main(["service", "install", "--credentials"]) == 0
    monkeypatch.delenv("EXAVAULT_API_KEY")
    monkeypatch.delenv("EXAVAULT_ACCESS_TOKEN")
    capsys.readouterr()
    assert main(["service", "install", "--timer"]) == 0
    assert len(service_of(units(home) / "syncd-sync.service")["LoadCredential"]) == 2
    out = capsys.readouterr().out
    assert "EXAVAULT_API_KEY, EXAVAULT_ACCESS_TOKEN: kept (--credentials replaces them)" in out
    assert "--credentials, or give the unit an EnvironmentFile=" not in out
    assert (home / ".config" / "syncd" / "credentials" / "EXAVAULT_API_KEY").read_text() == KEY


def test_a_partial_set_of_stored_credentials_is_not_used(home):
    assert main(["service", "install", "--credentials"]) == 0
    (home / ".config" / "syncd" / "credentials" / "EXAVAULT_ACCESS_TOKEN").unlink()
    assert main(["service", "install", "--timer"]) == 0
    assert "LoadCredential" not in service_of(units(home) / "syncd-sync.service")
