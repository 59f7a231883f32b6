"""Helpers for tests against the Egnyte emulator (raw HTTP with requests)."""

from __future__ import annotations

from urllib.parse import quote

import requests

# The make_egnyte fixture's defaults: no call limits, chunks down to 1 KiB (tests set others).
FIXTURE_DEFAULTS = {"qps": 0, "daily_limit": 0, "min_chunk": 1024}


def enc(path: str) -> str:
    """Percent-encode each segment of an absolute path, keeping the slashes."""
    return quote(path, safe="/")


class EgnyteApi:
    """Thin raw client: returns `requests.Response`, never interprets it."""

    def __init__(self, emu, token: str | None = None):
        self.emu = emu
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {emu.token if token is None else token}"

    def close(self) -> None:
        self.s.close()

    def url(self, path: str) -> str:
        return f"{self.emu.base_url}/pubapi/v1{path}"

    def get(self, path, **kw):
        return self.s.get(self.url(path), timeout=10, **kw)

    def post(self, path, **kw):
        return self.s.post(self.url(path), timeout=10, **kw)

    def delete(self, path, **kw):
        return self.s.delete(self.url(path), timeout=10, **kw)

    # file system
    def info(self, path, **params):
        return self.get("/fs" + enc(path), params=params)

    def mkdir(self, path):
        return self.post("/fs" + enc(path), json={"action": "add_folder"})

    def action(self, path, action, **body):
        return self.post("/fs" + enc(path), json={"action": action, **body})

    def move(self, path, destination):
        return self.action(path, "move", destination=destination)

    def copy(self, path, destination):
        return self.action(path, "copy", destination=destination)

    def remove(self, path, **params):
        return self.delete("/fs" + enc(path), params=params)

    def upload(self, path, data: bytes, headers=None):
        return self.post("/fs-content" + enc(path), data=data, headers=headers)

    def download(self, path, headers=None, **params):
        return self.get("/fs-content" + enc(path), headers=headers, params=params)

    def chunk(self, path, data: bytes, num: int, upload_id: str | None = None, *,
              last: bool = False, headers=None):
        h = {"X-Egnyte-Chunk-Num": str(num), **(headers or {})}
        if upload_id:
            h["X-Egnyte-Upload-Id"] = upload_id
        if last:
            h["X-Egnyte-Last-Chunk"] = "true"
        return self.post("/fs-content-chunked" + enc(path), data=data, headers=h)

    def names(self, path, **params):
        r = self.info(path, **params)
        assert r.status_code == 200, r.text
        body = r.json()
        return [f["name"] for f in body.get("folders", [])] + \
            [f["name"] for f in body.get("files", [])]

    # events
    def cursor(self) -> int:
        r = self.get("/events/cursor")
        assert r.status_code == 200, r.text
        return r.json()["latest_event_id"]

    def events(self, since: int, **params):
        return self.get("/events", params={"id": since, **params})

    def event_list(self, since: int, **params) -> list[dict]:
        r = self.events(since, **params)
        if r.status_code == 204:
            return []
        assert r.status_code == 200, r.text
        return r.json()["events"]
