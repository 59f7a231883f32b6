"""The systemd notify protocol (sd_notify(3)), spoken without libsystemd.

Under ``Type=notify`` the service manager passes ``$NOTIFY_SOCKET``: an
``AF_UNIX`` datagram socket, either a filesystem path (``/run/...``) or, with a
leading ``@``, a name in the abstract namespace. Every notification is one
datagram of newline-separated ``KEY=value`` assignments:

    READY=1                 start-up (or a reload) finished
    RELOADING=1             a reload began; MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>
                            goes with it, READY=1 ends it
    STOPPING=1              shutdown began
    STATUS=<one line>       free-form text shown by ``systemctl status``
    WATCHDOG=1              keep-alive for ``WatchdogSec=``

The watchdog: when the unit sets ``WatchdogSec=``, the manager exports
``$WATCHDOG_USEC`` (and possibly ``$WATCHDOG_PID``: the watchdog then concerns
that process only). sd_watchdog_enabled(3) advises pinging at half the
interval, which is what :attr:`Notifier.watchdog_interval` gives.

A ping means "not hung", so the daemon sends one only while its sync loop makes
progress: :data:`HEARTBEAT` records when it last did (see :class:`Heartbeat`).

Nothing here ever raises into the daemon: outside systemd (no
``$NOTIFY_SOCKET``) every call is a no-op returning False, and a failed send
(manager gone, socket full, ...) returns False and is logged at debug level. The
manager identifies the sender from the kernel-supplied ``SCM_CREDENTIALS``
(it sets ``SO_PASSCRED`` on its end), so ``NotifyAccess=main`` works as long as
the daemon's main process is the one that calls this.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import Self

log = logging.getLogger(__name__)

ENV_SOCKET = "NOTIFY_SOCKET"
ENV_WATCHDOG_USEC = "WATCHDOG_USEC"
ENV_WATCHDOG_PID = "WATCHDOG_PID"

# systemd reads notifications into a PIPE_BUF-sized buffer and drops (not
# truncates) a longer datagram, so never send one.
MAX_DATAGRAM = 4096
# Longest value in bytes (STATUS= text, mostly); longer ones are cut with "…".
MAX_VALUE = 1024
# A full receive queue blocks a datagram send; never let a ping hang the daemon.
SEND_TIMEOUT = 2.0


def _clean_value(value: object) -> str:
    """One line of text: newlines would inject extra assignments, NUL makes
    systemd reject the whole datagram."""
    if value is True:
        text = "1"
    elif value is False:
        text = "0"
    else:
        text = str(value)
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\0", "")
    raw = text.encode("utf-8", "replace")
    if len(raw) > MAX_VALUE:
        # Cut on a character boundary, leaving room for the 3-byte ellipsis.
        text = raw[: MAX_VALUE - 3].decode("utf-8", "ignore") + "…"
    return text


def _valid_key(key: str) -> bool:
    return bool(key) and not any(c in key for c in "=\n\r\0")


def _parse_watchdog(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds between pings (half of ``$WATCHDOG_USEC``), or None when the
    watchdog is off or meant for another process."""
    raw = env.get(ENV_WATCHDOG_USEC, "").strip()
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.debug("ignoring malformed %s=%r", ENV_WATCHDOG_USEC, raw)
        return None
    if usec <= 0:
        return None
    raw_pid = env.get(ENV_WATCHDOG_PID, "").strip()
    if raw_pid:
        try:
            owner = int(raw_pid)
        except ValueError:
            log.debug("ignoring watchdog: malformed %s=%r", ENV_WATCHDOG_PID, raw_pid)
            return None
        if owner != pid:
            log.debug("watchdog is for pid %d, not us (%d)", owner, pid)
            return None
    return usec / 2 / 1_000_000


def _socket_address(value: str) -> str | None:
    """The ``sendto`` address for ``$NOTIFY_SOCKET``, None if unusable."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    # Relative paths are refused by sd_notify too; vsock: addresses (systemd in
    # a VM) are not something syncd runs under.
    log.debug("unsupported %s=%r; notifications disabled", ENV_SOCKET, value)
    return None


class Notifier:
    """Talks to the service manager; a no-op when not started by one.

    Thread-safe: one datagram socket, created on first use and shared under a
    lock, so the watchdog thread and the main loop may both notify.
    """

    def __init__(self, address: str | None, watchdog_interval: float | None = None) -> None:
        self._address = address
        self.enabled: bool = address is not None
        # A ping needs somewhere to go: without a socket there is no watchdog.
        self.watchdog_interval: float | None = watchdog_interval if self.enabled else None
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._closed = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Notifier:
        raw = env.get(ENV_SOCKET, "")
        address = _socket_address(raw) if raw else None
        return cls(address, _parse_watchdog(env, os.getpid()))

    def __repr__(self) -> str:
        if not self.enabled:
            return "Notifier(disabled)"
        shown = self._address.replace("\0", "@", 1) if self._address else None
        return f"Notifier({shown!r}, watchdog_interval={self.watchdog_interval!r})"

    def send(self, **fields: object) -> bool:
        """Send ``KEY=value`` assignments as one datagram, in the order given.

        True when the datagram left; False when disabled, closed, given a bad
        key, or the send failed. Never raises.
        """
        if not self.enabled or not fields:
            return False
        lines = []
        for key, value in fields.items():
            if not _valid_key(key):
                log.debug("notify: refusing invalid key %r", key)
                return False
            try:
                lines.append(f"{key}={_clean_value(value)}\n")
            except Exception as exc:  # noqa: BLE001 - a value whose str() fails must not raise
                log.debug("notify: cannot format %s: %r", key, exc)
                return False
        data = "".join(lines).encode("utf-8", "replace")
        if len(data) > MAX_DATAGRAM:
            log.debug("notify: %d-byte message is over the %d-byte limit; not sent",
                      len(data), MAX_DATAGRAM)
            return False
        with self._lock:
            if self._closed:
                return False
            try:
                if self._sock is None:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    sock.settimeout(SEND_TIMEOUT)
                    self._sock = sock
                # sendto, not connect: the manager may re-create its socket
                # (daemon-reexec) and the next message must still find it.
                self._sock.sendto(data, self._address)
            except OSError as exc:
                log.debug("notify: sending %r failed: %s", data, exc)
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        if status is None:
            return self.send(READY=1)
        return self.send(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        return self.send(STATUS=text)

    def reloading(self) -> bool:
        """A reload began; follow with :meth:`ready` once it is done."""
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send(RELOADING=1, MONOTONIC_USEC=now_usec)

    def stopping(self) -> bool:
        return self.send(STOPPING=1)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def close(self) -> None:
        """Release the socket; later calls are no-ops returning False."""
        with self._lock:
            self._closed = True
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
