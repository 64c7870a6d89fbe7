"""Rows for tests, made through the same domain functions the product uses."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from models.access import grant_line
from models.contacts import get_or_create_contact
from models.conversations import open_or_reopen_conversation, send_text
from models.deliveries import (
    SendOutcome,
    claim_due_deliveries,
    move_delivery,
    record_send_outcome,
)
from models.lines import create_line
from models.tables import Contact, Conversation, Delivery, DeliveryStatus, Line, Message
from models.types import utcnow
from tests.fakes.slack import TEAM_ID


def make_line(
    session: Session,
    *,
    number: str = "+12025550100",
    name: str = "Sales",
    channel_id: str = "C0SALES",
    team_id: str = TEAM_ID,
    grants: tuple[str, ...] = (),
    reply_delay_seconds: float = 0.2,
    opt_out_footer: str | None = None,
    quiet_hours: tuple[int, int] = (0, 0),
) -> Line:
    """A line; its quiet hours are off unless given, so that what a test sends does not
    depend on the hour it runs."""
    line = create_line(
        session=session, team_id=team_id, number=number, name=name, channel_id=channel_id
    )
    line.reply_delay_seconds = reply_delay_seconds
    line.opt_out_footer = opt_out_footer
    line.quiet_start_hour, line.quiet_end_hour = quiet_hours
    session.add(line)
    session.flush()
    if grants:
        grant_line(session=session, line=line, principals=grants)
    return line


def make_contact(
    session: Session,
    *,
    phone: str = "+12025550123",
    name: str | None = None,
    team_id: str = TEAM_ID,
) -> Contact:
    contact, _ = get_or_create_contact(session=session, team_id=team_id, phone=phone, name=name)
    return contact


def make_text(
    session: Session,
    *,
    line: Line,
    contact: Contact,
    body: str = "Hi",
    author: str = "U0ALICE",
    **options: object,
) -> tuple[Conversation, Message]:
    """A text from the line to the contact in their direct conversation, queued, by
    `author` (the dispatcher sends it only if the author may use the line)."""
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id=author
    )
    message, _ = send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[contact],
        body=body,
        author_user_id=author,
        **options,  # type: ignore[arg-type]
    )
    return conversation, message


def claim_next_delivery(*, session: Session, line_id: int, now: datetime) -> Delivery | None:
    """What the dispatcher does for one send slot taken now: the line's oldest due delivery,
    claimed, or None."""
    claimed = claim_due_deliveries(session=session, line_id=line_id, now=now, slots=[now])
    return claimed[0] if claimed else None


def settle_delivery(*, session: Session, delivery: Delivery, outcome: SendOutcome) -> None:
    """A queued delivery handed to the provider as the dispatcher would, ending in `outcome`."""
    assert move_delivery(delivery, DeliveryStatus.SENDING)
    delivery.claimed_at = utcnow()
    session.add(delivery)
    session.flush()
    assert record_send_outcome(session=session, delivery=delivery, outcome=outcome)
