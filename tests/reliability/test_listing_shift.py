"""Offset-paged listings while another user changes the tree (issue 16, item 2).

A full listing reads 100 items per request by offset. When someone deletes or moves
an item on a page already read, every later item shifts back: one untouched item (or
a whole folder) is never seen. syncd must not take such an item as deleted on the
listing's word alone. The emulator's ``on_list_page`` hook lets a "remote user" act
between two pages; everything else is real: HTTP to the emulator, real temp dirs, the
sync engine. Both the activity-feed mode (the daily true-up listing) and the
Files.com mode (no feed: every pass lists) are covered; the request counts are the
ones docs/sync.md states."""

from __future__ import annotations

import pytest

from tests.helpers.listing import after_page, flat, listing_pass, start
from tests.helpers.sync import SyncSetup

MODES = [pytest.param(False, id="feed"), pytest.param(True, id="files_com")]


def calls(log) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in log:
        what = rec.path.removeprefix("/api/v2")
        if what == "/resources":
            what = "stat"
        elif what.startswith("/resources/") and what[11:].isdigit():
            what = "stat by id"
        elif what == "/resources/list":
            what = "list"
        out[what] = out.get(what, 0) + 1
    return out


def merged(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}


def trashed(s: SyncSetup) -> list[str]:
    root = s.state / "trash" / "docs"
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root).relative_to(*p.relative_to(root).parts[:1]))
                  for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------- one item


@pytest.mark.parametrize("files_com", MODES)
def test_item_deleted_on_a_read_page_skips_nobody(make_emulator, tmp_path, files_com):
    """250 files: 3 pages. After page 1 another user deletes f010 (on page 1), so page 2
    starts one item late and f100 is never read. f100 is confirmed by one stat and
    kept; f010 itself was read before it went, and goes at the next pass."""
    s, clock = start(make_emulator, tmp_path, files_com, flat(250))
    before = s.local_tree()
    fired = after_page(s, 0, lambda: s.emu.other.delete("/docs/f010.txt"))
    r, log = listing_pass(s, clock, files_com)
    assert fired and not s.emu.list_page_errors
    assert r.exit_code == 0, s.output
    assert s.local_tree() == before  # f100 above all
    assert trashed(s) == []
    # The listing (249 items: 3 pages, one of them read short) + 1 stat of f100.
    assert calls(log) == {"list": 3, "stat": 1}, calls(log)
    assert [rec.query["resource"] for rec in log if rec.path.endswith("/resources")] == \
        [["/docs/f100.txt"]]

    # The next pass learns of f010's deletion (feed, or a listing plus one stat that
    # confirms it) and deletes it locally: into syncd's trash, nothing else.
    s.emu.on_list_page(None)
    s.emu.clear_request_log()
    r = s.sync(now=clock)
    assert r.exit_code == 0, s.output
    expected = dict(before)
    del expected["f010.txt"]
    assert s.local_tree() == expected == s.remote_tree()
    assert trashed(s) == ["f010.txt"]
    got = calls(s.emu.request_log)
    if files_com:
        assert got == {"list": 3, "stat": 1}, got
    else:  # feed + 1 stat; the local deletion is read back from the feed once more
        assert got == {"/activity/session": 2, "stat": 1}, got


@pytest.mark.parametrize("files_com", MODES)
def test_item_moved_from_a_read_page_is_one_move(make_emulator, tmp_path, files_com):
    """f010 is moved into zz/ (read last) after page 1: the listing shows it twice (its
    old path on page 1, its new one on page 3; the later view wins, no request) and
    misses f100 (one stat). The move is synced as a local move in the same pass."""
    files = flat(250)
    files["zz/keep.txt"] = b"k"
    s, clock = start(make_emulator, tmp_path, files_com, files)
    before = s.local_tree()
    fired = after_page(s, 0, lambda: s.emu.other.move("/docs/f010.txt", "/docs/zz"))
    r, log = listing_pass(s, clock, files_com)
    assert fired and r.exit_code == 0, s.output
    expected = dict(before)
    expected["zz/f010.txt"] = expected.pop("f010.txt")
    assert s.local_tree() == expected == s.remote_tree()
    assert trashed(s) == []
    # 3 pages + 1 stat of f100. In feed mode the pass, having worked, reads the feed
    # back at its end (as every pass that changed something does) and re-reads the
    # other user's move there like any foreign change: a stat of each path.
    extra = {} if files_com else {"/activity/session": 1, "stat": 2}
    assert calls(log) == merged({"list": 3, "stat": 1}, extra), calls(log)


@pytest.mark.parametrize("files_com", MODES)
def test_deleted_item_not_yet_read_costs_one_stat_and_goes(make_emulator, tmp_path, files_com):
    """A deletion on a page not read yet shifts nothing that matters: the item is
    simply missing, one stat confirms it and it is deleted locally in this pass."""
    s, clock = start(make_emulator, tmp_path, files_com, flat(250))
    before = s.local_tree()
    after_page(s, 0, lambda: s.emu.other.delete("/docs/f150.txt"))
    r, log = listing_pass(s, clock, files_com)
    assert r.exit_code == 0, s.output
    expected = dict(before)
    del expected["f150.txt"]
    assert s.local_tree() == expected == s.remote_tree()
    assert trashed(s) == ["f150.txt"]
    extra = {} if files_com else {"/activity/session": 1, "stat": 1}  # read back, as above
    assert calls(log) == merged({"list": 3, "stat": 1}, extra), calls(log)


# ----------------------------------------------------------------------- a whole folder


def eighty_layout() -> dict[str, bytes]:
    """Search order (by path): a/ and its 80 files (offsets 0-80), m00-m18 (81-99),
    n/ and its 80 files (100-180), z00-z19 (181-200): 201 rows, 3 pages."""
    files = {f"a/f{i:02}.txt": b"a%d" % i for i in range(80)}
    files |= {f"m{i:02}.txt": b"m" for i in range(19)}
    files |= {f"n/f{i:02}.txt": b"n%d" % i for i in range(80)}
    files |= {f"z{i:02}.txt": b"z" for i in range(20)}
    return files


@pytest.mark.parametrize("files_com", MODES)
def test_folder_of_80_missed_by_the_shift_is_not_trashed(make_emulator, tmp_path, files_com):
    """Another user deletes a/ (81 rows, all on page 1) right after page 1: page 2
    starts 81 rows late and the whole folder n/ (80 files) is never read. One stat of
    n/ plus one listing of it confirm all of it; nothing of n/ is trashed."""
    s, clock = start(make_emulator, tmp_path, files_com, eighty_layout())
    before = s.local_tree()
    fired = after_page(s, 0, lambda: s.emu.other.delete("/docs/a"))
    r, log = listing_pass(s, clock, files_com)
    assert fired and r.exit_code == 0, s.output
    assert s.local_tree() == before
    assert trashed(s) == []
    # 2 pages (100 + 20 items) + a stat of n + one page listing n's 80 files.
    assert calls(log) == {"list": 3, "stat": 1}, calls(log)
    assert [rec.query["resource"][0] for rec in log][-2:] == ["/docs/n", "/docs/n"]

    # a/ itself really is gone: the next pass deletes it locally (feed: one stat;
    # files.com: the listing misses a/, a stat and a lookup by id confirm it).
    s.emu.on_list_page(None)
    s.emu.clear_request_log()
    r = s.sync(now=clock)
    assert r.exit_code == 0, s.output
    expected = {p: d for p, d in before.items() if p != "a" and not p.startswith("a/")}
    assert s.local_tree() == expected == s.remote_tree()
    assert len(trashed(s)) == 80 and all(p.startswith("a/") for p in trashed(s))
    got = calls(s.emu.request_log)
    if files_com:
        assert got == {"list": 2, "stat": 1, "stat by id": 1}, got
    else:
        assert got == {"/activity/session": 2, "stat": 1}, got


@pytest.mark.parametrize("files_com", MODES)
def test_many_missed_items_cost_one_more_listing_not_a_stat_each(make_emulator, tmp_path,
                                                                  files_com):
    """a/ is deleted after page 1 of a layout where page 2 then skips 81 single files:
    81 stats would cost more than the listing (3 pages), so it is read once more
    instead, and what both listings lack (nothing here) would be gone."""
    files = {f"a/f{i:02}.txt": b"a" for i in range(80)}
    files |= {f"m{i:03}.txt": b"m" for i in range(200)}
    s, clock = start(make_emulator, tmp_path, files_com, files)
    before = s.local_tree()
    fired = after_page(s, 0, lambda: s.emu.other.delete("/docs/a"))
    r, log = listing_pass(s, clock, files_com)
    assert fired and r.exit_code == 0, s.output
    assert s.local_tree() == before
    assert trashed(s) == []
    # First listing: 281 rows, 81 read away -> 2 pages (100 + 100); second: 200 rows,
    # 2 pages. No stat.
    assert calls(log) == {"list": 4}, calls(log)


@pytest.mark.parametrize("files_com", MODES)
def test_folder_moved_to_a_read_page_is_found_by_id(make_emulator, tmp_path, files_com):
    """The mirror image: p/ (not read yet) is renamed to e/ (a place already read), so
    the listing sees it at neither. A stat of p/ says it is gone; a lookup by id finds
    it as e/, which is listed: the local folder is renamed, nothing is trashed or
    downloaded again."""
    files = flat(150)
    files |= {f"p/g{i}.txt": b"p%d" % i for i in range(5)}
    s, clock = start(make_emulator, tmp_path, files_com, files)
    before = s.local_tree()
    fired = after_page(s, 0, lambda: s.emu.other.rename("/docs/p", "e"))
    r, log = listing_pass(s, clock, files_com)
    assert fired and r.exit_code == 0, s.output
    expected = {("e" + p[1:] if p == "p" or p.startswith("p/") else p): d
                for p, d in before.items()}
    assert s.local_tree() == expected == s.remote_tree()
    assert trashed(s) == []
    # 2 pages (the rename pushed 6 rows into page 2 again) + stat p + by id + list e.
    # Feed mode reads the rename back at the pass's end; re-reading p and e costs as
    # much as the mirror's listing (2 pages), which is done instead.
    extra = {} if files_com else {"/activity/session": 1, "list": 2}
    assert calls(log) == merged({"list": 3, "stat": 1, "stat by id": 1}, extra), calls(log)


@pytest.mark.parametrize("files_com", MODES)
def test_quiet_listing_costs_exactly_its_pages(make_emulator, tmp_path, files_com):
    """No change during the listing: nothing is missing and nothing more is asked."""
    s, clock = start(make_emulator, tmp_path, files_com, flat(250))
    before = s.local_tree()
    r, log = listing_pass(s, clock, files_com)
    assert r.exit_code == 0 and s.local_tree() == before
    assert calls(log) == {"list": 3}, calls(log)


def test_feed_mode_subtree_listing_of_a_moved_folder_is_confirmed(make_emulator, tmp_path):
    """Feed mode, no true-up: another user moves big/ (250 files) into arch/; syncd
    stats arch/big and lists its subtree, and while it pages, the user deletes
    arch/big/f010: f100 is skipped. Its id is expected there (its folder was moved
    there), so the subtree is read once more instead of trashing f100 locally."""
    files = {f"big/f{i:03}.txt": b"%d" % i for i in range(250)}
    files |= {f"other/g{i:03}.txt": b"g" for i in range(300)}
    files["arch/keep.txt"] = b"k"
    s, clock = start(make_emulator, tmp_path, False, files)
    before = s.local_tree()
    s.emu.other.move("/docs/big", "/docs/arch")
    s.emu.advance_clock(1)
    fired = after_page(s, 0, lambda: s.emu.other.delete("/docs/arch/big/f010.txt"),
                       folder="/docs/arch/big")
    s.emu.clear_request_log()
    r = s.sync(now=clock)
    assert fired and r.exit_code == 0, s.output
    expected = {("arch/" + p if p == "big" or p.startswith("big/") else p): d
                for p, d in before.items()}
    del expected["arch/big/f010.txt"]  # deleted by the feed read back in the same pass
    assert s.local_tree() == expected == s.remote_tree()
    assert trashed(s) == ["arch/big/f010.txt"]
    # feed + stat arch/big + its listing (3 pages) + the same listing again; the pass
    # then reads its own move back with the other user's deletion: feed + 1 stat.
    assert calls(s.emu.request_log) == {"/activity/session": 2, "stat": 3, "list": 6}, \
        calls(s.emu.request_log)


def test_emulator_hook_sees_every_page_and_the_next_page_sees_the_change(make_emulator):
    """``on_list_page``: called once per page with the folder, offset, limit, count,
    total and search pattern; what it changes is visible to the next page (real
    offset paging: a deletion on a read page makes the next page skip one item)."""
    emu = make_emulator()
    for i in range(250):
        emu.other.write(f"/d/f{i:03}.txt", b"x")
    pages = []

    def hook(page):
        pages.append(page)
        if page.offset == 0:
            emu.other.delete("/d/f000.txt")

    emu.on_list_page(hook)
    from tests.helpers.emulator import Api
    api = Api(emu)
    seen = []
    for offset in (0, 100, 200):
        body = api.get("/resources/list", params={"resource": "/d", "name": "*",
                                                   "offset": offset, "limit": 100}).json()
        seen += [r["attributes"]["name"] for r in body["data"]]
    assert [(p.folder, p.offset, p.limit, p.returned, p.total, p.name) for p in pages] == [
        ("/d", 0, 100, 100, 250, "*"), ("/d", 100, 100, 100, 249, "*"),
        ("/d", 200, 100, 49, 249, "*")]
    assert "f100.txt" not in seen and len(seen) == 249  # skipped by the shift
    emu.on_list_page(lambda page: 1 / 0)
    assert api.get("/resources/list", params={"resource": "/d"}).status_code == 200
    assert len(emu.list_page_errors) == 1
    emu.on_list_page(None)


# ------------------------------------------------- a file edited after its page was read


@pytest.mark.parametrize("files_com", MODES)
def test_download_of_a_file_edited_after_its_page_records_the_fetched_version(
        make_emulator, tmp_path, files_com):
    """Seed 11058 of the e2e machine. A new file a.txt is on page 1 of the listing;
    after page 1 another user overwrites it with new bytes of the same size. The
    download fetches the current (new) bytes, the plan carries page 1's (old) size and
    updatedAt, and the API gives no version with the body. Recording the new bytes
    as the old version made the next listing see a "remote edit" of a version we
    already hold: the local user's later deletion of a.txt was undone (downloaded
    again). The base must hold the version whose bytes were fetched, so the deletion
    goes through to the server."""
    s, clock = start(make_emulator, tmp_path, files_com, flat(150))
    old, new = b"old " + b"x" * 296, b"new " + b"y" * 296
    s.emu.advance_clock(2)
    s.emu.other.write("/docs/a.txt", old)

    def edit():
        s.emu.advance_clock(1.1)  # updatedAt has 1 s resolution
        s.emu.other.write("/docs/a.txt", new, overwrite=True)

    fired = after_page(s, 0, edit)
    r, log = listing_pass(s, clock, files_com)
    assert fired and not s.emu.list_page_errors
    assert r.exit_code == 0, s.output
    s.emu.on_list_page(None)
    assert s.local_tree()["a.txt"] == new == s.remote_tree()["a.txt"]
    # The local user deletes a.txt (the version they see); the next passes delete it
    # on the server too: it does not come back (in feed mode, also not at the next
    # true-up listing).
    (s.local() / "a.txt").unlink()
    for _ in range(2):
        s.emu.advance_clock(30)
        r, _ = listing_pass(s, clock, files_com)
        assert r.exit_code == 0, s.output
    assert "a.txt" not in s.local_tree(), s.output
    assert "a.txt" not in s.remote_tree(), s.output
