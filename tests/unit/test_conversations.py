import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.conversations import (
    InvalidMessageBody,
    check_message_body,
    close_conversation,
    open_or_reopen_conversation,
    send_text,
)
from models.tables import Conversation, ConversationStatus, Delivery, DeliveryStatus, Message
from tests.factories import make_contact, make_line


@pytest.fixture
def line(session: Session):
    return make_line(session)


@pytest.fixture
def contact(session: Session):
    return make_contact(session)


def test_message_body_rules() -> None:
    assert check_message_body("  hi  ") == "hi"
    assert check_message_body("x" * 1600) == "x" * 1600
    with pytest.raises(InvalidMessageBody, match="empty"):
        check_message_body(" \n ")
    with pytest.raises(InvalidMessageBody, match="empty"):
        check_message_body(None)
    with pytest.raises(InvalidMessageBody, match="1,601 characters"):
        check_message_body("x" * 1601)
    # What a phone cannot show (and PostgreSQL cannot store: NUL) is dropped.
    assert check_message_body("Hi\x00 there\u202e") == "Hi there"
    with pytest.raises(InvalidMessageBody, match="empty"):
        check_message_body(" \x00 ")


def test_open_creates_then_finds_then_reopens(session: Session, line, contact) -> None:
    first, created = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id="U1"
    )
    assert created and first.status == ConversationStatus.OPEN
    same, created_again = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id="U1"
    )
    assert not created_again and same.id == first.id

    close_conversation(session=session, conversation=first, user_id="U1")
    assert first.status == ConversationStatus.CLOSED and first.closed_by == "U1"
    parent_rev = first.parent_rev
    reopened, created_third = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id="U2"
    )
    assert not created_third and reopened.id == first.id
    assert reopened.status == ConversationStatus.OPEN and reopened.closed_at is None
    assert reopened.parent_rev == parent_rev + 1 and reopened.mirror_pending
    assert len(session.exec(select(Conversation)).all()) == 1


def test_the_database_allows_one_direct_conversation_per_line_and_contact(
    session: Session, line, contact
) -> None:
    open_or_reopen_conversation(session=session, line=line, contact=contact, user_id="U1")
    session.add(Conversation(team_id=line.team_id, line_id=line.id, contact_id=contact.id))
    with pytest.raises(IntegrityError):
        session.flush()


def test_group_conversations_are_not_limited_by_the_direct_rule(session: Session, line) -> None:
    session.add(Conversation(team_id=line.team_id, line_id=line.id, kind="group"))
    session.add(Conversation(team_id=line.team_id, line_id=line.id, kind="group"))
    session.flush()


def test_send_text_writes_message_and_one_pending_delivery_per_recipient(
    session: Session, line, contact
) -> None:
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id="U1"
    )
    seq = conversation.mirror_seq
    message, created = send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[contact],
        body=" Hi ",
        author_user_id="U1",
        dedupe_key="view:V1",
    )
    assert created and message.body == "Hi"
    deliveries = session.exec(select(Delivery)).all()
    assert [(d.to_phone, d.status, d.line_id) for d in deliveries] == [
        (contact.phone, DeliveryStatus.PENDING, line.id)
    ]
    assert conversation.mirror_seq == seq + 1 and conversation.last_message_at is not None


def test_send_text_with_a_used_key_writes_nothing(session: Session, line, contact) -> None:
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id="U1"
    )
    first, _ = send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[contact],
        body="Hi",
        author_user_id="U1",
        dedupe_key="view:V1",
    )
    again, created = send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[contact],
        body="Hi",
        author_user_id="U1",
        dedupe_key="view:V1",
    )
    assert not created and again.id == first.id
    assert len(session.exec(select(Message)).all()) == 1
    assert len(session.exec(select(Delivery)).all()) == 1


def test_send_text_refuses_a_bad_body_before_writing(session: Session, line, contact) -> None:
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id="U1"
    )
    with pytest.raises(InvalidMessageBody):
        send_text(
            session=session,
            conversation=conversation,
            line=line,
            recipients=[contact],
            body="",
            author_user_id="U1",
        )
    assert session.exec(select(Message)).all() == []


def test_idle_conversations_close_after_their_lines_period(session: Session, line, contact) -> None:
    from datetime import timedelta

    from models.conversations import close_idle_conversations
    from models.types import utcnow

    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id="U1"
    )
    send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[contact],
        body="Hi",
        author_user_id="U1",
    )
    now = utcnow()
    assert close_idle_conversations(session=session, now=now + timedelta(days=6)) == []
    closed = close_idle_conversations(session=session, now=now + timedelta(days=7, minutes=1))
    assert [c.id for c in closed] == [conversation.id]
    session.refresh(conversation)
    assert conversation.status == ConversationStatus.CLOSED and conversation.closed_by is None
    assert close_idle_conversations(session=session, now=now + timedelta(days=30)) == []
    line.auto_close_days = 0
    reopen = open_or_reopen_conversation(session=session, line=line, contact=contact, user_id="U1")[
        0
    ]
    assert close_idle_conversations(session=session, now=now + timedelta(days=365)) == []
    assert reopen.status == ConversationStatus.OPEN
