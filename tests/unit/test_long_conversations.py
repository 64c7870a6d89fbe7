"""A conversation with years of texts: the reads that routing and mirroring make for each
text go straight to the few rows they want (an index of their own), and read them right."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text
from sqlmodel import Session

from models import inbound, mirroring
from models.broadcasts import _BROADCASTS_OF_CONVERSATION
from models.tables import Message, MessageDirection
from models.types import utcnow
from tests.factories import make_contact, make_line, make_text

TEXTS = 5_000
FIRST_TEXT = utcnow() - timedelta(days=400)


@pytest.fixture
def long_conversation(engine: Engine) -> tuple[int, int, int]:
    """(conversation id, contact id, the message not in Slack yet): TEXTS texts in Slack,
    one that is not, and a notice newer than all of them."""
    with Session(engine) as session, session.begin():
        line = make_line(session)
        contact = make_contact(session)
        conversation, unmirrored = make_text(session, line=line, contact=contact)
        unmirrored.created_at = FIRST_TEXT - timedelta(days=1)
        session.execute(
            insert(Message),
            [
                {
                    "conversation_id": conversation.id,
                    "direction": MessageDirection.INBOUND,
                    "body": f"text {n}",
                    "contact_id": contact.id,
                    "created_at": FIRST_TEXT + timedelta(hours=n),
                    "sent_at": FIRST_TEXT + timedelta(hours=n),
                    "slack_ts": f"1700000000.{n:06d}",
                    "slack_rev": 1,
                    "slack_synced_rev": 1,
                }
                for n in range(TEXTS)
            ],
        )
        session.execute(
            insert(Message),
            {
                "conversation_id": conversation.id,
                "direction": MessageDirection.NOTICE,
                "body": "A notice, newer than every text",
                "created_at": utcnow() + timedelta(days=1),
                "slack_synced_rev": 1,
            },
        )
        assert conversation.id and contact.id and unmirrored.id
        ids = (conversation.id, contact.id, unmirrored.id)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE message"))
    return ids


def _plan(engine: Engine, statement: Any, params: dict[str, Any]) -> str:
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    sql = statement.params(**params).compile(
        dialect=engine.dialect, compile_kwargs={"literal_binds": True}
    )
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(explain + str(sql)).all()
    return "\n".join(str(row) for row in rows)


def test_each_read_of_one_conversation_uses_an_index_of_its_own(
    engine: Engine, long_conversation: tuple[int, int, int]
) -> None:
    conversation_id, _, _ = long_conversation
    one = {"conversation_id": conversation_id}
    reads: dict[str, tuple[Any, dict[str, Any]]] = {
        "ix_message_unmirrored": (mirroring._UNMIRRORED, one),
        "ix_message_broadcast": (_BROADCASTS_OF_CONVERSATION, one),
        "ix_message_text_time": (inbound._NEWEST_TEXTS, {"conversation_ids": [conversation_id]}),
    }
    for index, (statement, params) in reads.items():
        plan = _plan(engine, statement, params)
        assert index in plan, f"{index} is not used:\n{plan}"


def test_the_reads_find_what_they_look_for_in_a_long_conversation(
    session: Session, long_conversation: tuple[int, int, int]
) -> None:
    conversation_id, _, unmirrored_id = long_conversation
    to_mirror = mirroring.find_messages_to_mirror(session=session, conversation_id=conversation_id)
    assert [m.id for m in to_mirror] == [unmirrored_id]

    newest_text = FIRST_TEXT + timedelta(hours=TEXTS - 1)  # the notice is newer, and no text
    assert inbound.newest_texts(
        session=session, after={conversation_id: newest_text - timedelta(seconds=1)}
    ) == {conversation_id: newest_text}
    assert inbound.newest_texts(session=session, after={conversation_id: newest_text}) == {}
    assert inbound.has_newer_message(
        session=session,
        conversation_id=conversation_id,
        last_message_at=utcnow() + timedelta(days=1),
        than=newest_text - timedelta(seconds=1),
    )
