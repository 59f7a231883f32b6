"""The scripts `syncd completion SHELL` prints, loaded by the real shells the way
the parser's help says to install them, complete commands, options and choices
(each shell skipped, saying so, where it is not installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from syncd.cli.completion import script

BASH, ZSH, FISH = (shutil.which(s) for s in ("bash", "zsh", "fish"))


def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _bash_complete(tmp_path: Path, *words: str) -> list[str]:
    """COMPREPLY for the command line ``words`` (the last one being completed)."""
    path = tmp_path / "syncd.bash"
    path.write_text(script("bash"))
    quoted = " ".join(f"'{w}'" for w in words)
    body = (f"source {path}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
            f"COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; "
            "_shtab_syncd; printf '%s\\n' \"${COMPREPLY[@]}\"")
    return _run([BASH, "--norc", "--noprofile", "-c", body]).split()


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_bash_completes_commands_options_and_choices(tmp_path):
    assert _bash_complete(tmp_path, "syncd", "se") == ["service"]
    assert set(_bash_complete(tmp_path, "syncd", "s")) == {"sync", "status", "service"}
    assert _bash_complete(tmp_path, "syncd", "service", "") == ["install"]
    assert "--credentials" in _bash_complete(tmp_path, "syncd", "service", "install", "--")
    assert _bash_complete(tmp_path, "syncd", "conflicts", "resolve", "--keep", "") == [
        "local", "remote", "both"]
    assert _bash_complete(tmp_path, "syncd", "completion", "") == ["bash", "zsh", "fish"]
    assert "--fault-kinds" in _bash_complete(tmp_path, "syncd", "emulator", "--f")


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_bash_completes_a_config_file_path(tmp_path):
    (tmp_path / "my-config.yaml").write_text("")
    path = tmp_path / "syncd.bash"
    path.write_text(script("bash"))
    body = (f"cd {tmp_path}; source {path}; COMP_WORDS=(syncd sync --config my-); "
            "COMP_CWORD=3; _shtab_syncd; printf '%s\\n' \"${COMPREPLY[@]}\"")
    assert _run([BASH, "--norc", "--noprofile", "-c", body]).split() == ["my-config.yaml"]


@pytest.mark.skipif(ZSH is None, reason="zsh not installed")
def test_zsh_loads_it_from_fpath_for_syncd(tmp_path):
    """Installed as _syncd in a folder on $fpath, compinit binds it to syncd."""
    functions = tmp_path / "zfunc"
    functions.mkdir()
    (functions / "_syncd").write_text(script("zsh"))
    _run([ZSH, "-n", str(functions / "_syncd")])
    out = _run([ZSH, "-f", "-c", f"fpath=({functions} $fpath); autoload -U compinit; "
                                 f"compinit -u -d {tmp_path}/zcompdump; print $_comps[syncd]"])
    assert out.strip() == "_syncd"


@pytest.mark.skipif(FISH is None, reason="fish not installed")
def test_fish_completes_commands_with_their_one_line_help(tmp_path):
    path = tmp_path / "syncd.fish"
    path.write_text(script("fish"))
    _run([FISH, "--no-execute", str(path)])

    def complete(line: str) -> dict[str, str]:
        out = _run([FISH, "--no-config", "-c", f"source {path}; complete -C'{line}'"])
        return dict(row.split("\t", 1) if "\t" in row else (row, "")
                    for row in out.splitlines())

    assert complete("syncd s") == {
        "service": "install the systemd user units for this syncd",
        "status": "show each mirror's state, queue, conflicts, errors and the budget",
        "sync": "sync every mirror once and exit"}
    assert {"--timer", "--credentials", "--now", "--print"} <= set(
        complete("syncd service install --"))
    assert set(complete("syncd completion ")) == {"bash", "zsh", "fish"}
