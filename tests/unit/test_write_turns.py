import threading
import time

from bot.db import WriteTurns, mark_background_thread


def _waiter(
    turns: WriteTurns, name: str, order: list[str], *, background: bool
) -> threading.Thread:
    def run() -> None:
        if background:
            mark_background_thread()
        assert turns.acquire(timeout=5)
        order.append(name)
        turns.release()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_for_waiters(turns: WriteTurns, count: int) -> None:
    deadline = time.monotonic() + 5
    while turns.waiting < count:
        assert time.monotonic() < deadline, "the waiters never started waiting"
        time.sleep(0.001)


def test_a_thread_answering_a_request_writes_before_waiting_workers() -> None:
    turns, order = WriteTurns(), []
    assert turns.acquire(timeout=1)
    worker = _waiter(turns, "worker", order, background=True)
    _wait_for_waiters(turns, 1)
    request = _waiter(turns, "request", order, background=False)
    _wait_for_waiters(turns, 2)
    turns.release()
    for thread in (worker, request):
        thread.join(5)
    assert order == ["request", "worker"]


def test_one_writer_at_a_time_and_a_timeout_when_the_turn_never_comes() -> None:
    turns = WriteTurns()
    assert turns.acquire(timeout=1)
    assert not turns.acquire(timeout=0.05)
    turns.release()
    assert turns.acquire(timeout=0.05)
    turns.release()


def test_a_worker_writes_when_no_request_waits() -> None:
    turns, order = WriteTurns(), []
    worker = _waiter(turns, "worker", order, background=True)
    worker.join(5)
    assert order == ["worker"]


def test_many_writers_of_both_kinds_each_get_a_turn() -> None:
    """A release wakes one waiter: none of forty may be left waiting with the turn free."""
    turns, order = WriteTurns(), []
    assert turns.acquire(timeout=1)
    threads = [
        _waiter(turns, f"{kind} {n}", order, background=kind == "worker")
        for n in range(20)
        for kind in ("worker", "request")
    ]
    _wait_for_waiters(turns, len(threads))
    turns.release()
    for thread in threads:
        thread.join(5)
    assert len(order) == len(threads)
    assert [name.split()[0] for name in order] == ["request"] * 20 + ["worker"] * 20
