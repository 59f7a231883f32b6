"""HTTP transport: threaded HTTP/1.1, bearer auth, call limits, faults, replies."""

from __future__ import annotations

import re
import socket
import struct
import time
import traceback
from urllib.parse import parse_qs, unquote, urlsplit

from syncd.emulators.exavault.body import BodyError
from syncd.emulators.exavault.faults import Throttle
from syncd.emulators.exavault.server import DRAIN_LIMIT, EmulatorHTTPServer
from syncd.emulators.exavault.server import Handler as BaseHandler

from . import api, render
from .context import Ctx, Reply
from .faults import Fault
from .limits import Refusal
from .store import ApiError

_PREFIX = re.compile(r"/pubapi/(v1|v2)(/.*)?")


class EgnyteHTTPServer(EmulatorHTTPServer):
    def __init__(self, address, emu, family):
        super().__init__(address, emu, family)
        self.RequestHandlerClass = Handler


class Handler(BaseHandler):
    """The ExaVault handler's plumbing (TCP_NODELAY, the emulator clock in ``Date``,
    logging, every method routed to ``_handle``) with Egnyte's flow and replies."""

    server_version = "EgnyteEmulator/1.0"

    # ---------------------------------------------------------------- flow
    def _handle(self):
        emu = self.server.emu
        url = urlsplit(self.path)
        self._body = self._body_reader()
        self._usage: list = []
        if emu.latency_ms:
            time.sleep(emu.latency_ms / 1000.0)
        m = _PREFIX.fullmatch(url.path)
        if m is None:
            return self._send(Reply(404, render.error("Unknown endpoint.")), url.path)
        segments = [unquote(s) for s in (m.group(2) or "").split("/")]
        if any("/" in s for s in segments):
            return self._send(Reply(400, render.error("A name cannot contain '/'.")), url.path)
        path = "/".join(segments)

        token = _bearer(self.headers.get("Authorization"))
        user = emu.user_for(token)
        if user is None:
            return self._send(Reply(401, render.error("Invalid or missing access token."),
                                    headers=[("WWW-Authenticate", 'Bearer realm="Egnyte"')]),
                              path)
        try:
            self._usage = emu.limits.spend(token)
        except Refusal as r:
            return self._send(self._throttled(r, token), path)
        fault = emu.faults.decide(self.command, path)
        if fault is not None and not fault.after:
            return self._fault(fault, None, path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        ctx = Ctx(self.command, path, m.group(1), query, self.headers, self._body,
                  (user, "PublicAPI", emu.app), emu.base_url, emu)
        try:
            reply = api.dispatch(ctx)
        except ApiError as exc:
            reply = Reply.error(exc)
        except BodyError:
            emu.record(self.command, path, 0)
            self.close_connection = True
            return
        except Exception as exc:  # a bug: answer 500, keep the thread
            if emu.verbose:
                traceback.print_exc()
            reply = Reply(500, render.error(f"Internal error: {exc}"))
        if fault is not None:
            return self._fault(fault, reply, path)
        self._send(reply, path)

    def _throttled(self, r: Refusal, token: str) -> Reply:
        emu = self.server.emu
        headers = [("Retry-After", str(r.retry_after))] + emu.limits.usage(token)
        if emu.throttle_status == 429:
            return Reply(429, r.body, "text/html", headers)
        return Reply(403, r.body, "text/html", [("X-Mashery-Error-Code", r.code)] + headers)

    # -------------------------------------------------------------- output
    def _send(self, reply: Reply, path: str, *, truncate: bool = False,
              flip: float | None = None) -> None:
        emu = self.server.emu
        emu.record(self.command, path, reply.status)
        size = reply.length if reply.file is not None else len(reply.body)
        try:
            if not self._body.drain(DRAIN_LIMIT):
                self.close_connection = True
            self.send_response(reply.status)
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type + (
                    "; charset=utf-8" if reply.content_type == "application/json" else ""))
            if reply.status != 204:
                self.send_header("Content-Length", str(size))
            for name, value in list(reply.headers) + self._usage:
                self.send_header(name, value)
            if self.close_connection or truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD":
                return
            send = size // 2 if truncate else size
            if reply.file is None:
                self.wfile.write(reply.body[:send])
            else:
                self._send_file(reply, send, flip)
        except (OSError, ValueError):
            self.close_connection = True
        finally:
            if reply.file is not None:
                reply.file.close()
            if truncate:
                self.close_connection = True
                try:
                    self.wfile.flush()
                except (OSError, ValueError):
                    pass

    def _send_file(self, reply: Reply, count: int, flip: float | None) -> None:
        emu = self.server.emu
        throttle = Throttle(emu.bandwidth)
        at = None if flip is None or count == 0 else min(count - 1, int(count * flip))
        reply.file.seek(reply.offset)
        left, done = count, 0
        while left > 0:
            data = reply.file.read(min(left, throttle.chunk_size))
            if not data:
                break
            if at is not None and done <= at < done + len(data):
                data = bytearray(data)
                data[at - done] ^= 0xFF
                data = bytes(data)
            with emu.lock:  # counted before it is sent: a client never sees more
                emu.download_bytes += len(data)
            self.wfile.write(data)
            done += len(data)
            left -= len(data)
            throttle.consume(len(data))

    def _fault(self, fault: Fault, reply: Reply | None, path: str) -> None:
        if fault.kind == "corrupt":
            return self._send(reply, path, flip=fault.where if reply.file is not None else None)
        if fault.kind == "truncate":
            return self._send(reply, path, truncate=True)
        if fault.kind in ("500", "503"):
            return self._send(Reply(int(fault.kind), render.error("Injected fault.")), path)
        # reset (before) or lost (after): close with RST, no answer at all
        if reply is not None and reply.file is not None:
            reply.file.close()
        self.server.emu.record(self.command, path, 0)
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass


def _bearer(value: str | None) -> str:
    if not value:
        return ""
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""

