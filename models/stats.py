"""Numbers about the work in the database, for /healthz and /metrics. Read from the tables,
so every process reports the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.deliveries import held_back
from models.inbound import MAX_ROUTING_ATTEMPTS, RefusalReason
from models.mirroring import find_parked_posts
from models.tables import (
    Conversation,
    Delivery,
    DeliveryStatus,
    InboundRefusal,
    InboundWebhook,
    Message,
    MessageDirection,
)
from models.types import utcnow


@dataclass(frozen=True)
class Stats:
    deliveries_by_status: dict[str, int]
    inbound_messages: int
    inbound_backlog: int  # staged by the webhook, not yet in a conversation
    inbound_stuck: int  # staged texts whose routing kept failing
    inbound_refused: dict[str, int]  # by RefusalReason, every reason present
    outbox_due: int
    # Sends with no outcome yet: at the provider now, or cut (a timeout, a crash) and not
    # yet found in Twilio's log or put back.
    unconfirmed_deliveries: int
    # Phones (line and contact) whose due text waits for an earlier one to settle.
    held_conversations: int
    mirror_backlog: int
    mirror_lag_seconds: float
    # Posts Slack refused for good, by (what, Slack's error): what is "conversation"
    # (parked until it has new work) or "message" (parked for good).
    slack_parked: dict[tuple[str, str], int]


def read_stats(*, session: Session, now: datetime | None = None) -> Stats:
    now = now or utcnow()
    by_status = dict(
        session.exec(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    )
    inbound = session.exec(
        select(func.count())
        .select_from(Message)
        .where(Message.direction == MessageDirection.INBOUND)
    ).one()
    staged, stuck = session.exec(
        select(
            func.count(),
            func.count().filter(col(InboundWebhook.attempts) >= MAX_ROUTING_ATTEMPTS),
        ).select_from(InboundWebhook)
    ).one()
    refused = dict(
        session.exec(
            select(InboundRefusal.reason, func.count()).group_by(InboundRefusal.reason)
        ).all()
    )
    due = session.exec(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.status == DeliveryStatus.PENDING, col(Delivery.next_attempt_at) <= now)
    ).one()
    unconfirmed = session.exec(
        select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.SENDING)
    ).one()
    held_phones = (
        select(Delivery.line_id, Delivery.contact_id)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            col(Delivery.next_attempt_at) <= now,
            held_back(),
        )
        .distinct()
        .subquery()
    )
    held = session.exec(select(func.count()).select_from(held_phones)).one()
    pending = select(Conversation.id).where(col(Conversation.mirror_pending).is_(True))
    backlog, oldest = session.exec(
        select(func.count(), func.min(Message.created_at)).where(
            col(Message.conversation_id).in_(pending),
            col(Message.slack_rev) > col(Message.slack_synced_rev),
        )
    ).one()
    if isinstance(oldest, str):  # SQLite gives the aggregate back untyped
        oldest = datetime.fromisoformat(oldest).replace(tzinfo=now.tzinfo)
    lag = (now - oldest).total_seconds() if oldest else 0.0
    parked: dict[tuple[str, str], int] = {}
    for posts in find_parked_posts(session=session):
        for what, count in (("conversation", posts.conversations), ("message", posts.messages)):
            if count:
                parked[(what, posts.error)] = parked.get((what, posts.error), 0) + count
    return Stats(
        deliveries_by_status={str(k): int(v) for k, v in by_status.items()},
        inbound_messages=int(inbound),
        inbound_backlog=int(staged) - int(stuck),
        inbound_stuck=int(stuck),
        inbound_refused={r.value: int(refused.get(r.value, 0)) for r in RefusalReason},
        outbox_due=int(due),
        unconfirmed_deliveries=int(unconfirmed),
        held_conversations=int(held),
        mirror_backlog=int(backlog or 0),
        mirror_lag_seconds=max(lag, 0.0),
        slack_parked=parked,
    )
