from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models.deliveries import (
    Failed,
    NotTaken,
    RetryLater,
    Taken,
    apply_provider_status,
    claim_due_deliveries,
    find_lines_with_due_deliveries,
    may_move,
    next_due_time,
    record_send_outcome,
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
    assert may_move("queued", "sent") and may_move("sent", "delivered")
    assert not may_move("delivered", "sent")
    assert not may_move("failed", "delivered")
    assert not may_move("sent", "sent")


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
    record_send_outcome(
        session=session, delivery=delivery, outcome=RetryLater(now + timedelta(seconds=30), "busy")
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
    record_send_outcome(session=session, delivery=delivery, outcome=Taken("SM1", "queued"))
    session.refresh(message)
    assert delivery.status == DeliveryStatus.QUEUED and message.slack_rev == rev + 1
    other = claim_next_delivery(session=session, line_id=outbox.id, now=now)
    record_send_outcome(
        session=session, delivery=other, outcome=Failed("the number is a landline", 30006)
    )
    assert other.status == DeliveryStatus.FAILED and other.error_code == 30006


def test_status_callbacks_move_forward_only(session: Session, outbox: Line) -> None:
    delivery = claim_next_delivery(session=session, line_id=outbox.id, now=utcnow())
    record_send_outcome(session=session, delivery=delivery, outcome=Taken("SM1", "queued"))
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
    record_send_outcome(session=session, delivery=delivery, outcome=Taken("SM2", "queued"))
    apply_provider_status(session=session, provider_sid="SM2", status="sent")
    changed = apply_provider_status(
        session=session,
        provider_sid="SM2",
        status="undelivered",
        error_code=30003,
        error_text="unreachable",
    )
    assert changed.status == DeliveryStatus.UNDELIVERED and changed.error_text == "unreachable"


@pytest.fixture
def jane_queue(session: Session) -> tuple[Line, list[Delivery]]:
    """Three texts queued from Sales to Jane, and one to Bob."""
    line = make_line(session)
    jane = make_contact(session, phone="+12025550123")
    for body in ("one", "two", "three"):
        make_text(session, line=line, contact=jane, body=body)
    make_text(session, line=line, contact=make_contact(session, phone="+12025550124"), body="bob")
    session.commit()
    return line, list(session.exec(select(Delivery).order_by(Delivery.id)).all())


def _claim_all(session: Session, line: Line) -> list[str]:
    now = utcnow()
    claimed = claim_due_deliveries(session=session, line_id=line.id, now=now, slots=[now] * 4)
    return [d.body for d in claimed]


def test_a_phones_next_text_waits_while_the_one_ahead_is_unconfirmed(
    session: Session, jane_queue: tuple[Line, list[Delivery]]
) -> None:
    line, _ = jane_queue
    assert _claim_all(session, line) == ["one", "bob"]  # one text per phone at a time
    assert _claim_all(session, line) == []  # "one" is being sent, or may have been
    assert [x.id for x in find_lines_with_due_deliveries(session=session, now=utcnow())] == []
    assert next_due_time(session=session) is None  # nothing to wake up for but "one" settling


def test_a_phones_next_text_goes_once_the_one_ahead_is_settled(
    session: Session, jane_queue: tuple[Line, list[Delivery]]
) -> None:
    line, deliveries = jane_queue
    _claim_all(session, line)
    first = session.get(Delivery, deliveries[0].id)
    assert record_send_outcome(
        session=session, delivery=first, outcome=Taken("SM" + "1" * 32, "queued")
    )
    assert _claim_all(session, line) == ["two"]


def test_a_send_found_missing_goes_again_ahead_of_the_texts_behind_it(
    session: Session, jane_queue: tuple[Line, list[Delivery]]
) -> None:
    line, deliveries = jane_queue
    _claim_all(session, line)
    first = session.get(Delivery, deliveries[0].id)
    assert record_send_outcome(session=session, delivery=first, outcome=NotTaken())
    assert not record_send_outcome(session=session, delivery=first, outcome=NotTaken())
    assert _claim_all(session, line) == ["one"]


def test_a_text_waiting_for_its_retry_holds_the_phones_later_texts(
    session: Session, jane_queue: tuple[Line, list[Delivery]]
) -> None:
    line, deliveries = jane_queue
    _claim_all(session, line)
    first = session.get(Delivery, deliveries[0].id)
    record_send_outcome(
        session=session, delivery=first, outcome=RetryLater(utcnow() + timedelta(seconds=30), "429")
    )
    assert _claim_all(session, line) == []
    assert next_due_time(session=session) == first.next_attempt_at


def test_a_text_scheduled_for_later_does_not_hold_a_phones_text_due_now(session: Session) -> None:
    line = make_line(session)
    jane = make_contact(session, phone="+12025550123")
    later = utcnow() + timedelta(hours=1)
    make_text(session, line=line, contact=jane, body="later", scheduled_for=later)
    make_text(session, line=line, contact=jane, body="now")
    session.commit()
    assert _claim_all(session, line) == ["now"]


def test_the_text_due_first_goes_first_and_alone(session: Session) -> None:
    line = make_line(session)
    jane = make_contact(session, phone="+12025550123")
    now = utcnow()
    # Written first, due a moment after the second (a thread reply's undo window).
    make_text(session, line=line, contact=jane, body="reply", send_at=now - timedelta(seconds=1))
    make_text(session, line=line, contact=jane, body="quick", send_at=now - timedelta(seconds=2))
    session.commit()
    assert _claim_all(session, line) == ["quick"]
