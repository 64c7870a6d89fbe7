"""Rows for tests, made through the same domain functions the product uses."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from models.access import grant_line
from models.contacts import get_or_create_contact
from models.conversations import open_or_reopen_conversation, send_text
from models.deliveries import claim_due_deliveries
from models.lines import create_line
from models.tables import Contact, Conversation, Delivery, Line, Message
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
) -> Line:
    line = create_line(
        session=session, team_id=team_id, number=number, name=name, channel_id=channel_id
    )
    line.reply_delay_seconds = reply_delay_seconds
    line.opt_out_footer = opt_out_footer
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
    session: Session, *, line: Line, contact: Contact, body: str = "Hi", **options: object
) -> tuple[Conversation, Message]:
    """A text from the line to the contact in their direct conversation, queued."""
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id="U0ALICE"
    )
    message, _ = send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[contact],
        body=body,
        author_user_id="U0ALICE",
        **options,  # type: ignore[arg-type]
    )
    return conversation, message


def claim_next_delivery(*, session: Session, line_id: int, now: datetime) -> Delivery | None:
    """What the dispatcher does for one send slot taken now: the line's oldest due delivery,
    claimed, or None."""
    claimed = claim_due_deliveries(session=session, line_id=line_id, now=now, slots=[now])
    return claimed[0] if claimed else None
