"""Posting at Slack's pace: about one message a second per channel."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ChannelPace:
    """Hands out each channel's posting slots `interval` seconds apart, so that the mirror
    keeps Slack's pace instead of collecting 429s (each costs a Retry-After second and
    more, since slack_sdk adds up to a second of jitter)."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, channel: str) -> None:
        """Return when the next post to `channel` may go."""
        if self.interval <= 0:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(channel, now))
            self._next[channel] = slot + self.interval
        if slot > now:
            self._sleep(slot - now)
