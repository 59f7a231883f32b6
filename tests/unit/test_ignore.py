"""syncd.local.ignore: gitignore-syntax rules relative to the mirror root."""

from __future__ import annotations

import os
import unicodedata

import pytest

from syncd.local.ignore import (
    IGNORE_FILE,
    IgnoreFileError,
    IgnorePatternError,
    IgnoreRules,
    is_own_temp_name,
    is_temp_name,
    new_temp_name,
)

TEMP = ".syncd-0123456789abcdef0123456789abcdef.part"  # the shape of syncd's temp names

NFC_E = unicodedata.normalize("NFC", "café")
NFD_E = unicodedata.normalize("NFD", "café")


def test_temp_names():
    assert is_temp_name(TEMP)
    assert is_temp_name(new_temp_name(b"k"))
    # a user's names that merely look alike are not temp names (issue 16, item 8)
    assert not is_temp_name(".syncd-abc123.part")
    assert not is_temp_name(".syncd-.part")
    assert not is_temp_name(".syncd-report.pdf.x9.part")
    assert not is_temp_name(TEMP.upper().replace(".PART", ".part"))
    assert not is_temp_name(TEMP + "x")
    assert not is_temp_name("syncd-abc.part")
    assert not is_temp_name(".syncd-abc.partial")
    assert not is_temp_name(".syncd-abc")
    assert not is_temp_name("x.part")


def test_only_names_made_with_the_key_are_our_own():
    name = new_temp_name(b"key one")
    assert name != new_temp_name(b"key one")  # random
    assert is_own_temp_name(name, b"key one")
    assert not is_own_temp_name(name, b"key two")
    assert not is_own_temp_name(TEMP, b"key one")
    assert not is_own_temp_name(".syncd-x.part", b"key one")


def test_no_patterns_ignores_nothing_but_the_two_builtins():
    rules = IgnoreRules()
    for path in (".git", ".DS_Store", "node_modules", "Thumbs.db", "a/.syncdignore",
                 "desktop.ini", "x~", ".hidden/y"):
        assert rules.ignored(path, False) is False
        assert rules.ignored(path, True) is False
    assert rules.ignored(".syncdignore", False) is True
    assert rules.ignored(TEMP, False) is True
    assert rules.ignored(".syncd-1.part", False) is False  # a user's name


def test_file_glob_matches_at_any_depth():
    rules = IgnoreRules(["*.tmp"])
    assert rules.ignored("x.tmp", False)
    assert rules.ignored("a/b/x.tmp", False)
    assert rules.ignored("a/x.tmp", True)  # folders too, as in git
    assert not rules.ignored("x.tmpl", False)
    assert not rules.ignored("tmp", False)
    assert not rules.ignored("a/b", True)


def test_dir_only_pattern():
    rules = IgnoreRules(["build/"])
    assert rules.ignored("build", True)
    assert not rules.ignored("build", False)  # a file named build is kept
    assert rules.ignored("src/build", True)
    assert not rules.ignored("src/build", False)
    # deep paths under the ignored folder (how remote paths are asked about)
    assert rules.ignored("build/x/y.o", False)
    assert rules.ignored("build/x", True)
    assert rules.ignored("src/build/x/y.o", False)
    assert not rules.ignored("builds/x", False)


def test_negation():
    rules = IgnoreRules(["*.tmp", "!keep.tmp"])
    assert rules.ignored("a.tmp", False)
    assert not rules.ignored("keep.tmp", False)
    assert not rules.ignored("sub/keep.tmp", False)
    assert rules.ignored("sub/other.tmp", False)


def test_negation_cannot_reinclude_inside_ignored_folder():
    # git semantics: the scanner never descends into build/, so build/keep must be
    # ignored for remote paths too (pathspec alone would say "not ignored").
    rules = IgnoreRules(["build/", "!build/keep"])
    assert rules.ignored("build/keep", False)
    rules = IgnoreRules(["*", "!*.txt"])
    assert not rules.ignored("b.txt", False)
    assert rules.ignored("a", True)
    assert rules.ignored("a/b.txt", False)


def test_anchored_pattern():
    rules = IgnoreRules(["/top-only"])
    assert rules.ignored("top-only", False)
    assert rules.ignored("top-only", True)
    assert rules.ignored("top-only/deep/file", False)
    assert not rules.ignored("a/top-only", False)
    assert not rules.ignored("a/top-only", True)


def test_double_star():
    rules = IgnoreRules(["**/cache"])
    assert rules.ignored("cache", True)
    assert rules.ignored("a/b/cache", True)
    assert rules.ignored("a/b/cache/z.bin", False)
    assert not rules.ignored("a/cached", True)
    rules = IgnoreRules(["docs/**/*.md"])
    assert rules.ignored("docs/a.md", False)
    assert rules.ignored("docs/x/y/a.md", False)
    assert not rules.ignored("other/docs/a.md", False)


def test_slash_in_middle_anchors():
    rules = IgnoreRules(["docs/*.md"])
    assert rules.ignored("docs/a.md", False)
    assert not rules.ignored("x/docs/a.md", False)
    assert not rules.ignored("docs/sub/a.md", False)


def test_always_ignored_cannot_be_negated():
    rules = IgnoreRules(["!.syncd-*.part", "!.syncdignore", "!*"])
    assert rules.ignored(TEMP, False)
    assert rules.ignored("a/b/" + TEMP, False)
    assert rules.ignored(TEMP + "/inner", False)  # inside a temp-named folder
    assert rules.ignored(IGNORE_FILE, False)
    assert not rules.ignored("sub/.syncdignore", False)  # only the root's rules file


def test_unicode_normalisation_is_ignored_when_matching():
    assert IgnoreRules([NFC_E]).ignored(NFD_E, False)
    assert IgnoreRules([NFD_E]).ignored(NFC_E, False)
    assert IgnoreRules([NFC_E + "/"]).ignored(f"x/{NFD_E}/y.txt", False)
    assert not IgnoreRules([NFC_E]).ignored("cafe", False)


def test_comments_and_blank_lines():
    rules = IgnoreRules(["# a comment", "", "   ", "*.log"])
    assert rules.ignored("a.log", False)
    assert not rules.ignored("# a comment", False)


def test_ignored_entry_checks_only_the_path_itself():
    rules = IgnoreRules(["build/", "!build/keep"])
    # The walker already knows build/ is ignored and never asks about build/keep.
    assert not rules.ignored_entry("build/keep", False)
    assert rules.ignored_entry("build", True)
    assert rules.ignored_entry("a/" + TEMP, False)
    assert rules.ignored_entry(".syncdignore", False)
    assert not IgnoreRules().ignored_entry("a/b", False)


def test_invalid_config_pattern():
    with pytest.raises(IgnorePatternError) as exc:
        IgnoreRules(["ok", "!"])
    assert isinstance(exc.value, ValueError)
    assert exc.value.index == 1 and exc.value.from_file is False
    assert str(exc.value) == "invalid ignore pattern '!'"


def test_string_instead_of_list_is_refused():
    with pytest.raises(TypeError):
        IgnoreRules("*.tmp")


# ---------------------------------------------------------------------------- for_root


def test_for_root_without_file_uses_config_patterns(tmp_path):
    rules = IgnoreRules.for_root(tmp_path, ["*.bak"])
    assert rules.ignored("x.bak", False)
    assert not rules.ignored("x.txt", False)
    assert rules.lines == ("*.bak",)


def test_for_root_combines_config_and_file(tmp_path):
    (tmp_path / IGNORE_FILE).write_text("# local rules\nnode_modules/\n!important.bak\n\n")
    rules = IgnoreRules.for_root(tmp_path, ["*.bak", "/scratch"])
    assert rules.ignored("x.bak", False)  # config
    assert rules.ignored("scratch", True)  # config
    assert rules.ignored("web/node_modules", True)  # file
    assert rules.ignored("web/node_modules/a/b.js", False)
    assert not rules.ignored("node_modules", False)
    assert not rules.ignored("important.bak", False)  # the file's negation wins (later)
    assert rules.ignored(IGNORE_FILE, False)


def test_for_root_crlf_and_bom(tmp_path):
    (tmp_path / IGNORE_FILE).write_bytes(b"\xef\xbb\xbf*.o\r\n/out\r\n")
    rules = IgnoreRules.for_root(tmp_path, [])
    assert rules.lines == ("*.o", "/out")
    assert rules.ignored("a/b.o", False)
    assert rules.ignored("out", True)


def test_for_root_file_not_utf8(tmp_path):
    (tmp_path / IGNORE_FILE).write_bytes(b"*.tmp\nna\xefve\n")
    with pytest.raises(IgnoreFileError) as exc:
        IgnoreRules.for_root(tmp_path, [])
    msg = str(exc.value)
    assert str(tmp_path / IGNORE_FILE) in msg and "UTF-8" in msg and "\n" not in msg


def test_for_root_file_is_a_folder(tmp_path):
    (tmp_path / IGNORE_FILE).mkdir()
    with pytest.raises(IgnoreFileError) as exc:
        IgnoreRules.for_root(tmp_path, [])
    msg = str(exc.value)
    assert msg == f"cannot read ignore file {tmp_path / IGNORE_FILE}: Is a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files whatever their mode")
def test_for_root_file_unreadable(tmp_path):
    path = tmp_path / IGNORE_FILE
    path.write_text("*.tmp\n")
    path.chmod(0)
    try:
        with pytest.raises(IgnoreFileError) as exc:
            IgnoreRules.for_root(tmp_path, [])
    finally:
        path.chmod(0o644)
    assert str(exc.value) == f"cannot read ignore file {path}: Permission denied"


def test_for_root_invalid_pattern_in_file(tmp_path):
    (tmp_path / IGNORE_FILE).write_text("*.tmp\n\nfoo\\\n")
    with pytest.raises(IgnoreFileError) as exc:
        IgnoreRules.for_root(tmp_path, [])
    assert str(exc.value) == (f"ignore file {tmp_path / IGNORE_FILE}, line 3: "
                              "invalid pattern 'foo\\\\'")


def test_for_root_invalid_config_pattern_is_not_blamed_on_file(tmp_path):
    (tmp_path / IGNORE_FILE).write_text("*.tmp\n")
    with pytest.raises(IgnorePatternError) as exc:
        IgnoreRules.for_root(tmp_path, ["!"])
    assert exc.value.from_file is False


def test_for_root_file_unreadable_simulated(tmp_path, monkeypatch):
    # The same path as above, also checked when running as root.
    path = tmp_path / IGNORE_FILE
    path.write_text("*.tmp\n")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(path), "read_text", denied)
    with pytest.raises(IgnoreFileError) as exc:
        IgnoreRules.for_root(tmp_path, [])
    assert str(exc.value) == f"cannot read ignore file {path}: Permission denied"
