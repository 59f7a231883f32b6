"""Receive a service's webhook pushes and hand them to the daemon as hints.

A service POSTs one document per event (or per batch) to a configured URL and signs
it; the service's ``PushFormat`` (ExaVault's: ``syncd.remote.exavault.webhook``,
picked by ``syncd.session.push_format``) checks the signature and parses the payload
into ``WebhookEvent`` values. ``WebhookServer`` is a small standard-library HTTP
listener running in a daemon thread. Deliveries can repeat (ExaVault retries up to 8
times, and a resend is identical apart from ``attempt``): events are hints for the
daemon, never commands.

Answers: 200 signed and understood (also for events that change nothing), 403 missing
or wrong signature, 400 signed but not understood (or a malformed request), 404 wrong
path, 405 not POST, 411 no ``Content-Length``, 413 body larger than ``max_body`` (not
read), 408 body too slow, 500 the callback raised, 503 the server is stopping.
Every connection carries one request and must be complete within ``timeout`` seconds
(a slow client is cut off, however it trickles its bytes).
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

__all__ = ["PushFormat", "WebhookEvent", "WebhookPayloadError", "WebhookServer"]

@dataclass(frozen=True)
class WebhookEvent:
    """One change pushed by the server, named like the daemon's change feed.

    ``op``: upload, delete, mkdir, move, rename, copy, download or other. ``path`` is the
    absolute server path (the new one for move/rename/copy; ``""`` when the event has
    none, e.g. Connect); ``source`` the old path for move/rename/copy, if given."""

    op: str
    path: str
    source: str = ""
    account: str = ""


class WebhookPayloadError(ValueError):
    """The body is not a webhook payload the service's format understands."""


@dataclass(frozen=True)
class PushFormat:
    """How one service signs and spells its pushes: the header carrying the
    signature, ``verify(token, body, header)`` and ``parse(body)`` (raising
    ``WebhookPayloadError``). Each service module defines one; ``syncd.session``
    hands the daemon the one of the account's service."""

    header: str
    verify: Callable[[str, bytes, str | None], bool]
    parse: Callable[[bytes], list[WebhookEvent]]


_LOG = logging.getLogger(__name__)
_DRAIN_BYTES = 1 << 20   # at most this much of an unread body is discarded before closing
_DRAIN_SECONDS = 1.0


# ----------------------------------------------------------------------- server
class WebhookServer:
    """An HTTP listener for ExaVault webhooks, serving from a daemon thread.

    ``on_events(events)`` is called once per valid signed request with the parsed
    events (including "other" ones), one call at a time, from a request thread: keep it
    quick (enqueue and return). If it raises, the error is logged and answered with
    500, so ExaVault retries. ``timeout`` bounds a whole request, including reading it.
    """

    def __init__(self, host: str, port: int, token: str,
                 on_events: Callable[[list[WebhookEvent]], None], *, push: PushFormat,
                 path: str = "/",
                 max_body: int = 1 << 20, log: logging.Logger | None = None,
                 timeout: float = 10.0):
        if not token:
            raise ValueError("webhook token must not be empty")
        if not path.startswith("/"):
            raise ValueError(f"webhook path must start with '/': {path!r}")
        if max_body < 0 or timeout <= 0:
            raise ValueError("max_body must be >= 0 and timeout > 0")
        self.host, self.port = host, port
        self.path = path
        self.max_body = max_body
        self.timeout = timeout
        self.log = log or _LOG
        self._token = token
        self.push = push
        self._on_events = on_events
        self._state = threading.Lock()
        self._deliver_lock = threading.RLock()  # one on_events call at a time
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._conns: set[socket.socket] = set()

    def __repr__(self) -> str:  # never show the token
        return f"WebhookServer({self.url!r})"

    # -- lifecycle
    def start(self) -> WebhookServer:
        """Bind (port 0 picks a free one) and serve in a daemon thread; OSError if the
        address cannot be bound. A server is started at most once."""
        with self._state:
            if self._httpd is not None or self._stopped:
                raise RuntimeError("WebhookServer.start() called twice")
            self._httpd = _HTTPServer((self.host, self.port), self)
            self._thread = threading.Thread(target=self._httpd.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name=f"syncd-webhook-{self.address[1]}", daemon=True)
            self._thread.start()
        self.log.debug("webhook listener on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, release the port and cut open connections; idempotent.

        When it returns, ``on_events`` is not running (a call in progress is awaited
        for at most ``timeout`` seconds) and will not be called again; requests still
        in flight get 503. It may be called from ``on_events`` itself."""
        with self._state:
            if self._stopped:
                return
            self._stopped = True
            httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._state:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)
        if self._deliver_lock.acquire(timeout=self.timeout):  # reentrant: fine in on_events
            self._deliver_lock.release()
        else:
            self.log.warning("webhook: stopped while the event handler was still running")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port) once started, else the configured one."""
        if self._httpd is not None:
            host, port = self._httpd.server_address[:2]
            return str(host), int(port)
        return self.host, self.port

    @property
    def url(self) -> str:
        host, port = self.address
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}{self.path}"

    # -- used by the request handler
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._state:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _verify(self, body: bytes, header: str | None) -> bool:
        return self.push.verify(self._token, body, header)

    def _deliver(self, events: list[WebhookEvent]) -> bool:
        """Call ``on_events``; False (not called) once the server is stopping."""
        with self._deliver_lock:
            if self._stopped:
                return False
            self._on_events(events)
            return True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64  # ExaVault may push a burst of events at once

    def __init__(self, address: tuple[str, int], hook: WebhookServer):
        self.hook = hook
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind would call socket.getfqdn(), a possibly slow DNS lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request, client_address):
        # Not to stderr: a client vanishing mid-answer is routine.
        self.hook.log.debug("webhook: error serving %s: %r", _peer(client_address),
                            sys.exc_info()[1])


def _peer(addr) -> str:
    try:
        return f"{addr[0]}:{addr[1]}"
    except (TypeError, IndexError):
        return str(addr)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "syncd-webhook"
    # 1.1 so that "Expect: 100-continue" is honoured; every answer still closes.
    protocol_version = "HTTP/1.1"

    # -- connection
    def setup(self):
        hook = self.server.hook
        self.timeout = hook.timeout            # per socket operation
        self._expired = False
        self._unread = False                   # a request body may be left in the socket
        self._events = 0
        self._started = time.monotonic()
        super().setup()
        hook._track(self.connection, True)
        # ... and for the whole request: a trickling client is cut off too.
        self._deadline = threading.Timer(hook.timeout, self._expire)
        self._deadline.daemon = True
        self._deadline.start()

    def _expire(self):
        self._expired = True
        try:
            self.connection.shutdown(socket.SHUT_RD)  # pending and later reads see EOF
        except OSError:
            pass

    def finish(self):
        self._deadline.cancel()
        self._deadline.join()                  # never touches the socket after this
        try:
            if self._unread:
                self._drain()
        finally:
            try:
                super().finish()
            finally:
                self.server.hook._track(self.connection, False)

    def _drain(self):
        """Discard (a bounded part of) an unread body before closing, so that the
        client is not reset before it reads the answer."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            end = time.monotonic() + _DRAIN_SECONDS
            left = _DRAIN_BYTES
            while left > 0:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                self.connection.settimeout(remaining)
                chunk = self.connection.recv(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def version_string(self):
        return self.server_version

    # -- quiet: our own logging only
    def log_message(self, format, *args):
        pass

    def log_error(self, format, *args):
        self.server.hook.log.debug("webhook: %s: " + format, _peer(self.client_address), *args)

    # -- methods
    def __getattr__(self, name):
        if name.startswith("do_"):  # every method but POST
            return self._not_allowed
        raise AttributeError(name)

    def _may_have_body(self) -> bool:
        headers = getattr(self, "headers", None)
        if headers is None:                    # the request did not even parse
            return True
        length = headers.get("Content-Length")
        return headers.get("Transfer-Encoding") is not None or \
            (length is not None and length.strip() != "0")

    def _not_allowed(self):
        self._unread = self._may_have_body()
        self._reply(405, "method not allowed")

    def send_error(self, code, message=None, explain=None):
        # http.server's own errors (bad request line, headers too large, ...), as JSON.
        self._unread = self._may_have_body()
        self._reply(code, message or _phrase(code))

    def handle_expect_100(self):
        # Ask for the body only if it will be read; otherwise answer at once.
        if self.command == "POST" and self._check_target() is None and \
                isinstance(self._check_length(), int):
            return super().handle_expect_100()
        return True

    def _check_target(self) -> tuple[int, str] | None:
        if _request_path(self.path) != self.server.hook.path:
            return 404, "not found"
        return None

    def _check_length(self) -> int | tuple[int, str]:
        """The declared body length, or the error answer."""
        if self.headers.get("Transfer-Encoding") is not None:
            return 411, "Content-Length required (no Transfer-Encoding)"
        values = {v.strip() for v in self.headers.get_all("Content-Length") or ()}
        if not values:
            return 411, "Content-Length required"
        if len(values) > 1:
            return 400, "conflicting Content-Length"
        value = values.pop()
        if not (value.isascii() and value.isdigit()):
            return 400, "bad Content-Length"
        length = int(value)
        if length > self.server.hook.max_body:
            return 413, "body too large"
        return length

    def do_POST(self):
        hook = self.server.hook
        self._unread = self._may_have_body()
        try:
            status, message = self._post(hook)
        except Exception:
            hook.log.exception("webhook: internal error serving %s",
                               _peer(self.client_address))
            status, message = 500, "internal error"
        self._reply(status, message)

    def _post(self, hook: WebhookServer) -> tuple[int, str]:
        error = self._check_target()
        if error is not None:
            return error
        length = self._check_length()
        if not isinstance(length, int):
            return length
        try:
            body = self.rfile.read(length) if length else b""
        except TimeoutError:
            return 408, "request body timed out"
        except OSError:
            return 400, "request body unreadable"
        if len(body) < length:
            if self._expired:
                return 408, "request body timed out"
            return 400, "request body shorter than Content-Length"
        self._unread = False
        if not hook._verify(body, self.headers.get(hook.push.header)):
            hook.log.warning("webhook: missing or bad %s from %s (%d bytes)", hook.push.header,
                             _peer(self.client_address), len(body))
            return 403, "bad signature"
        try:
            events = hook.push.parse(body)
        except WebhookPayloadError as exc:
            hook.log.warning("webhook: signed payload not understood from %s: %s",
                             _peer(self.client_address), exc)
            return 400, str(exc)
        self._events = len(events)
        try:
            delivered = hook._deliver(events)
        except Exception:
            hook.log.exception("webhook: event handler failed for %d event(s) from %s",
                               len(events), _peer(self.client_address))
            return 500, "event handler failed"
        if not delivered:
            return 503, "shutting down"
        return 200, "ok"

    # -- answer
    def _reply(self, status: int, message: str) -> None:
        hook = self.server.hook
        doc = {"ok": True, "events": self._events} if status == 200 else {"error": message}
        data = json.dumps(doc).encode("ascii")
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # always a status line and headers
        hook.log.debug("webhook: %s %s from %s -> %d (%d event(s), %.0f ms)",
                       self.command or "-", _request_path(getattr(self, "path", "")) or "-",
                       _peer(self.client_address), status, self._events,
                       (time.monotonic() - self._started) * 1000)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            if status == 405:
                self.send_header("Allow", "POST")
            self.end_headers()
            if self.command != "HEAD" and status >= 200:
                self.wfile.write(data)
        except OSError:
            pass  # the client went away


def _request_path(target: str) -> str:
    """The path of a request target (origin form ``/p?q`` or absolute form)."""
    if target.startswith("/"):
        return target.split("?", 1)[0].split("#", 1)[0]
    try:
        return urlsplit(target).path
    except ValueError:
        return ""


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "error"
