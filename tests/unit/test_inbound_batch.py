"""Plain inbound texts stored a batch at a time (models/inbound_batch.py) end as the
per-text way would store them, in far fewer statements."""

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event
from sqlmodel import Session, SQLModel, col, select

import bot.inbound_router
from bot.db import Database
from bot.inbound_router import InboundRouter
from models.conversations import close_conversation, open_or_reopen_conversation, send_text
from models.groups import create_group_conversation
from models.inbound import logged_arrival, stage_inbound_texts
from models.tables import (
    Broadcast,
    Contact,
    Conversation,
    ConversationParticipant,
    Delivery,
    Line,
    Message,
    OptOut,
)
from models.types import utcnow
from tests.factories import make_contact, make_line

TEAM, OTHER_TEAM = "T0BATCH", "T0PERTEXT"
SENDERS = ["+12025550123", "+12025550124", "+12025550125"]
# What a sender may have with the line before their texts come.
PAST = ["unknown", "contact", "open", "closed", "texted", "in a group", "scheduled", "broadcast"]
BODIES = ["hi", "Hello\u202e again\x07", "STOP", "start", "HELP", "", "see you"]


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def empty(database: Database) -> None:
    with database.session() as session, session.begin():
        for table in reversed(SQLModel.metadata.sorted_tables):
            session.execute(delete(table))


def prepare(session: Session, *, team: str, number: str, pasts: list[str], away: bool) -> Line:
    line = make_line(session, number=number, team_id=team, channel_id=f"C{team}")
    if away:
        line.away_message, line.business_hours = "We are closed.", "00:00-00:00"
        session.add(line)
    for phone, past in zip(SENDERS, pasts, strict=True):
        if past == "unknown":
            continue
        contact = make_contact(session, phone=phone, team_id=team)
        if past == "contact":
            continue
        conversation, _ = open_or_reopen_conversation(
            session=session, line=line, contact=contact, user_id="U0ALICE"
        )
        if past == "closed":
            close_conversation(session=session, conversation=conversation, user_id="U0ALICE")
        elif past == "in a group":
            other = make_contact(session, phone="+12025550199", team_id=team)
            create_group_conversation(
                session=session, line=line, contacts=[contact, other], user_id="U0ALICE"
            )
        elif past in ("texted", "scheduled", "broadcast"):
            broadcast = None
            if past == "broadcast":
                broadcast = Broadcast(
                    team_id=team, line_id=line.id or 0, user_id="U0A", body="Sale"
                )
                session.add(broadcast)
                session.flush()
            send_text(
                session=session,
                conversation=conversation,
                line=line,
                recipients=[contact],
                body="From the team",
                author_user_id="U0ALICE",
                broadcast_id=broadcast.id if broadcast else None,
                scheduled_for=utcnow() + timedelta(days=1) if past == "scheduled" else None,
            )
    session.flush()
    return line


# When the staged texts start to arrive (the same for both teams).
START = utcnow() - timedelta(minutes=10)


def stage(
    database: Database, *, team: str, number: str, texts: list[tuple[int, int, bool]]
) -> None:
    rows = []
    for i, (sender, body, logged) in enumerate(texts):
        # Every third text brings a picture, with a character the stored copy drops.
        media = [{"url": f"https://api.twilio.com/m/{i}\x07", "content_type": "image/png"}]
        arrival = START + timedelta(milliseconds=300 * i)
        rows.append(
            {
                "message_sid": f"SM{team}{i:04d}",
                "to_number": number,
                "from_number": SENDERS[sender],
                "body": BODIES[body],
                "received_at": logged_arrival(arrival) if logged else arrival,
                "logged_to_the_second": logged,
                "media": media if i % 3 == 2 else None,
            }
        )
    with database.engine.begin() as connection:
        stage_inbound_texts(connection, rows)


def route_all(database: Database) -> None:
    router = InboundRouter(
        database=database, on_routed=lambda: None, recovery_wait=timedelta(seconds=30)
    )
    for _ in range(200):
        if router.step() is None:
            return
    raise AssertionError("the router never ran out of work")


def what_the_team_has(database: Database, team: str) -> dict[str, Any]:
    """Everything routing wrote for the team, without ids, times set at writing, or the
    team's name."""
    with database.read_session() as session:
        phones: dict[int | None, str] = {
            contact_id: phone
            for contact_id, phone in session.exec(
                select(Contact.id, Contact.phone).where(Contact.team_id == team)
            )
        }
        members: dict[int, list[str]] = {}
        for conversation_id, contact_id in session.exec(
            select(ConversationParticipant.conversation_id, ConversationParticipant.contact_id)
        ):
            members.setdefault(conversation_id, []).append(phones.get(contact_id, "?"))
        conversations = {}
        names = {}
        for c in session.exec(select(Conversation).where(Conversation.team_id == team)):
            names[c.id] = (
                c.kind,
                phones.get(c.contact_id or 0),
                sorted(members.get(c.id or 0, [])),
            )
            conversations[str(names[c.id])] = (
                c.status,
                c.mirror_seq,
                c.parent_rev,
                c.mirror_pending,
                c.last_message_at is None,
            )
        messages: dict[str, list[tuple[Any, ...]]] = {}
        for m in session.exec(
            select(Message).where(col(Message.conversation_id).in_(names)).order_by(col(Message.id))
        ):
            messages.setdefault(str(names[m.conversation_id]), []).append(
                (
                    m.direction,
                    m.origin,
                    m.body,
                    phones.get(m.contact_id or 0),
                    re.sub(r"^away:\d+:\w+:", "away:", (m.dedupe_key or "").replace(team, "")),
                    m.sent_at,
                    m.received_late,
                    m.media,
                    m.scheduled_for is None,
                )
            )
        deliveries = sorted(
            (d.to_phone, d.body, d.status)
            for d, m in session.exec(
                select(Delivery, Message).join(Message, col(Message.id) == Delivery.message_id)
            )
            if m.conversation_id in names
        )
        opted_out = sorted(
            phones[o.contact_id] for o in session.exec(select(OptOut)) if o.contact_id in phones
        )
        summaries = sorted(
            b.summary_rev for b in session.exec(select(Broadcast).where(Broadcast.team_id == team))
        )
    return {
        "contacts": sorted(phones.values()),
        "conversations": conversations,
        "messages": messages,
        "deliveries": deliveries,
        "opted out": opted_out,
        "broadcast summaries": summaries,
    }


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pasts=st.lists(st.sampled_from(PAST), min_size=3, max_size=3),
    away=st.booleans(),
    texts=st.lists(
        st.tuples(
            st.integers(0, len(SENDERS) - 1),
            st.integers(0, len(BODIES) - 1),
            st.booleans(),
        ),
        min_size=1,
        max_size=30,
    ),
)
@example(
    pasts=["open", "texted", "broadcast"],
    away=False,
    # A text read back from Twilio's log, routed after the webhook's newer ones: late.
    texts=[(0, 1, False), (1, 0, True), (0, 0, True), (1, 6, False), (2, 6, False), (0, 5, False)],
)
def test_texts_stored_together_end_as_the_per_text_way_stores_them(
    database: Database, pasts: list[str], away: bool, texts: list[tuple[int, int, bool]]
) -> None:
    empty(database)
    with database.session() as session, session.begin():
        prepare(session, team=TEAM, number="+12025550100", pasts=pasts, away=away)
        prepare(session, team=OTHER_TEAM, number="+12025550101", pasts=pasts, away=away)
    stage(database, team=TEAM, number="+12025550100", texts=texts)
    route_all(database)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bot.inbound_router, "store_plain_texts", lambda *a, **k: set())
        stage(database, team=OTHER_TEAM, number="+12025550101", texts=texts)
        route_all(database)
    together, one_by_one = (
        what_the_team_has(database, TEAM),
        what_the_team_has(database, OTHER_TEAM),
    )
    assert together == one_by_one
    # Every text is in (each sender's in order), whichever way it went.
    stored = [m[2] for ms in together["messages"].values() for m in ms if m[0] == "inbound"]
    assert sorted(stored) == sorted(
        BODIES[b].replace("\u202e", "").replace("\x07", "") for _, b, _ in texts
    )


def record_statements(database: Database) -> list[str]:
    statements: list[str] = []
    event.listen(
        database.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: statements.append(statement),
    )
    return statements


def test_a_batch_of_plain_texts_takes_a_few_statements_in_all(database: Database) -> None:
    with database.session() as session, session.begin():
        prepare(session, team=TEAM, number="+12025550100", pasts=["open"] * 3, away=False)
    stage(database, team=TEAM, number="+12025550100", texts=[(i % 3, 0, False) for i in range(50)])
    statements = record_statements(database)
    route_all(database)
    # Per text it was 11: the batch costs its own bookkeeping and nine statements.
    assert len(statements) <= 20, "\n".join(s[:150] for s in statements)
    messages = what_the_team_has(database, TEAM)["messages"]
    assert sum(len(ms) for ms in messages.values()) == 50


def test_a_senders_keyword_sends_all_their_texts_the_per_text_way_in_order(
    database: Database,
) -> None:
    with database.session() as session, session.begin():
        prepare(
            session, team=TEAM, number="+12025550100", pasts=["open", "open", "open"], away=False
        )
    # Sender 0: hi, STOP, start; sender 1: hi, hi (plain).
    stage(
        database,
        team=TEAM,
        number="+12025550100",
        texts=[(0, 0, False), (1, 0, False), (0, 2, False), (1, 6, False), (0, 3, False)],
    )
    route_all(database)
    messages = what_the_team_has(database, TEAM)["messages"]
    first = [m[2] for m in messages[str(("direct", SENDERS[0], []))] if m[0] == "inbound"]
    second = [m[2] for m in messages[str(("direct", SENDERS[1], []))] if m[0] == "inbound"]
    assert (first, second) == (["hi", "STOP", "start"], ["hi", "see you"])
