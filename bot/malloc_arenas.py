"""Fewer malloc arenas for the serving process, so that its memory stays flat.

glibc gives a thread that finds the heap busy an arena of its own, up to eight per core,
and seldom hands an arena's freed pages back to the system. The server's request, Bolt and
worker threads (about forty) each allocate and free in turn, so the resident size crept up
about 7 MiB a minute under the benchmark soak. Two arenas are what MALLOC_ARENA_MAX=2 gives
(the usual advice for threaded Python servers), set here so that no one has to remember the
variable."""

from __future__ import annotations

import ctypes

M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Whether glibc took the limit; elsewhere (musl, macOS) nothing changes. Call before the
    process starts its threads: glibc fixes its arena count the first time it needs more."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas) == 1)
