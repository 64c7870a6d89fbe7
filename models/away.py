"""Away messages: an inbound text outside a line's business hours gets one automatic
reply a day per contact."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from sqlmodel import Session

from models.conversations import send_text
from models.lines import parse_business_hours
from models.phone import is_phone_number
from models.sending import automatic_text_refusal
from models.tables import Contact, Conversation, Line, Message


def is_open(line: Line, at: datetime) -> bool:
    opens, closes = parse_business_hours(line.business_hours)
    local = at.astimezone(zoneinfo.ZoneInfo(line.time_zone)).time()
    return opens <= local < closes if opens <= closes else local >= opens or local < closes


def queue_away_reply(
    *, session: Session, line: Line, conversation: Conversation, contact: Contact, now: datetime
) -> Message | None:
    """Text the line's away message back if it is after hours, at most once a day per
    contact (by the line's calendar); None when nothing is sent."""
    if not line.away_message or is_open(line, now):
        return None
    if not is_phone_number(contact.phone):  # a short code or sender name
        return None
    if automatic_text_refusal(session=session, line=line, contact=contact):
        return None
    day = now.astimezone(zoneinfo.ZoneInfo(line.time_zone)).date()
    who = f"group{conversation.id}" if conversation.group_mms else str(contact.id)
    message, created = send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[contact],
        body=line.away_message,
        author_user_id=None,
        # A group text's away message reaches every member: once a day for the group.
        dedupe_key=f"away:{line.id}:{who}:{day.isoformat()}",
    )
    return message if created else None
