"""Issue 18, item 6: `syncd init` on a terminal checks each answer when it is
given (by the config loader's own rules), asks again with the reason and never
names a flag the user did not type, suggests the mirror's name from the folder,
and lists the next commands. A scripted terminal stands in for the human (the
real terminal is driven through a pty in tests/integration/test_cli_init.py)."""

from __future__ import annotations

import io

import pytest

from syncd.cli.errors import CommandError
from syncd.cli.init import InitOptions, Terminal, run_init, suggest_name
from syncd.config.loader import load_config


class Script:
    """Answers prompts in order and records what the terminal showed."""

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.shown: list[str] = []

    def ask(self, prompt: str) -> str:
        self.shown.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)

    def say(self, line: str) -> None:
        self.shown.append(line)

    def terminal(self) -> Terminal:
        return Terminal(True, ask=self.ask, secret=self.ask, say=self.say)

    @property
    def text(self) -> str:
        return "\n".join(self.shown)


def init(tmp_path, script: Script, **flags) -> tuple[int, str]:
    out = io.StringIO()
    opts = InitOptions(config=str(tmp_path / "c.yaml"), state_dir=str(tmp_path / "state"),
                       **flags)
    code = run_init(opts, env={"HOME": str(tmp_path)}, term=script.terminal(), out=out)
    return code, out.getvalue()


ENV = {"EXAVAULT_API_KEY": "k", "EXAVAULT_ACCESS_TOKEN": "t"}


@pytest.mark.parametrize("folder, name", [
    ("/home/me/Documents", "Documents"), ("/x/Team Docs", "Team-Docs"),
    ("/x/ (draft) v2/", "draft-v2"), ("/x/.hidden", "hidden"), ("/x/???", None)])
def test_the_name_is_suggested_from_the_folder(folder, name):
    assert suggest_name(folder) == name


def test_refused_answers_are_asked_again_with_the_reason_and_no_flag_name(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    script = Script("exavault.com", "https://acme.exavault.com", "",  # Enter: /api/v2 added
                    str(tmp_path / "file.txt"), str(tmp_path / "docs"),
                    "/a/../b", "work",
                    "-bad", "",  # the suggestion ("docs")
                    "maybe", "e")
    code, out = init(tmp_path, script)
    assert code == 0
    shown = script.text
    for said in ("must be an http:// or https:// URL",  # each refusal says why
                 "press Enter for https://acme.exavault.com/api/v2",
                 "file.txt is a file, not a folder; try again",
                 "does not exist yet: the first sync creates it",
                 "Name of this mirror [docs]: ", "must start with a letter or digit",
                 "answer e or f"):
        assert said in shown
    assert "--" not in shown  # no flag was typed, none is named
    cfg = load_config(tmp_path / "c.yaml", env=ENV)
    (m,) = cfg.mirrors
    assert cfg.account.url == "https://acme.exavault.com/api/v2"
    assert (m.name, m.local, m.remote) == ("docs", tmp_path / "docs", "/work")
    assert out.splitlines()[-5:][0] == "Next:"
    assert [line.split()[1] for line in out.splitlines()[-4:]] == ["check", "sync", "sync",
                                                                   "run"]


def test_the_same_url_again_is_kept(tmp_path):
    script = Script("https://proxy.example/ev", "https://proxy.example/ev",
                    str(tmp_path / "d"), "/w", "", "e")
    assert init(tmp_path, script)[0] == 0
    assert load_config(tmp_path / "c.yaml", env=ENV).account.url == "https://proxy.example/ev"


def test_a_flag_given_is_not_asked_and_its_error_names_the_flag(tmp_path):
    script = Script(str(tmp_path / "d"), "/w", "", "e")
    with pytest.raises(CommandError) as info:
        init(tmp_path, script, url="https://acme.exavault.com/api/v2", name="bad name")
    assert str(info.value).startswith("--name: must start with a letter or digit")
    assert not any("API URL" in line or "Name of" in line for line in script.shown)


def test_end_of_input_cancels_and_writes_nothing(tmp_path):
    with pytest.raises(CommandError, match="init cancelled: nothing was written") as info:
        init(tmp_path, Script("https://acme.exavault.com/api/v2"))
    assert info.value.code == 64
    assert not (tmp_path / "c.yaml").exists()


def test_five_refused_answers_give_up_without_writing(tmp_path):
    with pytest.raises(CommandError, match="no usable answer to .* after 5 tries"):
        init(tmp_path, Script(*["ftp://nope"] * 5))
    assert not (tmp_path / "c.yaml").exists()
