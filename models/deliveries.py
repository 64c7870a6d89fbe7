"""The outbox: claiming due deliveries within each line's rate, and moving their state.

Claims are conditional UPDATEs checked by row count, so they hold on SQLite (where
FOR UPDATE SKIP LOCKED compiles to nothing) and between processes on PostgreSQL (where
SKIP LOCKED also keeps concurrent dispatchers off each other's candidates).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from models.broadcasts import mark_summary_changed
from models.conversations import mark_for_mirror
from models.error_codes import describe_error
from models.tables import Conversation, Delivery, DeliveryStatus, EarlyStatus, Line, Message
from models.types import insert_ignoring_conflicts, utcnow

# How far along a delivery is; a status callback may only move it to a higher rank.
# Undelivered and failed are final, like delivered.
_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.QUEUED: 2,
    DeliveryStatus.SENT: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.UNDELIVERED: 4,
    DeliveryStatus.FAILED: 4,
    DeliveryStatus.CANCELED: 4,
}
FINAL_STATUSES = frozenset(s for s, rank in _RANK.items() if rank == 4)
FAILURE_STATUSES = frozenset({DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED})

# Twilio's message statuses, on our scale.
_PROVIDER_STATUS = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.CANCELED,
}


def is_forward(current: str, new: str) -> bool:
    return _RANK.get(DeliveryStatus(new), -1) > _RANK.get(DeliveryStatus(current), -1)


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return (col(Delivery.status) == DeliveryStatus.PENDING) & (col(Delivery.next_attempt_at) <= now)


def find_lines_with_due_deliveries(*, session: Session, now: datetime) -> list[Line]:
    line_ids = select(Delivery.line_id).where(_due(now)).distinct()
    return list(session.exec(select(Line).where(col(Line.id).in_(line_ids))).all())


def take_send_slots(
    *,
    session: Session,
    line: Line,
    now: datetime,
    limit: int = 1,
    ahead: timedelta = timedelta(0),
) -> list[datetime]:
    """Reserve up to `limit` of the line's next send slots that start by `now + ahead`;
    returns their start times, one interval apart (empty if none is free). Pacing holds
    across processes because the slots are taken by one conditional UPDATE on the value
    we read: a dispatcher that read the same value takes nothing."""
    previous = line.next_send_at
    interval = timedelta(seconds=1 / max(line.sends_per_second, 0.001))
    # Keep the cadence when sends follow each other; start afresh after a pause.
    start = previous if previous is not None and previous > now - interval else now
    if limit < 1 or start > now + ahead:
        return []
    count = min(limit, (now + ahead - start) // interval + 1)
    unchanged = (
        col(Line.next_send_at).is_(None) if previous is None else col(Line.next_send_at) == previous
    )
    result = session.execute(
        update(Line)
        .where(col(Line.id) == line.id, unchanged)
        .values(next_send_at=start + count * interval)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return []
    return [start + n * interval for n in range(count)]


def return_send_slots(*, session: Session, line_id: int, first_unused: datetime) -> None:
    """Give back the slots from `first_unused` on, in the transaction that took them (which
    holds the line's row, so no other dispatcher has taken any since)."""
    session.execute(
        update(Line)
        .where(col(Line.id) == line_id)
        .values(next_send_at=first_unused)
        .execution_options(synchronize_session=False)
    )


def claim_due_deliveries(
    *, session: Session, line_id: int, now: datetime, slots: list[datetime]
) -> list[Delivery]:
    """Claim the line's oldest due deliveries (pending -> sending), one for each slot and
    claimed for that slot's time; fewer if fewer are due."""
    if not slots:
        return []
    candidates = session.exec(
        select(Delivery.id)
        .where(Delivery.line_id == line_id, _due(now))
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
        .limit(len(slots) + 4)
        .with_for_update(skip_locked=True)
    ).all()
    claimed: list[Delivery] = []
    for delivery_id in candidates:
        slot = slots[len(claimed)]
        result = session.execute(
            update(Delivery)
            .where(col(Delivery.id) == delivery_id, col(Delivery.status) == DeliveryStatus.PENDING)
            .values(
                status=DeliveryStatus.SENDING,
                claimed_at=slot,
                attempts=Delivery.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            delivery = session.get(Delivery, delivery_id, populate_existing=True)
            assert delivery is not None
            claimed.append(delivery)
            if len(claimed) == len(slots):
                break
    return claimed


def next_due_time(*, session: Session, skip_lines: Collection[int] = ()) -> datetime | None:
    """When the earliest pending delivery may go out, counting its line's pacing (of the
    lines not in `skip_lines`)."""
    query = (
        select(func.min(Delivery.next_attempt_at), Line.next_send_at)
        .join(Line, col(Line.id) == Delivery.line_id)
        .where(Delivery.status == DeliveryStatus.PENDING)
        .group_by(col(Line.id), col(Line.next_send_at))
    )
    if skip_lines:
        query = query.where(col(Line.id).not_in(skip_lines))
    rows = session.exec(query).all()
    due = [max(attempt, slot) if slot else attempt for attempt, slot in rows if attempt]
    return min(due, default=None)


def touch_mirror(session: Session, delivery: Delivery) -> None:
    message = session.get(Message, delivery.message_id)
    assert message is not None
    message.slack_rev = Message.slack_rev + 1  # type: ignore[assignment]
    session.add(message)
    if message.broadcast_id is not None:
        mark_summary_changed(session, message.broadcast_id)
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    mark_for_mirror(conversation)
    session.add(conversation)


def record_accepted(
    *, session: Session, delivery: Delivery, provider_sid: str, status: str
) -> None:
    """The provider took the message."""
    delivery.provider_sid = provider_sid
    reported = _PROVIDER_STATUS.get(status.lower(), DeliveryStatus.QUEUED)
    delivery.status = (
        reported if is_forward(DeliveryStatus.SENDING, reported) else DeliveryStatus.QUEUED
    )
    delivery.error_code = None
    delivery.error_text = None
    delivery.updated_at = utcnow()
    early = session.get(EarlyStatus, provider_sid)
    if early is not None:
        if is_forward(delivery.status, early.status):
            delivery.status = DeliveryStatus(early.status)
            delivery.error_code = early.error_code
            delivery.error_text = describe_error(early.error_code) if early.error_code else None
        session.delete(early)
    session.add(delivery)
    touch_mirror(session, delivery)
    session.flush()


def record_retry(
    *,
    session: Session,
    delivery: Delivery,
    retry_at: datetime,
    error_text: str,
    error_code: int | None = None,
) -> None:
    """A transient failure: back to the outbox, to be tried at retry_at."""
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = retry_at
    delivery.claimed_at = None
    delivery.error_code = error_code
    delivery.error_text = error_text
    delivery.updated_at = utcnow()
    session.add(delivery)
    session.flush()


def record_failure(
    *,
    session: Session,
    delivery: Delivery,
    error_text: str,
    error_code: int | None = None,
) -> None:
    """A permanent failure: the delivery is final, and the thread will say why."""
    delivery.status = DeliveryStatus.FAILED
    delivery.error_code = error_code
    delivery.error_text = error_text
    delivery.updated_at = utcnow()
    session.add(delivery)
    touch_mirror(session, delivery)
    session.flush()


def find_deliveries_of(*, session: Session, message_ids: list[int]) -> list[Delivery]:
    if not message_ids:
        return []
    return list(
        session.exec(
            select(Delivery)
            .where(col(Delivery.message_id).in_(message_ids))
            .order_by(col(Delivery.id))
        ).all()
    )


def _keep_early_status(
    session: Session, provider_sid: str, status: DeliveryStatus, error_code: int | None
) -> None:
    """A callback can beat the dispatcher recording the MessageSid it answers; keep the
    furthest such status until the send is recorded."""
    early = session.get(EarlyStatus, provider_sid)
    if early is None:
        insert_ignoring_conflicts(
            session,
            EarlyStatus,
            {"provider_sid": provider_sid, "status": status, "error_code": error_code},
        )
    elif is_forward(early.status, status):
        early.status = status
        early.error_code = error_code
        session.add(early)
    session.flush()


def apply_provider_status(
    *,
    session: Session,
    provider_sid: str,
    status: str,
    error_text: str | None = None,
    error_code: int | None = None,
) -> Delivery | None:
    """Move a delivery forward on a status callback; a late or repeated status changes
    nothing. Returns the delivery if it changed."""
    new = _PROVIDER_STATUS.get(status.lower())
    if new is None:
        return None
    delivery = session.exec(
        select(Delivery).where(Delivery.provider_sid == provider_sid).with_for_update()
    ).first()
    if delivery is None:
        _keep_early_status(session, provider_sid, new, error_code)
        return None
    if not is_forward(delivery.status, new):
        return None
    delivery.status = new
    if new in (DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED):
        delivery.error_code = error_code
        delivery.error_text = error_text
    delivery.updated_at = utcnow()
    session.add(delivery)
    touch_mirror(session, delivery)
    session.flush()
    return delivery


def settle_early_statuses(*, session: Session, forget_after: timedelta = timedelta(days=1)) -> int:
    """Apply kept early statuses whose send has been recorded since (the two can cross on
    PostgreSQL); forget those nobody claimed for a day. Returns how many were applied."""
    applied = 0
    for early in session.exec(select(EarlyStatus)).all():
        delivery = session.exec(
            select(Delivery).where(Delivery.provider_sid == early.provider_sid)
        ).first()
        if delivery is not None:
            if is_forward(delivery.status, early.status):
                delivery.status = DeliveryStatus(early.status)
                delivery.error_code = early.error_code
                delivery.error_text = describe_error(early.error_code) if early.error_code else None
                delivery.updated_at = utcnow()
                session.add(delivery)
                touch_mirror(session, delivery)
                applied += 1
            session.delete(early)
        elif early.created_at < utcnow() - forget_after:
            session.delete(early)
    session.flush()
    return applied


def retry_failed_deliveries(*, session: Session, broadcast_id: int) -> int:
    """Put a broadcast's failed deliveries back in the outbox; returns how many."""
    failed = session.exec(
        select(Delivery)
        .join(Message, col(Message.id) == Delivery.message_id)
        .where(
            Message.broadcast_id == broadcast_id,
            col(Delivery.status).in_(FAILURE_STATUSES),
        )
    ).all()
    now = utcnow()
    for delivery in failed:
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now
        delivery.attempts = 0
        delivery.error_code = None
        delivery.error_text = None
        delivery.provider_sid = None
        delivery.updated_at = now
        session.add(delivery)
        touch_mirror(session, delivery)
    session.flush()
    return len(failed)
