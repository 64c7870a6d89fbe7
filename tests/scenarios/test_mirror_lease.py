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
    # Slack is slow: it answers at 4 s, 3 s after the client gave up (and 2 s before the
    # next attempt looks it up).
    release = bot.fake_slack.hold("chat.postMessage")
    threading.Timer(4.0, release.set).start()
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


def test_slack_failing_is_tried_again_in_a_second_then_twice_as_long_each_time(bot: Bot) -> None:
    """A 500 from Slack mostly passes within a second: the conversation waits 1 s, then 2 s,
    4 s… while Slack keeps failing, and 1 s again after a success (it waited 5 s each time,
    which made up half the chaos suite's recovery in storms)."""
    with bot.session() as session, session.begin():
        make_line(session, number=SALES, channel_id="C0SALES")
    assert bot.twilio.text(from_=JANE, to=SALES, body="Hello?").status_code == 200
    wait_until(lambda: _mirrored(bot), what="the first text in Slack")

    def fails_and_waits(failures: int, expected: float) -> None:
        wait_until(
            lambda: _failed_posts(bot) == failures and _pause(bot) is not None,
            what=f"failure {failures}",
        )
        pause = _pause(bot)
        assert pause is not None and expected - 0.9 < pause <= expected, (failures, pause)

    bot.fake_slack.fail_next("chat.postMessage", status=500, error="internal_error", times=3)
    assert bot.twilio.text(from_=JANE, to=SALES, body="Are you open?").status_code == 200
    fails_and_waits(1, 1.0)
    time_passes(bot, timedelta(seconds=1))
    fails_and_waits(2, 2.0)
    time_passes(bot, timedelta(seconds=2))
    fails_and_waits(3, 4.0)
    time_passes(bot, timedelta(seconds=4))
    wait_until(lambda: _mirrored(bot), what="the text in Slack")

    bot.fake_slack.fail_next("chat.postMessage", status=500, error="internal_error")
    assert bot.twilio.text(from_=JANE, to=SALES, body="Still there?").status_code == 200
    fails_and_waits(4, 1.0)  # a success started the count again


def _failed_posts(bot: Bot) -> int:
    return sum(
        1
        for c in bot.fake_slack.calls_to("chat.postMessage")
        if c.answer is not None and c.answer.get("ok") is False
    )


def _pause(bot: Bot) -> float | None:
    """Seconds until the conversation's next attempt, by the bot's clock; None while none
    is set (or the conversation is held)."""
    with bot.session() as session:
        conversation = session.exec(select(Conversation)).one()
    if conversation.mirror_not_before is None or conversation.mirror_lease_until is not None:
        return None
    return (conversation.mirror_not_before - bot.runtime.clock()).total_seconds()
