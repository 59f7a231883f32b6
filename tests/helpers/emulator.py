"""Helpers shared by the emulator tests (raw HTTP against a running Emulator)."""

from __future__ import annotations

import socket

import requests


def session(emu, *, key: str | None = None, token: str | None = None) -> requests.Session:
    s = requests.Session()
    s.headers["ev-api-key"] = emu.api_key if key is None else key
    s.headers["ev-access-token"] = emu.access_token if token is None else token
    return s


class Api:
    """Thin raw client: returns `requests.Response`, never interprets it."""

    def __init__(self, emu):
        self.emu = emu
        self.s = session(emu)

    def url(self, path: str) -> str:
        return self.emu.url + path

    def get(self, path, **kw):
        return self.s.get(self.url(path), timeout=10, **kw)

    def post(self, path, **kw):
        return self.s.post(self.url(path), timeout=10, **kw)

    def patch(self, path, **kw):
        return self.s.patch(self.url(path), timeout=10, **kw)

    def delete(self, path, **kw):
        return self.s.delete(self.url(path), timeout=10, **kw)

    def upload(self, path, data: bytes, *, overwrite=None, file_size=None, headers=None, **params):
        q = {"path": path, "fileSize": len(data) if file_size is None else file_size, **params}
        if overwrite is not None:
            q["allowOverwrite"] = "true" if overwrite else "false"
        return self.post("/resources/upload", params=q, headers=headers,
                         files={"file": ("blob", data, "application/octet-stream")})

    def mkdir(self, path):
        return self.post("/resources", json={"path": path})

    def info(self, ident):
        return self.get("/resources", params={"resource": ident})

    def ls(self, ident="/", **params):
        return self.get("/resources/list", params={"resource": ident, **params})

    def names(self, ident="/", **params):
        r = self.ls(ident, **params)
        assert r.status_code == 200, r.text
        return [d["attributes"]["name"] for d in r.json()["data"]]

    def download(self, *idents, **params):
        return self.get("/resources/download", params={"resources[]": list(idents), **params})

    def activity(self, **params):
        return self.get("/activity/session", params=params)


def raw_request(emu, data: bytes, *, read_reply: bool = True, timeout: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection; return everything the server sends back."""
    sock = socket.create_connection((emu.host, emu.port), timeout=timeout)
    try:
        sock.sendall(data)
        if not read_reply:
            return b""
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        sock.close()


class Started:
    """What an emulator fixture started: ``make(**options)`` starts ``cls`` on a fresh
    root (or ``root=``) with ``defaults`` under the options; ``stop_all()`` at teardown."""

    def __init__(self, tmp_path_factory, cls, folder: str, defaults: dict):
        self.tmp, self.cls, self.folder, self.defaults = tmp_path_factory, cls, folder, defaults
        self.emulators: list = []

    def make(self, **options):
        root = options.pop("root", None) or self.tmp.mktemp(self.folder)
        emu = self.cls(root, **{**self.defaults, **options}).start()
        self.emulators.append(emu)
        return emu

    def stop_all(self) -> None:
        for emu in self.emulators:
            emu.stop()
