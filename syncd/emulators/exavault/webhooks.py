"""Outgoing ExaVault webhooks: v1 / v2 payloads, the signature, and a background sender.

The store reports each committed change (`Store.subscribe`); `WebhookSender.enqueue` only
appends it to an in-order queue, so a change is never slowed or failed by delivery.  One
background thread POSTs each event to the listener, retrying on anything but a 2xx answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable

from . import render
from .store import Change, Row

# activity code -> (v1 `operation` label, v2 `event`); labels beyond Upload are our guess
# (docs/exavault-api.md §17.7: the file-manager labels).
OPERATIONS = {
    "STOR": ("Upload", "resources.upload"),
    "DELE": ("Delete", "resources.delete"),
    "MKD": ("Create Folder", "resources.createFolder"),
    "RNTO": ("Rename", "resources.rename"),
    "MOVE": ("Move", "resources.move"),
    "COPY": ("Copy", "resources.copy"),
    "RETR": ("Download", "resources.download"),
}
# Event names accepted in `webhook_events` ("upload" or "resources.upload", any case).
EVENT_CODES = {event.split(".", 1)[1].lower(): code for code, (_, event) in OPERATIONS.items()}
DEFAULT_EVENTS = frozenset({"upload", "delete", "createFolder", "rename", "move", "copy"})
DEFAULT_RETRY_DELAYS = (1, 2, 4, 8, 16, 32, 64)
MAX_ATTEMPTS = 8
FORMATS = ("v1", "v2")
SEND_TIMEOUT = 10.0  # seconds per POST (connect + answer)
SIGNATURE_HEADER = "X-Exavault-Signature"
_WITH_SOURCE = {"RNTO", "MOVE", "COPY"}


# ---------------------------------------------------------------- payloads
def php_json(obj) -> bytes:
    """Compact JSON as PHP ``json_encode`` writes it: ``/`` as ``\\/``, non-ASCII as ``\\uXXXX``.

    Replacing after ``json.dumps`` is safe: a ``/`` can only occur literally inside a string
    (``json.dumps`` never writes ``\\/`` itself, and a backslash is always doubled)."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")


def v1_body(accountname: str, username: str, operation: str, path: str, sourcepath: str,
            attempt: int, protocol: str = "web") -> bytes:
    """The raw bytes of a v1 webhook POST (docs/exavault-api.md §14.1, key order as documented)."""
    return php_json({"accountname": accountname, "username": username, "operation": operation,
                     "protocol": protocol, "path": path, "sourcepath": sourcepath,
                     "attempt": int(attempt)})


def signature(token: str | bytes, body: bytes) -> str:
    """``X-Exavault-Signature``: lowercase hex MD5 of the token bytes followed by the raw body."""
    key = token.encode("utf-8") if isinstance(token, str) else bytes(token)
    return hashlib.md5(key + bytes(body), usedforsecurity=False).hexdigest()


def v2_resource(row: Row | None, path: str, source: str | None) -> dict:
    """One ``eventData.resources[]`` entry: the resource right after the change (before it,
    for a delete).  ``sourcePath`` (rename/move/copy) is our own addition."""
    if row is None:  # not expected: every logged change has its row
        entry = {"path": path}
    else:
        attrs = render.resource(row)["attributes"]
        entry = {"id": row.id}
        entry.update((k, attrs[k]) for k in (
            "hash", "name", "path", "type", "size", "createdBy", "createdAt", "updatedAt",
            "uploadDate", "accessedAt", "fileCount", "previewable"))
    if source is not None:
        entry["sourcePath"] = source
    return entry


def v2_body(account_name: str, change: Change, attempt_id: str) -> bytes:
    """The raw bytes of a v2 webhook POST (shape inferred from the webhook log's ``details``)."""
    return php_json({
        "accountName": account_name,
        "attemptId": attempt_id,
        "event": OPERATIONS[change.operation][1],
        "eventTimestamp": render.iso_z(change.created),
        "ipAddress": change.ip_address,
        "protocol": "web",
        "username": change.username,
        "eventData": {
            "resources": [v2_resource(change.row, change.path,
                                      change.source if change.operation in _WITH_SOURCE
                                      else None)],
            "share": [],
            "formDetails": [],
            "transferStatus": "success",
        },
    })


def event_codes(events: Iterable[str] | None) -> frozenset[str]:
    """Activity codes for ``webhook_events`` names; ValueError on an unknown name."""
    if events is None:
        events = DEFAULT_EVENTS
    if isinstance(events, str):
        events = [events]
    codes = set()
    for name in events:
        key = str(name).strip().lower()
        key = key.removeprefix("resources.")
        if key not in EVENT_CODES:
            raise ValueError(f"unknown webhook event {name!r}; known: "
                             + ", ".join(sorted(e.split('.', 1)[1] for _, e in OPERATIONS.values())))
        codes.add(EVENT_CODES[key])
    return frozenset(codes)


# ---------------------------------------------------------------- sender
class WebhookSender:
    """Delivers queued changes, in order, to one listener URL from one background thread.

    Each event gets up to ``min(8, 1 + len(retry_delays))`` attempts: the first at once,
    then one after each delay, until an answer is 2xx.  Every attempt is appended to
    ``deliveries`` (shared with the owner, guarded by ``lock``).
    """

    def __init__(self, target: tuple[str, int, str], token: str, *, fmt: str, account_name: str,
                 retry_delays: Iterable[float], deliveries: list, lock: threading.Lock,
                 clock: Callable[[], float] = time.time, timeout: float = SEND_TIMEOUT):
        self.host, self.port, self.path = target
        self.token, self.fmt, self.account_name = token, fmt, account_name
        self.delays = tuple(float(d) for d in retry_delays)[:MAX_ATTEMPTS - 1]
        self.deliveries, self.lock = deliveries, lock
        self.clock, self.timeout = clock, timeout
        self._queue: deque[Change] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = threading.Event()
        self._conn: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name=f"webhooks-{self.port}",
                                        daemon=True)

    def start(self) -> WebhookSender:
        self._thread.start()
        return self

    # Called by the store with its lock held: only appends.
    def enqueue(self, changes: list[Change]) -> None:
        with self._cond:
            if not self._stopping.is_set():
                self._queue.extend(changes)
                self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued event is delivered or given up; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop promptly: queued events are dropped, a POST in flight is cut."""
        self._stopping.set()
        with self._cond:
            self._queue.clear()
            self._cond.notify_all()
        conn = self._conn
        sock = getattr(conn, "sock", None) if conn is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # ------------------------------------------------------------ thread
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stopping.is_set())
                if self._stopping.is_set():
                    self._busy = False
                    self._cond.notify_all()
                    return
                change = self._queue.popleft()
                self._busy = True
            try:
                with contextlib.suppress(Exception):  # one bad event never kills the sender
                    self._deliver(change)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, change: Change) -> None:
        label, event = OPERATIONS[change.operation]
        source = change.source if change.operation in _WITH_SOURCE else ""
        for attempt in range(1, len(self.delays) + 2):
            if self._stopping.is_set():
                return
            if self.fmt == "v1":
                body = v1_body(self.account_name, change.username, label, change.path, source,
                               attempt)
            else:
                body = v2_body(self.account_name, change, uuid.uuid4().hex)
            status, error = self._post(body)
            with self.lock:
                self.deliveries.append({"event": event, "operation": label, "path": change.path,
                                        "sourcepath": source, "attempt": attempt,
                                        "status": status, "error": error, "body": body,
                                        "sent": self.clock()})
            if status is not None and 200 <= status < 300:
                return
            if attempt <= len(self.delays) and self._stopping.wait(self.delays[attempt - 1]):
                return

    def _post(self, body: bytes) -> tuple[int | None, str | None]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._conn = conn
        try:
            conn.connect()
            if self._stopping.is_set():
                return None, "stopped"
            conn.request("POST", self.path, body=body, headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(self.token, body),
                "User-Agent": "syncd-emulator-webhooks",
            })
            resp = conn.getresponse()
            resp.read()
            return resp.status, None
        except (OSError, http.client.HTTPException) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            self._conn = None
            conn.close()
