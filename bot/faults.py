"""Fault injection for the crash tests: TEXTBOT_CRASH_AT=<point> makes the process die
(SIGKILL, like kill -9) when it reaches that point. Unset in production: a no-op."""

from __future__ import annotations

import os
import signal

_POINT = os.environ.get("TEXTBOT_CRASH_AT")


def crash_point(name: str) -> None:
    if name == _POINT:
        os.kill(os.getpid(), signal.SIGKILL)
