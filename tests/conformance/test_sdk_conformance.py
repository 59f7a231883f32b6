"""Conformance of the emulator, driven by the OFFICIAL ExaVault Python SDK (exavault==2.1.6).

The SDK is an independent client: every answer must deserialize into its models
*and* carry the fields documented in docs/exavault-api.md.

What the SDK does on the wire (read from exavault/{api_client,rest}.py, api/*.py,
models/*.py) and therefore what the emulator must accept / send:

* ``Configuration().host`` is the base URL incl. ``/api/v2``; ``temp_folder_path``
  is where ``download()`` writes.  Every API method takes ``ev_api_key,
  ev_access_token`` positionally and sends them as the ``ev-api-key`` /
  ``ev-access-token`` headers -- EXCEPT ``ResourcesApi.update_resource_by_id(
  ev_access_token, ev_api_key, id)`` whose first two parameters are swapped.
* Query strings are built with ``urllib.parse.urlencode`` (GET via urllib3
  ``fields=``, others appended to the URL): spaces become ``+``, a literal ``+``
  becomes ``%2B``; booleans are sent as Python's ``True`` / ``False`` (capital
  letter!), ints as decimal.  ``resources`` of ``download`` use collection format
  ``multi``: ``resources%5B%5D=a&resources%5B%5D=b``.  Datetimes (activity
  ``startDate``/``endDate``) are sent as ``datetime.isoformat()`` (naive or with
  ``+00:00``, microseconds when non-zero).
* POST/PATCH/DELETE with JSON content type always send a body, ``{}`` when there is
  none (so ``DELETE /resources/{id}`` carries ``{}``).  GETs also carry
  ``Content-Type: application/json``.
* Upload: ``multipart/form-data`` with one part ``file``; the part's filename is the
  *local* file's basename (raw UTF-8 in the header), content type guessed by
  ``mimetypes``; ``path``/``fileSize``/``resume``/``allowOverwrite`` in the query;
  ``offsetBytes`` as a header.
* Download: ``download()`` forces ``_preload_content=False``, raises ApiException
  for non-2xx (from rest.py) and then takes the local file name from
  ``Content-Disposition`` with ``re.search(r"filename\\*=UTF-8''(.*)")`` -- the
  header is REQUIRED (KeyError otherwise), the value is used verbatim (NOT
  percent-decoded) and everything after ``''`` up to end of header becomes the
  name.  ``download_with_http_info(_preload_content=False)`` returns the raw
  urllib3 response.
* ``*_with_http_info`` returns ``(model, status, headers)``; ``ApiException`` has
  ``status``, ``body`` (bytes) and ``headers``.
* Models: setters are only called for non-None JSON values, so absent/null fields
  never raise on the resource/activity/account side; enum setters raise
  ValueError on other values: ``Resource.type == "resource"``,
  ``ResourceAttributes.type in {"file","dir"}``, ``ResourceDelete.type ==
  "resource"``, ``SessionActivityEntry.type == "sessionActivity"``,
  ``Account.type == "account"``, ``AccountAttributes.status in {0,1}``,
  ``MasterUserMasterUserData.type == "user"``.  ``User``/``UserAttributes`` (the
  ``included`` of ``AccountResponse``) REQUIRE status, created, modified,
  accountName, username, nickname, permissions{download,upload,modify,delete,list,
  changePassword,share,notification,viewFormData,deleteFormData}, role in
  {user,admin,master}, timeZone, onboarding -- a partial user raises ValueError.
  ``included`` items of resource answers are resolved by their ``type``
  (resource/user/share/notification/account); an unknown ``type`` makes the SDK
  crash with AttributeError.  Datetime fields are parsed with dateutil.
* 207 multi-status: ``delete_resources`` is typed ``EmptyResponse`` and
  ``move_resources``/``copy_resources`` ``ResourceCopyMove``; neither model has a
  ``responses`` field, so a 207 body deserializes to an all-None model and the
  per-item results are LOST.  ``ResourceMultiResponse.responses`` items are an
  empty "AnyOf" model that comes back as raw dicts.  To see a 207 you must call
  ``*_with_http_info(..., _preload_content=False)`` and parse the JSON yourself.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import time
import unicodedata
import zipfile
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

import pytest
import urllib3

import exavault
from exavault import models as m
from exavault.rest import ApiException

from tests.helpers.accounts import ACCESS_TOKEN, API_KEY

KEY, TOKEN = API_KEY, ACCESS_TOKEN


# --------------------------------------------------------------------------- helpers


class Sdk:
    """One SDK client bound to one emulator, recording every HTTP answer."""

    def __init__(self, emu, tmp_path):
        self.emu = emu
        self.tmp = tmp_path
        cfg = exavault.Configuration()
        cfg.host = emu.url
        dl = tmp_path / "sdk-downloads"
        dl.mkdir(exist_ok=True)
        cfg.temp_folder_path = str(dl)
        self.client = exavault.ApiClient(cfg)
        self.client.rest_client.pool_manager.connection_pool_kw["timeout"] = urllib3.Timeout(
            connect=5, read=20
        )
        self.res = exavault.ResourcesApi(self.client)
        self.account = exavault.AccountApi(self.client)
        self.activity = exavault.ActivityApi(self.client)
        self.seen: list[tuple[str, str, int, object]] = []
        rest = self.client.rest_client
        inner = rest.request

        def recording(method, url, *a, **kw):
            try:
                r = inner(method, url, *a, **kw)
            except ApiException as e:
                self.seen.append((method, url, e.status, e.headers))
                raise
            headers = r.getheaders() if hasattr(r, "getheaders") else r.headers
            self.seen.append((method, url, r.status, headers))
            return r

        rest.request = recording  # rest.GET/POST/... call self.request -> instance attr
        self._n = 0

    # -- convenience wrappers -------------------------------------------------
    def local_file(self, data: bytes, name: str = "payload.bin") -> str:
        self._n += 1
        d = self.tmp / "sdk-uploads" / str(self._n)
        d.mkdir(parents=True)
        p = d / name
        p.write_bytes(data)
        return str(p)

    def upload(self, path: str, data: bytes, **kw) -> m.ResourceResponse:
        local = self.local_file(data, posixpath.basename(path) or "x")
        return self.res.upload_file(KEY, TOKEN, path, len(data), file=local, **kw)

    def upload_http(self, path: str, data: bytes, **kw):
        local = self.local_file(data, posixpath.basename(path) or "x")
        return self.res.upload_file_with_http_info(KEY, TOKEN, path, len(data), file=local, **kw)

    def mkdir(self, path: str) -> m.Resource:
        return self.res.add_folder(KEY, TOKEN, body=m.AddFolderRequestBody(path=path)).data

    def info(self, ident: str, **kw) -> m.ResourceResponse:
        return self.res.get_resource_info(KEY, TOKEN, ident, **kw)

    def list(self, ident: str, **kw) -> m.ResourceCollectionResponse:
        return self.res.list_resources(KEY, TOKEN, ident, **kw)

    def download_bytes(self, resources: list[str], **kw) -> tuple[bytes, str]:
        local = self.res.download(KEY, TOKEN, resources, **kw)
        with open(local, "rb") as f:
            data = f.read()
        return data, local

    def raw(self, method, *args, **kw):
        """Call ``method`` (a *_with_http_info) without deserializing; -> (status, json, headers)."""
        resp, status, headers = method(*args, _preload_content=False, **kw)
        body = resp.data
        return status, (json.loads(body) if body else None), headers

    def deserialize(self, payload, klass: str):
        class _Resp:
            data = json.dumps(payload)

        return self.client.deserialize(_Resp(), klass)


def api_error(exc: ApiException, status: int) -> list[m.Error]:
    """Assert the documented error envelope and return the SDK-deserialized errors."""
    assert exc.status == status, (exc.status, exc.body)
    body = json.loads(exc.body)
    assert body["responseStatus"] == status
    assert isinstance(body["errors"], list) and body["errors"], body
    for e in body["errors"]:
        assert set(e) >= {"code", "detail"}, e
    errors = [m.Error(**{k: e.get(k) for k in ("code", "title", "detail", "meta")}) for e in body["errors"]]
    return errors


def expect_error(status: int, fn, *args, **kw) -> list[m.Error]:
    with pytest.raises(ApiException) as ei:
        fn(*args, **kw)
    return api_error(ei.value, status)


def ext_of(name: str) -> str:
    return os.path.splitext(name)[1].lstrip(".")


def check_dt(value, *, required=True):
    if value is None and not required:
        return
    assert isinstance(value, datetime), value
    assert value.tzinfo is not None, f"timestamp without offset/Z: {value!r}"
    assert abs(datetime.now(timezone.utc) - value) < timedelta(hours=1), value


def check_resource(res, *, path: str, type_: str, size: int | None = None) -> m.Resource:
    """The documented Resource shape (docs/exavault-api.md §5, §6), via the SDK models."""
    assert isinstance(res, m.Resource), type(res)
    assert isinstance(res.id, int) and res.id > 0
    assert res.type == "resource"
    a = res.attributes
    assert isinstance(a, m.ResourceAttributes)
    assert a.path == path, (a.path, path)
    assert a.name == posixpath.basename(path)
    assert a.type == type_
    assert isinstance(a.hash, str) and a.hash
    assert isinstance(a.size, int) and a.size >= 0
    if size is not None:
        assert a.size == size
    check_dt(a.created_at)
    check_dt(a.updated_at)
    check_dt(a.upload_date, required=False)
    check_dt(a.accessed_at, required=False)
    for t_int, t_dt in ((a.created_time, a.created_at), (a.updated_time, a.updated_at)):
        if t_int is not None:
            assert abs(t_int - t_dt.timestamp()) < 1.0, (t_int, t_dt)
    assert isinstance(a.created_by, str) and a.created_by
    if type_ == "file":
        assert a.file_count is None, "fileCount must be null for a file"
        assert a.extension == ext_of(a.name)
        assert isinstance(a.previewable, bool)
    else:
        assert isinstance(a.file_count, int) and a.file_count >= 0
    return res


def check_single(resp, status: int, *, path: str, type_: str, size: int | None = None) -> m.Resource:
    assert isinstance(resp, m.ResourceResponse), type(resp)
    assert resp.response_status == status
    assert isinstance(resp.included, list)
    return check_resource(resp.data, path=path, type_=type_, size=size)


def check_collection(resp) -> list[m.Resource]:
    assert isinstance(resp, m.ResourceCollectionResponse), type(resp)
    assert resp.response_status == 200
    assert isinstance(resp.data, list)
    assert resp.returned_results == len(resp.data)
    assert isinstance(resp.total_results, int) and resp.total_results >= resp.returned_results
    assert isinstance(resp.included, list)
    for r in resp.data:
        check_resource(r, path=r.attributes.path, type_=r.attributes.type)
    return resp.data


def names(resources) -> list[str]:
    return [r.attributes.name for r in resources]


def ratelimit(headers) -> tuple[int, int]:
    assert headers is not None
    limit, remaining = headers.get("X-RateLimit-Limit"), headers.get("X-RateLimit-Remaining")
    assert limit is not None and remaining is not None, dict(headers)
    return int(limit), int(remaining)


@pytest.fixture
def sdk(emulator, tmp_path):
    s = Sdk(emulator, tmp_path)
    yield s


# --------------------------------------------------------------------------- account


def test_account_quota(sdk):
    resp, status, headers = sdk.account.get_account_with_http_info(KEY, TOKEN)
    assert status == 200
    assert isinstance(resp, m.AccountResponse)
    assert resp.response_status == 200
    acc = resp.data
    assert isinstance(acc, m.Account)
    assert acc.type == "account"
    assert isinstance(acc.id, int)
    at = acc.attributes
    assert isinstance(at, m.AccountAttributes)
    assert isinstance(at.account_name, str) and at.account_name
    assert at.status == 1
    q = at.quota
    assert isinstance(q, m.Quota)
    assert q.transactions_limit == 120000
    for v in (q.disk_limit, q.disk_used, q.bandwidth_limit, q.bandwidth_used):
        assert isinstance(v, int) and v >= 0
    assert ratelimit(headers)[0] == 120000


def test_account_disk_used_tracks_uploads(sdk):
    before = sdk.account.get_account(KEY, TOKEN).data.attributes.quota.disk_used
    sdk.upload("/du/a.bin", b"x" * 1000)
    after = sdk.account.get_account(KEY, TOKEN).data.attributes.quota.disk_used
    assert after - before == 1000
    sdk.res.delete_resources(KEY, TOKEN, body=m.DeleteResourcesRequestBody(resources=["/du/a.bin"]))
    assert sdk.account.get_account(KEY, TOKEN).data.attributes.quota.disk_used == before


def test_account_include_master_user_deserializes(sdk):
    # AccountResponse.included is list[User]; the SDK's UserAttributes REQUIRES status, created,
    # modified, accountName, username, nickname, permissions{...10 flags}, role, timeZone, onboarding.
    resp = sdk.account.get_account(KEY, TOKEN, include="masterUser")
    rel = resp.data.relationships
    assert isinstance(rel, m.MasterUser)
    assert rel.master_user.data.type == "user"
    assert len(resp.included) == 1
    user = resp.included[0]
    assert isinstance(user, m.User) and user.type == "user"
    assert user.id == rel.master_user.data.id
    ua = user.attributes
    assert isinstance(ua.username, str) and ua.username
    assert ua.role == "master"
    assert isinstance(ua.permissions, m.UserPermissions) and ua.permissions.upload is True


def test_account_update_notice_settings(sdk):
    """PATCH /account (docs/exavault-api.md §4): admin edits notice settings; thresholds are whole numbers 70-100."""
    body = m.UpdateAccountRequestBody(
        quota=m.AccountQuotaValues(notice_enabled=True, notice_threshold=80, transactions_notice_threshold=75)
    )
    resp = sdk.account.update_account(KEY, TOKEN, body=body)
    assert isinstance(resp, m.AccountResponse) and resp.response_status == 200
    q = resp.data.attributes.quota
    assert (q.notice_enabled, q.notice_threshold, q.transactions_notice_threshold) == (True, 80, 75)
    assert sdk.account.get_account(KEY, TOKEN).data.attributes.quota.notice_threshold == 80
    bad = m.UpdateAccountRequestBody(quota=m.AccountQuotaValues(notice_threshold=50))
    assert expect_error(400, sdk.account.update_account, KEY, TOKEN, body=bad)[0].code == "ERROR_INVALID_PARAMETER"


def test_account_transactions_limit_option(make_emulator, tmp_path):
    s = Sdk(make_emulator(transactions=77), tmp_path)
    resp, _, headers = s.account.get_account_with_http_info(KEY, TOKEN)
    assert resp.data.attributes.quota.transactions_limit == 77
    assert ratelimit(headers) == (77, 76)


# --------------------------------------------------------------------------- create folder


def test_add_folder_by_path_creates_parents(sdk):
    resp, status, _ = sdk.res.add_folder_with_http_info(
        KEY, TOKEN, body=m.AddFolderRequestBody(path="/p/q/r")
    )
    assert status == 201
    check_single(resp, 201, path="/p/q/r", type_="dir")
    assert resp.data.attributes.file_count == 0
    for parent in ("/p", "/p/q"):
        check_single(sdk.info(parent), 200, path=parent, type_="dir")
    assert sdk.emu.other.info("/p/q/r") is not None


def test_add_folder_by_name_and_parent(sdk):
    parent = sdk.mkdir("/par")
    resp, status, _ = sdk.res.add_folder_with_http_info(
        KEY, TOKEN, body=m.AddFolderRequestBody(name="child", parent_resource="/par")
    )
    assert status == 201
    check_single(resp, 201, path="/par/child", type_="dir")
    resp = sdk.res.add_folder(
        KEY, TOKEN, body=m.AddFolderRequestBody(name="child2", parent_resource=f"id:{parent.id}")
    )
    check_single(resp, 201, path="/par/child2", type_="dir")
    assert sorted(names(sdk.list("/par").data)) == ["child", "child2"]


def test_add_folder_missing_parent_resource_is_404(sdk):
    expect_error(
        404,
        sdk.res.add_folder,
        KEY,
        TOKEN,
        body=m.AddFolderRequestBody(name="x", parent_resource="/does-not-exist"),
    )


def test_add_folder_existing_is_not_a_server_error(sdk):
    sdk.mkdir("/dup")
    # Digest 7.5: unspecified; suggested 400 ERROR_INVALID_PARAMETER.  Either that or 201.
    try:
        resp = sdk.res.add_folder(KEY, TOKEN, body=m.AddFolderRequestBody(path="/dup"))
    except ApiException as e:
        errs = api_error(e, 400)
        assert errs[0].code == "ERROR_INVALID_PARAMETER"
    else:
        check_single(resp, 201, path="/dup", type_="dir")
    assert len(sdk.list("/").data) == 1


# --------------------------------------------------------------------------- upload


def test_upload_returns_201_resource(sdk):
    data = bytes(range(256)) * 5
    resp, status, headers = sdk.upload_http("/up/blob.bin", data)
    assert status == 201
    r = check_single(resp, 201, path="/up/blob.bin", type_="file", size=len(data))
    assert resp.included == []
    assert sdk.emu.other.read("/up/blob.bin") == data
    check_single(sdk.info("/up"), 200, path="/up", type_="dir")  # parent auto-created
    assert sdk.res.get_resource_info_by_id(r.id, KEY, TOKEN).data.attributes.size == len(data)


def test_upload_empty_file(sdk):
    resp = sdk.upload("/empty.txt", b"")
    check_single(resp, 201, path="/empty.txt", type_="file", size=0)
    data, _ = sdk.download_bytes(["/empty.txt"])
    assert data == b""


@pytest.mark.parametrize("allow", [False, None], ids=["allowOverwrite=False", "default"])
def test_upload_no_overwrite_autorenames(sdk, allow):
    kw = {} if allow is None else {"allow_overwrite": allow}
    first = sdk.upload("/up/report.txt", b"one", **kw)
    check_single(first, 201, path="/up/report.txt", type_="file", size=3)
    second = sdk.upload("/up/report.txt", b"second", **kw)
    check_single(second, 201, path="/up/report (1).txt", type_="file", size=6)
    third = sdk.upload("/up/report.txt", b"3rd!", **kw)
    check_single(third, 201, path="/up/report (2).txt", type_="file", size=4)
    assert len({first.data.id, second.data.id, third.data.id}) == 3
    assert sorted(names(sdk.list("/up").data)) == ["report (1).txt", "report (2).txt", "report.txt"]
    assert sdk.download_bytes(["/up/report.txt"])[0] == b"one"
    assert sdk.download_bytes(["/up/report (1).txt"])[0] == b"second"
    uploads = [r for r in sdk.emu.request_log if r.path.endswith("/resources/upload")]
    assert len(uploads) == 3
    # the SDK sends Python booleans verbatim: allowOverwrite=False (capital F), or nothing at all
    assert uploads[-1].query.get("allowOverwrite") == (None if allow is None else ["False"])


def test_upload_overwrite_true_replaces(sdk):
    sdk.upload("/up/r.txt", b"old content")
    resp = sdk.upload("/up/r.txt", b"new", allow_overwrite=True)
    check_single(resp, 201, path="/up/r.txt", type_="file", size=3)
    listing = sdk.list("/up").data
    assert names(listing) == ["r.txt"]
    assert listing[0].attributes.size == 3
    assert sdk.download_bytes(["/up/r.txt"])[0] == b"new"
    assert sdk.emu.other.read("/up/r.txt") == b"new"


def test_upload_onto_existing_folder_is_400(sdk):
    sdk.upload("/uf/inner.txt", b"i")
    for allow in (True, False):
        errs = expect_error(400, sdk.upload, "/uf", b"file", allow_overwrite=allow)
        assert errs[0].code == "ERROR_INVALID_PARAMETER"
        assert errs[0].detail == "Destination path cannot be an existing folder."
    check_single(sdk.info("/uf"), 200, path="/uf", type_="dir")
    assert sdk.emu.other.read("/uf/inner.txt") == b"i"


def test_upload_size_mismatch_rejected(sdk):
    # docs/exavault-api.md §17.4: the final size must equal fileSize, else 400
    local = sdk.local_file(b"abc")
    errs = expect_error(400, sdk.res.upload_file, KEY, TOKEN, "/sm.txt", 10, file=local)
    assert errs[0].code == "ERROR_INVALID_PARAMETER"
    assert sdk.emu.other.info("/sm.txt") is None


def test_upload_relative_path(sdk):
    # docs/exavault-api.md §5: the upload sample sends a bare name without a leading "/"
    check_single(sdk.upload("rel.txt", b"rel"), 201, path="/rel.txt", type_="file", size=3)
    check_single(sdk.info("rel.txt"), 200, path="/rel.txt", type_="file", size=3)


def test_upload_large(sdk):
    data = os.urandom(4 * 1024 * 1024 + 17)
    check_single(sdk.upload("/big/large.bin", data), 201, path="/big/large.bin", type_="file", size=len(data))
    assert sdk.download_bytes(["/big/large.bin"])[0] == data


def test_concurrent_uploads_same_name_all_kept(sdk):
    """async_req=True (the SDK's thread pool): 8 racing uploads must yield 8 distinct files."""
    payloads = [f"racer {i}".encode() * (i + 1) for i in range(8)]
    threads = [
        sdk.res.upload_file(KEY, TOKEN, "/race/same.txt", len(p), file=sdk.local_file(p, "same.txt"), async_req=True)
        for p in payloads
    ]
    results = [t.get(timeout=30) for t in threads]
    paths = [r.data.attributes.path for r in results]
    assert len(set(paths)) == 8, paths
    assert len({r.data.id for r in results}) == 8
    for p, r in zip(payloads, results):
        assert r.data.attributes.size == len(p)
        assert sdk.emu.other.read(r.data.attributes.path) == p
    assert sorted(names(sdk.list("/race").data)) == sorted(posixpath.basename(x) for x in paths)


def test_upload_resume_flag_accepted(sdk):
    # resume=True/False is sent as "True"/"False" by the SDK; a plain full upload must work.
    resp = sdk.upload("/rs/a.txt", b"abc", resume=False, allow_overwrite=False)
    check_single(resp, 201, path="/rs/a.txt", type_="file", size=3)
    resp = sdk.upload("/rs/a.txt", b"abcd", resume=True, allow_overwrite=True)
    check_single(resp, 201, path="/rs/a.txt", type_="file", size=4)


# --------------------------------------------------------------------------- names round trip

NASTY_NAMES = [
    "with space.txt",
    "caf\u00e9 nfc.txt",
    "cafe\u0301 nfd.txt",
    "hash#tag.txt",
    "what?.txt",
    "100%.txt",
    "100%25.txt",
    "a+b.txt",
    "r&d.txt",
    "semi;colon=eq.txt",
    "quote'single.txt",
    "\u65e5\u672c\u8a9e.txt",
    "mix #?%+& \u00e9\u0301.txt",
    'say "hi".txt',
    "back\\slash.txt",
    " lead and trail .txt ",
    "\U0001f389.txt",
    "percent%2Fslash.txt",
    "a[1].txt",
    "UPPER.TXT",
    ".hidden",
    "x" * 200 + ".txt",
]


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_names_round_trip(sdk, name):
    data = ("payload of " + name).encode()
    path = "/rt/" + name
    resp = sdk.upload(path, data)
    r = check_single(resp, 201, path=path, type_="file", size=len(data))
    # list
    listing = check_collection(sdk.list("/rt"))
    assert names(listing) == [name]
    assert listing[0].id == r.id
    # info by path and by id
    assert check_single(sdk.info(path), 200, path=path, type_="file", size=len(data)).id == r.id
    by_id = sdk.res.get_resource_info_by_id(r.id, KEY, TOKEN)
    check_single(by_id, 200, path=path, type_="file", size=len(data))
    # recursive search from /
    found = check_collection(sdk.list("/", name="*"))
    assert path in [x.attributes.path for x in found]
    # download: bytes, and the SDK's file name (RFC 5987, used verbatim by the SDK)
    got, local = sdk.download_bytes([path])
    assert got == data
    assert unquote(os.path.basename(local)) == name
    _, _, headers = sdk.res.download_with_http_info(KEY, TOKEN, [path], _preload_content=False)
    ext_value = re.search(r"filename\*=UTF-8''(.*)$", headers["Content-Disposition"]).group(1)
    assert re.fullmatch(r"(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-Fa-f]{2})+", ext_value), ext_value  # RFC 5987 value-chars
    assert unquote(ext_value, errors="strict") == name
    # storage really holds exactly this name
    assert sdk.emu.other.read(path) == data
    # path identifiers with the same characters inside JSON bodies
    sdk.mkdir("/rt2")
    copied = sdk.res.copy_resources(KEY, TOKEN, body=m.CopyResourcesRequestBody(resources=[path], parent_resource="/rt2"))
    check_resource(copied.data, path="/rt2/" + name, type_="file", size=len(data))
    done = sdk.res.delete_resources(KEY, TOKEN, body=m.DeleteResourcesRequestBody(resources=[path]))
    assert done.response_status == 200
    assert names(sdk.list("/rt2").data) == [name]
    assert sdk.list("/rt").returned_results == 0


@pytest.mark.parametrize("name", ["dir #?%+& x", "caf\u00e9", "cafe\u0301"])
def test_folder_names_round_trip(sdk, name):
    folder = "/" + name
    check_single(
        sdk.res.add_folder(KEY, TOKEN, body=m.AddFolderRequestBody(path=folder)), 201, path=folder, type_="dir"
    )
    sdk.upload(folder + "/in side.txt", b"z")
    assert names(sdk.list("/").data) == [name]
    assert [x.attributes.path for x in sdk.list(folder).data] == [folder + "/in side.txt"]
    assert sdk.download_bytes([folder + "/in side.txt"])[0] == b"z"


def test_nfc_and_nfd_are_distinct_files(sdk):
    nfc = unicodedata.normalize("NFC", "caf\u00e9.txt")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    a = sdk.upload("/u/" + nfc, b"NFC", allow_overwrite=False)
    b = sdk.upload("/u/" + nfd, b"NFD!", allow_overwrite=False)
    assert a.data.attributes.name == nfc
    assert b.data.attributes.name == nfd, "NFD name was normalized or auto-renamed"
    assert a.data.id != b.data.id
    assert sorted(names(sdk.list("/u").data)) == sorted([nfc, nfd])
    assert sdk.download_bytes(["/u/" + nfc])[0] == b"NFC"
    assert sdk.download_bytes(["/u/" + nfd])[0] == b"NFD!"
    assert sdk.info("/u/" + nfd).data.attributes.size == 4


# --------------------------------------------------------------------------- list / search


@pytest.fixture
def tree(sdk):
    """/L with f0..f6.txt (sizes 1..7) and folders d0, d1; /L/d0 has deep.txt, /L/d0/e/ has x.TXT."""
    for i in range(7):
        sdk.upload(f"/L/f{i}.txt", b"x" * (i + 1))
    sdk.mkdir("/L/d0/e")
    sdk.mkdir("/L/d1")
    sdk.upload("/L/d0/deep.txt", b"deep")
    sdk.upload("/L/d0/e/x.TXT", b"xx")
    return sdk


def test_list_folder(tree):
    resp = tree.list("/L")
    items = check_collection(resp)
    assert resp.total_results == 9 and resp.returned_results == 9
    assert sorted(names(items)) == ["d0", "d1"] + [f"f{i}.txt" for i in range(7)]
    by = {r.attributes.name: r for r in items}
    assert by["f3.txt"].attributes.size == 4
    assert by["d0"].attributes.type == "dir"
    assert all(r.attributes.path == "/L/" + r.attributes.name for r in items)


def test_list_paging(tree):
    seen = []
    for offset, expect in ((0, 4), (4, 4), (8, 1), (9, 0)):
        resp = tree.list("/L", offset=offset, limit=4, sort="name")
        page = check_collection(resp)
        assert resp.returned_results == expect
        assert resp.total_results == 9
        seen += names(page)
    assert seen == sorted(seen) and len(set(seen)) == 9


def test_list_sort(tree):
    asc = names(tree.list("/L", sort="name").data)
    desc = names(tree.list("/L", sort="-name").data)
    assert asc == sorted(asc) and len(asc) == 9
    assert desc == list(reversed(asc))


@pytest.mark.parametrize("type_,count", [("file", 7), ("dir", 2)])
def test_list_type_filter(tree, type_, count):
    resp = tree.list("/L", type=type_)
    items = check_collection(resp)
    assert len(items) == count and resp.total_results == count
    assert {r.attributes.type for r in items} == {type_}


def test_list_limit_100_ok_101_rejected(tree):
    assert tree.list("/L", limit=100).returned_results == 9
    errs = expect_error(400, tree.list, "/L", limit=101)
    assert errs[0].code == "ERROR_INVALID_PARAMETER"


@pytest.mark.parametrize("kw", [{"offset": -1}, {"limit": -1}], ids=["offset-1", "limit-1"])
def test_list_negative_is_400(tree, kw):
    errs = expect_error(400, tree.list, "/L", **kw)
    assert errs[0].code == "ERROR_INVALID_PARAMETER"


def test_list_by_parent_id(tree):
    lid = tree.info("/L").data.id
    resp = tree.res.list_resource_contents(KEY, TOKEN, lid)
    items = check_collection(resp)
    assert sorted(names(items)) == sorted(names(tree.list("/L").data))
    page = tree.res.list_resource_contents(KEY, TOKEN, lid, offset=2, limit=3, sort="name")
    assert page.returned_results == 3 and page.total_results == 9
    assert names(page.data) == sorted(names(items))[2:5]
    assert {r.attributes.type for r in tree.res.list_resource_contents(KEY, TOKEN, lid, type="dir").data} == {"dir"}
    expect_error(400, tree.res.list_resource_contents, KEY, TOKEN, lid, limit=101)


def test_list_identifier_forms(tree):
    info = tree.info("/L").data
    for ident in (f"id:{info.id}", f"hash:{info.attributes.hash}"):
        assert sorted(names(tree.list(ident).data)) == sorted(names(tree.list("/L").data)), ident


def test_list_default_limit_is_100(sdk):
    sdk.emu.other.mkdir("/many")
    for i in range(105):
        sdk.emu.other.write(f"/many/f{i:03}.txt", b"x")
    first = sdk.list("/many", sort="name")
    assert first.returned_results == 100 and first.total_results == 105
    rest = sdk.list("/many", sort="name", offset=100)
    assert names(rest.data) == [f"f{i:03}.txt" for i in range(100, 105)]


def test_list_root_and_missing(tree):
    assert names(check_collection(tree.list("/"))) == ["L"]
    expect_error(404, tree.list, "/nope")


def test_search_recursive_star(tree):
    resp = tree.list("/L", name="*")
    items = check_collection(resp)
    paths = sorted(r.attributes.path for r in items)
    expected = sorted(
        [f"/L/f{i}.txt" for i in range(7)]
        + ["/L/d0", "/L/d1", "/L/d0/e", "/L/d0/deep.txt", "/L/d0/e/x.TXT"]
    )
    assert paths == expected
    assert resp.total_results == len(expected)
    # `type` is ignored in search mode
    assert len(tree.list("/L", name="*", type="dir").data) == len(expected)
    # paging through the search
    got = []
    for off in range(0, len(expected), 5):
        page = tree.list("/L", name="*", offset=off, limit=5)
        assert page.total_results == len(expected)
        got += [r.attributes.path for r in page.data]
    assert sorted(got) == expected


def test_search_wildcards_case_insensitive(tree):
    assert sorted(names(tree.list("/L", name="F?.TXT").data)) == [f"f{i}.txt" for i in range(7)]
    assert [r.attributes.path for r in tree.list("/", name="x.txt").data] == ["/L/d0/e/x.TXT"]
    assert sorted(r.attributes.path for r in tree.list("/L/d0", name="*.txt").data) == [
        "/L/d0/deep.txt",
        "/L/d0/e/x.TXT",
    ]
    assert tree.list("/L", name="nomatch*").returned_results == 0


def test_search_only_star_and_question_are_wildcards(sdk):
    for n in ("a[1].txt", "a1.txt", "Caf\u00e9.txt", "b.c"):
        sdk.upload("/s/" + n, b"x")
    # `[...]` is literal (only * and ? are documented wildcards), matching is case-insensitive
    assert names(sdk.list("/s", name="a[1].txt").data) == ["a[1].txt"]
    assert names(sdk.list("/s", name="a[1]*").data) == ["a[1].txt"]
    assert names(sdk.list("/s", name="CAF\u00c9*").data) == ["Caf\u00e9.txt"]
    assert names(sdk.list("/s", name="b?c").data) == ["b.c"]
    assert names(sdk.list("/s", name="b.?").data) == ["b.c"]


# --------------------------------------------------------------------------- raw wire types

RESOURCE_ATTR_TYPES = {
    "hash": str,
    "name": str,
    "path": str,
    "type": str,
    "extension": str,
    "size": int,
    "createdBy": str,
    "uploadDate": str,
    "createdAt": str,
    "updatedAt": str,
    "accessedAt": str,
    "createdTime": int,
    "updatedTime": int,
    "accessedTime": int,
}


def check_raw_resource(d: dict):
    """The SDK coerces primitives (int("5") == 5) and drops unknown keys, so check the wire JSON too."""
    assert type(d["id"]) is int and d["type"] == "resource"
    a = d["attributes"]
    for key, typ in RESOURCE_ATTR_TYPES.items():
        assert key in a, f"missing attribute {key}"
        assert type(a[key]) is typ, (key, a[key])
    for key in ("uploadDate", "createdAt", "updatedAt", "accessedAt"):
        assert datetime.fromisoformat(a[key].replace("Z", "+00:00")).tzinfo is not None, a[key]
    if a["type"] == "file":
        assert a["fileCount"] is None
        assert type(a["previewable"]) is bool
    else:
        assert type(a["fileCount"]) is int
    rel = d.get("relationships")
    assert isinstance(rel, dict) and rel["parentResource"]["data"]["type"] == "resource"


def test_raw_wire_types(sdk):
    sdk.upload("/w/a.txt", b"abc")
    st, body, _ = sdk.raw(sdk.res.get_resource_info_with_http_info, KEY, TOKEN, "/w/a.txt")
    assert st == 200 and type(body["responseStatus"]) is int and body["included"] == []
    check_raw_resource(body["data"])
    st, body, _ = sdk.raw(sdk.res.list_resources_with_http_info, KEY, TOKEN, "/", name="*")
    assert type(body["returnedResults"]) is int and type(body["totalResults"]) is int
    assert body["returnedResults"] == len(body["data"]) == 2
    for d in body["data"]:
        check_raw_resource(d)
    st, body, _ = sdk.raw(sdk.res.upload_file_with_http_info, KEY, TOKEN, "/w/b.txt", 1, file=sdk.local_file(b"b"))
    assert st == 201 and body["responseStatus"] == 201
    check_raw_resource(body["data"])
    st, body, _ = sdk.raw(sdk.account.get_account_with_http_info, KEY, TOKEN)
    q = body["data"]["attributes"]["quota"]
    for key in ("diskLimit", "diskUsed", "bandwidthLimit", "bandwidthUsed", "transactionsLimit"):
        assert type(q[key]) is int, key
    st, body, _ = sdk.raw(sdk.activity.get_session_logs_with_http_info, KEY, TOKEN, limit=1)
    assert body["totalResults"] == 0 and body["returnedResults"] == 1
    e = body["data"][0]["attributes"]
    for key, typ in (("bytesTransferred", int), ("duration", int), ("created", str), ("operation", str), ("fileName", str)):
        assert type(e[key]) is typ, key


# --------------------------------------------------------------------------- info


def test_info_by_path_id_and_identifiers(sdk):
    up = sdk.upload("/i/a.txt", b"hello").data
    by_path = check_single(sdk.info("/i/a.txt"), 200, path="/i/a.txt", type_="file", size=5)
    resp, status, _ = sdk.res.get_resource_info_by_id_with_http_info(up.id, KEY, TOKEN)
    assert status == 200
    by_id = check_single(resp, 200, path="/i/a.txt", type_="file", size=5)
    by_ident = check_single(sdk.info(f"id:{up.id}"), 200, path="/i/a.txt", type_="file")
    by_hash = check_single(sdk.info(f"hash:{up.attributes.hash}"), 200, path="/i/a.txt", type_="file")
    assert up.id == by_path.id == by_id.id == by_ident.id == by_hash.id
    assert up.attributes.hash == by_path.attributes.hash == by_id.attributes.hash
    folder = check_single(sdk.info("/i"), 200, path="/i", type_="dir")
    assert folder.attributes.file_count == 1


def test_info_missing_is_404(sdk):
    errs = expect_error(404, sdk.info, "/missing.txt")
    assert isinstance(errs[0].code, str) and errs[0].code
    expect_error(404, sdk.res.get_resource_info_by_id, 987654321, KEY, TOKEN)
    expect_error(404, sdk.info, "id:987654321")


def test_info_include_parent_resource(sdk):
    parent = sdk.mkdir("/inc")
    sdk.upload("/inc/a.txt", b"a")
    resp = sdk.info("/inc/a.txt", include="parentResource")
    check_single(resp, 200, path="/inc/a.txt", type_="file")
    assert len(resp.included) == 1
    inc = resp.included[0]
    assert isinstance(inc, m.Resource) and inc.type == "resource" and inc.id == parent.id
    assert inc.attributes.path == "/inc"
    rel = resp.data.relationships
    assert isinstance(rel, m.ResourceRelationships)
    assert rel.parent_resource.data.id == parent.id
    # unknown include: 200 with empty included (Java tests)
    assert sdk.info("/inc/a.txt", include="bogus").included == []


def test_info_timestamps_access_and_overwrite(sdk):
    first = sdk.upload("/t/a.txt", b"1").data
    time.sleep(1.1)
    sdk.download_bytes(["/t/a.txt"])
    read = sdk.info("/t/a.txt").data
    # accessedAt = last access/download (docs/exavault-api.md §6); a download is not a change
    assert read.attributes.accessed_at > first.attributes.accessed_at
    assert read.attributes.updated_at == first.attributes.updated_at
    second = sdk.upload("/t/a.txt", b"22", allow_overwrite=True).data
    assert second.attributes.updated_at > first.attributes.updated_at
    assert second.attributes.size == 2
    assert second.attributes.created_at == first.attributes.created_at or second.id != first.id


# --------------------------------------------------------------------------- download


def test_download_single_file(sdk):
    data = os.urandom(300_000)
    sdk.upload("/dl/big.bin", data)
    got, local = sdk.download_bytes(["/dl/big.bin"])
    assert got == data
    assert os.path.basename(local) == "big.bin"
    resp, status, headers = sdk.res.download_with_http_info(
        KEY, TOKEN, ["/dl/big.bin"], _preload_content=False
    )
    assert status == 200
    assert resp.data == data
    assert headers["Content-Type"].startswith("application/octet-stream")
    assert "filename*=UTF-8''big.bin" in headers["Content-Disposition"]
    ratelimit(headers)


def test_download_by_id_and_hash_identifier(sdk):
    r = sdk.upload("/dl/a.txt", b"by id").data
    assert sdk.download_bytes([f"id:{r.id}"])[0] == b"by id"
    assert sdk.download_bytes([f"hash:{r.attributes.hash}"])[0] == b"by id"


def test_download_many_is_zip(sdk):
    sdk.upload("/z/a.txt", b"AAA")
    sdk.upload("/z/b.txt", b"BBBB")
    got, local = sdk.download_bytes(["/z/a.txt", "/z/b.txt"], download_archive_name="bundle")
    assert os.path.basename(local) == "bundle.zip"
    with zipfile.ZipFile(io.BytesIO(got)) as zf:
        contents = {posixpath.basename(n): zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    assert contents == {"a.txt": b"AAA", "b.txt": b"BBBB"}
    _, status, headers = sdk.res.download_with_http_info(
        KEY, TOKEN, ["/z/a.txt", "/z/b.txt"], _preload_content=False
    )
    assert headers["Content-Type"].startswith("application/zip")


def test_download_folder_is_zip(sdk):
    sdk.upload("/zf/sub/a.txt", b"A")
    got, local = sdk.download_bytes(["/zf"], download_archive_name="fold")
    assert local.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(got)) as zf:
        files = {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    assert list(files.values()) == [b"A"]
    assert list(files)[0].endswith("sub/a.txt")


def test_download_missing_is_404(sdk):
    with pytest.raises(ApiException) as ei:
        sdk.res.download(KEY, TOKEN, ["/nope.txt"])
    api_error(ei.value, 404)


# --------------------------------------------------------------------------- move / copy


def test_move_single(sdk):
    r = sdk.upload("/m/a.txt", b"move me").data
    sdk.mkdir("/m/dest")
    resp, status, _ = sdk.res.move_resources_with_http_info(
        KEY, TOKEN, body=m.MoveResourcesRequestBody(resources=["/m/a.txt"], parent_resource="/m/dest")
    )
    assert status == 200
    assert isinstance(resp, m.ResourceCopyMove)
    moved = check_resource(resp.data, path="/m/dest/a.txt", type_="file", size=7)
    assert moved.id == r.id
    assert moved.attributes.hash == r.attributes.hash
    assert resp.meta == {"path": "/m/a.txt", "destinationPath": "/m/dest"}
    expect_error(404, sdk.info, "/m/a.txt")
    assert sdk.emu.other.read("/m/dest/a.txt") == b"move me"


def test_move_folder_with_children_and_ids(sdk):
    child = sdk.upload("/mv/src/c.txt", b"c").data
    sdk.mkdir("/mv/dst")
    resp = sdk.res.move_resources(
        KEY, TOKEN, body=m.MoveResourcesRequestBody(resources=[f"id:{sdk.info('/mv/src').data.id}"], parent_resource="/mv/dst")
    )
    check_resource(resp.data, path="/mv/dst/src", type_="dir")
    moved_child = check_single(sdk.info("/mv/dst/src/c.txt"), 200, path="/mv/dst/src/c.txt", type_="file")
    assert moved_child.id == child.id
    expect_error(404, sdk.info, "/mv/src")


def test_move_multi_status_207(sdk):
    a = sdk.upload("/ms/a.txt", b"a").data
    sdk.mkdir("/ms/dest")
    status, body, _ = sdk.raw(
        sdk.res.move_resources_with_http_info,
        KEY,
        TOKEN,
        body=m.MoveResourcesRequestBody(resources=["/ms/a.txt", "/ms/missing.txt"], parent_resource="/ms/dest"),
    )
    assert status == 207
    responses = body["responses"]
    assert len(responses) == 2
    ok, bad = responses
    assert ok["responseStatus"] == 200
    res = check_resource(sdk.deserialize(ok["data"], "Resource"), path="/ms/dest/a.txt", type_="file")
    assert res.id == a.id
    assert ok["meta"] == {"path": "/ms/a.txt", "destinationPath": "/ms/dest"}
    assert bad["responseStatus"] == 404
    errs = sdk.deserialize(bad["errors"], "list[Error]")
    assert errs[0].meta["path"] == "/ms/missing.txt"
    # SDK quirk: the typed call cannot surface a 207 (ResourceCopyMove has no `responses`).
    sdk.upload("/ms/b.txt", b"b")
    typed = sdk.res.move_resources(
        KEY, TOKEN, body=m.MoveResourcesRequestBody(resources=["/ms/b.txt", "/ms/gone"], parent_resource="/ms/dest")
    )
    assert isinstance(typed, m.ResourceCopyMove) and typed.data is None and typed.meta is None
    check_single(sdk.info("/ms/dest/b.txt"), 200, path="/ms/dest/b.txt", type_="file")


def test_move_onto_existing_name_is_400(sdk):
    sdk.upload("/mx/a.txt", b"src")
    sdk.upload("/mx/d/a.txt", b"dst")
    errs = expect_error(
        400,
        sdk.res.move_resources,
        KEY,
        TOKEN,
        body=m.MoveResourcesRequestBody(resources=["/mx/a.txt"], parent_resource="/mx/d"),
    )
    assert errs[0].code == "ERROR_INVALID_PARAMETER"
    assert sdk.emu.other.read("/mx/d/a.txt") == b"dst"
    assert sdk.emu.other.read("/mx/a.txt") == b"src"


def test_copy_single_and_folder(sdk):
    r = sdk.upload("/c/a.txt", b"copy me").data
    sdk.upload("/c/f/inner.txt", b"inner")
    sdk.mkdir("/c/dest")
    resp, status, _ = sdk.res.copy_resources_with_http_info(
        KEY, TOKEN, body=m.CopyResourcesRequestBody(resources=["/c/a.txt"], parent_resource="/c/dest")
    )
    assert status == 200
    assert isinstance(resp, m.ResourceCopyMove)
    copied = check_resource(resp.data, path="/c/dest/a.txt", type_="file", size=7)
    assert copied.id != r.id
    assert resp.meta == {"path": "/c/a.txt", "destinationPath": "/c/dest"}
    check_single(sdk.info("/c/a.txt"), 200, path="/c/a.txt", type_="file", size=7)
    assert sdk.download_bytes(["/c/dest/a.txt"])[0] == b"copy me"
    resp = sdk.res.copy_resources(
        KEY, TOKEN, body=m.CopyResourcesRequestBody(resources=["/c/f"], parent_resource="/c/dest")
    )
    check_resource(resp.data, path="/c/dest/f", type_="dir")
    assert sdk.download_bytes(["/c/dest/f/inner.txt"])[0] == b"inner"
    assert sdk.emu.other.read("/c/f/inner.txt") == b"inner"


def test_move_or_copy_folder_into_itself_is_400(sdk):
    sdk.mkdir("/self/inner")
    for fn, body in (
        (sdk.res.move_resources, m.MoveResourcesRequestBody(resources=["/self"], parent_resource="/self/inner")),
        (sdk.res.copy_resources, m.CopyResourcesRequestBody(resources=["/self"], parent_resource="/self/inner")),
    ):
        assert expect_error(400, fn, KEY, TOKEN, body=body)[0].code == "ERROR_INVALID_PARAMETER"
    assert sorted(r.attributes.path for r in sdk.list("/", name="*").data) == ["/self", "/self/inner"]


def test_move_many_all_present(sdk):
    sdk.upload("/mm/a.txt", b"a")
    sdk.upload("/mm/b.txt", b"b")
    sdk.mkdir("/mm/to")
    status, body, _ = sdk.raw(
        sdk.res.move_resources_with_http_info,
        KEY,
        TOKEN,
        body=m.MoveResourcesRequestBody(resources=["/mm/a.txt", "/mm/b.txt"], parent_resource="/mm/to"),
    )
    if status == 200:
        check_resource(sdk.deserialize(body["data"], "Resource"), path="/mm/to/a.txt", type_="file")
    else:  # docs/exavault-api.md §17.1: 207 whenever more than one identifier is sent
        assert status == 207
        assert [x["responseStatus"] for x in body["responses"]] == [200, 200]
        got = [sdk.deserialize(x["data"], "Resource").attributes.path for x in body["responses"]]
        assert got == ["/mm/to/a.txt", "/mm/to/b.txt"]
    assert sorted(names(sdk.list("/mm/to").data)) == ["a.txt", "b.txt"]


def test_copy_without_resources_is_400(sdk):
    sdk.mkdir("/c2")
    # The SDK's CopyResourcesRequestBody refuses resources=None, so send a plain dict.
    errs = expect_error(400, sdk.res.copy_resources, KEY, TOKEN, body={"parentResource": "/c2"})
    assert errs[0].code == "ERROR_INVALID_PARAMETER"


# --------------------------------------------------------------------------- rename


def test_rename_by_id(sdk):
    r = sdk.upload("/rn/a.txt", b"rename me").data
    resp, status, headers = sdk.res.update_resource_by_id_with_http_info(
        TOKEN, KEY, r.id, body=m.UpdateResourceByIdRequestBody(name="b #?%+&.txt")
    )
    assert status == 200
    renamed = check_single(resp, 200, path="/rn/b #?%+&.txt", type_="file", size=9)
    assert renamed.id == r.id
    assert renamed.attributes.hash == r.attributes.hash  # docs/exavault-api.md §17.2: hash never changes
    expect_error(404, sdk.info, "/rn/a.txt")
    assert sdk.download_bytes(["/rn/b #?%+&.txt"])[0] == b"rename me"
    ratelimit(headers)


def test_rename_folder_moves_children(sdk):
    f = sdk.mkdir("/rf/old")
    c = sdk.upload("/rf/old/c.txt", b"c").data
    resp = sdk.res.update_resource_by_id(
        ev_access_token=TOKEN, ev_api_key=KEY, id=f.id, body=m.UpdateResourceByIdRequestBody(name="new")
    )
    check_single(resp, 200, path="/rf/new", type_="dir")
    assert check_single(sdk.info("/rf/new/c.txt"), 200, path="/rf/new/c.txt", type_="file").id == c.id


def test_rename_sdk_argument_order_quirk(sdk):
    """update_resource_by_id is (ev_access_token, ev_api_key, id); the usual order swaps the headers."""
    r = sdk.upload("/q/a.txt", b"q").data
    errs = expect_error(
        401, sdk.res.update_resource_by_id, KEY, TOKEN, r.id, body=m.UpdateResourceByIdRequestBody(name="b.txt")
    )
    assert errs[0].code == "ERROR_INVALID_CREDENTIALS"
    check_single(sdk.info("/q/a.txt"), 200, path="/q/a.txt", type_="file")


def test_rename_unknown_id_and_existing_name(sdk):
    expect_error(404, sdk.res.update_resource_by_id, TOKEN, KEY, 987654321, body=m.UpdateResourceByIdRequestBody(name="x"))
    a = sdk.upload("/rx/a.txt", b"a").data
    sdk.upload("/rx/b.txt", b"b")
    errs = expect_error(400, sdk.res.update_resource_by_id, TOKEN, KEY, a.id, body=m.UpdateResourceByIdRequestBody(name="b.txt"))
    assert errs[0].code == "ERROR_INVALID_PARAMETER"
    assert sdk.emu.other.read("/rx/b.txt") == b"b"


# --------------------------------------------------------------------------- delete


def test_delete_by_id(sdk):
    r = sdk.upload("/del/a.txt", b"a").data
    resp, status, _ = sdk.res.delete_resource_by_id_with_http_info(r.id, KEY, TOKEN)
    assert status == 200
    assert isinstance(resp, m.EmptyResponse)
    assert resp.response_status == 200 and resp.data == []
    expect_error(404, sdk.info, "/del/a.txt")
    assert sdk.emu.other.info("/del/a.txt") is None
    expect_error(404, sdk.res.delete_resource_by_id, r.id, KEY, TOKEN)


def test_delete_folder_removes_contents(sdk):
    f = sdk.mkdir("/df")
    sdk.upload("/df/x/y.txt", b"y")
    sdk.res.delete_resource_by_id(f.id, KEY, TOKEN)
    expect_error(404, sdk.info, "/df/x/y.txt")
    expect_error(404, sdk.info, "/df")


def test_delete_many_all_present(sdk):
    a = sdk.upload("/dm/a.txt", b"a").data
    sdk.upload("/dm/b.txt", b"b")
    status, body, _ = sdk.raw(
        sdk.res.delete_resources_with_http_info,
        KEY,
        TOKEN,
        body=m.DeleteResourcesRequestBody(resources=[f"id:{a.id}", "/dm/b.txt"]),
    )
    if status == 200:
        assert body == {"responseStatus": 200, "data": []}
    else:  # docs/exavault-api.md §17.1 allows 207 for >1 identifier; then every item must be 200
        assert status == 207
        assert [x["responseStatus"] for x in body["responses"]] == [200, 200]
    assert sdk.list("/dm").returned_results == 0


def test_delete_many_typed_single(sdk):
    sdk.upload("/dt/a.txt", b"a")
    resp = sdk.res.delete_resources(KEY, TOKEN, body=m.DeleteResourcesRequestBody(resources=["/dt/a.txt"]))
    assert isinstance(resp, m.EmptyResponse)
    assert resp.response_status == 200 and resp.data == []
    # one missing path alone: plain 404, not 207 (Java integration test)
    expect_error(404, sdk.res.delete_resources, KEY, TOKEN, body=m.DeleteResourcesRequestBody(resources=["/dt/a.txt"]))


def test_delete_many_multi_status_207(sdk):
    a = sdk.upload("/d7/a.txt", b"a").data
    status, body, headers = sdk.raw(
        sdk.res.delete_resources_with_http_info,
        KEY,
        TOKEN,
        body=m.DeleteResourcesRequestBody(resources=["/d7/a.txt", "/d7/missing.txt"]),
    )
    assert status == 207
    ratelimit(headers)
    multi = sdk.deserialize(body, "ResourceMultiResponse")
    assert isinstance(multi, m.ResourceMultiResponse)
    ok, bad = multi.responses  # raw dicts: the SDK's AnyOf item model is empty
    assert ok["responseStatus"] == 200
    deleted = sdk.deserialize(ok["data"], "ResourceDelete")
    assert isinstance(deleted, m.ResourceDelete)
    assert deleted.id == a.id and deleted.type == "resource"
    assert deleted.meta == {"path": "/d7/a.txt"}
    assert bad["responseStatus"] == 404
    errs = sdk.deserialize(bad["errors"], "list[Error]")
    assert len(errs) == 1 and errs[0].meta == {"path": "/d7/missing.txt"}
    expect_error(404, sdk.info, "/d7/a.txt")
    # SDK quirk: the typed call returns an all-None EmptyResponse for a 207.
    sdk.upload("/d7/b.txt", b"b")
    typed = sdk.res.delete_resources(
        KEY, TOKEN, body=m.DeleteResourcesRequestBody(resources=["/d7/b.txt", "/d7/missing.txt"])
    )
    assert isinstance(typed, m.EmptyResponse)
    assert typed.response_status is None and typed.data is None
    expect_error(404, sdk.info, "/d7/b.txt")


# --------------------------------------------------------------------------- activity


def _all_logs(sdk, **kw):
    out = []
    offset = 0
    while True:
        resp = sdk.activity.get_session_logs(KEY, TOKEN, offset=offset, limit=2, **kw)
        assert isinstance(resp, m.SessionActivityResponse)
        assert resp.total_results == 0
        assert resp.returned_results == len(resp.data)
        out += resp.data
        if resp.returned_results < 2:
            return out
        offset += 2


@pytest.fixture
def activity(sdk):
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=2)
    sdk.mkdir("/act")
    sdk.upload("/act/a.txt", b"12345")
    sdk.download_bytes(["/act/a.txt"])
    r = sdk.info("/act/a.txt").data
    sdk.res.update_resource_by_id(TOKEN, KEY, r.id, body=m.UpdateResourceByIdRequestBody(name="b.txt"))
    sdk.mkdir("/act/sub")
    sdk.res.move_resources(KEY, TOKEN, body=m.MoveResourcesRequestBody(resources=["/act/b.txt"], parent_resource="/act/sub"))
    sdk.res.copy_resources(KEY, TOKEN, body=m.CopyResourcesRequestBody(resources=["/act/sub/b.txt"], parent_resource="/act"))
    sdk.res.delete_resources(KEY, TOKEN, body=m.DeleteResourcesRequestBody(resources=["/act/b.txt"]))
    return sdk, start


def test_activity_entries_deserialize(activity):
    sdk, start = activity
    resp, status, headers = sdk.activity.get_session_logs_with_http_info(KEY, TOKEN, start_date=start, limit=100)
    assert status == 200
    ratelimit(headers)
    assert isinstance(resp, m.SessionActivityResponse)
    assert resp.response_status == 200
    assert resp.total_results == 0
    assert resp.returned_results == len(resp.data)
    ops = {}
    for e in resp.data:
        assert isinstance(e, m.SessionActivityEntry)
        assert e.type == "sessionActivity"
        assert isinstance(e.id, int)
        a = e.attributes
        assert isinstance(a, m.SessionActivityEntryAttributes)
        created = datetime.fromisoformat(a.created.replace("Z", "+00:00"))
        assert created.tzinfo is not None
        assert created >= start - timedelta(seconds=1)
        assert isinstance(a.username, str) and a.username
        assert isinstance(a.ip_address, str) and a.ip_address
        assert isinstance(a.protocol, str) and a.protocol
        assert isinstance(a.session_id, str)
        assert isinstance(a.bytes_transferred, int)
        assert isinstance(a.duration, int)
        ops.setdefault(a.operation, []).append(a)
    assert set(ops) >= {"MKD", "STOR", "RETR", "RNTO", "MOVE", "COPY", "DELE"}, sorted(ops)
    stor = [a for a in ops["STOR"] if a.file_name == "/act/a.txt"]
    assert len(stor) == 1 and stor[0].bytes_transferred == 5
    assert [a.bytes_transferred for a in ops["RETR"] if a.file_name == "/act/a.txt"] == [5]
    assert "/act/b.txt" in [a.file_name for a in ops["DELE"]]
    assert {"/act", "/act/sub"} <= {a.file_name for a in ops["MKD"]}
    # docs/exavault-api.md §17.6: fileName = new path, fileSource = old path for rename/move/copy
    assert ("/act/b.txt", "/act/a.txt") in [(a.file_name, a.file_source) for a in ops["RNTO"]]
    assert ("/act/sub/b.txt", "/act/b.txt") in [(a.file_name, a.file_source) for a in ops["MOVE"]]
    assert ("/act/b.txt", "/act/sub/b.txt") in [(a.file_name, a.file_source) for a in ops["COPY"]]
    assert len({e.id for e in resp.data}) == len(resp.data)


@pytest.mark.parametrize(
    "type_,op", [("STOR", "STOR"), ("stor", "STOR"), ("DELE", "DELE"), ("Delete", "DELE"), ("MKD", "MKD")]
)
def test_activity_type_filter(activity, type_, op):
    sdk, start = activity
    data = sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, type=type_, limit=100).data
    assert data and {e.attributes.operation for e in data} == {op}
    # unknown type: zero results, not an error (Java tests)
    assert sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, type="NOPE").returned_results == 0


def test_activity_paging(activity):
    sdk, start = activity
    everything = sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, limit=100, sort="date").data
    assert len(everything) >= 7
    paged = _all_logs(sdk, start_date=start, sort="date")
    assert [e.id for e in paged] == [e.id for e in everything]


def test_activity_sort(activity):
    sdk, start = activity
    asc = sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, limit=100, sort="date").data
    desc = sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, limit=100, sort="-date").data
    ca = [datetime.fromisoformat(e.attributes.created.replace("Z", "+00:00")) for e in asc]
    cd = [datetime.fromisoformat(e.attributes.created.replace("Z", "+00:00")) for e in desc]
    assert ca == sorted(ca) and cd == sorted(cd, reverse=True)
    assert {e.id for e in asc} == {e.id for e in desc}
    errs = expect_error(400, sdk.activity.get_session_logs, KEY, TOKEN, sort="nosuchcolumn")
    assert errs[0].code == "ERROR_INVALID_PARAMETER"


def test_activity_date_window(activity):
    sdk, start = activity
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert sdk.activity.get_session_logs(KEY, TOKEN, start_date=future).returned_results == 0
    past_end = start - timedelta(days=1)
    assert sdk.activity.get_session_logs(KEY, TOKEN, start_date=start - timedelta(days=2), end_date=past_end).returned_results == 0
    # naive datetime (Python sample) and microseconds are both sent verbatim by the SDK
    naive = (datetime.now(timezone.utc) - timedelta(minutes=5)).replace(tzinfo=None)
    assert sdk.activity.get_session_logs(KEY, TOKEN, start_date=naive, limit=100).returned_results >= 7
    micro = datetime.now(timezone.utc) - timedelta(minutes=5, microseconds=123456)
    assert sdk.activity.get_session_logs(KEY, TOKEN, start_date=micro, limit=100).returned_results >= 7


def test_webhook_logs_available_outside_files_com_mode(sdk):
    """GET /activity/webhooks is a documented v2 endpoint (docs/exavault-api.md §14); only Files.com mode drops it."""
    resp, status, _ = sdk.activity.get_webhook_logs_with_http_info(KEY, TOKEN, limit=10)
    assert status == 200
    assert isinstance(resp, m.WebhookActivityResponse)
    assert resp.response_status == 200
    assert resp.total_results == 0
    assert resp.returned_results == len(resp.data)


def test_activity_string_dates_and_filters(activity):
    sdk, start = activity
    # the SDK passes strings through untouched: JS sample format and naive ISO
    for text in ("2000-01-01 00:00:00", "2000-01-01T00:00:00"):
        assert sdk.activity.get_session_logs(KEY, TOKEN, start_date=text, limit=100).returned_results >= 7
    everyone = sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, limit=100).data
    user = everyone[0].attributes.username
    ip = everyone[0].attributes.ip_address
    assert ip == "127.0.0.1"
    assert len(sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, username=user, limit=100).data) == len(everyone)
    assert sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, username="nobody-here").returned_results == 0
    assert len(sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, ip_address=ip, limit=100).data) == len(everyone)
    assert sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, ip_address="10.9.9.9").returned_results == 0


def test_activity_negative_offset_is_400(sdk):
    expect_error(400, sdk.activity.get_session_logs, KEY, TOKEN, offset=-1)
    expect_error(400, sdk.activity.get_session_logs, KEY, TOKEN, limit=-1)


def test_activity_sees_other_users_changes(sdk):
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=2)
    sdk.emu.other.mkdir("/shared")
    sdk.emu.other.write("/shared/o.txt", b"other")
    logs = sdk.activity.get_session_logs(KEY, TOKEN, start_date=start, type="STOR", limit=100).data
    assert "/shared/o.txt" in [e.attributes.file_name for e in logs]
    # ... and the SDK can fetch it
    assert sdk.download_bytes(["/shared/o.txt"])[0] == b"other"


# --------------------------------------------------------------------------- errors, limits, modes


@pytest.mark.parametrize("key,token", [("wrong-key", TOKEN), (KEY, "wrong-token"), ("", "")], ids=["key", "token", "empty"])
def test_bad_credentials_401(sdk, key, token):
    with pytest.raises(ApiException) as ei:
        sdk.account.get_account(key, token)
    errs = api_error(ei.value, 401)
    assert errs[0].code == "ERROR_INVALID_CREDENTIALS"
    assert errs[0].detail == "HTTP_UNAUTHORIZED"
    ratelimit(ei.value.headers)
    with pytest.raises(ApiException) as ei:
        sdk.res.list_resources(key, token, "/")
    assert api_error(ei.value, 401)[0].code == "ERROR_INVALID_CREDENTIALS"


def test_transaction_limit_429(make_emulator, tmp_path):
    emu = make_emulator(transactions=4)
    s = Sdk(emu, tmp_path)
    remaining = []
    for _ in range(4):
        _, status, headers = s.res.list_resources_with_http_info(KEY, TOKEN, "/")
        assert status == 200
        limit, rem = ratelimit(headers)
        assert limit == 4
        remaining.append(rem)
    assert remaining == [3, 2, 1, 0]
    assert emu.transactions_used == 4
    with pytest.raises(ApiException) as ei:
        s.account.get_account(KEY, TOKEN)
    api_error(ei.value, 429)
    assert ratelimit(ei.value.headers) == (4, 0)
    with pytest.raises(ApiException) as ei:
        s.upload("/x.txt", b"x")
    assert ei.value.status == 429
    assert emu.other.info("/x.txt") is None


def test_files_com_mode(make_emulator, tmp_path):
    s = Sdk(make_emulator(files_com=True), tmp_path)
    parent = s.mkdir("/fc")
    s.upload("/fc/a.txt", b"a")
    with pytest.raises(ApiException) as ei:
        s.activity.get_session_logs(KEY, TOKEN)
    assert ei.value.status == 404
    with pytest.raises(ApiException) as ei:
        s.activity.get_webhook_logs(KEY, TOKEN)
    assert ei.value.status == 404
    # `include` is ignored, `included` is always []
    resp = s.info("/fc/a.txt", include="parentResource")
    check_single(resp, 200, path="/fc/a.txt", type_="file", size=1)
    assert resp.included == []
    assert s.list("/fc", include="parentResource").included == []
    # the supported resource calls still work
    assert s.download_bytes(["/fc/a.txt"])[0] == b"a"
    assert s.account.get_account(KEY, TOKEN).data.attributes.quota.transactions_limit == 120000
    assert parent.attributes.type == "dir"


def test_ratelimit_headers_on_every_response(sdk):
    """Run one of every call (successes and errors) and check X-RateLimit-* on all answers."""
    sdk.account.get_account(KEY, TOKEN)
    f = sdk.mkdir("/h")
    r = sdk.upload("/h/a.txt", b"a").data
    sdk.upload("/h/b.txt", b"b")
    sdk.list("/h")
    sdk.list("/", name="*")
    sdk.res.list_resource_contents(KEY, TOKEN, f.id)
    sdk.info("/h/a.txt")
    sdk.res.get_resource_info_by_id(r.id, KEY, TOKEN)
    sdk.download_bytes(["/h/a.txt"])
    sdk.download_bytes(["/h/a.txt", "/h/b.txt"])
    sdk.res.update_resource_by_id(TOKEN, KEY, r.id, body=m.UpdateResourceByIdRequestBody(name="c.txt"))
    sdk.mkdir("/h/d")
    sdk.res.copy_resources(KEY, TOKEN, body=m.CopyResourcesRequestBody(resources=["/h/c.txt"], parent_resource="/h/d"))
    sdk.res.move_resources(KEY, TOKEN, body=m.MoveResourcesRequestBody(resources=["/h/b.txt"], parent_resource="/h/d"))
    sdk.res.delete_resources(KEY, TOKEN, body=m.DeleteResourcesRequestBody(resources=["/h/d/b.txt", "/h/zz"]))
    sdk.res.delete_resource_by_id(r.id, KEY, TOKEN)
    sdk.activity.get_session_logs(KEY, TOKEN, limit=5)
    for call in (
        lambda: sdk.info("/nope"),
        lambda: sdk.list("/h", limit=101),
        lambda: sdk.res.download(KEY, TOKEN, ["/nope"]),
        lambda: sdk.account.get_account("bad", TOKEN),
    ):
        with pytest.raises(ApiException):
            call()
    assert len(sdk.seen) >= 22
    prev = None
    for method, url, status, headers in sdk.seen:
        limit, remaining = ratelimit(headers)
        assert limit == 120000, (method, url)
        assert 0 <= remaining <= limit, (method, url)
        if prev is not None and status != 401:
            assert remaining <= prev, (method, url, remaining, prev)
        if status != 401:
            prev = remaining
