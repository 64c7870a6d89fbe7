"""The bot's one clock, and worker loops that tests step to a standstill instead of
sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.workers import WorkerLoop
from models.clock import Clock
from models.types import utcnow


def test_the_clock_reads_the_system_time_until_moved() -> None:
    clock = Clock()
    assert abs(clock() - utcnow()) < timedelta(seconds=1)


def test_moved_on_it_goes_on_from_there() -> None:
    clock = Clock()
    clock.advance(timedelta(days=6))
    first = clock()
    assert timedelta(days=6) - timedelta(seconds=1) < first - utcnow() <= timedelta(days=6)
    time.sleep(0.01)
    assert clock() > first


def test_set_to_a_moment_it_reads_that_moment() -> None:
    clock = Clock()
    evening = datetime(2037, 11, 25, 23, 30, tzinfo=UTC)
    clock.set(evening)
    assert timedelta(0) <= clock() - evening < timedelta(seconds=1)


def test_it_does_not_go_back() -> None:
    with pytest.raises(ValueError, match="only moves forward"):
        Clock().advance(timedelta(seconds=-1))


def test_idle_returns_once_the_queued_work_is_done() -> None:
    queue = [1, 2, 3]
    done: list[int] = []

    def step() -> float | None:
        if not queue:
            return None
        time.sleep(0.05)
        done.append(queue.pop(0))
        return 0

    loop = WorkerLoop("test", step, poll_seconds=60)
    loop.start()
    try:
        assert loop.idle(timeout=10)
        assert done == [1, 2, 3]
        queue.append(4)
        assert loop.idle(timeout=10)  # woken, it takes the new work before it is idle
        assert done == [1, 2, 3, 4]
    finally:
        loop.stop()


def test_idle_says_when_the_loop_does_not_come_to_rest() -> None:
    busy = threading.Event()

    def step() -> float | None:
        busy.set()
        time.sleep(0.01)
        return 0  # always more to do

    loop = WorkerLoop("test", step, poll_seconds=60)
    loop.start()
    try:
        assert busy.wait(5)
        assert not loop.idle(timeout=0.2)
    finally:
        loop.stop()
