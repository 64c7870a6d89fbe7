"""Group commit: rows that concurrent requests must store before they answer are written
together, one transaction for all that arrived while the previous one committed.

A commit costs the same for one row or a hundred, so under load each request waits for at
most about two commits instead of queuing behind every other request's own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Row = TypeVar("Row")


class GroupCommit(Generic[Row]):
    def __init__(self, write: Callable[[list[Row]], None], *, name: str, max_batch: int = 500):
        self._write = write
        self._max_batch = max_batch
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # One thread: batches are written one after another, in the order they formed.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)

    async def store(self, row: Row) -> None:
        """Return once `row` is committed; raise what the write raised if it failed."""
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[None] = loop.create_future()
        self._pending.append((row, stored))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        await stored

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await loop.run_in_executor(
                        self._executor, self._write, [row for row, _ in batch]
                    )
                except Exception as exc:
                    outcome: Exception | None = exc
                else:
                    outcome = None
                for _, stored in batch:
                    if stored.done():  # its request was cancelled meanwhile
                        continue
                    if outcome is None:
                        stored.set_result(None)
                    else:
                        stored.set_exception(outcome)
        finally:
            self._flusher = None

    def close(self) -> None:
        self._executor.shutdown(wait=True)
