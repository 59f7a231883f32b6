"""This machine's name as syncd writes it into conflicted copies' names."""

from __future__ import annotations

import socket


def host_name() -> str:
    """The short host name, with anything but letters, digits, ``-`` and ``_``
    made ``-`` (``"host"`` if there is none)."""
    name = socket.gethostname().split(".")[0] or "host"
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
