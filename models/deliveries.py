"""The outbox: claiming due deliveries within each line's rate, and moving their state.

Claims are conditional UPDATEs checked by row count, so they hold on SQLite (where
FOR UPDATE SKIP LOCKED compiles to nothing) and between processes on PostgreSQL (where
SKIP LOCKED also keeps concurrent dispatchers off each other's candidates).

A phone's texts from a line leave one at a time and in order: a delivery is not claimed
while one ahead of it to the same phone is unresolved (being sent, unconfirmed, or
waiting for a retry). The rule is in the claim query itself, so it holds between
processes too: a dispatcher that skips a row another one has locked still sees that row
pending, ahead of the rest.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, and_, bindparam, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from models.broadcasts import mark_summary_changed
from models.conversations import mark_for_mirror
from models.error_codes import OPTED_OUT, describe_error
from models.optouts import opt_out
from models.sql_lists import one_of
from models.tables import (
    Contact,
    Conversation,
    Delivery,
    DeliveryStatus,
    EarlyStatus,
    Line,
    Message,
)
from models.types import UTCDateTime, insert_ignoring_conflicts, utcnow

_S = DeliveryStatus
# Where a delivery may go from each status. The provider's progress only moves forward, so
# a late or repeated status callback changes nothing, and delivered, undelivered, failed
# and canceled are its last word. Our own moves: a claim (pending -> sending), a send that
# did not reach the provider or is to be retried (back to pending), a text canceled before
# it left, and a failed text retried by hand.
MOVES: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    _S.PENDING: frozenset({_S.SENDING, _S.CANCELED}),
    _S.SENDING: frozenset(
        {_S.PENDING, _S.QUEUED, _S.SENT, _S.DELIVERED, _S.UNDELIVERED, _S.FAILED, _S.CANCELED}
    ),
    _S.QUEUED: frozenset({_S.SENT, _S.DELIVERED, _S.UNDELIVERED, _S.FAILED, _S.CANCELED}),
    _S.SENT: frozenset({_S.DELIVERED, _S.UNDELIVERED, _S.FAILED, _S.CANCELED}),
    _S.DELIVERED: frozenset(),
    _S.UNDELIVERED: frozenset({_S.PENDING}),
    _S.FAILED: frozenset({_S.PENDING}),
    _S.CANCELED: frozenset(),
}
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


# How long a send claimed with no lease (by a textbot from before leases) is left alone:
# what that textbot waited before asking Twilio.
UNLEASED_CLAIM = timedelta(seconds=60)


def may_move(current: str, new: str) -> bool:
    """Whether MOVES lets a delivery go from status `current` to `new`."""
    return DeliveryStatus(new) in MOVES[DeliveryStatus(current)]


def move_delivery(delivery: Delivery, new: str) -> bool:
    """Set the delivery's status to `new` if MOVES allows it; False (and nothing changed) if
    not, such as a late callback's "sent" after "delivered"."""
    if not may_move(delivery.status, new):
        return False
    delivery.status = DeliveryStatus(new)
    delivery.updated_at = utcnow()
    return True


def checked_move(current: DeliveryStatus, new: DeliveryStatus) -> DeliveryStatus:
    """`new`, for an UPDATE of the deliveries in status `current` (one statement for many
    rows); raises ValueError if MOVES does not allow the move."""
    if not may_move(current, new):
        raise ValueError(f"a delivery may not move from {current} to {new}")
    return new


def held_back():  # type: ignore[no-untyped-def]
    """A pending delivery waits while another to the same phone from the same line is
    ahead of it and unresolved. Ahead means: being sent (or unconfirmed); or already tried
    and pending a retry (the older first); or, among the untried, due earlier (by id on a
    tie). Pending rows are thus in one order whose first is never held."""
    ahead = aliased(Delivery)
    untried = col(Delivery.attempts) == 0
    return exists().where(
        ahead.line_id == Delivery.line_id,
        ahead.contact_id == Delivery.contact_id,
        ahead.id != Delivery.id,
        or_(
            ahead.status == DeliveryStatus.SENDING,
            and_(
                ahead.status == DeliveryStatus.PENDING,
                ahead.attempts > 0,
                or_(untried, ahead.id < Delivery.id),  # type: ignore[operator]
            ),
            and_(
                ahead.status == DeliveryStatus.PENDING,
                ahead.attempts == 0,
                untried,
                or_(
                    ahead.next_attempt_at < Delivery.next_attempt_at,  # type: ignore[operator]
                    and_(
                        ahead.next_attempt_at == Delivery.next_attempt_at,
                        ahead.id < Delivery.id,  # type: ignore[operator]
                    ),
                ),
            ),
        ),
    )


# Built once, with `now` as a parameter: the dispatcher asks these every step, and building
# held_back() cost more than running it on a small outbox (a sixth of a busy process's time).
_CLAIMABLE = (
    (col(Delivery.status) == DeliveryStatus.PENDING)
    & (col(Delivery.next_attempt_at) <= bindparam("now", type_=UTCDateTime()))
    & ~held_back()
)
_LINES_WITH_DUE = select(Line).where(
    col(Line.id).in_(select(Delivery.line_id).where(_CLAIMABLE).distinct())
)


def find_lines_with_due_deliveries(*, session: Session, now: datetime) -> list[Line]:
    return list(session.exec(_LINES_WITH_DUE, params={"now": now}).all())


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
    *,
    session: Session,
    line_id: int,
    now: datetime,
    slots: list[datetime],
    lease: timedelta = timedelta(seconds=5),
) -> list[Delivery]:
    """Claim the line's oldest due deliveries that no earlier text to the same phone holds
    back (pending -> sending), one for each slot, claimed for that slot's time and leased
    for `lease` after it; fewer if fewer are due."""
    if not slots:
        return []
    candidates = session.exec(
        _CLAIM_CANDIDATES, params={"now": now, "line_id": line_id, "limit": len(slots) + 4}
    ).all()
    claimed: list[int] = []
    for delivery_id in (c for c in candidates if c is not None):
        slot = slots[len(claimed)]
        result = session.execute(
            _CLAIM,
            {"delivery_id": delivery_id, "slot": slot, "lease": slot + lease, "now": now},
        )
        if result.rowcount:  # type: ignore[attr-defined]
            claimed.append(delivery_id)
            if len(claimed) == len(slots):
                break
    if not claimed:
        return []
    rows = session.exec(_CLAIMED, params={"ids": claimed}).all()
    by_id = {row.id: row for row in rows}
    return [by_id[delivery_id] for delivery_id in claimed]


# Built once: the dispatcher claims at every step, and building these cost more than
# running them.
_CLAIM_CANDIDATES = (
    select(Delivery.id)
    .where(Delivery.line_id == bindparam("line_id", type_=Integer), _CLAIMABLE)
    .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(Delivery)
    .where(
        col(Delivery.id) == bindparam("delivery_id", type_=Integer),
        col(Delivery.status) == DeliveryStatus.PENDING,
    )
    .values(
        status=checked_move(DeliveryStatus.PENDING, DeliveryStatus.SENDING),
        claimed_at=bindparam("slot", type_=UTCDateTime()),
        lease_until=bindparam("lease", type_=UTCDateTime()),
        attempts=Delivery.attempts + 1,
        updated_at=bindparam("now", type_=UTCDateTime()),
    )
    .execution_options(synchronize_session=False)
)
# The claimed rows as they are now (the session may hold them as they were).
_CLAIMED = (
    select(Delivery).where(one_of(Delivery.id, "ids")).execution_options(populate_existing=True)
)


def next_due_time(*, session: Session, skip_lines: Collection[int] = ()) -> datetime | None:
    """When the earliest pending delivery may go out, counting its line's pacing (of the
    lines not in `skip_lines`); a held-back one goes when the send ahead of it settles."""
    rows = session.exec(_NEXT_DUE, params={"skip_lines": list(skip_lines)}).all()
    due = [max(attempt, slot) if slot else attempt for attempt, slot in rows if attempt]
    return min(due, default=None)


_NEXT_DUE = (
    select(func.min(Delivery.next_attempt_at), Line.next_send_at)
    .join(Line, col(Line.id) == Delivery.line_id)
    .where(
        Delivery.status == DeliveryStatus.PENDING,
        ~held_back(),
        col(Line.id).not_in(bindparam("skip_lines", expanding=True)),
    )
    .group_by(col(Line.id), col(Line.next_send_at))
)


def renew_leases(*, session: Session, delivery_ids: Collection[int], until: datetime) -> None:
    """Keep the sends a live process has in hand from being taken for dead ones."""
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(
                col(Delivery.id).in_(delivery_ids), col(Delivery.status) == DeliveryStatus.SENDING
            )
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )


def find_unconfirmed(
    *, session: Session, now: datetime, limit: int = 100
) -> list[tuple[Delivery, Line]]:
    """Sends with no outcome whose lease has run out: the process that claimed them died,
    or their request to the provider went unanswered."""
    lapsed = or_(
        col(Delivery.lease_until) < now,
        # Claimed by a textbot from before leases (during a rolling upgrade, still running).
        col(Delivery.lease_until).is_(None) & (col(Delivery.claimed_at) < now - UNLEASED_CLAIM),
    )
    rows = session.exec(
        select(Delivery, Line)
        .join(Line, col(Line.id) == Delivery.line_id)
        .where(Delivery.status == DeliveryStatus.SENDING, lapsed)
        .order_by(col(Delivery.claimed_at), col(Delivery.id))
        .limit(limit)
    ).all()
    return [(delivery, line) for delivery, line in rows]


def take_lookup(*, session: Session, delivery: Delivery, until: datetime) -> bool:
    """Lease an unconfirmed send until `until` to look for it in the provider's log, so
    that one process asks at a time (and, if asking fails, asks again only then). False if
    another process took it first, or it was settled or claimed again meanwhile."""
    same_lease = (
        col(Delivery.lease_until).is_(None)
        if delivery.lease_until is None
        else col(Delivery.lease_until) == delivery.lease_until
    )
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.id) == delivery.id,
            col(Delivery.status) == DeliveryStatus.SENDING,
            col(Delivery.attempts) == delivery.attempts,
            same_lease,
        )
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def find_recorded_sids(*, session: Session, provider_sids: Collection[str]) -> set[str]:
    """Which of these MessageSids are already some delivery's."""
    if not provider_sids:
        return set()
    found = session.exec(
        select(Delivery.provider_sid).where(col(Delivery.provider_sid).in_(provider_sids))
    ).all()
    return {sid for sid in found if sid}


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


@dataclass(frozen=True)
class Taken:
    """The provider took the text: its MessageSid, and the status it gave."""

    sid: str
    status: str


@dataclass(frozen=True)
class NotTaken:
    """The provider does not have the text (it never left): it goes again now, still first
    in its phone's queue."""


@dataclass(frozen=True)
class RetryLater:
    """A transient failure: back to the outbox, to be tried at `at`."""

    at: datetime
    error_text: str
    error_code: int | None = None


@dataclass(frozen=True)
class Failed:
    """A permanent failure: the delivery is final, and the thread will say why."""

    error_text: str
    error_code: int | None = None


SendOutcome = Taken | NotTaken | RetryLater | Failed


def record_send_outcome(*, session: Session, delivery: Delivery, outcome: SendOutcome) -> bool:
    """Record how the attempt at sending `delivery` (as claimed) ended. False if that
    attempt was settled meanwhile (its lease ran out and another look settled it; the
    delivery may be on its next attempt): nothing is recorded then."""
    row = session.exec(
        _AS_CLAIMED, params={"id": delivery.id, "attempts": delivery.attempts}
    ).first()
    if row is None:
        return False
    if isinstance(outcome, Taken):
        _record_taken(session, row, outcome)
    elif isinstance(outcome, Failed):
        _record_failed(session, row, outcome)
    else:
        move_delivery(row, DeliveryStatus.PENDING)
        row.claimed_at = row.lease_until = None
        if isinstance(outcome, RetryLater):
            row.next_attempt_at = outcome.at
            row.error_code = outcome.error_code
            row.error_text = outcome.error_text
        else:
            row.next_attempt_at = utcnow()
    session.add(row)
    session.flush()
    return True


# The delivery, locked, if it is still in the attempt claimed (built once: every send
# records its outcome).
_AS_CLAIMED = (
    select(Delivery)
    .where(
        Delivery.id == bindparam("id", type_=Integer),
        Delivery.status == DeliveryStatus.SENDING,
        Delivery.attempts == bindparam("attempts", type_=Integer),
    )
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _record_taken(session: Session, delivery: Delivery, taken: Taken) -> None:
    """The provider's status, or a further one its callback brought before this."""
    delivery.provider_sid = taken.sid
    move_delivery(delivery, _PROVIDER_STATUS.get(taken.status.lower(), DeliveryStatus.QUEUED))
    delivery.error_code = None
    delivery.error_text = None
    early = session.get(EarlyStatus, taken.sid)
    if early is not None:
        if move_delivery(delivery, early.status):
            delivery.error_code = early.error_code
            delivery.error_text = describe_error(early.error_code) if early.error_code else None
        session.delete(early)
    touch_mirror(session, delivery)


def _record_failed(session: Session, delivery: Delivery, failed: Failed) -> None:
    move_delivery(delivery, DeliveryStatus.FAILED)
    delivery.error_code = failed.error_code
    delivery.error_text = failed.error_text
    touch_mirror(session, delivery)
    if failed.error_code == OPTED_OUT and delivery.group_conversation_id is None:
        # The carrier knows of a STOP we did not see: honour it from now on. (A group
        # text goes to the group: Twilio leaves out a member who opted out.)
        opt_out(
            session=session,
            line=session.get_one(Line, delivery.line_id),
            contact=session.get_one(Contact, delivery.contact_id),
            keyword="STOP (carrier)",
        )


def find_deliveries_of(*, session: Session, message_ids: list[int]) -> list[Delivery]:
    if not message_ids:
        return []
    return list(session.exec(_DELIVERIES_OF, params={"message_ids": message_ids}).all())


# Built once: the mirror asks it for every conversation it brings up to date.
_DELIVERIES_OF = (
    select(Delivery).where(one_of(Delivery.message_id, "message_ids")).order_by(col(Delivery.id))
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
    elif may_move(early.status, status):
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
    if not move_delivery(delivery, new):
        return None
    if new in FAILURE_STATUSES:
        delivery.error_code = error_code
        delivery.error_text = error_text
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
            if move_delivery(delivery, early.status):
                delivery.error_code = early.error_code
                delivery.error_text = describe_error(early.error_code) if early.error_code else None
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
        move_delivery(delivery, DeliveryStatus.PENDING)
        delivery.next_attempt_at = now
        delivery.attempts = 0
        delivery.error_code = None
        delivery.error_text = None
        delivery.provider_sid = None
        session.add(delivery)
        touch_mirror(session, delivery)
    session.flush()
    return len(failed)
