from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models.conversations import close_conversation, open_or_reopen_conversation, send_text
from models.deliveries import (
    apply_provider_status,
    record_accepted,
    settle_early_statuses,
)
from models.inbound import receive_text, route_inbound, take_idempotency_key
from models.optouts import (
    Keyword,
    RecipientOptedOut,
    classify_keyword,
    find_opted_out,
    opt_in,
    opt_out,
)
from models.replies import (
    PendingChange,
    cancel_pending_reply,
    edit_pending_reply,
    is_note,
    record_thread_reply,
)
from models.tables import (
    Conversation,
    Delivery,
    DeliveryStatus,
    EarlyStatus,
    Message,
)
from models.types import utcnow
from tests.factories import claim_next_delivery, make_contact, make_line, make_text


@pytest.mark.parametrize(
    ("body", "opt_out_type", "keyword"),
    [
        ("STOP", None, Keyword.STOP),
        (" stop. ", None, Keyword.STOP),
        ("Unsubscribe", None, Keyword.STOP),
        ("stopall", None, Keyword.STOP),
        ("quit", None, Keyword.STOP),
        ("start", None, Keyword.START),
        ("UNSTOP", None, Keyword.START),
        ("yes", None, Keyword.START),
        ("help", None, Keyword.HELP),
        ("please stop texting me", None, None),
        ("ARRET", "STOP", Keyword.STOP),
        ("Hello", "", None),
    ],
)
def test_keywords(body, opt_out_type, keyword) -> None:
    assert classify_keyword(body, opt_out_type) == keyword


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("note: x", True),
        ("  NOTE: x", True),
        ("// x", True),
        ("Notes are great", False),
        ("/x", False),
    ],
)
def test_note_markers(text, note) -> None:
    assert is_note(text) is note


@pytest.fixture
def line(session: Session):
    return make_line(session, reply_delay_seconds=5)


@pytest.fixture
def jane(session: Session):
    return make_contact(session, phone="+12025550123", name="Jane")


def test_opt_out_is_per_line_and_reversible(session: Session, line, jane) -> None:
    other = make_line(session, number="+12025550101", name="Other")
    assert opt_out(session=session, line=line, contact=jane, keyword="STOP")
    assert not opt_out(session=session, line=line, contact=jane, keyword="STOP")
    assert find_opted_out(session=session, line_id=line.id, contacts=[jane]) == [jane]
    assert find_opted_out(session=session, line_id=other.id, contacts=[jane]) == []
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=jane, user_id="U1"
    )
    with pytest.raises(RecipientOptedOut):
        send_text(
            session=session,
            conversation=conversation,
            line=line,
            recipients=[jane],
            body="Hi",
            author_user_id="U1",
        )
    assert session.exec(select(Message)).all() == []
    assert opt_in(session=session, line=line, contact=jane)
    assert not opt_in(session=session, line=line, contact=jane)
    send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[jane],
        body="Hi",
        author_user_id="U1",
    )


def test_idempotency_keys_are_taken_once(session: Session) -> None:
    assert take_idempotency_key(session=session, key="sms:SM1")
    assert not take_idempotency_key(session=session, key="sms:SM1")


def test_receive_text_stores_once_and_handles_keywords(session: Session, line) -> None:
    first = receive_text(
        session=session, line=line, from_phone="+12025550150", body="Hi", provider_sid="SM1"
    )
    assert first is not None and first.conversation_created and first.keyword is None
    assert (
        receive_text(
            session=session, line=line, from_phone="+12025550150", body="Hi", provider_sid="SM1"
        )
        is None
    )
    stop = receive_text(
        session=session, line=line, from_phone="+12025550150", body="STOP", provider_sid="SM2"
    )
    assert stop.keyword == Keyword.STOP and stop.opt_out_changed
    assert stop.conversation.id == first.conversation.id
    assert find_opted_out(session=session, line_id=line.id, contacts=[stop.contact]) == [
        stop.contact
    ]
    again = receive_text(
        session=session, line=line, from_phone="+12025550150", body="stop", provider_sid="SM3"
    )
    assert again.keyword == Keyword.STOP and not again.opt_out_changed
    start = receive_text(
        session=session, line=line, from_phone="+12025550150", body="START", provider_sid="SM4"
    )
    assert (
        start.opt_out_changed
        and find_opted_out(session=session, line_id=line.id, contacts=[start.contact]) == []
    )
    assert len(session.exec(select(Message)).all()) == 4


def test_routing_prefers_the_open_conversation_that_last_texted_the_contact(
    session: Session, line, jane
) -> None:
    direct, _ = open_or_reopen_conversation(session=session, line=line, contact=jane, user_id="U1")
    send_text(
        session=session,
        conversation=direct,
        line=line,
        recipients=[jane],
        body="direct",
        author_user_id="U1",
    )
    group = Conversation(team_id=line.team_id, line_id=line.id, kind="group")
    session.add(group)
    session.flush()
    send_text(
        session=session,
        conversation=group,
        line=line,
        recipients=[jane],
        body="group",
        author_user_id="U1",
    )
    assert route_inbound(session=session, line=line, contact=jane)[0].id == group.id
    close_conversation(session=session, conversation=group, user_id="U1")
    assert route_inbound(session=session, line=line, contact=jane)[0].id == direct.id
    close_conversation(session=session, conversation=direct, user_id="U1")
    routed, created = route_inbound(session=session, line=line, contact=jane)
    assert routed.id == direct.id and not created and routed.status == "open"


def test_a_thread_reply_waits_for_the_lines_delay(session: Session, line, jane) -> None:
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=jane, user_id="U1"
    )
    before = utcnow()
    record_thread_reply(
        session=session,
        conversation=conversation,
        line=line,
        text="Hi",
        user_id="U1",
        channel_id="C1",
        ts="1.1",
    )
    delivery = session.exec(select(Delivery)).one()
    assert delivery.next_attempt_at >= before + timedelta(seconds=5)
    assert claim_next_delivery(session=session, line_id=line.id, now=utcnow()) is None


def test_edit_and_cancel_only_while_pending(session: Session, line, jane) -> None:
    line.opt_out_footer = "Reply STOP to opt out"
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=jane, user_id="U1"
    )
    record_thread_reply(
        session=session,
        conversation=conversation,
        line=line,
        text="at 3",
        user_id="U1",
        channel_id="C1",
        ts="1.1",
    )
    assert (
        edit_pending_reply(session=session, channel_id="C1", ts="1.1", text="at 4")
        == PendingChange.DONE
    )
    delivery = session.exec(select(Delivery)).one()
    assert delivery.body == "at 4\n\nReply STOP to opt out"  # still the first text: footer kept
    assert (
        edit_pending_reply(session=session, channel_id="C1", ts="9.9", text="x")
        == PendingChange.UNKNOWN
    )
    claim_next_delivery(session=session, line_id=line.id, now=utcnow() + timedelta(seconds=6))
    assert (
        edit_pending_reply(session=session, channel_id="C1", ts="1.1", text="at 5")
        == PendingChange.TOO_LATE
    )
    assert (
        cancel_pending_reply(session=session, channel_id="C1", ts="1.1") == PendingChange.TOO_LATE
    )
    record_thread_reply(
        session=session,
        conversation=conversation,
        line=line,
        text="never mind",
        user_id="U1",
        channel_id="C1",
        ts="1.2",
    )
    assert cancel_pending_reply(session=session, channel_id="C1", ts="1.2") == PendingChange.DONE
    canceled = session.exec(select(Delivery).where(Delivery.body == "never mind")).one()
    assert canceled.status == DeliveryStatus.CANCELED


def test_a_status_that_beats_the_recorded_send_is_kept_and_applied(
    session: Session, line, jane
) -> None:
    make_text(session, line=line, contact=jane, body="Hi")
    delivery = claim_next_delivery(session=session, line_id=line.id, now=utcnow())
    assert apply_provider_status(session=session, provider_sid="SM9", status="sent") is None
    assert apply_provider_status(session=session, provider_sid="SM9", status="delivered") is None
    assert apply_provider_status(session=session, provider_sid="SM9", status="sent") is None
    assert session.get(EarlyStatus, "SM9").status == "delivered"
    record_accepted(session=session, delivery=delivery, provider_sid="SM9", status="queued")
    assert delivery.status == DeliveryStatus.DELIVERED
    assert session.get(EarlyStatus, "SM9") is None


def test_early_statuses_are_settled_later_when_they_crossed(session: Session, line, jane) -> None:
    make_text(session, line=line, contact=jane, body="Hi")
    delivery = claim_next_delivery(session=session, line_id=line.id, now=utcnow())
    delivery.provider_sid = "SM7"
    delivery.status = DeliveryStatus.QUEUED
    session.add(delivery)
    session.add(EarlyStatus(provider_sid="SM7", status="undelivered", error_code=30003))
    session.add(
        EarlyStatus(provider_sid="SM-stale", status="sent", created_at=utcnow() - timedelta(days=2))
    )
    session.flush()
    assert settle_early_statuses(session=session) == 1
    session.refresh(delivery)
    assert delivery.status == DeliveryStatus.UNDELIVERED and delivery.error_code == 30003
    assert "unreachable" in delivery.error_text
    assert session.exec(select(EarlyStatus)).all() == []
