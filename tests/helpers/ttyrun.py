"""Run a command on a real terminal (a pseudo-terminal from the ``pty`` module)
and collect everything it wrote there, for tests of what syncd shows on a
terminal (progress display, verbose lines) that it does not show in a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]")


def run(args: list[str], *, env: dict[str, str] | None = None, columns: int = 120,
        rows: int = 40, timeout: float = 120.0) -> tuple[int, str]:
    """``python -m syncd ARGS`` with stdin, stdout and stderr on a new terminal of
    ``columns`` × ``rows``; (exit code, everything written, escapes and all)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    environ = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns),
               "LINES": str(rows), **(env or {})}
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        environ.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "syncd", *args], stdin=slave,
                            stdout=slave, stderr=slave, env=environ, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child's side is closed
                break
            if not data:
                break
            chunks.append(data)
        else:
            proc.kill()
            raise TimeoutError(f"syncd {' '.join(args)} still runs after {timeout}s")
        code = proc.wait(timeout=10)
    finally:
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def plain(text: str) -> str:
    """``text`` without terminal escapes, each redraw on a line of its own."""
    return ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
