"""RemoteTracker: the remote snapshot kept fresh at minimal transaction cost.

Real emulator over HTTP on 127.0.0.1; request counts come from the emulator's log."""

from __future__ import annotations

import io

import pytest

from syncd.remote.backend import FeedUnavailable
from syncd.state.budget import BudgetExhausted
from syncd.state.index import Index
from syncd.model import BaseEntry, RemoteEntry
from syncd.remote.errors import AuthError, RateLimitedError
from syncd.remote.exavault.backend import ExaVaultBackend
from syncd.remote.tracker import RefreshResult, RemoteTracker

ACCOUNT = "https://acme.example/api/v2"
DAY = 86400.0


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class Setup:
    def __init__(self, emu, client, index: Index):
        self.emu, self.client, self.index = emu, client, index
        self.clock = Clock()
        self.backend = ExaVaultBackend(client, echo=lambda op, path: index.expect_echo(
            ACCOUNT, self.clock(), op, path))
        self.tracker = RemoteTracker(self.backend, index, ACCOUNT, now=self.clock)
        self.mirrors = [("big", "/big", DAY), ("small", "/small", DAY)]

    def refresh(self, mirrors=None, **kw) -> tuple[dict[str, RefreshResult], list[str]]:
        """Run one refresh; returns the results and the API paths requested."""
        self.emu.clear_request_log()
        out = self.tracker.refresh(self.mirrors if mirrors is None else mirrors, **kw)
        paths = [r.path.removeprefix("/api/v2") for r in self.emu.request_log]
        assert sum(r.requests for r in out.values()) == len(paths)
        return out, paths

    def rows(self, mirror: str = "big") -> dict[str, RemoteEntry]:
        return self.index.remote(mirror)


def populate(emu) -> None:
    """/big: 300 files in big/, 3 in docs/, 1 in docs/inner/, top.txt: 305 files +
    3 folders = 308 rows, so a full listing costs 4 requests. /small: 5 files."""
    o = emu.other
    for i in range(300):
        o.write(f"/big/bulk/f{i:03}.txt", b"%d" % i)
    for name in ("a", "b", "c"):
        o.write(f"/big/docs/{name}.txt", name.encode())
    o.write("/big/docs/inner/d.txt", b"d")
    o.write("/big/top.txt", b"top")
    for i in range(5):
        o.write(f"/small/s{i}.txt", b"s")


@pytest.fixture
def make_setup(make_emulator, make_client, tmp_path):
    indexes = []

    def make(populated: bool = True, **emu_opts) -> Setup:
        emu = make_emulator(**emu_opts)
        if populated:
            populate(emu)
        # Setup activity lies well before the first refresh (the first cursor keeps
        # a few seconds of overlap), and the client knows the server clock.
        emu.advance_clock(30)
        client = make_client(emu)
        client.account()
        index = Index(tmp_path / f"index{len(indexes)}.sqlite3")
        indexes.append(index)
        return Setup(emu, client, index)

    yield make
    for index in indexes:
        index.close()


@pytest.fixture
def s(make_setup) -> Setup:
    return make_setup()


@pytest.fixture
def synced(s) -> Setup:
    """After the first refresh (listings) and a quiet one."""
    s.refresh()
    s.refresh()
    return s


# ----------------------------------------------------------------------------- listing


def test_first_refresh_lists_every_mirror_and_probes_the_feed_once(s):
    out, paths = s.refresh()
    assert paths.count("/activity/session") == 1 and paths[0] == "/activity/session"
    assert paths.count("/resources/list") == 4 + 1  # ceil(308/100) + ceil(5/100)
    assert len(paths) == 6
    assert out["big"].mode == out["small"].mode == "listing"
    assert out["big"].requests == 1 + 4 and out["small"].requests == 1
    assert out["big"].changed == 308 and out["small"].changed == 5
    assert not out["big"].root_missing and not out["big"].empty_listing
    rows = s.rows()
    assert len(rows) == 308
    assert rows["bulk/f007.txt"].kind == "file" and rows["bulk/f007.txt"].size == 1
    assert rows["docs/inner"].kind == "dir"
    assert rows["top.txt"].id == str(s.emu.other.info("/big/top.txt")["id"])
    assert set(s.rows("small")) == {f"s{i}.txt" for i in range(5)}
    assert s.index.get_state("account:" + ACCOUNT, "feed") == "yes"
    assert s.index.get_state("mirror:big", "listed_at") == s.clock()


def test_quiet_refresh_costs_one_request_for_all_mirrors(synced):
    out, paths = synced.refresh()
    assert paths == ["/activity/session"]
    assert {r.mode for r in out.values()} == {"unchanged"}
    assert out["big"].requests == 1 and out["small"].requests == 0
    assert out["big"].changed == out["small"].changed == 0
    out, paths = synced.refresh()
    assert paths == ["/activity/session"]


def test_root_slash_mirror(make_setup):
    s = make_setup()
    s.mirrors = [("all", "/", DAY)]
    out, paths = s.refresh()
    assert out["all"].mode == "listing"
    assert "big/top.txt" in s.rows("all") and "small" in s.rows("all")
    s.emu.other.write("/big/top.txt", b"changed")
    out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources"]  # 315 rows: a stat is cheaper
    assert s.rows("all")["big/top.txt"].size == 7


# ----------------------------------------------------------------------------- feed


def test_foreign_write_is_one_feed_call_and_one_stat(synced):
    s = synced
    s.emu.other.write("/big/top.txt", b"top, edited by someone else")
    out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources"]
    assert out["big"].mode == "feed" and out["big"].changed == 1
    assert out["small"].mode == "unchanged"
    assert s.rows()["top.txt"].size == len(b"top, edited by someone else")
    # The entry is remembered: the next refresh does not look at it again.
    out, paths = s.refresh()
    assert paths == ["/activity/session"] and out["big"].mode == "unchanged"


def test_foreign_new_file_and_delete(synced):
    s = synced
    s.emu.other.write("/big/docs/new.txt", b"new")
    s.emu.other.delete("/big/docs/a.txt")
    out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources", "/resources"]
    rows = s.rows()
    assert "docs/a.txt" not in rows
    assert rows["docs/new.txt"].size == 3
    assert out["big"].changed == 2 and len(rows) == 308


def test_foreign_rename(synced):
    s = synced
    before = s.rows()["docs/b.txt"]
    s.emu.other.rename("/big/docs/b.txt", "b2.txt")
    _out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources", "/resources"]
    rows = s.rows()
    assert "docs/b.txt" not in rows and rows["docs/b2.txt"].id == before.id


def test_foreign_folder_move_is_one_stat_and_one_subtree_listing(synced):
    s = synced
    s.emu.other.move("/big/docs", "/big/bulk")
    out, paths = s.refresh()
    # feed + stat of the old path (gone) + stat of the new one + its subtree
    assert sorted(paths) == sorted(["/activity/session", "/resources", "/resources",
                                    "/resources/list"])
    rows = s.rows()
    assert not [p for p in rows if p.startswith("docs")]
    assert {"bulk/docs", "bulk/docs/a.txt", "bulk/docs/inner",
            "bulk/docs/inner/d.txt"} <= set(rows)
    assert len(rows) == 308
    assert out["big"].mode == "feed" and out["big"].changed == 6 * 2  # 6 rows out, 6 in


def test_foreign_folder_delete_drops_the_subtree(synced):
    s = synced
    s.emu.other.delete("/big/docs")
    out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources"]
    assert not [p for p in s.rows() if p.startswith("docs")]
    assert out["big"].changed == 6


def test_new_folder_with_contents_is_one_stat_and_one_listing(synced):
    s = synced
    s.emu.other.mkdir("/big/fresh")
    for i in range(3):
        s.emu.other.write(f"/big/fresh/n{i}.txt", b"n")
    _out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources", "/resources/list"]
    assert {"fresh", "fresh/n0.txt", "fresh/n1.txt", "fresh/n2.txt"} <= set(s.rows())


def test_small_mirror_relists_when_that_is_no_dearer(synced):
    s = synced
    s.emu.other.write("/small/s9.txt", b"new")
    out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources/list"]  # 6 rows: one listing page
    assert out["small"].mode == "listing" and "s9.txt" in s.rows("small")
    assert out["small"].requests == 1 and out["big"].requests == 1


def test_many_dirty_paths_fall_back_to_one_listing(synced):
    s = synced
    for i in range(4):
        s.emu.other.write(f"/big/bulk/f{i:03}.txt", b"rewritten")
    out, paths = s.refresh()
    assert paths == ["/activity/session"] + ["/resources/list"] * 4
    assert out["big"].mode == "listing"
    assert all(s.rows()[f"bulk/f{i:03}.txt"].size == 9 for i in range(4))


def test_changes_outside_every_mirror_cost_nothing_more(synced):
    s = synced
    s.emu.other.write("/elsewhere/x.txt", b"x")
    s.emu.other.write("/bigger/y.txt", b"y")  # a prefix of /big, but not inside it
    _out, paths = s.refresh()
    assert paths == ["/activity/session"]


def test_own_changes_through_the_backend_cost_no_stat(synced):
    s = synced
    b = s.backend
    b.upload("/big/docs/mine.txt", io.BytesIO(b"mine"), 4, replace=False)
    b.mkdir("/big/docs/newdir")
    b.move("/big/docs/c.txt", "/big/docs/c2.txt", id=s.rows()["docs/c.txt"].id)
    b.move("/big/docs/c2.txt", "/big/bulk/c2.txt")
    b.delete(["/big/docs/a.txt"])
    b.upload("/small/s0.txt", io.BytesIO(b"again"), 5, replace=True)
    out, paths = s.refresh()
    assert paths == ["/activity/session"]
    assert {r.mode for r in out.values()} == {"unchanged"}


def test_a_feed_longer_than_the_listings_is_left_for_them(synced):
    # issue 18 item 5: the listings of big and small cost 4 + 1 = 5 requests; 600
    # changes elsewhere are 7 feed requests: after 2 the tracker lists instead
    s = synced
    s.backend.upload("/big/docs/mine.txt", io.BytesIO(b"mine"), 4, replace=False)  # echo
    s.clock.t += 120  # the echo is older than the skipped feed's reach
    for i in range(600):
        s.emu.other.write(f"/elsewhere/f{i:03}.txt", b"x")
    s.emu.advance_clock(10)
    out, paths = s.refresh()
    assert paths == ["/activity/session"] * 2 + ["/resources/list"] * 5
    assert {r.mode for r in out.values()} == {"listing"}
    assert "docs/mine.txt" in s.rows()
    detection = s.index.account_state(ACCOUNT).detection
    assert (detection["way"], detection["feed_requests"], detection["listing_requests"]) == (
        "listing", 2, 5)
    # The feed positions moved past the burst, and the echo of our upload, which the
    # skipped part held, is gone: another user's upload to that name is not taken
    # for ours.
    s.emu.other.write("/big/docs/mine.txt", b"theirs!")
    s.emu.advance_clock(10)
    out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources"]
    assert s.rows()["docs/mine.txt"].size == 7
    assert s.index.account_state(ACCOUNT).detection["way"] == "feed"


def test_a_feed_within_the_listings_cost_is_read(synced):
    s = synced
    for i in range(350):  # 4 feed pages; the listings cost 5
        s.emu.other.write(f"/elsewhere/f{i:03}.txt", b"x")
    s.emu.other.write("/small/new.txt", b"new")
    s.emu.advance_clock(10)
    out, paths = s.refresh()
    # page 1, page 5 (empty: the feed fits), pages 2-4: the budget, no more; then
    # small (5 rows) is listed again, no dearer than a stat (as before)
    assert paths == ["/activity/session"] * 5 + ["/resources/list"]
    assert out["big"].mode == "unchanged" and "new.txt" in s.rows("small")
    assert s.index.account_state(ACCOUNT).detection["way"] == "feed"


def test_own_change_mixed_with_a_foreign_one(synced):
    s = synced
    s.backend.upload("/big/docs/mine.txt", io.BytesIO(b"mine"), 4, replace=False)
    s.emu.other.write("/big/docs/theirs.txt", b"theirs")
    _out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources"]
    assert "docs/theirs.txt" in s.rows() and "docs/mine.txt" not in s.rows()


def test_subset_refresh_keeps_the_other_mirrors_changes(synced):
    s = synced
    s.emu.other.write("/small/late.txt", b"late")
    out, paths = s.refresh([s.mirrors[0]])  # "big" alone (the engine does this mid-run)
    assert paths == ["/activity/session"] and set(out) == {"big"}
    out, paths = s.refresh()
    assert "late.txt" in s.rows("small")
    assert out["small"].mode == "listing"  # 6 rows: relisting is no dearer than a stat


def test_full_scan_interval_expiry_triggers_a_listing(synced):
    s = synced
    s.mirrors = [("big", "/big", 3600.0), ("small", "/small", DAY)]
    s.emu.advance_clock(3601)
    s.clock.t += 3601
    out, paths = s.refresh()
    assert out["big"].mode == "listing" and out["small"].mode == "unchanged"
    assert paths == ["/activity/session"] + ["/resources/list"] * 4
    out, paths = s.refresh()
    assert paths == ["/activity/session"]


def test_force_full_lists_everything_without_the_feed(synced):
    s = synced
    out, paths = s.refresh(force_full=True)
    assert paths == ["/resources/list"] * 5  # no feed call: the listings say it all
    assert {r.mode for r in out.values()} == {"listing"}
    s.emu.other.write("/big/top.txt", b"after")
    out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources"]
    assert s.rows()["top.txt"].size == 5


def test_feed_cursor_survives_a_failed_refresh(synced):
    s = synced
    s.emu.other.write("/big/top.txt", b"edited")
    real = s.backend.stat

    def limited(path):
        raise RateLimitedError("", status=429)

    s.backend.stat = limited
    before = s.index.get_state("mirror:big", "cursor")
    with pytest.raises(RateLimitedError):
        s.refresh()
    assert s.index.get_state("mirror:big", "cursor") == before
    s.backend.stat = real
    _out, paths = s.refresh()  # replayed
    assert paths == ["/activity/session", "/resources"]
    assert s.rows()["top.txt"].size == 6


def test_backend_errors_propagate(make_setup, make_client):
    s = make_setup()
    s.refresh()

    def exhausted(method, path):
        raise BudgetExhausted("no budget")

    s.client.gate = exhausted
    with pytest.raises(BudgetExhausted):
        s.tracker.refresh(s.mirrors)
    bad = ExaVaultBackend(make_client(s.emu, access_token="wrong"))
    with pytest.raises(AuthError):
        RemoteTracker(bad, s.index, ACCOUNT, now=s.clock).refresh(s.mirrors, force_full=True)
    assert len(s.rows()) == 308


def test_old_echoes_are_pruned(synced):
    s = synced
    s.index.expect_echo(ACCOUNT, s.clock() - 3 * DAY, "upload", "/big/old.txt")
    s.index.expect_echo(ACCOUNT, s.clock() - 3600, "upload", "/big/recent.txt")
    s.refresh()
    assert not s.index.take_echo(ACCOUNT, "upload", "/big/old.txt")
    assert s.index.take_echo(ACCOUNT, "upload", "/big/recent.txt")


# ----------------------------------------------------------------------------- no feed


def test_files_com_probes_the_feed_once_then_only_lists(make_setup):
    s = make_setup(files_com=True)
    out, paths = s.refresh()
    assert paths == ["/activity/session"] + ["/resources/list"] * 5
    assert s.index.get_state("account:" + ACCOUNT, "feed") == "no"
    assert {r.mode for r in out.values()} == {"listing"}
    out, paths = s.refresh()
    assert paths == ["/resources/list"] * 5
    s.emu.other.write("/small/s1.txt", b"changed!")
    out, paths = s.refresh()
    assert "/activity/session" not in paths
    assert s.rows("small")["s1.txt"].size == 8 and out["small"].changed == 1
    assert out["big"].changed == 0


def test_feed_unavailable_later_switches_to_listings(synced, monkeypatch):
    s = synced

    def gone(since, budget=None):
        raise FeedUnavailable("migrated")

    monkeypatch.setattr(s.backend, "changes", gone)
    out, _paths = s.refresh()
    assert {r.mode for r in out.values()} == {"listing"}
    assert s.index.get_state("account:" + ACCOUNT, "feed") == "no"


# ----------------------------------------------------------------------------- guards


def test_missing_root_is_reported_and_rows_kept_when_synced_before(synced):
    s = synced
    s.index.put_base("big", BaseEntry("top.txt", "top.txt", "file"))
    s.emu.other.delete("/big")
    out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources/list"]  # the delete of the root: 404
    assert out["big"].root_missing and out["big"].mode == "listing"
    assert len(s.rows()) == 308  # untouched: the engine decides
    out, _paths = s.refresh()
    assert out["big"].root_missing  # looked at again until it is back


def test_missing_root_of_a_new_mirror_is_an_empty_tree(make_setup):
    s = make_setup()
    s.mirrors = [("new", "/not/yet", DAY)]
    out, paths = s.refresh()
    assert out["new"].root_missing and s.rows("new") == {}
    assert paths == ["/activity/session", "/resources/list"]
    # The engine uploads (an own change, echoed); the server creates /not and
    # /not/yet on the way (MKD entries nobody echoed): creating the root or an
    # ancestor changes nothing inside the mirror, so nothing is looked up.
    s.backend.upload("/not/yet/a.txt", io.BytesIO(b"a"), 1, replace=False)
    out, paths = s.refresh()
    assert paths == ["/activity/session"]
    assert not out["new"].root_missing and out["new"].mode == "unchanged"


def test_own_mkdir_of_the_root_consumes_its_echo(make_setup):
    s = make_setup()
    s.mirrors = [("new", "/fresh-root", DAY)]
    s.refresh()
    s.backend.mkdir("/fresh-root")
    out, paths = s.refresh()
    assert paths == ["/activity/session"] and out["new"].mode == "unchanged"
    assert not s.index.take_echo(ACCOUNT, "mkdir", "/fresh-root")  # consumed by the refresh


def test_foreign_new_empty_folder(synced):
    s = synced
    s.emu.other.mkdir("/big/docs/empty")
    out, paths = s.refresh()
    assert paths == ["/activity/session", "/resources", "/resources/list"]
    assert s.rows()["docs/empty"].kind == "dir" and out["big"].changed == 1


def test_rename_of_an_ancestor_of_the_root(make_setup):
    s = make_setup()
    s.emu.other.write("/p/m3/x.txt", b"x")
    s.mirrors = [("m3", "/p/m3", DAY)]
    s.refresh()
    s.index.put_base("m3", BaseEntry("x.txt", "x.txt", "file"))
    s.emu.other.rename("/p", "q")
    out, _paths = s.refresh()
    assert out["m3"].root_missing and "x.txt" in s.rows("m3")


def test_empty_listing_keeps_the_snapshot(make_setup):
    s = make_setup()
    s.mirrors = [("small", "/small", DAY)]
    s.refresh()
    s.index.put_base("small", BaseEntry("s0.txt", "s0.txt", "file"))
    for i in range(5):
        s.emu.other.delete(f"/small/s{i}.txt")
    out, paths = s.refresh(force_full=True)
    assert out["small"].empty_listing and not out["small"].root_missing
    assert len(s.rows("small")) == 5
    assert paths == ["/resources/list", "/resources"]  # listing + a stat of the root
    out, paths = s.refresh()  # not marked as listed: looked at again
    assert out["small"].empty_listing


def test_empty_listing_without_base_rows_is_just_empty(make_setup):
    s = make_setup(populated=False)
    s.emu.other.mkdir("/small")
    s.mirrors = [("small", "/small", DAY)]
    out, paths = s.refresh()
    assert not out["small"].empty_listing and not out["small"].root_missing
    assert paths == ["/activity/session", "/resources/list"]
