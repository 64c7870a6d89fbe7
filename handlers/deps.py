"""What the runtime hands to the handlers: sessions, settings they need, and a way to
tell the background workers that new work is waiting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from models.types import utcnow


async def _no_staging(_: dict[str, object]) -> None:
    raise RuntimeError("no inbound staging configured")


@dataclass
class HandlerDeps:
    new_session: Callable[[], Session]
    new_read_session: Callable[[], Session]
    default_region: str = "US"
    usergroup_max_age: timedelta = timedelta(minutes=5)
    work_queued: Callable[[], None] = lambda: None
    note_markers: tuple[str, ...] = ("note:", "//")
    max_multi_recipients: int = 20
    group_size: tuple[int, int] = (2, 9)
    cancel_scheduled_on_reply: bool = True
    # Stores an inbound webhook's fields durably (see bot.group_commit); set by the runtime.
    stage_inbound: Callable[[dict[str, object]], Awaitable[None]] = field(
        default=_no_staging, repr=False
    )
    after_inbound_stored: Callable[[], None] = lambda: None  # a hook for the crash tests
    clock: Callable[[], datetime] = utcnow  # what time it is (tests may set the clock)
    team_url: Callable[[], str] = lambda: ""  # the workspace's URL, for links to threads

    def modal_limits(self) -> dict[str, object]:
        return {"max_multi": self.max_multi_recipients, "group_size": self.group_size}

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self.new_session() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads only: it never waits for writers."""
        with self.new_read_session() as session:
            yield session
