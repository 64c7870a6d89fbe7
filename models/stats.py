"""Numbers about the work in the database, for /healthz and /metrics. Read from the tables,
so every process reports the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.inbound import MAX_ROUTING_ATTEMPTS
from models.tables import (
    Conversation,
    Delivery,
    DeliveryStatus,
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
    outbox_due: int
    mirror_backlog: int
    mirror_lag_seconds: float


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
    due = session.exec(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.status == DeliveryStatus.PENDING, col(Delivery.next_attempt_at) <= now)
    ).one()
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
    return Stats(
        deliveries_by_status={str(k): int(v) for k, v in by_status.items()},
        inbound_messages=int(inbound),
        inbound_backlog=int(staged) - int(stuck),
        inbound_stuck=int(stuck),
        outbox_due=int(due),
        mirror_backlog=int(backlog or 0),
        mirror_lag_seconds=max(lag, 0.0),
    )
