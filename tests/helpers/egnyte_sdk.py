"""The official Egnyte SDK (``egnyte==0.5.3``) pointed at the Egnyte emulator.

The SDK hard-wires ``https://DOMAIN/`` (``base.Session.__init__``) and builds every
resource URL from ``client._url_prefix`` afterwards, so one assignment after the
constructor redirects it to ``http://127.0.0.1:PORT/`` (docs: egnyte-api.md §9.1).
``get_access_token`` builds its own session and cannot be redirected; the tests use
the emulator's bearer token directly.

``Wire`` records every HTTP answer the SDK receives (a ``requests`` response hook),
so a test can assert the status and headers of answers the SDK only partly reads
(and see the throttle answers its retry loop swallows).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from urllib.parse import urlsplit

from egnyte import EgnyteClient


@dataclass(frozen=True)
class Answer:
    method: str
    url: str
    status: int
    headers: dict[str, str]  # lower-case names


class Wire:
    """Every answer one SDK client saw, in order."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []

    def hook(self, response, *args, **kwargs):
        headers = {k.lower(): v for k, v in response.headers.items()}
        self.answers.append(Answer(response.request.method, response.url, response.status_code, headers))
        return response

    def last(self) -> Answer:
        return self.answers[-1]

    def statuses(self) -> list[int]:
        return [a.status for a in self.answers]

    def mark(self) -> int:
        """An index to pass to ``since`` later."""
        return len(self.answers)

    def since(self, mark: int) -> list[Answer]:
        return self.answers[mark:]


def sdk_client(base_url: str, token: str, *, timeout: int = 20, **config) -> tuple[EgnyteClient, Wire]:
    """An ``EgnyteClient`` bound to the emulator at ``base_url``; -> (client, wire)."""
    netloc = urlsplit(base_url).netloc
    cfg = {"domain": netloc, "access_token": token, "timeout": timeout, **config}
    client = EgnyteClient(cfg)
    # The one-line redirect of egnyte-api.md §9.1: everything below is built from it.
    client._url_prefix = base_url.rstrip("/") + "/"
    wire = Wire()
    client._session.hooks["response"].append(wire.hook)
    return client, wire


def sha512_hex(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def composite_checksum(data: bytes, chunk_size: int) -> str:
    """Egnyte's checksum of a chunked upload (egnyte-api.md §5.2), computed locally."""
    digests = [sha512_hex(data[i : i + chunk_size]) for i in range(0, len(data), chunk_size)]
    joined = "".join(digests).encode("ascii")
    return f"2-{len(digests)}-{chunk_size}-{hashlib.sha512(joined).hexdigest()}"


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating-looking bytes of ``size`` (no two chunks equal)."""
    out = io.BytesIO()
    block = 0
    while out.tell() < size:
        out.write(hashlib.sha512(f"{seed}:{block}".encode()).digest())
        block += 1
    return out.getvalue()[:size]


def download_bytes(client: EgnyteClient, path: str, download_range=None) -> tuple[bytes, object]:
    """Download through the SDK; -> (bytes, the SDK's FileDownload)."""
    dl = client.file(path).download(download_range)
    buf = io.BytesIO()
    dl.write_to(buf)
    return buf.getvalue(), dl


class Sdk:
    """One SDK client bound to one emulator, plus the few conveniences the tests share."""

    def __init__(self, emu, token: str | None = None, **config) -> None:
        self.emu = emu
        self.client, self.wire = sdk_client(emu.base_url, token or emu.token, **config)

    def mkdir(self, path: str):
        return self.client.folder(path).create(ignore_if_exists=False)

    def upload(self, path: str, data: bytes, *, chunk_size: int | None = None):
        f = self.client.file(path)
        if chunk_size is not None:
            f._upload_chunk_size = chunk_size  # the SDK's class default is 100 MiB
        f.upload(data)
        return f

    def info(self, path: str) -> dict:
        """The JSON of ``GET /pubapi/v1/fs{path}`` as the SDK fetched it."""
        return self.client.file(path)._fetch_attributes()

    def listing(self, path: str):
        """The SDK's Folder after ``list()`` (``.folders``, ``.files``)."""
        return self.client.folder(path).list()

    def names(self, path: str) -> list[str]:
        f = self.listing(path)
        return sorted(x.name for x in f.folders + f.files)

    def download(self, path: str, download_range=None) -> bytes:
        return download_bytes(self.client, path, download_range)[0]

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Sdk":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def sdk_in(emu, folder: str, **config):
    """For a fixture (``yield from sdk_in(...)``): an ``Sdk`` with ``folder`` created, closed after."""
    with Sdk(emu, **config) as sdk:
        sdk.mkdir(folder)
        yield sdk
