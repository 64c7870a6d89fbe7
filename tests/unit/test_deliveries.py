from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models.deliveries import (
    apply_provider_status,
    claim_due_deliveries,
    find_lines_with_due_deliveries,
    is_forward,
    next_due_time,
    record_accepted,
    record_failure,
    record_retry,
    return_send_slots,
    take_send_slots,
)
from models.tables import Delivery, DeliveryStatus, Line, Message
from models.types import utcnow
from tests.factories import claim_next_delivery, make_contact, make_line, make_text


@pytest.fixture
def outbox(session: Session):
    line = make_line(session)
    contacts = [make_contact(session, phone=f"+120255501{n:02d}") for n in range(3)]
    for contact in contacts:
        make_text(session, line=line, contact=contact)
    session.commit()
    return line


def test_status_order_only_moves_forward() -> None:
    assert is_forward("queued", "sent") and is_forward("sent", "delivered")
    assert not is_forward("delivered", "sent")
    assert not is_forward("failed", "delivered")
    assert not is_forward("sent", "sent")


def test_claims_are_exclusive_and_oldest_first(session: Session, outbox: Line) -> None:
    now = utcnow()
    first = claim_next_delivery(session=session, line_id=outbox.id, now=now)
    second = claim_next_delivery(session=session, line_id=outbox.id, now=now)
    assert first.id < second.id
    assert (
        first.status == DeliveryStatus.SENDING
        and first.attempts == 1
        and first.claimed_at is not None
    )
    claim_next_delivery(session=session, line_id=outbox.id, now=now)
    assert claim_next_delivery(session=session, line_id=outbox.id, now=now) is None


def test_a_delivery_waiting_for_its_retry_time_is_not_due(session: Session, outbox: Line) -> None:
    now = utcnow()
    delivery = claim_next_delivery(session=session, line_id=outbox.id, now=now)
    record_retry(
        session=session, delivery=delivery, retry_at=now + timedelta(seconds=30), error_text="busy"
    )
    claimed = {
        claim_next_delivery(session=session, line_id=outbox.id, now=now).id for _ in range(2)
    }
    assert delivery.id not in claimed
    assert claim_next_delivery(session=session, line_id=outbox.id, now=now) is None
    assert (
        claim_next_delivery(session=session, line_id=outbox.id, now=now + timedelta(seconds=31)).id
        == delivery.id
    )


def test_send_slots_pace_a_line(session: Session, outbox: Line) -> None:
    outbox.sends_per_second = 2
    session.add(outbox)
    session.commit()
    now = utcnow()
    assert take_send_slots(session=session, line=outbox, now=now)
    session.commit()
    session.refresh(outbox)
    assert outbox.next_send_at == now + timedelta(seconds=0.5)
    assert not take_send_slots(session=session, line=outbox, now=now + timedelta(seconds=0.4))
    # The cadence holds even when the dispatcher wakes a little late.
    assert take_send_slots(session=session, line=outbox, now=now + timedelta(seconds=0.52))
    session.commit()
    session.refresh(outbox)
    assert outbox.next_send_at == now + timedelta(seconds=1.0)


def test_a_slot_read_by_two_dispatchers_is_taken_once(session: Session, outbox: Line) -> None:
    stale_copy = Line.model_validate(outbox)  # what a second process read
    now = utcnow()
    assert take_send_slots(session=session, line=outbox, now=now)
    later = now + timedelta(seconds=5)
    assert take_send_slots(session=session, line=stale_copy, now=later) == []


def test_several_slots_are_taken_at_once_spaced_by_the_interval(
    session: Session, outbox: Line
) -> None:
    outbox.sends_per_second = 100
    session.add(outbox)
    session.commit()
    now = utcnow()
    ms = timedelta(milliseconds=1)
    slots = take_send_slots(session=session, line=outbox, now=now, limit=10, ahead=35 * ms)
    assert slots == [now, now + 10 * ms, now + 20 * ms, now + 30 * ms]  # those by now + 35 ms
    session.commit()
    session.refresh(outbox)
    assert outbox.next_send_at == now + 40 * ms
    # The next ones follow on, however many fit and the caller can take.
    later = now + 25 * ms
    assert take_send_slots(session=session, line=outbox, now=later, limit=10, ahead=10 * ms) == []
    assert take_send_slots(session=session, line=outbox, now=later, limit=2, ahead=50 * ms) == [
        now + 40 * ms,
        now + 50 * ms,
    ]
    session.commit()
    session.refresh(outbox)
    assert outbox.next_send_at == now + 60 * ms


def test_slots_read_by_two_dispatchers_are_taken_once(session: Session, outbox: Line) -> None:
    outbox.sends_per_second = 100
    session.add(outbox)
    session.commit()
    stale_copy = Line.model_validate(outbox)
    now = utcnow()
    ahead = timedelta(milliseconds=50)
    assert take_send_slots(session=session, line=outbox, now=now, limit=5, ahead=ahead)
    assert take_send_slots(session=session, line=stale_copy, now=now, limit=5, ahead=ahead) == []


def test_unused_slots_are_given_back(session: Session, outbox: Line) -> None:
    outbox.sends_per_second = 10
    session.add(outbox)
    session.commit()
    now = utcnow()
    slots = take_send_slots(
        session=session, line=outbox, now=now, limit=5, ahead=timedelta(seconds=1)
    )
    claimed = claim_due_deliveries(session=session, line_id=outbox.id, now=now, slots=slots)
    assert len(slots) == 5 and len(claimed) == 3  # only three texts are queued
    return_send_slots(session=session, line_id=outbox.id, first_unused=slots[3])
    session.commit()
    session.refresh(outbox)
    assert outbox.next_send_at == now + timedelta(seconds=0.3)


def test_each_claim_is_for_its_slot_oldest_first(session: Session, outbox: Line) -> None:
    now = utcnow()
    slots = [now + timedelta(milliseconds=n * 10) for n in range(2)]
    claimed = claim_due_deliveries(session=session, line_id=outbox.id, now=now, slots=slots)
    assert [d.claimed_at for d in claimed] == slots
    assert claimed[0].id < claimed[1].id
    assert all(d.status == DeliveryStatus.SENDING and d.attempts == 1 for d in claimed)
    rest = claim_due_deliveries(session=session, line_id=outbox.id, now=now, slots=slots)
    assert len(rest) == 1 and rest[0].id > claimed[1].id


def test_next_due_time_can_leave_lines_out(session: Session, outbox: Line) -> None:
    assert next_due_time(session=session, skip_lines=[outbox.id]) is None
    assert next_due_time(session=session, skip_lines=[outbox.id + 1]) is not None


def test_due_lines_and_next_due_time(session: Session, outbox: Line) -> None:
    now = utcnow()
    assert [line.id for line in find_lines_with_due_deliveries(session=session, now=now)] == [
        outbox.id
    ]
    assert next_due_time(session=session) <= now
    take_send_slots(session=session, line=outbox, now=now)
    session.commit()
    assert next_due_time(session=session) == now + timedelta(seconds=1)


def test_outcomes_bump_the_message_for_the_mirror(session: Session, outbox: Line) -> None:
    now = utcnow()
    delivery = claim_next_delivery(session=session, line_id=outbox.id, now=now)
    message = session.get(Message, delivery.message_id)
    rev = message.slack_rev
    record_accepted(session=session, delivery=delivery, provider_sid="SM1", status="queued")
    session.refresh(message)
    assert delivery.status == DeliveryStatus.QUEUED and message.slack_rev == rev + 1
    other = claim_next_delivery(session=session, line_id=outbox.id, now=now)
    record_failure(
        session=session, delivery=other, error_text="the number is a landline", error_code=30006
    )
    assert other.status == DeliveryStatus.FAILED and other.error_code == 30006


def test_status_callbacks_move_forward_only(session: Session, outbox: Line) -> None:
    delivery = claim_next_delivery(session=session, line_id=outbox.id, now=utcnow())
    record_accepted(session=session, delivery=delivery, provider_sid="SM1", status="queued")
    assert (
        apply_provider_status(session=session, provider_sid="SM1", status="delivered") is not None
    )
    assert apply_provider_status(session=session, provider_sid="SM1", status="sent") is None
    assert (
        apply_provider_status(
            session=session, provider_sid="SM1", status="failed", error_code=30008
        )
        is None
    )
    assert apply_provider_status(session=session, provider_sid="SM-unknown", status="sent") is None
    assert apply_provider_status(session=session, provider_sid="SM1", status="bogus") is None
    row = session.exec(select(Delivery).where(Delivery.provider_sid == "SM1")).one()
    assert row.status == DeliveryStatus.DELIVERED and row.error_code is None


def test_undelivered_keeps_its_reason(session: Session, outbox: Line) -> None:
    delivery = claim_next_delivery(session=session, line_id=outbox.id, now=utcnow())
    record_accepted(session=session, delivery=delivery, provider_sid="SM2", status="queued")
    apply_provider_status(session=session, provider_sid="SM2", status="sent")
    changed = apply_provider_status(
        session=session,
        provider_sid="SM2",
        status="undelivered",
        error_code=30003,
        error_text="unreachable",
    )
    assert changed.status == DeliveryStatus.UNDELIVERED and changed.error_text == "unreachable"
