"""Where a delivery's status may go, how a send's outcome is recorded, and why the order of
Twilio's status callbacks does not matter."""

from datetime import timedelta
from itertools import product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from models.conversations import send_text
from models.deliveries import (
    Failed,
    NotTaken,
    RetryLater,
    Taken,
    apply_provider_status,
    checked_move,
    claim_due_deliveries,
    may_move,
    move_delivery,
    record_send_outcome,
)
from models.error_codes import OPTED_OUT
from models.groups import create_group_conversation
from models.optouts import find_opted_out
from models.tables import Delivery, DeliveryStatus, EarlyStatus, Line, Message
from models.types import utcnow
from tests.factories import claim_next_delivery, make_contact, make_line, make_text

P, SENDING, Q, SENT = "pending", "sending", "queued", "sent"
DELIVERED, UNDELIVERED, FAILED, CANCELED = "delivered", "undelivered", "failed", "canceled"

# Every move a delivery may make, written out: anything else is refused.
ALLOWED = {
    (P, SENDING),  # claimed
    (P, CANCELED),  # canceled before it left
    (SENDING, P),  # never reached the provider, or to be retried
    *((SENDING, s) for s in (Q, SENT, DELIVERED, UNDELIVERED, FAILED, CANCELED)),
    *((Q, s) for s in (SENT, DELIVERED, UNDELIVERED, FAILED, CANCELED)),
    *((SENT, s) for s in (DELIVERED, UNDELIVERED, FAILED, CANCELED)),
    (UNDELIVERED, P),  # retried by hand
    (FAILED, P),
}
EVERY_PAIR = list(product(list(DeliveryStatus), repeat=2))


@pytest.mark.parametrize(("current", "new"), EVERY_PAIR, ids=[f"{a}->{b}" for a, b in EVERY_PAIR])
def test_the_table_allows_exactly_these_moves(current: DeliveryStatus, new: DeliveryStatus) -> None:
    allowed = (current.value, new.value) in ALLOWED
    assert may_move(current, new) is allowed
    delivery = Delivery(message_id=1, line_id=1, contact_id=1, to_phone="+12025550123")
    delivery.status = current
    assert move_delivery(delivery, new) is allowed
    assert delivery.status == (new if allowed else current)
    if allowed:
        assert checked_move(current, new) == new
    else:
        with pytest.raises(ValueError, match="may not move"):
            checked_move(current, new)


@pytest.fixture
def line(session: Session) -> Line:
    line = make_line(session)
    session.commit()
    return line


@pytest.fixture
def claimed(session: Session, line: Line) -> Delivery:
    """A text to Jane, being sent."""
    make_text(session, line=line, contact=make_contact(session, phone="+12025550123"))
    return claim_next_delivery(session=session, line_id=line.id, now=utcnow())


def test_a_taken_send_records_its_sid_and_status(session: Session, claimed: Delivery) -> None:
    message = session.get_one(Message, claimed.message_id)
    rev = message.slack_rev
    assert record_send_outcome(session=session, delivery=claimed, outcome=Taken("SM1", "sent"))
    session.refresh(message)
    assert (claimed.status, claimed.provider_sid) == (DeliveryStatus.SENT, "SM1")
    assert message.slack_rev == rev + 1  # the thread shows it


def test_a_taken_send_gets_the_status_a_callback_brought_first(
    session: Session, claimed: Delivery
) -> None:
    apply_provider_status(
        session=session, provider_sid="SM1", status="undelivered", error_code=30003
    )
    record_send_outcome(session=session, delivery=claimed, outcome=Taken("SM1", "queued"))
    assert (claimed.status, claimed.error_code) == (DeliveryStatus.UNDELIVERED, 30003)
    assert session.get(EarlyStatus, "SM1") is None


def test_a_send_not_taken_goes_again_now_keeping_its_last_error(
    session: Session, line: Line, claimed: Delivery
) -> None:
    later = utcnow() + timedelta(seconds=30)
    record_send_outcome(session=session, delivery=claimed, outcome=RetryLater(later, "429", 20429))
    again = claim_next_delivery(session=session, line_id=line.id, now=later)
    assert record_send_outcome(session=session, delivery=again, outcome=NotTaken())
    assert again.status == DeliveryStatus.PENDING and again.next_attempt_at < later
    assert (again.error_text, again.error_code) == ("429", 20429)
    assert again.claimed_at is None and again.lease_until is None


def test_a_retry_waits_with_its_reason(session: Session, line: Line, claimed: Delivery) -> None:
    later = utcnow() + timedelta(seconds=30)
    record_send_outcome(session=session, delivery=claimed, outcome=RetryLater(later, "busy", 1))
    assert (claimed.status, claimed.next_attempt_at) == (DeliveryStatus.PENDING, later)
    assert (claimed.error_text, claimed.error_code) == ("busy", 1)
    assert claim_next_delivery(session=session, line_id=line.id, now=utcnow()) is None


def test_a_failure_is_final_and_says_why(session: Session, claimed: Delivery) -> None:
    record_send_outcome(session=session, delivery=claimed, outcome=Failed("a landline", 30006))
    assert (claimed.status, claimed.error_text) == (DeliveryStatus.FAILED, "a landline")
    assert apply_provider_status(session=session, provider_sid="SM1", status="delivered") is None


def test_a_carrier_opt_out_opts_the_contact_out_of_the_line(
    session: Session, line: Line, claimed: Delivery
) -> None:
    record_send_outcome(session=session, delivery=claimed, outcome=Failed("opted out", OPTED_OUT))
    jane = make_contact(session, phone="+12025550123")
    assert find_opted_out(session=session, line_id=line.id, contacts=[jane]) == [jane]


def test_a_carrier_opt_out_of_a_group_text_opts_nobody_out(session: Session, line: Line) -> None:
    members = [make_contact(session, phone=f"+12025550{n}") for n in (124, 125)]
    session.commit()
    group = create_group_conversation(
        session=session, line=line, contacts=members, user_id="U0ALICE", group_mms=True
    )
    send_text(
        session=session,
        conversation=group,
        line=line,
        recipients=members,
        body="Hi all",
        author_user_id="U0ALICE",
    )
    now = utcnow()
    [claimed] = claim_due_deliveries(session=session, line_id=line.id, now=now, slots=[now] * 3)
    assert claimed.group_conversation_id == group.id
    record_send_outcome(session=session, delivery=claimed, outcome=Failed("opted out", OPTED_OUT))
    assert claimed.status == DeliveryStatus.FAILED
    assert find_opted_out(session=session, line_id=line.id, contacts=members) == []


def test_an_attempt_settled_meanwhile_is_not_recorded_again(
    session: Session, line: Line, claimed: Delivery
) -> None:
    # The dispatcher's copy of the delivery, as claimed for its first attempt.
    stale = Delivery(
        id=claimed.id,
        message_id=claimed.message_id,
        line_id=claimed.line_id,
        contact_id=claimed.contact_id,
        to_phone=claimed.to_phone,
        attempts=claimed.attempts,
    )
    assert record_send_outcome(session=session, delivery=claimed, outcome=NotTaken())
    # The lease ran out, the send was found missing and is now on its next attempt.
    second = claim_next_delivery(session=session, line_id=line.id, now=utcnow())
    assert second.attempts == stale.attempts + 1
    assert not record_send_outcome(session=session, delivery=stale, outcome=Failed("late"))
    assert not record_send_outcome(session=session, delivery=stale, outcome=Taken("SM1", "sent"))
    session.refresh(second)
    assert (second.status, second.error_text, second.provider_sid) == (
        DeliveryStatus.SENDING,
        None,
        None,
    )


# Twilio's words, by the status each stands for.
NOT_FINAL = ["accepted", "scheduled", "queued", "sending", "sent"]
FINAL = {
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.CANCELED,
}


def _status_after(session: Session, line: Line, callbacks: list[str], taken_after: int) -> str:
    """The status a fresh delivery ends in when Twilio takes it (answering "queued") and
    its callbacks come in this order, the first `taken_after` before the send is recorded.
    Rolled back after."""
    with session.begin_nested() as attempt:
        make_text(session, line=line, contact=make_contact(session, phone="+12025550124"))
        now = utcnow()
        [claimed] = claim_due_deliveries(session=session, line_id=line.id, now=now, slots=[now])
        for position, status in enumerate([*callbacks, None]):
            if position == min(taken_after, len(callbacks)):
                taken = record_send_outcome(
                    session=session, delivery=claimed, outcome=Taken("SM9", "queued")
                )
                assert taken
            if status is not None:
                apply_provider_status(session=session, provider_sid="SM9", status=status)
        final = session.exec(select(Delivery.status).where(Delivery.provider_sid == "SM9")).one()
        attempt.rollback()
    return final


@st.composite
def callbacks_with_one_last_word(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Callbacks of which at most one kind is final (it may come more than once), and the
    same callbacks in another order."""
    callbacks = draw(st.lists(st.sampled_from(NOT_FINAL), max_size=5))
    last_word = draw(st.none() | st.sampled_from(sorted(FINAL)))
    if last_word is not None:
        callbacks += [last_word] * draw(st.integers(1, 2))
    return callbacks, draw(st.permutations(callbacks))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    orders=callbacks_with_one_last_word(),
    taken_after=st.integers(0, 8),
    taken_after_too=st.integers(0, 8),
)
def test_callbacks_end_in_the_same_status_whatever_their_order(
    session: Session,
    line: Line,
    orders: tuple[list[str], list[str]],
    taken_after: int,
    taken_after_too: int,
) -> None:
    callbacks, shuffled = orders
    finals = [FINAL[c] for c in callbacks if c in FINAL]
    furthest = finals[0] if finals else "sent" if "sent" in callbacks else "queued"
    assert _status_after(session, line, callbacks, taken_after) == furthest
    assert _status_after(session, line, shuffled, taken_after_too) == furthest


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    callbacks=st.lists(st.sampled_from(NOT_FINAL + sorted(FINAL)), max_size=6),
    taken_after=st.integers(0, 7),
)
def test_the_first_last_word_stands(
    session: Session, line: Line, callbacks: list[str], taken_after: int
) -> None:
    """Two different final statuses (delivered, then failed): the first one stands, however
    late the send itself is recorded."""
    finals = [FINAL[c] for c in callbacks if c in FINAL]
    expected = finals[0] if finals else "sent" if "sent" in callbacks else "queued"
    assert _status_after(session, line, callbacks, taken_after) == expected
