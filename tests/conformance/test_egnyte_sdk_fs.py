"""Conformance of the Egnyte emulator's file system, driven by the OFFICIAL SDK (egnyte==0.5.3).

The SDK is an independent client: every call below must be accepted by it (no exception
where Egnyte succeeds, the SDK's own exception class where Egnyte refuses).
What the SDK does and expects (read from egnyte/{base,resources,exc,client}.py):

* every call carries ``Authorization: Bearer <token>``; URL paths are
  ``quote(utf8_path, safe='/')``; JSON bodies are sent with ``content-type: application/json``.
* ``Folder.create`` posts ``{"action": "add_folder"}`` and accepts only **201**; with
  ``ignore_if_exists`` it ignores exactly a **403** whose JSON body yields the single string
  ``Folder already exists at this location`` (``exc.created_ignore_existing``: the body's
  values are flattened and prefix-compared, so extra keys in that body would break it).
* ``move``/``copy`` post ``{"action", "destination"}`` and accept only **200**; ``delete``
  accepts only **200** (a 204 raises).
* ``Folder.list()``/``client.get()`` read ``is_folder``, ``folders[]``, ``files[]`` and build
  a resource from each entry's ``path`` (so an entry's path must be the stored one, case kept).
* statuses map to exceptions: 400 RequestError, 401 NotAuthorized, 403 InsufficientPermissions,
  404 NotFound, 409 DuplicateRecordExists, 413 FileSizeExceedsLimit, anything else RequestError.

Not covered by these tests because the emulator does not implement them (nor does syncd use
them): links, search, users, groups, permissions, audits, domain settings, and impersonation
(``client.impersonate`` sends ``X-Egnyte-Act-As``, which the emulator ignores).
"""

from __future__ import annotations

import email.utils
import os

import pytest
from egnyte import exc

from tests.helpers.egnyte_sdk import Sdk, sdk_in, sha512_hex

EXISTS = "Folder already exists at this location"
ROOT = "/Shared/sdk"


@pytest.fixture
def sdk(make_egnyte):
    yield from sdk_in(make_egnyte(), ROOT)


def error_status(err: exc.EgnyteError) -> int:
    return next(a["http status"] for a in err.args if isinstance(a, dict) and "http status" in a)


# --------------------------------------------------------------------------- folders


def test_folder_create_answers_201_and_the_folder_exists(sdk):
    folder = sdk.client.folder(ROOT + "/new dir")
    mark = sdk.wire.mark()
    assert folder.create() is folder
    (answer,) = sdk.wire.since(mark)
    assert answer.method == "POST" and answer.status == 201
    assert answer.url.endswith("/pubapi/v1/fs/Shared/sdk/new%20dir")
    assert folder.check() is None
    assert folder.is_folder is True
    assert isinstance(folder.folder_id, str) and folder.folder_id
    assert folder.name == "new dir"


def test_folder_recreate_is_ignored_by_the_sdk_and_refused_when_strict(sdk):
    folder = sdk.client.folder(ROOT + "/again")
    folder.create()
    folder.create()  # ignore_if_exists=True: the 403 "exists" answer is swallowed
    assert sdk.wire.last().status == 403
    with pytest.raises(exc.InsufficientPermissions) as ei:
        folder.create(ignore_if_exists=False)
    assert EXISTS in ei.value.args
    assert error_status(ei.value) == 403


def test_folder_recreate_in_another_case_is_the_same_folder(sdk):
    sdk.mkdir(ROOT + "/Docs")
    with pytest.raises(exc.InsufficientPermissions) as ei:
        sdk.client.folder(ROOT + "/DOCS").create(ignore_if_exists=False)
    assert EXISTS in ei.value.args
    assert sdk.names(ROOT) == ["Docs"]


def test_folder_under_a_missing_parent_is_not_found(sdk):
    with pytest.raises(exc.NotFound):
        sdk.mkdir(ROOT + "/missing/child")


def test_international_folder_name_round_trips(sdk):
    name = "Iñtërnâtiônàlizætiøν☃ test"
    folder = sdk.mkdir(ROOT + "/" + name)
    assert folder.check() is None
    listed = sdk.listing(ROOT).folders
    assert [f.name for f in listed] == [name]
    assert listed[0]._url == folder._url


def test_listing_gives_entries_the_sdk_can_address(sdk):
    """The SDK's own live test: listing entries have the URLs of the created resources."""
    folder = sdk.mkdir(ROOT + "/list")
    sub = folder.folder("subfolder").create()
    f = sdk.upload(ROOT + "/list/test.txt", b"TEST FILE CONTENT")
    listed = sdk.listing(ROOT + "/list")
    assert [x._url for x in listed.folders] == [sub._url]
    assert [x._url for x in listed.files] == [f._url]
    assert listed.is_folder is True
    # every entry is itself usable: the SDK re-fetches it by its path
    for entry in listed.folders + listed.files:
        assert entry.check() is None


def test_listing_fields(sdk):
    sdk.mkdir(ROOT + "/fields")
    sdk.mkdir(ROOT + "/fields/sub")
    data = b"0123456789"
    sdk.upload(ROOT + "/fields/a.txt", data)
    raw = sdk.client.folder(ROOT + "/fields")._fetch_attributes()
    folder = sdk.client.get(ROOT + "/fields")
    assert raw["is_folder"] is True
    assert raw["path"] == ROOT + "/fields" and raw["name"] == "fields"
    assert raw["total_count"] == 2
    assert raw["folder_id"] == folder.folder_id
    (sub,) = raw["folders"]
    assert sub["is_folder"] is True and sub["name"] == "sub" and sub["path"] == ROOT + "/fields/sub"
    assert sub["parent_id"] == raw["folder_id"]
    assert isinstance(sub["folder_id"], str) and sub["folder_id"]
    (f,) = raw["files"]
    assert f["is_folder"] is False
    assert f["name"] == "a.txt" and f["path"] == ROOT + "/fields/a.txt"
    assert f["size"] == len(data)
    assert f["checksum"] == sha512_hex(data)
    assert f["num_versions"] == 1
    assert f["locked"] is False
    assert isinstance(f["entry_id"], str) and isinstance(f["group_id"], str)
    assert f["entry_id"] != f["group_id"]
    assert isinstance(f["uploaded"], int)
    assert email.utils.parsedate_to_datetime(f["last_modified"]).tzinfo is not None


def test_the_sdk_sees_only_the_first_listing_page(sdk):
    """``Folder.list()`` sends no ``count``/``offset``: the SDK gets the emulator's default
    page (100, egnyte-api.md §10.1), folders first; ``total_count`` tells what is missing."""
    sdk.mkdir(ROOT + "/many")
    sdk.mkdir(ROOT + "/many/dir")
    for i in range(104):
        sdk.upload(f"{ROOT}/many/f{i:03d}", b"")
    listed = sdk.listing(ROOT + "/many")
    assert [f.name for f in listed.folders] == ["dir"]
    assert [f.name for f in listed.files] == [f"f{i:03d}" for i in range(99)]
    assert sdk.client.folder(ROOT + "/many")._fetch_attributes()["total_count"] == 105


def test_get_tells_a_file_from_a_folder(sdk):
    sdk.upload(ROOT + "/x.bin", b"x")
    got = sdk.client.get(ROOT + "/x.bin")
    assert type(got).__name__ == "File"
    assert got.is_folder is False and got.size == 1 and got.name == "x.bin"
    got = sdk.client.get(ROOT)
    assert type(got).__name__ == "Folder"
    assert got.files[0].name == "x.bin"


def test_missing_path_is_not_found(sdk):
    with pytest.raises(exc.NotFound) as ei:
        sdk.client.get(ROOT + "/nope")
    assert error_status(ei.value) == 404
    with pytest.raises(exc.NotFound):
        sdk.client.file(ROOT + "/nope.txt").check()


# --------------------------------------------------------------------------- move, copy, delete


def test_move_and_rename_a_file_in_one_call(sdk):
    sdk.mkdir(ROOT + "/to_here")
    src = sdk.upload(ROOT + "/sample.png", b"png bytes")
    before = sdk.info(ROOT + "/sample.png")
    moved = src.move(ROOT + "/to_here/renamed.png")
    assert sdk.wire.last().status == 200
    assert moved.path == ROOT + "/to_here/renamed.png"
    with pytest.raises(exc.NotFound):
        src.check()
    after = sdk.info(moved.path)
    assert after["group_id"] == before["group_id"]
    assert after["checksum"] == before["checksum"]
    assert sdk.download(moved.path) == b"png bytes"


def test_case_only_rename_is_allowed(sdk):
    sdk.upload(ROOT + "/readme.txt", b"r")
    sdk.client.file(ROOT + "/readme.txt").move(ROOT + "/README.txt")
    assert sdk.names(ROOT) == ["README.txt"]


def test_move_a_folder_with_its_content(sdk):
    sdk.mkdir(ROOT + "/a")
    sdk.upload(ROOT + "/a/f.txt", b"f")
    moved = sdk.client.folder(ROOT + "/a").move(ROOT + "/b")
    assert moved.path == ROOT + "/b"
    with pytest.raises(exc.NotFound):
        sdk.client.folder(ROOT + "/a").check()
    assert sdk.names(ROOT + "/b") == ["f.txt"]


def test_move_onto_an_existing_name_conflicts_and_changes_nothing(sdk):
    sdk.upload(ROOT + "/one.txt", b"1")
    sdk.upload(ROOT + "/two.txt", b"2")
    with pytest.raises(exc.DuplicateRecordExists) as ei:
        sdk.client.file(ROOT + "/one.txt").move(ROOT + "/TWO.txt")
    assert error_status(ei.value) == 409
    assert sdk.download(ROOT + "/one.txt") == b"1"
    assert sdk.download(ROOT + "/two.txt") == b"2"


def test_move_into_a_missing_folder_is_not_found(sdk):
    sdk.upload(ROOT + "/one.txt", b"1")
    with pytest.raises(exc.NotFound):
        sdk.client.file(ROOT + "/one.txt").move(ROOT + "/nowhere/one.txt")
    assert sdk.names(ROOT) == ["one.txt"]


def test_move_of_a_missing_source_is_not_found(sdk):
    with pytest.raises(exc.NotFound):
        sdk.client.file(ROOT + "/ghost.txt").move(ROOT + "/ghost2.txt")


def test_move_a_folder_into_itself_is_refused(sdk):
    sdk.mkdir(ROOT + "/loop")
    with pytest.raises(exc.RequestError) as ei:
        sdk.client.folder(ROOT + "/loop").move(ROOT + "/loop/inner")
    assert error_status(ei.value) == 400
    assert sdk.names(ROOT) == ["loop"]


def test_copy_a_file_makes_a_new_file(sdk):
    sdk.mkdir(ROOT + "/to_here")
    src = sdk.upload(ROOT + "/c.txt", b"copy me")
    copied = src.copy(ROOT + "/to_here/c.txt")
    assert sdk.wire.last().status == 200
    assert src.check() is None and copied.check() is None
    a, b = sdk.info(src.path), sdk.info(copied.path)
    assert a["checksum"] == b["checksum"] == sha512_hex(b"copy me")
    assert a["group_id"] != b["group_id"]
    assert sdk.download(copied.path) == b"copy me"


def test_copy_a_folder_to_a_new_path(sdk):
    """SDK test_folder_copy: the destination is the copy's full path."""
    sdk.mkdir(ROOT + "/src")
    sdk.mkdir(ROOT + "/src/deep")
    sdk.upload(ROOT + "/src/deep/d.txt", b"d")
    copied = sdk.client.folder(ROOT + "/src").copy(ROOT + "/destination")
    assert copied.path == ROOT + "/destination"
    assert sdk.names(ROOT) == ["destination", "src"]
    assert sdk.download(ROOT + "/destination/deep/d.txt") == b"d"
    assert sdk.download(ROOT + "/src/deep/d.txt") == b"d"


def test_copy_onto_an_existing_name_conflicts(sdk):
    sdk.upload(ROOT + "/one.txt", b"1")
    sdk.upload(ROOT + "/two.txt", b"2")
    with pytest.raises(exc.DuplicateRecordExists):
        sdk.client.file(ROOT + "/one.txt").copy(ROOT + "/two.txt")
    assert sdk.download(ROOT + "/two.txt") == b"2"


def test_delete_a_file(sdk):
    f = sdk.upload(ROOT + "/gone.txt", b"g")
    mark = sdk.wire.mark()
    f.delete()
    (answer,) = sdk.wire.since(mark)
    assert answer.method == "DELETE" and answer.status == 200
    with pytest.raises(exc.NotFound):
        f.check()
    assert sdk.names(ROOT) == []


def test_delete_a_folder_is_recursive(sdk):
    sdk.mkdir(ROOT + "/tree")
    sdk.mkdir(ROOT + "/tree/sub")
    sdk.upload(ROOT + "/tree/sub/leaf.txt", b"l")
    sdk.client.folder(ROOT + "/tree").delete()
    with pytest.raises(exc.NotFound):
        sdk.client.folder(ROOT + "/tree").check()
    with pytest.raises(exc.NotFound):
        sdk.client.file(ROOT + "/tree/sub/leaf.txt").check()


def test_delete_of_a_missing_path_is_not_found(sdk):
    with pytest.raises(exc.NotFound):
        sdk.client.file(ROOT + "/ghost.txt").delete()


# --------------------------------------------------------------------------- names


def test_names_are_case_insensitive_and_case_preserving(sdk):
    sdk.upload(ROOT + "/AbC.txt", b"first")
    info = sdk.info(ROOT + "/abc.TXT")
    assert info["path"] == ROOT + "/AbC.txt" and info["name"] == "AbC.txt"
    sdk.upload(ROOT + "/ABC.txt", b"second")
    assert sdk.names(ROOT) == ["AbC.txt"]
    info = sdk.info(ROOT + "/AbC.txt")
    assert info["num_versions"] == 2
    assert sdk.download(ROOT + "/abc.txt") == b"second"


@pytest.mark.parametrize(
    "name",
    ["plus+hash#pct%amp&semi;", "brace{}[]~!$'()=@^`", "sp ace", "ünï.txt", "a" * 240 + ".txt"],
)
def test_allowed_special_names_round_trip(sdk, name):
    f = sdk.upload(ROOT + "/" + name, name.encode())
    listed = sdk.listing(ROOT).files
    assert [x.name for x in listed] == [name]
    assert listed[0]._url == f._url
    assert sdk.download(ROOT + "/" + name) == name.encode()


@pytest.mark.parametrize(
    "name",
    [
        "spam.tmp",
        "danglingdot.",
        "Thumbs.db",
        "desktop.ini",
        "trailing ",
        " leading",
        "col:on",
        "star*",
        "quest?ion",
        'quo"te',
        "pi|pe",
        "back\\slash",
        "emoji\U0001f600",
        "ctl\x01",
        "b" * 246,
    ],
)
def test_refused_names_are_400_for_files_and_folders(sdk, name):
    with pytest.raises(exc.RequestError) as ei:
        sdk.upload(ROOT + "/" + name, b"x")
    assert error_status(ei.value) == 400
    with pytest.raises(exc.RequestError) as ei:
        sdk.mkdir(ROOT + "/" + name)
    assert error_status(ei.value) == 400
    assert sdk.names(ROOT) == []


def test_a_path_over_5000_bytes_is_refused(sdk):
    parent = ROOT
    for i in range(20):  # 20 * 241 + len(ROOT) < 5000: every level is accepted
        parent += "/" + f"{i:02d}" + "d" * 238
        sdk.mkdir(parent)
    assert len(parent.encode()) < 5000
    with pytest.raises(exc.RequestError):
        sdk.upload(parent + "/" + "f" * 240, b"x")


def test_uploads_are_refused_at_the_roots(sdk):
    for path in ("/Shared/top.txt", "/top.txt"):
        with pytest.raises(exc.DuplicateRecordExists):
            sdk.upload(path, b"x")


def test_the_private_root_holds_the_users_own_tree(sdk):
    home = "/Private/" + sdk.client.user_info["username"]
    assert sdk.client.get(home).is_folder is True
    sdk.mkdir(home + "/mine")
    sdk.upload(home + "/mine/p.txt", b"private")
    assert sdk.download(home + "/mine/p.txt") == b"private"
    with pytest.raises(exc.DuplicateRecordExists):
        sdk.upload("/Private/p.txt", b"x")


def test_upload_into_a_missing_folder_is_not_found(sdk):
    with pytest.raises(exc.NotFound):
        sdk.upload(ROOT + "/missing/f.txt", b"x")


# --------------------------------------------------------------------------- auth, user


def test_user_info(sdk):
    info = sdk.client.user_info
    assert isinstance(info, dict)
    assert {"id", "username"} <= set(info), info
    assert info["username"]


def test_a_wrong_or_missing_token_is_not_authorized(make_egnyte):
    emu = make_egnyte()
    bad = Sdk(emu, token="not-the-token")
    for call in (
        lambda: bad.client.folder("/Shared").check(),
        lambda: bad.upload("/Shared/x/y.txt", b"y"),
        lambda: bad.client.events.latest_event_id,
        lambda: bad.client.user_info,
    ):
        with pytest.raises(exc.NotAuthorized) as ei:
            call()
        assert error_status(ei.value) == 401
    bad.close()
    none = Sdk(emu)
    del none.client._session.headers["Authorization"]
    with pytest.raises(exc.NotAuthorized):
        none.client.folder("/Shared").check()
    none.close()


# --------------------------------------------------------------------------- the SDK's bulk helpers


def test_bulk_upload_then_bulk_download_round_trip(sdk, tmp_path):
    """bulk_upload creates every folder with ignore_if_exists (hitting the 403 "exists"
    for the target on a second run) and uploads each non-empty file; bulk_download walks
    the listings and downloads each file."""
    src = tmp_path / "src" / "tree"
    (src / "sub" / "deeper").mkdir(parents=True)
    files = {
        "a.txt": b"alpha",
        "sub/b.bin": bytes(range(256)) * 10,
        "sub/deeper/c.txt": b"charlie",
        ".hidden": b"skipped by the SDK's default excludes",
    }
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    for _ in range(2):
        sdk.client.bulk_upload([str(src)], ROOT + "/bulk")
    assert sdk.names(ROOT + "/bulk/tree") == ["a.txt", "sub"]
    out = tmp_path / "out"
    out.mkdir()
    sdk.client.bulk_download([ROOT + "/bulk/tree"], str(out), overwrite=True)
    got = {
        os.path.relpath(os.path.join(d, n), out / "tree"): open(os.path.join(d, n), "rb").read()
        for d, _, names in os.walk(out / "tree")
        for n in names
    }
    assert got == {k: v for k, v in files.items() if not k.startswith(".")}

