"""Giving memory back to the system after a pass."""

from __future__ import annotations

import ctypes
import ctypes.util

_libc: ctypes.CDLL | None | bool = None


def release_memory() -> bool:
    """Give the heap a pass freed back to the system. A pass over a big mirror
    builds and drops hundreds of MB of entries; glibc keeps freed memory for
    reuse, so an idle daemon would sit at its peak (BENCHMARKS.md: 195 MB idle
    with 100k files, 46 MB live). ``malloc_trim(0)`` returns it, in milliseconds.
    False where there is no glibc (the call is skipped)."""
    global _libc
    if _libc is None:
        try:
            name = ctypes.util.find_library("c")
            lib = ctypes.CDLL(name) if name else None
            _libc = lib if lib is not None and hasattr(lib, "malloc_trim") else False
        except OSError:
            _libc = False
    if not _libc:
        return False
    _libc.malloc_trim(0)
    return True
