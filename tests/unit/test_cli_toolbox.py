"""`syncd completion` and `syncd man` are generated from the parser: every command
and option there is appears in each, and nothing else claims to be one."""

from __future__ import annotations

import re

import pytest

from syncd.cli import exitcodes
from syncd.cli.app import COMMANDS, main
from syncd.cli.completion import full_parser, script, walk
from syncd.cli.manpage import exit_codes, page, roff

SHELLS = ("bash", "zsh", "fish")


def every_command() -> list[tuple[str, ...]]:
    return [path for path, _ in walk(full_parser()) if path]


def every_option() -> set[str]:
    return {s for _, p in walk(full_parser()) for a in p._actions for s in a.option_strings}


def test_the_walk_sees_nested_commands_and_the_emulators_options():
    commands = every_command()
    assert {(c,) for c in COMMANDS} <= set(commands)
    assert ("conflicts", "resolve") in commands and ("service", "install") in commands
    assert {"--fault-kinds", "--root", "--credentials", "--keep", "--dry-run"} <= every_option()


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_names_every_command_and_option(shell):
    text = script(shell)
    missing = [" ".join(c) for c in every_command() if not re.search(rf"\b{c[-1]}\b", text)]
    assert not missing, f"{shell}: commands missing: {missing}"
    # fish writes --name as `-l name`, the others as it is typed
    spelled = {o: (f"-l {o[2:]}" if shell == "fish" and o.startswith("--") else
                   f"-s {o[1:]}" if shell == "fish" else o) for o in every_option()}
    missing = sorted(o for o, s in spelled.items() if not re.search(
        rf"(?<![\w-]){re.escape(s)}(?![\w-])", text))
    assert not missing, f"{shell}: options missing: {missing}"


@pytest.mark.parametrize("shell", SHELLS)
def test_paths_complete_as_paths(shell):
    text = script(shell)
    files = {"bash": "_shtab_compgen_files", "zsh": "_files", "fish": "__fish_complete_path"}
    dirs = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/",
            "fish": "__fish_complete_directories"}
    assert files[shell] in text and dirs[shell] in text


def test_completion_command_prints_the_script(capsys):
    assert main(["completion", "bash"]) == 0
    out = capsys.readouterr().out
    assert out == script("bash")
    assert out.rstrip().endswith("-F _shtab_syncd syncd")  # bound to the command


def test_an_unknown_shell_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["completion", "tcsh"])
    assert e.value.code == exitcodes.USAGE
    assert "invalid choice: 'tcsh'" in capsys.readouterr().err


# --- the manual page -----------------------------------------------------------------------

REQUESTS = {"TH", "SH", "SS", "TP", "PP", "B", "br", "nh", "ad"}


def test_man_page_is_plain_roff_with_known_requests():
    lines = page().splitlines()
    assert lines[0].startswith('.TH SYNCD 1 "" "syncd ')
    unknown = [line for line in lines if line.startswith(".")
               and line[1:].split(" ")[0] not in REQUESTS]
    assert not unknown
    assert not [line for line in lines if line.startswith("'")]


def test_man_page_names_every_command_option_and_exit_code():
    text = page()
    for path in every_command():
        assert f".SS {roff(' '.join(('syncd',) + path))}\n" in text
    missing = [o for o in every_option() if f"\\fB{roff(o)}\\fR" not in text]
    assert not missing
    codes = {v for n, v in vars(exitcodes).items() if n.isupper()}
    assert {code for code, _, _ in exit_codes()} == codes
    for code, name, meaning in exit_codes():
        assert meaning, name
        assert f".TP\n\\fB{code}\\fR\n{roff(name)}: " in text
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS",
                    "ENVIRONMENT", "FILES", "CREDENTIALS", "EXAMPLES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in text


def test_roff_escapes_what_roff_would_read_as_markup():
    assert roff("--config C:\\x") == "\\-\\-config C:\\ex"
    assert roff("a\n.B not a request\n'nor this") == "a\n\\&.B not a request\n\\&'nor this"


def test_man_command_prints_the_page(capsys):
    assert main(["man"]) == 0
    assert capsys.readouterr().out == page()


def test_the_man_pages_examples_parse():
    """Each example is a command line the parser accepts."""
    import shlex

    from syncd.cli.manpage import EXAMPLES

    for example, _ in EXAMPLES:
        argv = shlex.split(example)
        assert argv[0] == "syncd"
        full_parser().parse_args(argv[1:])
