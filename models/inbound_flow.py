"""A staged inbound text's way into its conversation: stored once, with the notices it
calls for and the line's away reply. The inbound router (bot/inbound_router.py) runs it
for each text the webhook staged or recovery read back from Twilio's log."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from models import notices
from models.away import queue_away_reply
from models.contacts import contact_label
from models.conversations import add_notice
from models.inbound import Received, receive_text, sender_phone, staged_sent_at
from models.phone import is_phone_number
from models.tables import Conversation, InboundWebhook, Line

logger = logging.getLogger(__name__)


def store_inbound_text(
    session: Session,
    text: InboundWebhook,
    *,
    line: Line,
    now: datetime,
    default_region: str,
    cancel_scheduled_on_reply: bool,
    group_text: Conversation | None = None,
) -> bool:
    """Store a staged text to `line` (a member's text to `group_text` if given) in its
    conversation, with its notices (opt-out, routing, canceled schedules) and, after hours,
    the away reply; False if this MessageSid was stored before."""
    received = receive_text(
        session=session,
        line=line,
        from_phone=sender_phone(text, default_region),
        body=text.body,
        provider_sid=text.message_sid,
        media=text.media,
        opt_out_type=text.opt_out_type,
        cancel_scheduled_on_reply=cancel_scheduled_on_reply,
        sent_at=staged_sent_at(text),
        group_text=group_text,
    )
    if received is None:
        logger.debug("inbound text %s seen before; ignored", text.message_sid)
        return False
    for notice in inbound_notices(received, line):
        add_notice(session=session, conversation=received.conversation, text=notice)
    if received.keyword is None:
        queue_away_reply(
            session=session,
            line=line,
            conversation=received.conversation,
            contact=received.contact,
            now=now,
        )
    logger.info(
        "inbound text %s stored in conversation %s",
        text.message_sid,
        received.conversation.id,
        extra={"message_sid": text.message_sid, "conversation_id": received.conversation.id},
    )
    return True


def inbound_notices(received: Received, line: Line) -> list[str]:
    """What the team is told in the thread about a text just received, in this order."""
    who = contact_label(received.contact)
    said: list[str] = []
    if received.conversation_created and not is_phone_number(received.contact.phone):
        said.append(notices.SENDER_NOT_TEXTABLE.format(who=who))
    if received.other_open_conversations:
        said.append(
            notices.ROUTED.format(who=who, others=received.other_open_conversations, line=line.name)
        )
    if received.canceled_scheduled:
        said.append(notices.SCHEDULED_CANCELED_BY_REPLY.format(who=who))
    keyword = notices.keyword_notice(received.keyword, opt_out_changed=received.opt_out_changed)
    if keyword:
        said.append(keyword.format(who=who, line=line.name, keyword=received.message.body.strip()))
    return said
