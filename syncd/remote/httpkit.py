"""What every service's HTTP client shares: a ``requests`` session bound to one
base URL, the reading of a JSON body and a credential-free description of a
transport failure. (Each client keeps its own protocol; this is plumbing.)"""

from __future__ import annotations

import json
import os
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from syncd.remote.errors import TransportError


class SessionClient:
    """What a service client built on ``new_session`` offers besides its API: the
    count of requests sent (each is one paid call), closing, ``with``. Never shows
    credentials in its ``repr``."""

    base_url: str
    _session: requests.Session
    _sent: int = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (each is one paid call), retries included."""
        return self._sent

    def _request(self, method: str, path: str, shown: str, url: str,
                 **kw) -> requests.Response:
        """Send one paid request to ``url``: none once stopping (``_aborted``); the
        ``gate`` first (it may raise: nothing is sent); counted; redirects refused
        (credentials must never follow one to another host). The answer, or the
        transport failure, goes to ``_observe(method, path, status, headers)``;
        errors name the request ``shown``."""
        if self._aborted:  # stopping: nothing more is sent (nor counted)
            raise TransportError("stopped", method=method, path=shown)
        if self.gate is not None:
            self.gate(method, shown)
        with self._lock:
            self._sent += 1
        try:
            resp = self._session.request(method, url, timeout=self.timeout,
                                         allow_redirects=False, **kw)
        except requests.RequestException as exc:
            self._observe(method, path, None, {})
            raise TransportError(describe(exc), method=method, path=shown) from exc
        except RuntimeError as exc:  # the session was closed under it (abort)
            self._observe(method, path, None, {})
            raise TransportError("stopped", method=method, path=shown) from exc
        try:
            self._observe(method, path, resp.status_code, resp.headers)
        except BaseException:
            resp.close()
            raise
        return resp

    def _observe(self, method: str, path: str, status: int | None, headers) -> None:
        raise NotImplementedError


def new_session(base_url: str, adapter: HTTPAdapter, headers: dict[str, str]) -> requests.Session:
    """A session for ``base_url`` with ``headers`` and ``adapter`` on both schemes.

    requests reads the environment (proxies, NO_PROXY, netrc, CA bundle) again for
    every request: a fifth of a client's CPU per small file. A client talks to one
    base URL, so that is settled once, here, with the same rules."""
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.headers.update(headers)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def json_body(raw: bytes) -> Any:
    """The decoded JSON body; ``{}`` when empty, ``None`` when it is not JSON."""
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        return None


def describe(exc: requests.RequestException) -> str:
    """A short, credential-free description of a requests failure (no URL, no headers)."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection broken while reading the body"
    cause: BaseException = exc
    while cause.__context__ is not None and cause.__context__ is not cause:
        cause = cause.__context__
    reason = type(cause).__name__ if cause is not exc else ""
    return f"connection failed ({reason})" if reason else "connection failed"
