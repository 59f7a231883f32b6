"""The events feed and notes through the OFFICIAL Egnyte SDK (egnyte==0.5.3) against the emulator.

What the SDK does (egnyte/events.py, resources.Notes/Note):

* ``client.events`` reads ``GET /pubapi/v1/events/cursor`` lazily: ``latest_event_id``,
  ``oldest_event_id``, ``timestamp``.
* ``Events.list(start_id, count)`` sends ``id``, ``count``, ``folder``, ``suppress`` (never
  ``type``: ``filter(types=…)`` stores ``type`` but ``list()`` reads ``self.types``, an SDK
  bug), accepts 200 or **204** (204 = no events: an empty tuple), reads ``latest_id`` and
  ``events[]`` and builds each ``Event`` from its ``id`` (required: it is in the URL template).
  ``poll()`` moves ``start_id`` to the last event's ``id`` and keeps its ``timestamp``.
* ``Notes.create`` posts ``{path, body}`` and accepts only **201** with a JSON body holding the
  note's ``id``; ``Notes.list`` sends ``file``/``folder`` and reads ``notes[]``,
  ``total_results`` and ``offset``; a ``Note`` fetches ``GET /pubapi/v1/notes/{id}`` lazily for
  ``file_path``, ``message``, ``username``, …; ``delete`` accepts only 200.
"""

from __future__ import annotations

import datetime as dt

import pytest
from egnyte import exc

from tests.helpers.egnyte_sdk import Sdk, sdk_in

ROOT = "/Shared/ev"


@pytest.fixture
def sdk(make_egnyte):
    yield from sdk_in(make_egnyte(), ROOT)


def since(sdk, start: int, **filters) -> list:
    """Every event after ``start`` (paged by the SDK's ``poll``)."""
    events = sdk.client.events.filter(start_id=start, **filters)
    out = []
    while True:
        page = events.poll(count=100)
        if not page:
            return out
        out.extend(page)


def latest(sdk) -> int:
    return sdk.client.events.latest_event_id


def test_cursor_fields(sdk):
    events = sdk.client.events
    assert isinstance(events.latest_event_id, int) and events.latest_event_id >= 1
    assert isinstance(events.oldest_event_id, int) and 1 <= events.oldest_event_id <= events.latest_event_id
    stamp = dt.datetime.fromisoformat(events.timestamp.replace("Z", "+00:00"))
    assert stamp.tzinfo is not None


def test_nothing_new_is_204_and_an_empty_result(sdk):
    start = latest(sdk)
    mark = sdk.wire.mark()
    assert sdk.client.events.list(start) == ()
    (answer,) = sdk.wire.since(mark)
    assert answer.status == 204
    assert sdk.client.events.filter(start_id=start).poll() == ()


def test_a_folder_create_event(sdk):
    """The SDK's own live test_register_new_events."""
    start = latest(sdk)
    folder = sdk.client.folder(ROOT + "/EVENT").create()
    results = sdk.client.events.filter(start_id=start).poll(count=1)
    (ev,) = results
    assert results.total_count == latest(sdk)
    assert ev.action_source == "PublicAPI"
    assert ev.type == "file_system"
    assert ev.action == "create"
    assert ev.data["target_path"] == folder.path
    assert ev.data["is_folder"] is True
    assert ev.data["folder_id"] == sdk.client.get(folder.path).folder_id
    assert ev.id == start + 1
    assert isinstance(ev.actor, int)
    assert "/pubapi/v1/fs" in ev.object_detail


def test_poll_walks_one_event_at_a_time(sdk):
    start = latest(sdk)
    for i in range(3):
        sdk.mkdir(f"{ROOT}/p{i}")
    events = sdk.client.events.filter(start_id=start)
    seen = []
    for _ in range(3):
        (ev,) = events.poll(count=1)
        seen.append(ev.data["target_path"])
        assert events.start_id == ev.id and events.timestamp == ev.timestamp
    assert seen == [f"{ROOT}/p{i}" for i in range(3)]
    assert events.poll(count=1) == ()


def test_the_endless_iterator_yields_new_events_in_order(sdk):
    start = latest(sdk)
    for i in range(3):
        sdk.mkdir(f"{ROOT}/i{i}")
    stream = iter(sdk.client.events.filter(start_id=start))
    got = [next(stream) for _ in range(3)]  # there are events: no poll_delay sleep
    assert [e.data["target_path"] for e in got] == [f"{ROOT}/i{i}" for i in range(3)]


def test_paging_with_count(sdk):
    start = latest(sdk)
    for i in range(5):
        sdk.mkdir(f"{ROOT}/q{i}")
    page = sdk.client.events.list(start, count=2)
    assert [e.id for e in page] == [start + 1, start + 2]
    # latest_id (the SDK's total_count) is the last id of this page: the next cursor
    assert page.total_count == start + 2
    assert [e.id for e in since(sdk, start)] == list(range(start + 1, start + 6))


def test_file_events_carry_ids_and_paths(sdk):
    start = latest(sdk)
    sdk.upload(ROOT + "/f.txt", b"one")
    v1 = sdk.info(ROOT + "/f.txt")
    sdk.upload(ROOT + "/f.txt", b"two")
    v2 = sdk.info(ROOT + "/f.txt")
    sdk.mkdir(ROOT + "/sub")
    sdk.client.file(ROOT + "/f.txt").move(ROOT + "/g.txt")  # rename within a folder
    sdk.client.file(ROOT + "/g.txt").move(ROOT + "/sub/g.txt")  # move across folders
    sdk.client.file(ROOT + "/sub/g.txt").copy(ROOT + "/h.txt")
    copy = sdk.info(ROOT + "/h.txt")
    sdk.client.file(ROOT + "/h.txt").delete()
    evs = since(sdk, start)
    assert [(e.action, e.type) for e in evs] == [
        ("create", "file_system"),
        ("create", "file_system"),
        ("create", "file_system"),
        ("rename", "file_system"),
        ("move", "file_system"),
        ("copy", "file_system"),
        ("delete", "file_system"),
    ]
    up1, up2, _, ren, mov, cp, rm = (e.data for e in evs)
    assert up1 == {**up1, "target_path": ROOT + "/f.txt", "target_id": v1["entry_id"],
                   "target_group_id": v1["group_id"], "is_folder": False}
    # a new version: a create with a new entry id and the same group id
    assert up2["target_id"] == v2["entry_id"] != v1["entry_id"]
    assert up2["target_group_id"] == v1["group_id"]
    assert (ren["source_path"], ren["target_path"]) == (ROOT + "/f.txt", ROOT + "/g.txt")
    assert (mov["source_path"], mov["target_path"]) == (ROOT + "/g.txt", ROOT + "/sub/g.txt")
    for d in (ren, mov):
        assert d["source_id"] == d["target_id"] == v2["entry_id"]
        assert d["source_group_id"] == d["target_group_id"] == v1["group_id"]
        assert d["is_folder"] is False
    assert (cp["source_path"], cp["target_path"]) == (ROOT + "/sub/g.txt", ROOT + "/h.txt")
    assert cp["source_group_id"] == v1["group_id"] and cp["target_group_id"] == copy["group_id"]
    assert cp["target_group_id"] != cp["source_group_id"]
    assert rm["target_path"] == ROOT + "/h.txt" and rm["target_group_id"] == copy["group_id"]


def test_a_folder_move_and_delete_are_one_event_each(sdk):
    sdk.mkdir(ROOT + "/A")
    for i in range(3):
        sdk.upload(f"{ROOT}/A/{i}.txt", b"x")
    folder_id = sdk.client.get(ROOT + "/A").folder_id
    start = latest(sdk)
    sdk.client.folder(ROOT + "/A").move(ROOT + "/B")
    sdk.client.folder(ROOT + "/B").delete()
    mv, rm = since(sdk, start)
    assert mv.action == "rename" and mv.data["is_folder"] is True
    assert (mv.data["source_path"], mv.data["target_path"]) == (ROOT + "/A", ROOT + "/B")
    assert mv.data["source_id"] == mv.data["target_id"] == folder_id
    assert rm.action == "delete" and rm.data["target_path"] == ROOT + "/B"
    assert rm.data["folder_id"] == folder_id and rm.data["is_folder"] is True


def test_folder_filter_covers_the_subtree_and_both_ends_of_a_move(sdk):
    for name in ("a", "b"):
        sdk.mkdir(f"{ROOT}/{name}")
    start = latest(sdk)
    sdk.mkdir(ROOT + "/a/deep")
    sdk.upload(ROOT + "/a/deep/x.txt", b"x")
    sdk.upload(ROOT + "/b/y.txt", b"y")
    sdk.client.file(ROOT + "/b/y.txt").move(ROOT + "/a/y.txt")  # into a: seen from a and from b
    got_a = [(e.action, e.data["target_path"]) for e in since(sdk, start, folder=ROOT + "/a")]
    assert got_a == [
        ("create", ROOT + "/a/deep"),
        ("create", ROOT + "/a/deep/x.txt"),
        ("move", ROOT + "/a/y.txt"),
    ]
    got_b = [(e.action, e.data["target_path"]) for e in since(sdk, start, folder=ROOT + "/b")]
    assert got_b == [("create", ROOT + "/b/y.txt"), ("move", ROOT + "/a/y.txt")]
    # the folder filter compares case-insensitively, like every path
    assert len(since(sdk, start, folder=ROOT.upper() + "/A")) == 3


def test_suppress_hides_our_own_events_but_not_another_users(sdk):
    """``user`` hides this user's API events; ``app`` hides every event made with this API key
    (the other user's token belongs to the same key), not those made in the web UI."""
    other = Sdk(sdk.emu, token=sdk.emu.other_token)
    start = latest(sdk)
    sdk.mkdir(ROOT + "/mine")
    other.mkdir(ROOT + "/theirs")
    sdk.emu.other.mkdir(ROOT + "/web")
    everything = since(sdk, start)
    assert [e.data["target_path"] for e in everything] == [ROOT + "/mine", ROOT + "/theirs", ROOT + "/web"]
    mine, theirs, web = everything
    assert mine.actor != theirs.actor == web.actor
    assert mine.actor == sdk.client.user_info["id"]
    assert (mine.action_source, theirs.action_source, web.action_source) == ("PublicAPI", "PublicAPI", "WebUI")
    expected = {"user": [ROOT + "/theirs", ROOT + "/web"], "app": [ROOT + "/web"]}
    for mode, paths in expected.items():
        assert [e.data["target_path"] for e in since(sdk, start, suppress=mode)] == paths, mode
    other.close()


def test_a_lost_cursor_is_404_and_the_cursor_tells_where_to_restart(make_egnyte):
    sdk = Sdk(make_egnyte(event_retention=5))
    sdk.mkdir(ROOT)
    for i in range(10):
        sdk.mkdir(f"{ROOT}/r{i}")
    events = sdk.client.events
    assert events.oldest_event_id > 2
    with pytest.raises(exc.NotFound):
        events.list(1)
    restart = events.oldest_event_id - 1
    got = since(sdk, restart)
    assert [e.id for e in got] == list(range(events.oldest_event_id, events.latest_event_id + 1))
    sdk.close()


# --------------------------------------------------------------------------- notes


def test_notes_create_list_get_and_delete(sdk):
    """The SDK's own live test_comments, in one flow."""
    f = sdk.upload(ROOT + "/sample.png", b"png")
    start = latest(sdk)
    note = f.add_note("test comment")
    assert sdk.wire.last().status == 201
    assert note.file_path == ROOT + "/sample.png"
    assert note.message == "test comment"
    assert note.username == sdk.client.user_info["username"]
    assert note in sdk.client.notes.list()
    assert sdk.client.file(ROOT + "/sample.png") == note.get_file()
    assert tuple(f.get_notes()) == (note,)
    assert tuple(sdk.client.folder(ROOT).get_notes()) == (note,)
    listed = sdk.client.notes.list(file=ROOT + "/sample.png")
    assert listed.total_count == 1 and listed.offset == 0
    (ev,) = since(sdk, start)
    assert ev.type == "note" and ev.data["note_id"] == note.id
    note.delete()
    assert tuple(f.get_notes()) == ()
    assert note not in sdk.client.notes.list()
    with pytest.raises(exc.NotFound):
        note.check()


def test_a_note_on_a_missing_file_is_not_found(sdk):
    with pytest.raises(exc.NotFound):
        sdk.client.notes.create(ROOT + "/nope.txt", "hello")
