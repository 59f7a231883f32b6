"""Names syncd makes (conflicted copies, numbered local trash entries) fit the
255-byte name limit, so a conflict about a long name settles (issue 16, item 6).
Before, a name of 244 bytes or more gave a copy's name over 255 bytes: "File
name too long" on every try, and neither edit ever reached the other side."""

from __future__ import annotations

import unicodedata

import pytest

from syncd import model
from syncd.cli.conflicts import parse_copy
from syncd.local.trash import LocalTrash, numbered

HOST, STAMP = "laptop-2", "2024-05-01 101500"
TAG = f"(conflicted copy {HOST} {STAMP})"


def nbytes(leaf: str) -> int:
    return max(len(unicodedata.normalize(f, leaf).encode()) for f in ("NFC", "NFD"))


def cc(path: str, taken=frozenset()) -> str:
    return model.conflict_name(path, HOST, STAMP, taken)


# ------------------------------------------------------------------ the naming function

@pytest.mark.parametrize("size", range(240, 256))
def test_copy_of_a_240_to_255_byte_name_fits_and_keeps_tag_and_extension(size):
    original = "d/" + "n" * (size - 4) + ".txt"
    copy = cc(original)
    leaf = model.name(copy)
    assert model.parent(copy) == "d"
    assert len(leaf.encode()) <= 255
    assert leaf.endswith(f" {TAG}.txt")
    assert leaf.startswith("n" * 100) and model.CUT in leaf  # shortened, and says so
    assert len(leaf.encode()) >= 250  # only as much as needed was cut


def test_short_names_are_unchanged():
    assert cc("a/report.pdf") == f"a/report {TAG}.pdf"
    original = "m" * (255 - len(f" {TAG}.md".encode())) + ".md"  # its copy fits exactly
    assert cc(original) == original[:-3] + f" {TAG}.md"
    assert len(cc(original).encode()) == 255
    assert parse_copy(cc(original)) == (original, HOST, STAMP)


@pytest.mark.parametrize("char", ["é", "日", "😀", "e\u0301", "한"])
@pytest.mark.parametrize("form", ["NFC", "NFD"])
@pytest.mark.parametrize("size", [240, 251, 254, 255])
def test_multibyte_names_are_cut_at_character_boundaries(char, form, size):
    unit = unicodedata.normalize(form, char)
    stem = ""
    while nbytes(stem + unit + ".txt") <= size:
        stem += unit
    original = stem + ".txt"
    leaf = cc(original)
    assert nbytes(leaf) <= 255  # in both spellings: macOS keeps NFD, the server NFC
    assert leaf.encode().decode() == leaf
    kept, _, rest = leaf.partition(model.CUT)
    assert rest == f" {TAG}.txt"
    assert stem.startswith(kept)
    # never cut between a letter and its combining accent
    assert not unicodedata.combining(stem[len(kept)])
    assert unicodedata.normalize(form, kept) == kept


def test_a_name_over_255_bytes_in_nfd_only_is_measured_in_nfd():
    stem = unicodedata.normalize("NFC", "é") * 110  # 220 bytes NFC, 330 NFD
    leaf = cc(stem + ".txt")
    assert len(unicodedata.normalize("NFD", leaf).encode()) <= 255


@pytest.mark.parametrize("ext", ["." + "x" * 20, "." + "x" * 200, "." + "x" * 250])
def test_long_extensions(ext):
    original = "f" * (254 - len(ext)) + ext
    leaf = cc(original)
    assert len(leaf.encode()) <= 255
    assert TAG in leaf
    if len(ext) < 250:
        assert leaf.endswith(f" {TAG}{ext}")  # the extension is kept
        assert leaf.startswith("f")  # and some of the stem
    else:  # no room for a stem beside it: the extension is cut, the tag kept at the end
        assert leaf.endswith(f" {TAG}") and leaf.startswith("fff")


def test_dotfile_and_no_extension():
    for original in ("." + "b" * 250, "c" * 254):
        leaf = cc(original)
        assert len(leaf.encode()) <= 255 and leaf.endswith(f" {TAG}")
        assert leaf.startswith(original[:100])


def test_uniqueness_still_applies_after_shortening():
    a = "s" * 246 + ".txt"
    first = cc(a)
    second = cc(a, {model.key(first)})
    assert second != first and len(second.encode()) <= 255
    assert second.endswith(f" {TAG[:-1]} 2).txt")
    third = cc(a, {model.key(first), model.key(second)})
    assert len({first, second, third}) == 3 and len(third.encode()) <= 255
    # Two long names that share their first 240 bytes shorten to the same start;
    # the names taken so far (the planner passes them) keep the copies apart.
    b = "s" * 246 + "X.txt"
    taken = {model.key(first)}
    assert cc(b, taken) != first


def test_planner_makes_fitting_copy_names_for_both_sides_edited():
    from syncd.model import BaseEntry, LocalEntry, PlanOptions, RemoteEntry
    from syncd.reconcile import planner

    path = "sub/" + "q" * 246 + ".txt"
    base = {path: BaseEntry(path, path, model.FILE, 1, 1, 7, "h", "9", 1, 1.0)}
    local = {path: LocalEntry(path, model.FILE, 2, 2, 7, None)}
    remote = {path: RemoteEntry(path, model.FILE, "9", 3, 2.0)}
    p = planner.plan(local, remote, base, PlanOptions("two-way", HOST, STAMP))
    assert p.conflicts == [path]
    names = [a.dst for a in p.actions if isinstance(a, model.MoveLocal)]
    assert len(names) == 1 and len(model.name(names[0]).encode()) <= 255


def test_local_trash_numbers_long_names_within_the_limit(tmp_path):
    leaf = "t" * 254
    assert len(model.name(numbered("a/" + leaf, 2)).encode()) <= 255
    assert numbered("a/b", 2) == "a/b (2)"
    (tmp_path / "state").mkdir()
    trash = LocalTrash(tmp_path / "state", "m", now=lambda: 1e9)
    root = tmp_path / "root"
    root.mkdir()
    for data in (b"first", b"second"):
        (root / leaf).write_bytes(data)
        trash.put(str(root / leaf), leaf)
    kept = sorted(p.read_bytes() for p in trash.folder().iterdir())
    assert kept == [b"first", b"second"]


# ------------------------------------------------------------------ with the emulator


