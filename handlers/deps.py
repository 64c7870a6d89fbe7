"""What the runtime hands to the handlers: sessions, settings they need, and a way to
tell the background workers that new work is waiting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from handlers.limits import DEFAULT_GROUP_SIZE, DEFAULT_MAX_MULTI_RECIPIENTS
from handlers.names import SlackNames
from models.directory import SHARED, ContactDirectory
from models.send_plan import SendRules
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
    # A text was staged: only the inbound router has work (it wakes the others in turn).
    inbound_staged: Callable[[], None] = lambda: None
    note_markers: tuple[str, ...] = ("note:", "//")
    max_multi_recipients: int = DEFAULT_MAX_MULTI_RECIPIENTS
    group_size: tuple[int, int] = DEFAULT_GROUP_SIZE
    cancel_scheduled_on_reply: bool = True
    # Which contacts someone with a usable line sees (models.directory).
    contact_directory: ContactDirectory = SHARED
    # Stores an inbound webhook's fields durably (see bot.group_commit); set by the runtime.
    stage_inbound: Callable[[dict[str, object]], Awaitable[None]] = field(
        default=_no_staging, repr=False
    )
    after_inbound_stored: Callable[[], None] = lambda: None  # a hook for the crash tests
    clock: Callable[[], datetime] = utcnow  # what time it is (the runtime's models.clock.Clock)
    team_url: Callable[[], str] = lambda: ""  # the workspace's URL, for links to threads
    # Names of mentioned people and channels, for the text a customer gets.
    slack_names: SlackNames = field(default_factory=SlackNames, repr=False)

    def send_rules(self) -> SendRules:
        """The settings the send policy follows."""
        return SendRules(
            region=self.default_region,
            directory=self.contact_directory,
            max_multi_recipients=self.max_multi_recipients,
            group_size=self.group_size,
        )

    def __deepcopy__(self, memo: dict[int, object]) -> HandlerDeps:
        # Bolt copies a request's context for its lazy listeners: they share the runtime's.
        return self

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
