"""The serving process asks glibc for fewer malloc arenas, and carries on where it cannot."""

from __future__ import annotations

import ctypes
import platform

import pytest

from bot import malloc_arenas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's arena limit is glibc's")
def test_glibc_takes_the_limit() -> None:
    assert malloc_arenas.limit_malloc_arenas() is True


def test_without_glibcs_mallopt_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:
        def __init__(self, _name: object) -> None:
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    assert malloc_arenas.limit_malloc_arenas() is False
