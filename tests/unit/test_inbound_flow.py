"""A staged text stored in its conversation, with the notices and away reply it calls for."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from models.inbound import logged_arrival
from models.inbound_flow import store_inbound_text
from models.tables import (
    Delivery,
    DeliveryStatus,
    InboundWebhook,
    Line,
    Message,
    MessageDirection,
)
from models.types import utcnow
from tests.factories import make_contact, make_line, make_text

SALES, JANE = "+12025550100", "+12025550123"
EVENING = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)  # 18:30 in New York


@pytest.fixture
def line(session: Session) -> Line:
    line = make_line(session, number=SALES)
    line.away_message = "We're closed; we'll reply from 9am."
    line.business_hours, line.time_zone = "09:00-17:00", "America/New_York"
    session.add(line)
    make_contact(session, phone=JANE, name="Jane Doe")
    session.commit()
    return line


def staged(sid: str, body: str, *, sender: str = JANE, **fields: object) -> InboundWebhook:
    return InboundWebhook(message_sid=sid, to_number=SALES, from_number=sender, body=body, **fields)


def store(
    session: Session, line: Line, text: InboundWebhook, *, cancel_scheduled_on_reply: bool = True
) -> bool:
    return store_inbound_text(
        session,
        text,
        line=line,
        now=EVENING,
        default_region="US",
        cancel_scheduled_on_reply=cancel_scheduled_on_reply,
    )


def thread(session: Session) -> list[tuple[str, str]]:
    messages = session.exec(select(Message).order_by(col(Message.id))).all()
    return [(m.direction, m.body) for m in messages]


def test_a_stop_is_stored_with_its_notice_and_gets_no_away_reply(
    session: Session, line: Line
) -> None:
    assert store(session, line, staged("SM1", "STOP"))
    assert thread(session) == [
        (MessageDirection.INBOUND, "STOP"),
        (
            MessageDirection.NOTICE,
            ":no_entry_sign: Jane Doe (+1 202-555-0123) texted STOP and is opted out of texts "
            "from Sales. Nothing more will be sent to them from this line until they text START.",
        ),
    ]


def test_a_text_after_hours_gets_the_away_reply(session: Session, line: Line) -> None:
    assert store(session, line, staged("SM1", "Are you open?"))
    assert thread(session) == [
        (MessageDirection.INBOUND, "Are you open?"),
        (MessageDirection.OUTBOUND, "We're closed; we'll reply from 9am."),
    ]


def test_the_same_message_sid_is_stored_once(session: Session, line: Line) -> None:
    assert store(session, line, staged("SM1", "HELP"))
    assert not store(session, line, staged("SM1", "HELP"))
    assert thread(session) == [
        (MessageDirection.INBOUND, "HELP"),
        (MessageDirection.NOTICE, ":information_source: Jane Doe (+1 202-555-0123) texted HELP."),
    ]


def test_a_national_number_is_read_in_the_default_region(session: Session, line: Line) -> None:
    store(session, line, staged("SM1", "HELP", sender="(202) 555-0123"))
    assert "Jane Doe (+1 202-555-0123) texted HELP" in thread(session)[-1][1]


@pytest.mark.parametrize("cancel", [True, False])
def test_a_reply_cancels_the_texts_scheduled_to_its_sender_if_so_set(
    session: Session, line: Line, cancel: bool
) -> None:
    jane = make_contact(session, phone=JANE)
    make_text(
        session,
        line=line,
        contact=jane,
        body="Reminder",
        scheduled_for=utcnow() + timedelta(days=1),
    )
    store(session, line, staged("SM1", "STOP"), cancel_scheduled_on_reply=cancel)
    [delivery] = session.exec(select(Delivery)).all()
    assert (delivery.status == DeliveryStatus.CANCELED) is cancel
    said = [body for direction, body in thread(session) if direction == MessageDirection.NOTICE]
    assert any("texted in before the scheduled text left" in s for s in said) is cancel


def test_a_text_read_back_from_twilios_log_is_sent_at_the_start_of_its_second(
    session: Session, line: Line
) -> None:
    logged = datetime(2026, 11, 25, 15, 0, 7, tzinfo=UTC)
    store(
        session,
        line,
        staged("SM1", "Hi", received_at=logged_arrival(logged), logged_to_the_second=True),
    )
    store(session, line, staged("SM2", "Hello", received_at=logged + timedelta(microseconds=5)))
    sent = session.exec(
        select(Message.sent_at)
        .where(Message.direction == MessageDirection.INBOUND)
        .order_by(col(Message.id))
    ).all()
    assert sent == [logged, logged + timedelta(microseconds=5)]
