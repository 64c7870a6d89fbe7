from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models.conversations import (
    add_notice,
    close_conversation,
    open_or_reopen_conversation,
    send_text,
)
from models.deliveries import (
    Taken,
    apply_provider_status,
    record_send_outcome,
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
    MessageDirection,
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


def test_a_text_that_comes_after_newer_texts_of_its_conversation_is_received_late(
    session: Session, line
) -> None:
    """A text recovered from Twilio's log after the team answered, or after a newer text,
    is marked late; notices are not texts."""
    now = utcnow()

    def receive(sid: str, sent_at=None):  # type: ignore[no-untyped-def]
        received = receive_text(
            session=session,
            line=line,
            from_phone="+12025550150",
            body=sid,
            provider_sid=sid,
            sent_at=sent_at,
        )
        assert received is not None
        return received.message

    first = receive("SM1", now - timedelta(minutes=10))
    conversation = session.get_one(Conversation, first.conversation_id)
    send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[make_contact(session, phone="+12025550150")],
        body="We're open till 6",
        author_user_id="U1",
    )
    recovered = receive("SM2", now - timedelta(minutes=5))
    newest = receive("SM3")
    before_notice = utcnow()
    add_notice(session=session, conversation=conversation, text="Routed here")
    after_notice = receive("SM4", before_notice)
    assert [m.received_late for m in (first, recovered, newest, after_notice)] == [
        False,
        True,
        False,
        False,
    ]
    assert recovered.sent_at == now - timedelta(minutes=5)


def test_an_inbound_text_keeps_nothing_hidden(session: Session, line) -> None:
    received = receive_text(
        session=session,
        line=line,
        from_phone="+12025550150",
        body="Pay at \u202egro.knab\u202c\x00 now\r\n\tthanks",
        provider_sid="SM1",
        media=[{"url": "https://api.twilio.com/m/1\x07", "content_type": "image/png\u2066"}],
    )
    assert received is not None
    assert received.message.body == "Pay at gro.knab now\n\tthanks"
    assert received.message.media == [
        {"url": "https://api.twilio.com/m/1", "content_type": "image/png"}
    ]


def test_a_keyword_wrapped_in_hidden_characters_still_opts_out(session: Session, line) -> None:
    stop = receive_text(
        session=session,
        line=line,
        from_phone="+12025550150",
        body="\u202eSTOP\x00",
        provider_sid="SM1",
    )
    assert stop is not None and stop.keyword == Keyword.STOP and stop.opt_out_changed


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


def test_a_reply_waiting_for_names_is_held_longer_than_the_delay(
    session: Session, line, jane
) -> None:
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=jane, user_id="U1"
    )
    before = utcnow()
    for ts, hold in (("1.1", 30), ("1.2", 1)):
        record_thread_reply(
            session=session,
            conversation=conversation,
            line=line,
            text=f"Hi {ts}",
            user_id="U1",
            channel_id="C1",
            ts=ts,
            hold_seconds=hold,
        )
    held, short = session.exec(select(Delivery).order_by(Delivery.id)).all()
    assert held.next_attempt_at >= before + timedelta(seconds=30)
    # A hold shorter than the line's delay (5 s) changes nothing.
    assert before + timedelta(seconds=5) <= short.next_attempt_at < before + timedelta(seconds=30)


def test_a_correction_yields_to_a_later_edit(session: Session, line, jane) -> None:
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=jane, user_id="U1"
    )
    record_thread_reply(
        session=session,
        conversation=conversation,
        line=line,
        text="Ask @someone",
        user_id="U1",
        channel_id="C1",
        ts="1.1",
    )
    edit_pending_reply(session=session, channel_id="C1", ts="1.1", text="Ask me", user_id="U1")
    assert (
        edit_pending_reply(
            session=session,
            channel_id="C1",
            ts="1.1",
            text="Ask @Bob",
            user_id="U1",
            expected_body="Ask @someone",
        )
        == PendingChange.UNKNOWN
    )
    assert session.exec(select(Delivery)).one().body == "Ask me"
    assert (
        edit_pending_reply(
            session=session,
            channel_id="C1",
            ts="1.1",
            text="Ask me now",
            user_id="U1",
            expected_body="Ask me",
        )
        == PendingChange.DONE
    )
    assert session.exec(select(Delivery)).one().body == "Ask me now"


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
        edit_pending_reply(session=session, channel_id="C1", ts="1.1", text="at 4", user_id="U1")
        == PendingChange.DONE
    )
    delivery = session.exec(select(Delivery)).one()
    assert delivery.body == "at 4\n\nReply STOP to opt out"  # still the first text: footer kept
    assert (
        edit_pending_reply(session=session, channel_id="C1", ts="9.9", text="x", user_id="U1")
        == PendingChange.UNKNOWN
    )
    claim_next_delivery(session=session, line_id=line.id, now=utcnow() + timedelta(seconds=6))
    assert (
        edit_pending_reply(session=session, channel_id="C1", ts="1.1", text="at 5", user_id="U1")
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


def test_an_edit_into_a_note_cancels_and_only_the_author_edits(
    session: Session, line, jane
) -> None:
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=jane, user_id="U1"
    )
    reply = record_thread_reply(
        session=session,
        conversation=conversation,
        line=line,
        text="at 3",
        user_id="U1",
        channel_id="C1",
        ts="1.1",
    )
    for text in ("at 4", "// not for Jane"):
        assert (
            edit_pending_reply(session=session, channel_id="C1", ts="1.1", text=text, user_id="U2")
            == PendingChange.NOT_AUTHOR
        )
    delivery = session.exec(select(Delivery)).one()
    assert (delivery.body, delivery.status) == ("at 3", DeliveryStatus.PENDING)
    assert (
        edit_pending_reply(
            session=session, channel_id="C1", ts="1.1", text="// not for Jane", user_id="U1"
        )
        == PendingChange.DONE
    )
    session.refresh(delivery)
    session.refresh(reply)
    assert delivery.status == DeliveryStatus.CANCELED
    assert (reply.direction, reply.body) == (MessageDirection.NOTE, "// not for Jane")


def test_a_status_that_beats_the_recorded_send_is_kept_and_applied(
    session: Session, line, jane
) -> None:
    make_text(session, line=line, contact=jane, body="Hi")
    delivery = claim_next_delivery(session=session, line_id=line.id, now=utcnow())
    assert apply_provider_status(session=session, provider_sid="SM9", status="sent") is None
    assert apply_provider_status(session=session, provider_sid="SM9", status="delivered") is None
    assert apply_provider_status(session=session, provider_sid="SM9", status="sent") is None
    assert session.get(EarlyStatus, "SM9").status == "delivered"
    record_send_outcome(session=session, delivery=delivery, outcome=Taken("SM9", "queued"))
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
