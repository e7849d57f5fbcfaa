"""Returning freed heap memory to the system between model passes.

On Linux, glibc keeps the pages of freed blocks (decoded frames, activation buffers) inside its
arenas; over a long run the resident size climbs step by step although nothing is kept alive.
``malloc_trim(0)`` after each pass keeps it flat (``python -m bench.pipeline`` measures the
peak resident size).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def trim_heap() -> bool:
    """Give freed heap pages back to the system (glibc ``malloc_trim``); ``False`` where the C
    library has no such call (macOS, musl), which is harmless."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
