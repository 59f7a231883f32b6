"""HTTP transport: threaded HTTP/1.1 server, auth, transaction budget, faults, replies."""

from __future__ import annotations

import hmac
import json
import logging
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import api, render
from .body import BodyError, BodyReader
from .context import ApiError, Ctx, Reply
from .faults import Fault, Throttle, endpoint

API_PREFIX = "/api/v2"
BAD_JSON = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"  # the "badjson" fault
DRAIN_LIMIT = 8 * 1024 * 1024  # unread bodies up to this size are drained to keep the connection
log = logging.getLogger("syncd.emulators.exavault")


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, emu, family):
        self.address_family = family
        self.emu = emu
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self):
        # Skip HTTPServer.server_bind: socket.getfqdn() can stall on a DNS lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client that went away (a transfer it stopped): nothing to report
        super().handle_error(request, client_address)

    def serve_in_thread(self, name: str) -> threading.Thread:
        """Serve from a daemon thread (started); ``stop_serving`` ends it."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=name, daemon=True)
        thread.start()
        return thread

    def stop_serving(self, thread: threading.Thread | None) -> None:
        self.shutdown()
        self.server_close()
        self.close_all_connections()
        if thread is not None:
            thread.join(timeout=5)

    def close_all_connections(self) -> None:
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ExaVaultEmulator/2.0"

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp=None) -> str:
        """The ``Date`` header follows the emulator's clock (``advance_clock`` moves it
        too), so clients that take server time from it agree with activity dates."""
        return super().date_time_string(self.server.emu.now() if timestamp is None
                                        else timestamp)

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.server.emu.bandwidth:
                # A slow link holds a quarter second of data, not the megabytes a
                # loopback receive buffer grows to (a client that stops must see its
                # sending stop, as it would over a real slow network).
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                           max(64 << 10, self.server.emu.bandwidth // 4))
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.emu.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self._handle()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = do_GET

    def _body_reader(self) -> BodyReader:
        """The request body: Content-Length or chunked, paced by the emulator's bandwidth."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return BodyReader(self.rfile, length, "chunked" in te, Throttle(self.server.emu.bandwidth))

    # ----------------------------------------------------------------- flow
    def _handle(self):
        emu = self.server.emu
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        self._body = self._body_reader()
        self._record = (self.command, unquote(url.path), query)
        self._logged = False
        if emu.latency_ms:
            time.sleep(emu.latency_ms / 1000.0)

        if not self._authorized():
            detail = "HTTP_UNAUTHORIZED"
            return self._send(Reply.json(render.error(401, "ERROR_INVALID_CREDENTIALS", detail)))
        if not emu.window.spend():
            return self._send(Reply.error(ApiError(
                429, "ERROR_TOO_MANY_REQUESTS",
                "The account's 24 hour transaction limit has been reached.")))
        path = unquote(url.path)
        fault = emu.faults.decide(self.command, path[len(API_PREFIX):]
                                  if path.startswith(API_PREFIX + "/") else path, query)
        if fault is not None and fault.phase == "before":
            return self._fault(fault, None)

        ctx = Ctx(self.command, path[len(API_PREFIX):] if path.startswith(API_PREFIX + "/")
                  else "\x00" + path, query, self.headers, self._body,
                  self.client_address[0], emu)
        try:
            reply = api.dispatch(ctx)
        except BodyError:
            reply = Reply.gone()
        except Exception as exc:  # a bug or a store shutting down: never kill the thread
            if emu.verbose:
                traceback.print_exc()
            reply = Reply.error(ApiError(500, "ERROR_INTERNAL", f"Internal error: {exc}"))
        if reply.drop_connection:
            self._log(0)
            self.close_connection = True
            return
        if fault is not None:
            return self._fault(fault, reply)
        rewrite = emu.rewrite
        if rewrite is not None and reply.file is None:
            reply = _rewritten(rewrite, self.command, ctx.path, reply)
        self._send(reply)

    def _log(self, status: int) -> None:
        """Record the request once, before any byte of the response goes out."""
        if not self._logged:
            self._logged = True
            self.server.emu._log_request(*self._record, status)

    def _authorized(self) -> bool:
        emu = self.server.emu
        key = self.headers.get("ev-api-key") or ""
        token = self.headers.get("ev-access-token") or ""
        ok_key = hmac.compare_digest(key.encode("utf-8", "replace"), emu.api_key.encode())
        ok_token = hmac.compare_digest(token.encode("utf-8", "replace"),
                                       emu.access_token.encode())
        return ok_key and ok_token

    # --------------------------------------------------------------- output
    def _start(self, reply: Reply, length: int) -> None:
        emu = self.server.emu
        if not self._body.drain(DRAIN_LIMIT):
            self.close_connection = True
        self._log(reply.status)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type + (
            "; charset=utf-8" if reply.content_type == "application/json" else ""))
        self.send_header("Content-Length", str(length))
        self.send_header("X-RateLimit-Limit", str(emu.window.limit))
        self.send_header("X-RateLimit-Remaining", str(emu.window.remaining))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _send(self, reply: Reply, truncate: bool = False, *, declare: int | None = None,
              flip: float | None = None) -> None:
        """Send ``reply``. Faults: ``truncate`` sends half the body; ``declare`` is a
        Content-Length other than the body's; ``flip`` alters the file body's byte at
        that relative position. Each of them closes the connection afterwards."""
        broken = truncate or declare is not None
        try:
            size = reply.file_size if reply.file is not None else len(reply.body)
            self._start(reply, size if declare is None else declare)
            if self.command == "HEAD":
                return
            if reply.file is None:
                self.wfile.write(reply.body[: len(reply.body) // 2] if truncate else reply.body)
            elif flip is not None and size > 0:
                base = reply.file_offset
                at = min(size - 1, int(size * flip))
                self._send_file(reply, at, base)
                reply.file.seek(base + at)
                byte = reply.file.read(1)
                self.wfile.write(bytes([byte[0] ^ 0xFF]))
                self.wfile.flush()
                self._send_file(reply, size - at - 1, base + at + 1)
            else:
                self._send_file(reply, size // 2 if truncate else size, reply.file_offset)
        except (OSError, ValueError):
            self.close_connection = True
        finally:
            reply.close()
            if broken:
                self.close_connection = True
                try:
                    self.wfile.flush()
                except (OSError, ValueError):
                    pass

    def _send_file(self, reply: Reply, count: int, offset: int = 0) -> None:
        emu = self.server.emu
        throttle = Throttle(emu.bandwidth)
        if throttle.rate is None:
            if count:
                self.wfile.flush()
                sent = self.connection.sendfile(reply.file, offset, count)
                with emu._log_lock:
                    emu.download_bytes += sent
            return
        reply.file.seek(offset)
        left = count
        while left > 0:
            data = reply.file.read(min(left, throttle.chunk_size))
            if not data:
                break
            self.wfile.write(data)
            with emu._log_lock:
                emu.download_bytes += len(data)
            left -= len(data)
            throttle.consume(len(data))

    def _fault(self, fault: Fault, reply: Reply | None) -> None:
        if fault.kind == "flip":
            return self._send(reply, flip=fault.where)
        if fault.kind == "badlength":
            size = reply.file_size if reply.file is not None else len(reply.body)
            return self._send(reply, declare=size + max(1, size // 2))
        if fault.kind in ("badjson", "errorbody"):
            if reply is not None:
                reply.close()
            body = render.dumps(render.error(500, "ERROR_INTERNAL", "Injected fault.")) \
                if fault.kind == "errorbody" else BAD_JSON
            return self._send(Reply(200, body))
        if fault.kind in ("500", "503"):
            if reply is not None:
                reply.close()
            status = int(fault.kind)
            code = "ERROR_INTERNAL" if status == 500 else "ERROR_SERVICE_UNAVAILABLE"
            return self._send(Reply.error(ApiError(status, code, "Injected fault.")))
        if fault.kind == "truncate":
            if reply is None:
                reply = Reply.error(ApiError(500, "ERROR_INTERNAL", "Injected fault."))
            return self._send(reply, truncate=True)
        # reset: abort the connection with RST and no response at all
        if reply is not None:
            reply.close()
        self._log(0)
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()  # drops the makefile reference so close() really closes
        except (OSError, ValueError):
            pass
        try:
            self.connection.close()
        except OSError:
            pass


def _rewritten(rewrite, method: str, path: str, reply: Reply) -> Reply:
    """Apply the test-only ``Emulator.rewrite`` hook to a JSON answer's ``data`` records."""
    try:
        body = json.loads(reply.body)
    except ValueError:
        return reply
    if not isinstance(body, dict) or "data" not in body:
        return reply
    data = body["data"]
    records = data if isinstance(data, list) else [data]
    name = endpoint(method, path)
    out = list(rewrite(name, [r for r in records if isinstance(r, dict)]))
    if isinstance(data, list):
        body["data"] = out
        if "returnedResults" in body:
            body["returnedResults"] = len(out)
    elif out:
        body["data"] = out[0]
    return Reply(reply.status, render.dumps(body), reply.content_type, reply.headers)
