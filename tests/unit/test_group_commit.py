import asyncio
import threading

import pytest

from bot.group_commit import GroupCommit


def test_rows_stored_at_the_same_moment_share_one_write() -> None:
    writes: list[list[int]] = []
    group = GroupCommit(writes.append, name="test-writes")

    async def main() -> None:
        await asyncio.gather(*(group.store(n) for n in range(10)))

    asyncio.run(main())
    group.close()
    assert writes == [list(range(10))]


def test_rows_arriving_during_a_write_go_in_the_next_one_in_order() -> None:
    first_started, release = threading.Event(), threading.Event()
    writes: list[list[int]] = []

    def write(rows: list[int]) -> None:
        if not writes:
            first_started.set()
            release.wait(5)
        writes.append(rows)

    group = GroupCommit(write, name="test-writes", max_batch=3)

    async def main() -> None:
        first = asyncio.ensure_future(group.store(0))
        await asyncio.to_thread(first_started.wait, 5)
        later = [asyncio.ensure_future(group.store(n)) for n in range(1, 6)]
        await asyncio.sleep(0.01)
        assert not any(task.done() for task in [first, *later])  # none answered early
        release.set()
        await asyncio.gather(first, *later)

    asyncio.run(main())
    group.close()
    assert writes == [[0], [1, 2, 3], [4, 5]]


def test_a_failed_write_fails_each_of_its_rows_and_the_next_write_goes_on() -> None:
    writes: list[list[str]] = []

    def write(rows: list[str]) -> None:
        if "bad" in rows:
            raise OSError("disk full")
        writes.append(rows)

    group = GroupCommit(write, name="test-writes")

    async def main() -> list[BaseException | None]:
        outcomes = await asyncio.gather(
            group.store("bad"), group.store("with it"), return_exceptions=True
        )
        await group.store("later")
        return outcomes

    outcomes = asyncio.run(main())
    group.close()
    assert [type(o) for o in outcomes] == [OSError, OSError]
    assert writes == [["later"]]


def test_a_store_raises_what_the_write_raised() -> None:
    def write(_: list[int]) -> None:
        raise ValueError("no")

    group = GroupCommit(write, name="test-writes")
    with pytest.raises(ValueError, match="no"):
        asyncio.run(group.store(1))
    group.close()
