"""Every inbound text ends somewhere visible: one from a short code or a sender name (not
a phone number) in a conversation like any other; one to a number that is no line
refused, with a log line and a counter in /metrics."""

from __future__ import annotations

import logging
import traceback
from unittest.mock import Mock

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from models.tables import Contact, Conversation, Delivery, InboundWebhook, Message
from tests.conftest import Bot
from tests.factories import make_line
from tests.slack_driver import wait_until

SALES = "+12025550100"
NOT_A_LINE = "+12025550188"
CHANNEL = "C0SALES"


@pytest.mark.parametrize("sender", ["72345", "ACME Bank"], ids=["short code", "sender name"])
def test_a_text_from_a_sender_that_is_no_phone_number_lands_in_a_conversation(
    bot: Bot, sender: str
) -> None:
    with bot.session() as session, session.begin():
        line = make_line(session, number=SALES, channel_id=CHANNEL)
        # After hours every hour: an away message would go to anyone who can be texted.
        line.away_message = "We are closed"
        line.business_hours = "00:00-00:00"
        session.add(line)

    response = bot.twilio.text(from_=sender, to=SALES, body="Your code is 123456")

    assert response.status_code == 200
    bot.wait_routed()

    def thread() -> list:
        with bot.session() as session:
            conversation = session.exec(select(Conversation)).first()
        if conversation is None or conversation.slack_thread_ts is None:
            return []
        posts = bot.fake_slack.thread(CHANNEL, conversation.slack_thread_ts)
        return posts if len(posts) >= 2 else []

    posts = wait_until(thread, what="the text and the notice in a thread")
    assert posts[0].text == "Your code is 123456"
    assert "cannot be texted back" in posts[1].text
    with bot.session() as session:
        contact = session.exec(select(Contact)).one()
        assert contact.phone == sender
        assert session.exec(select(func.count()).select_from(Delivery)).one() == 0
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert "textbot_inbound_stuck 0.0" in metrics


def test_a_text_to_a_number_that_is_no_line_is_refused_logged_and_counted(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    with bot.session() as session, session.begin():
        make_line(session, number=SALES, channel_id=CHANNEL)
    sid = "SM" + "f" * 32
    caplog.set_level(logging.WARNING)

    first = bot.twilio.text(from_="+12025550123", to=NOT_A_LINE, body="Hello?", sid=sid)
    bot.wait_routed()
    again = bot.twilio.text(from_="+12025550123", to=NOT_A_LINE, body="Hello?", sid=sid)
    bot.wait_routed()

    assert first.status_code == again.status_code == 200  # Twilio must not retry it for ever
    refusals = [r for r in caplog.records if sid in r.getMessage() and r.levelno >= logging.WARNING]
    assert refusals and NOT_A_LINE in refusals[0].getMessage()
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert 'textbot_inbound_refused_total{reason="unknown_line"} 1.0' in metrics
    assert "textbot_inbound_backlog 0.0" in metrics
    with bot.session() as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == 0
        assert session.exec(select(func.count()).select_from(InboundWebhook)).one() == 0


def test_metrics_count_no_refusals_at_first(bot: Bot) -> None:
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert 'textbot_inbound_refused_total{reason="unknown_line"} 0.0' in metrics


def test_a_slack_request_that_queues_a_send_does_not_wake_the_router(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a request queues is sends and Slack updates; the router, woken, looked for staged
    texts twice a request for nothing (a quarter of the process's GIL under a burst of view
    submissions). Its wakes from elsewhere (the start's read of Twilio's log) don't count."""
    with bot.session() as session, session.begin():
        make_line(session, number=SALES, channel_id=CHANNEL, grants=("U0ALICE",))
    woken_by_handlers: list[str] = []

    def router_woken() -> None:
        handler = [f.filename for f in traceback.extract_stack() if "/handlers/" in f.filename]
        woken_by_handlers.extend(handler[:1])

    monkeypatch.setattr(bot.runtime.inbound_loop, "wake", router_woken)
    bot.slack.slash("Sales 2025550123 Your table is ready", user="U0ALICE")
    wait_until(lambda: bot.fake_twilio.sent_to("+12025550123"), what="the text sent")
    assert woken_by_handlers == []


def test_an_inbound_text_wakes_only_the_router(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    """Waking every worker for each text made the dispatcher look for due sends once a
    text (an eighth of the process's time under a burst of texts); the router wakes the
    dispatcher and the mirror once it has routed a batch."""
    with bot.session() as session, session.begin():
        make_line(session, number=SALES, channel_id=CHANNEL)
    woken = Mock(side_effect=bot.runtime.deps.work_queued)
    monkeypatch.setattr(bot.runtime.deps, "work_queued", woken)
    dispatcher_woken = Mock(side_effect=bot.runtime.dispatcher_loop.wake)
    monkeypatch.setattr(bot.runtime.dispatcher_loop, "wake", dispatcher_woken)

    for i in range(3):
        assert bot.twilio.text(from_="+12025550123", to=SALES, body=f"#{i}").status_code == 200
    bot.wait_routed()

    woken.assert_not_called()
    assert 1 <= dispatcher_woken.call_count <= 3  # once a routing step
    with bot.session() as session:
        assert len(session.exec(select(Message)).all()) == 3
