"""Background loops that drain the database's work queues (outbox, Slack mirror).

Each loop runs `step()` until it reports nothing left, then sleeps until woken (a handler
queued work in this process), until the step's own due time, or for the poll interval
(work queued by another process, or retries coming due).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from bot.db import mark_background_thread

logger = logging.getLogger(__name__)


def retry_pause(failures: int, *, first: timedelta, most: timedelta) -> timedelta:
    """How long to wait after `failures` failures in a row (at least one): `first`, then
    twice as long each time, never more than `most`."""
    pause = first
    for _ in range(max(failures, 1) - 1):
        if pause >= most:
            break
        pause *= 2
    return min(pause, most)


# A step returns how long to sleep before the next one: 0 to go on at once, None to wait
# for a wake-up or the poll interval.
Step = Callable[[], float | None]


class Worker(Protocol):
    """What the runtime starts, wakes, checks and stops: a loop in a thread, or in a
    process of its own (bot.mirror_process)."""

    def start(self) -> None: ...
    def wake(self) -> None: ...
    @property
    def running(self) -> bool: ...
    def idle(self, timeout: float) -> bool: ...
    def stop(self, timeout: float = ...) -> None: ...


class WorkerLoop:
    def __init__(self, name: str, step: Step, *, poll_seconds: float = 1.0):
        self.name = name
        self._step = step
        self._poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._steps = threading.Condition()  # guards the two below
        self._steps_begun = 0
        self._last_idle_step = 0  # the latest step that found nothing to do at once

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def idle(self, timeout: float) -> bool:
        """Wake the loop and wait until a step begun after this call finds nothing to do at
        once (False if none has within `timeout` seconds): whatever was due then is done."""
        with self._steps:
            wanted = self._steps_begun + 1
            self.wake()
            return self._steps.wait_for(lambda: self._last_idle_step >= wanted, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        mark_background_thread()
        while not self._stop.is_set():
            self._wake.clear()
            with self._steps:
                self._steps_begun += 1
                step = self._steps_begun
            try:
                delay = self._step()
            except Exception:
                logger.exception("%s step failed; retrying after a pause", self.name)
                delay = self._poll_seconds
            if delay == 0:
                continue
            with self._steps:
                self._last_idle_step = step
                self._steps.notify_all()
            timeout = self._poll_seconds if delay is None else min(delay, self._poll_seconds)
            self._wake.wait(timeout)
