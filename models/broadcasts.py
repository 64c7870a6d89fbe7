"""Multi-recipient messages: the same text to each recipient in a conversation of their
own, and the progress their sender follows in one summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, update
from sqlmodel import Session, col, select

from models.tables import (
    Broadcast,
    Contact,
    Conversation,
    Delivery,
    Message,
    MessageDirection,
)
from models.types import insert_ignoring_conflicts

SUMMARY_INTERVAL = timedelta(seconds=1)
SUMMARY_LEASE = timedelta(seconds=30)


def create_broadcast(
    *,
    session: Session,
    team_id: str,
    line_id: int,
    user_id: str,
    body: str,
    skipped: list[dict[str, str]],
    dedupe_key: str,
) -> Broadcast | None:
    """The broadcast for this submission; None if the key was used before."""
    inserted = insert_ignoring_conflicts(
        session,
        Broadcast,
        {
            "team_id": team_id,
            "line_id": line_id,
            "user_id": user_id,
            "body": body,
            "skipped": skipped,
            "dedupe_key": dedupe_key,
        },
    )
    if not inserted:
        return None
    return session.exec(select(Broadcast).where(Broadcast.dedupe_key == dedupe_key)).one()


def mark_summary_changed(session: Session, broadcast_id: int) -> None:
    session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id)
        .values(summary_rev=Broadcast.summary_rev + 1)
        .execution_options(synchronize_session=False)
    )


def note_reply(session: Session, conversation: Conversation) -> None:
    """A contact answered in this conversation: its broadcasts' summaries show 'replied'."""
    broadcast_ids = session.exec(
        _BROADCASTS_OF_CONVERSATION, params={"conversation_id": conversation.id}
    ).all()
    for broadcast_id in broadcast_ids:
        if broadcast_id is not None:
            mark_summary_changed(session, broadcast_id)


# Built once: every inbound text runs it.
_BROADCASTS_OF_CONVERSATION = (
    select(Message.broadcast_id)
    .where(
        Message.conversation_id == bindparam("conversation_id"),
        col(Message.broadcast_id).is_not(None),
    )
    .distinct()
)


@dataclass(frozen=True)
class RecipientProgress:
    contact: Contact
    conversation: Conversation
    delivery: Delivery
    replied: bool


def broadcast_progress(*, session: Session, broadcast: Broadcast) -> list[RecipientProgress]:
    rows = session.exec(
        select(Message, Delivery, Contact, Conversation)
        .join(Delivery, col(Delivery.message_id) == Message.id)
        .join(Contact, col(Contact.id) == Delivery.contact_id)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(Message.broadcast_id == broadcast.id)
        .order_by(col(Message.id))
    ).all()
    replied = set(
        session.exec(
            select(Message.conversation_id).where(
                col(Message.conversation_id).in_([c.id for _, _, _, c in rows]),
                Message.direction == MessageDirection.INBOUND,
                Message.created_at >= broadcast.created_at,
            )
        ).all()
    )
    return [
        RecipientProgress(contact, conversation, delivery, conversation.id in replied)
        for _, delivery, contact, conversation in rows
    ]


def _summary_due(now: datetime):  # type: ignore[no-untyped-def]
    return (col(Broadcast.summary_rev) > col(Broadcast.summary_synced_rev)) & or_(
        col(Broadcast.summary_not_before).is_(None), col(Broadcast.summary_not_before) <= now
    )


def find_summaries_to_post(*, session: Session, now: datetime, limit: int = 20) -> list[int]:
    rows = session.exec(
        select(Broadcast.id).where(_summary_due(now)).order_by(col(Broadcast.id)).limit(limit)
    ).all()
    return [row for row in rows if row is not None]


def claim_summary(*, session: Session, broadcast_id: int, now: datetime) -> Broadcast | None:
    """Take the summary's update for a while (one worker in any process), or None."""
    result = session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, _summary_due(now))
        .values(summary_not_before=now + SUMMARY_LEASE)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return session.get(Broadcast, broadcast_id, populate_existing=True)


def record_summary_posted(
    *, session: Session, broadcast_id: int, rev: int, channel_id: str, ts: str, now: datetime
) -> None:
    """The summary shows revision `rev`; the next update waits SUMMARY_INTERVAL."""
    session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.summary_synced_rev) < rev)
        .values(
            summary_synced_rev=rev,
            slack_channel_id=channel_id,
            slack_ts=ts,
            summary_not_before=now + SUMMARY_INTERVAL,
        )
        .execution_options(synchronize_session=False)
    )
