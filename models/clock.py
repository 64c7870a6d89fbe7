"""The time every rule and worker goes by: what is due, quiet hours, leases, pacing.

One clock per running bot, shared by its handlers and workers. It reads the system clock;
tests move it on (`advance`, `set`) to see what the bot does later without waiting, and time
then goes on from there, so pacing and leases still run in real seconds. A running bot's
clock only moves forward: what it has written is never in its own future.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from models.types import utcnow


class Clock:
    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        return utcnow() + self._offset

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += delta

    def set(self, moment: datetime) -> None:
        """From now on, read `moment` and what follows it."""
        with self._lock:
            self._offset = moment - utcnow()
