"""Nothing lost, nothing doubled: the bot is killed (SIGKILL, as kill -9) at chosen points,
then started again; every text is sent once and shown in Slack once."""

from __future__ import annotations

import signal
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, select

from bot.db import create_db_engine
from models.contacts import get_or_create_contact
from models.conversations import open_or_reopen_conversation, send_text
from models.inbound import receive_text
from models.tables import Conversation, Delivery, DeliveryStatus, Line, Message
from models.types import utcnow
from tests.factories import make_line
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio, TwilioDriver
from tests.processes import BotProcess
from tests.slack_driver import SlackDriver, wait_until

ALICE = "U0ALICE"
SALES = "+12025550100"
JANE = "+12025550123"
CHANNEL = "C0SALES"


@pytest.fixture
def engine(database_url: str):
    engine = create_db_engine(database_url)
    with Session(engine) as session, session.begin():
        make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE,))
    yield engine
    engine.dispose()


def _deliveries(engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery)).all())


def _thread_posts(engine, fake_slack: FakeSlack) -> list:
    with Session(engine) as session:
        conversation = session.exec(select(Conversation)).first()
    if conversation is None or conversation.slack_thread_ts is None:
        return []
    return fake_slack.thread(CHANNEL, conversation.slack_thread_ts)


def _killed_while_texting(
    point: str, tmp_path, database_url: str, fake_slack: FakeSlack, fake_twilio: FakeTwilio
) -> None:
    """Alice texts Jane with /text; the bot dies at `point` (its Slack lease is short, so a
    restarted bot takes its conversation over soon)."""
    doomed = BotProcess(
        tmp_path, database_url, fake_slack, fake_twilio, crash_at=point, MIRROR_LEASE_SECONDS="2"
    )
    SlackDriver(doomed.url, fake_slack).slash("Sales 2025550123 Your table is ready", user=ALICE)
    assert doomed.wait_killed() == -signal.SIGKILL
    doomed.stop()


@pytest.mark.parametrize("point", ["after_claim", "after_send"])
def test_a_crash_around_the_send_still_texts_exactly_once(
    point: str, tmp_path, database_url: str, engine, fake_slack: FakeSlack, fake_twilio: FakeTwilio
) -> None:
    _killed_while_texting(point, tmp_path, database_url, fake_slack, fake_twilio)
    assert len(fake_twilio.sent_to(JANE)) == (1 if point == "after_send" else 0)
    assert [d.status for d in _deliveries(engine)] == [DeliveryStatus.SENDING]

    restarted = BotProcess(
        tmp_path, database_url, fake_slack, fake_twilio, RECONCILE_AFTER_SECONDS="1"
    )
    try:
        wait_until(lambda: _deliveries(engine)[0].provider_sid, timeout=30, what="the send settled")
        sms = fake_twilio.sent_to(JANE)
        assert [m.body for m in sms] == ["Your table is ready"]  # once, whatever the crash
        assert _deliveries(engine)[0].provider_sid == sms[0].sid
        # A Slack post the dead process had leased waits for its lease to run out.
        posts = wait_until(lambda: _thread_posts(engine, fake_slack), timeout=30, what="the thread")
        assert [p.text for p in posts] == ["Your table is ready"]
        assert len(fake_slack.top_level(CHANNEL)) == 1
    finally:
        restarted.stop()


def _mirrored(engine) -> bool:
    """The conversation's thread and every message in it are recorded as posted."""
    with Session(engine) as session:
        conversation = session.exec(select(Conversation)).first()
        messages = session.exec(select(Message)).all()
    return bool(
        conversation
        and conversation.slack_thread_ts
        and not conversation.mirror_pending
        and messages
        and all(m.slack_ts for m in messages)
    )


@pytest.mark.parametrize("point", ["after_slack_parent_post", "after_slack_reply_post"])
def test_a_crash_between_a_slack_post_and_its_record_still_shows_it_once(
    point: str, tmp_path, database_url: str, engine, fake_slack: FakeSlack, fake_twilio: FakeTwilio
) -> None:
    _killed_while_texting(point, tmp_path, database_url, fake_slack, fake_twilio)
    [parent] = fake_slack.top_level(CHANNEL)  # posted, and not recorded by the dead process
    assert len(fake_slack.thread(CHANNEL, parent.ts)) == (1 if point.endswith("reply_post") else 0)

    restarted = BotProcess(
        tmp_path, database_url, fake_slack, fake_twilio, RECONCILE_AFTER_SECONDS="1"
    )
    try:
        wait_until(lambda: _mirrored(engine), timeout=30, what="the thread recorded")
        assert fake_slack.top_level(CHANNEL) == [parent]
        assert [p.text for p in _thread_posts(engine, fake_slack)] == ["Your table is ready"]
        wait_until(lambda: fake_twilio.sent_to(JANE), timeout=30, what="the text sent")
        assert [m.body for m in fake_twilio.sent_to(JANE)] == ["Your table is ready"]
    finally:
        restarted.stop()


def test_a_crash_after_an_inbound_text_is_stored_still_shows_it_once(
    tmp_path, database_url: str, engine, fake_slack: FakeSlack, fake_twilio: FakeTwilio
) -> None:
    doomed = BotProcess(
        tmp_path, database_url, fake_slack, fake_twilio, crash_at="after_inbound_store"
    )
    with pytest.raises(httpx.HTTPError):  # the process dies before it answers
        TwilioDriver(doomed.url).text(
            from_=JANE, to=SALES, body="Are you open today?", sid="SM" + "c" * 32
        )
    assert doomed.wait_killed() == -signal.SIGKILL
    doomed.stop()
    assert fake_slack.calls_to("chat.postMessage") == []

    restarted = BotProcess(tmp_path, database_url, fake_slack, fake_twilio)
    try:
        posts = wait_until(
            lambda: _thread_posts(engine, fake_slack), timeout=30, what="the text in Slack"
        )
        # Twilio would not redeliver; if it did, the MessageSid keeps it single.
        TwilioDriver(restarted.url).text(
            from_=JANE, to=SALES, body="Are you open today?", sid="SM" + "c" * 32
        )
        wait_until(lambda: len(fake_slack.calls_to("chat.postMessage")) >= 2, what="posts")
        assert [p.text for p in _thread_posts(engine, fake_slack)] == ["Are you open today?"]
        assert len(fake_slack.top_level(CHANNEL)) == 1 and posts
    finally:
        restarted.stop()


def test_a_scheduled_text_survives_a_restart_and_leaves_once(
    tmp_path, database_url: str, engine, fake_slack: FakeSlack, fake_twilio: FakeTwilio
) -> None:
    first = BotProcess(tmp_path, database_url, fake_slack, fake_twilio)
    with Session(engine) as session, session.begin():
        line = session.exec(select(Line)).one()
        jane, _ = get_or_create_contact(session=session, team_id=line.team_id, phone=JANE)
        conversation, _ = open_or_reopen_conversation(
            session=session, line=line, contact=jane, user_id=ALICE
        )
        send_text(
            session=session,
            conversation=conversation,
            line=line,
            recipients=[jane],
            body="See you at 5",
            author_user_id=ALICE,
            scheduled_for=utcnow() + timedelta(seconds=4),
        )
    first.stop()  # shut down before it is due
    assert fake_twilio.sent_to(JANE) == []
    second = BotProcess(tmp_path, database_url, fake_slack, fake_twilio)
    try:
        sms = wait_until(lambda: fake_twilio.sent_to(JANE), timeout=20, what="the scheduled text")
        wait_until(lambda: _deliveries(engine)[0].provider_sid, what="recorded")
        assert [m.body for m in sms] == ["See you at 5"]
        assert sms[0].date_created >= _deliveries(engine)[0].next_attempt_at - timedelta(seconds=1)
    finally:
        second.stop()


def test_a_shutdown_behind_slacks_pace_exits_cleanly_and_the_next_process_posts_the_rest(
    tmp_path, database_url: str, engine, fake_slack: FakeSlack, fake_twilio: FakeTwilio
) -> None:
    customers = [f"+120255501{n:02d}" for n in range(30, 50)]
    # Texts stored while the bot was down: the mirror finds twenty conversations to post,
    # all in one channel.
    with Session(engine) as session, session.begin():
        line = session.exec(select(Line)).one()
        for n, phone in enumerate(customers):
            receive_text(
                session=session,
                line=line,
                from_phone=phone,
                body=f"hello {n}",
                provider_sid=f"SM{n:032d}",
            )
    paced = BotProcess(
        tmp_path, database_url, fake_slack, fake_twilio, SLACK_POST_INTERVAL_SECONDS="1.05"
    )
    wait_until(lambda: fake_slack.top_level(CHANNEL), what="the first conversation in Slack")
    # SIGTERM: it must finish on its own within stop()'s wait, not wait out twenty paced
    # posts (nor be killed).
    paced.stop()
    assert "Finished server process" in paced.log.read_text()
    assert len(fake_slack.top_level(CHANNEL)) < len(customers)

    restarted = BotProcess(tmp_path, database_url, fake_slack, fake_twilio)
    try:
        wait_until(
            lambda: len(fake_slack.calls_to("chat.postMessage")) >= 2 * len(customers),
            timeout=30,
            what="every conversation and text in Slack",
        )
        parents = fake_slack.top_level(CHANNEL)
        assert len(parents) == len(customers)  # each once
        replies = sorted(m.text for p in parents for m in fake_slack.thread(CHANNEL, p.ts))
        assert replies == sorted(f"hello {n}" for n in range(len(customers)))
    finally:
        restarted.stop()
