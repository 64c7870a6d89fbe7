"""The mirror's lease on a conversation is short and renewed while its process works on
it: a slow Slack never lets another worker take a live one's conversation, and a dead
process's conversations are taken over within seconds (test_crashes)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlmodel import select

from models.tables import Conversation, Message
from models.types import utcnow
from tests.conftest import Bot
from tests.factories import make_line
from tests.scenarios.sales_line import time_passes
from tests.slack_driver import wait_until

SALES = "+12025550100"
JANE = "+12025550123"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"mirror_lease_seconds": 0.5}


# Renewed every 0.3 s, the lease outlasts a stall of 1.2 s on a busy machine.
@pytest.mark.parametrize("settings_overrides", [{"mirror_lease_seconds": 1.5}])
def test_a_post_slower_than_the_lease_keeps_its_conversation(bot: Bot) -> None:
    with bot.session() as session, session.begin():
        make_line(session, number=SALES, channel_id="C0SALES")
    bot.fake_slack.delay("chat.postMessage", 4.5)  # three leases long
    assert bot.twilio.text(from_=JANE, to=SALES, body="Hello?").status_code == 200
    wait_until(lambda: bot.fake_slack.calls_to("chat.postMessage"), what="the parent post")
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:  # the post still under way
        with bot.session() as session:
            conversation = session.exec(select(Conversation)).one()
        assert conversation.mirror_lease_until is not None
        assert conversation.mirror_lease_until > utcnow(), "the lease ran out while held"
        time.sleep(0.1)
    wait_until(
        lambda: len(bot.fake_slack.calls_to("chat.postMessage")) >= 2, what="the text's post"
    )
    posts = [c.params.get("text") for c in bot.fake_slack.calls_to("chat.postMessage")]
    assert len(posts) == 2, posts  # the parent and the text, each once


def test_a_post_slack_took_after_the_client_gave_up_is_not_posted_again(bot: Bot) -> None:
    """A post that timed out may have reached Slack: the next attempt looks the thread up
    before posting, as a worker taking over a dead one's conversation does (found by the
    chaos suite: the text showed twice)."""
    with bot.session() as session, session.begin():
        make_line(session, number=SALES, channel_id="C0SALES")
    assert bot.twilio.text(from_=JANE, to=SALES, body="Hello?").status_code == 200
    wait_until(lambda: _mirrored(bot), what="the first text in Slack")
    bot.runtime.slack_client.timeout = 1  # the client gives up after a second
    release = bot.fake_slack.hold("chat.postMessage")  # Slack is slow: it answers at 2 s
    threading.Timer(2.0, release.set).start()
    assert bot.twilio.text(from_=JANE, to=SALES, body="Are you open?").status_code == 200
    wait_until(lambda: release.is_set() and _mirrored(bot), timeout=30, what="recorded")
    time.sleep(1)
    [parent] = bot.fake_slack.top_level("C0SALES")
    texts = [m.text for m in bot.fake_slack.thread("C0SALES", parent.ts)]
    assert texts == ["Hello?", "Are you open?"]  # each once


def _mirrored(bot: Bot) -> bool:
    """Every message is recorded as shown in Slack."""
    with bot.session() as session:
        messages = session.exec(select(Message)).all()
    return bool(messages) and all(m.slack_synced_rev >= m.slack_rev for m in messages)


def test_a_post_found_after_a_takeover_stays_found_when_updating_it_fails(bot: Bot) -> None:
    """The post a worker made without recording it is found when another attempt takes the
    conversation over; kept at once, it is not posted again when Slack then fails the update
    and the next attempt is an ordinary one (found by the chaos suite: a customer's text
    showed twice after a hang, a kill and a restart)."""
    with bot.session() as session, session.begin():
        make_line(session, number=SALES, channel_id="C0SALES")
    assert bot.twilio.text(from_=JANE, to=SALES, body="Hello?").status_code == 200
    wait_until(lambda: _mirrored(bot), what="the first text in Slack")
    [parent] = bot.fake_slack.top_level("C0SALES")
    bot.runtime.slack_client.timeout = 1  # the client gives up after a second
    release = bot.fake_slack.hold("chat.postMessage")  # Slack is slow: it answers at 2 s
    threading.Timer(2.0, release.set).start()
    assert bot.twilio.text(from_=JANE, to=SALES, body="Are you open?").status_code == 200
    wait_until(
        lambda: len(bot.fake_slack.thread("C0SALES", parent.ts)) == 2,
        what="the post Slack took after the client gave up",
    )
    bot.fake_slack.fail_next("chat.update", status=500, error="internal_error")
    time_passes(bot, timedelta(seconds=6))  # the lease runs out: taken over, the update fails
    wait_until(
        lambda: [c.answer for c in bot.fake_slack.calls_to("chat.update")], what="the update"
    )
    time_passes(bot, timedelta(seconds=6))  # Slack's pause is over: an ordinary attempt
    wait_until(lambda: _mirrored(bot), what="recorded")
    texts = [m.text for m in bot.fake_slack.thread("C0SALES", parent.ts)]
    assert texts == ["Hello?", "Are you open?"]  # each once
