"""Steps shared by the scenarios on the Sales line: Alice (who may use it) texts Jane Doe
from the form, replies in the conversation's thread, schedules a text; time passes."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlmodel import select

from handlers import ids
from models.tables import Contact, Conversation, Line
from tests.conftest import Bot
from tests.fakes.slack import ChannelMessage
from tests.slack_driver import message_event, submission_payload, wait_until

ALICE = "U0ALICE"  # may use the Sales line
MALLORY = "U0MALLORY"  # may not
SALES = "+12025550100"
CHANNEL = "C0SALES"
JANE = "+12025550123"


def jane_id(bot: Bot) -> int:
    with bot.session() as session:
        return session.exec(select(Contact).where(Contact.phone == JANE)).one().id or 0


def conversations(bot: Bot) -> list[Conversation]:
    with bot.session() as session:
        return list(session.exec(select(Conversation).order_by(Conversation.id)).all())


def thread(
    bot: Bot, count: int, *, conversation: int = 0, timeout: float = 10
) -> list[ChannelMessage]:
    """The posts in a conversation's thread once there are at least `count`."""

    def ready():
        found = conversations(bot)
        if len(found) <= conversation or not found[conversation].slack_thread_ts:
            return None
        posts = bot.fake_slack.thread(CHANNEL, found[conversation].slack_thread_ts)
        return posts if len(posts) >= count else None

    return wait_until(ready, timeout=timeout, what=f"{count} posts in the thread")


def start_with_jane(bot: Bot, line: Line, text: str = "Hi Jane") -> Conversation:
    """Alice texts Jane from the modal; returns the conversation once its thread exists."""
    view = bot.slack.open_modal(user=ALICE)
    response = bot.slack.submit(
        view, user=ALICE, line_id=str(line.id), recipient=f"contact:{jane_id(bot)}", message=text
    )
    assert response.json()["response_action"] == "update", response.text
    thread(bot, 1)
    wait_until(lambda: bot.fake_twilio.sent_to(JANE), what="the first text")
    return conversations(bot)[0]


def reply_in_thread(bot: Bot, conversation: Conversation, text: str, *, user: str = ALICE, **send):
    """A person types in the thread: Slack shows it, then tells the bot with an event."""
    typed = bot.fake_slack.add_user_message(
        CHANNEL, text, user=user, thread_ts=conversation.slack_thread_ts
    )
    event = message_event(
        channel=CHANNEL, user=user, text=text, ts=typed.ts, thread_ts=conversation.slack_thread_ts
    )
    response = bot.slack.send_event(event, **send)
    assert response.status_code == 200, response.text
    return typed, event


def schedule(
    bot: Bot, line: Line, when: int, message: str = "Reminder: your visit is tomorrow"
) -> httpx.Response:
    """Alice schedules a text to Jane from the form, for `when` (a Unix time)."""
    view = bot.slack.open_modal(user=ALICE)
    payload = submission_payload(
        view, user=ALICE, line_id=str(line.id), recipient=f"contact:{jane_id(bot)}", message=message
    )
    payload["view"]["state"]["values"][ids.SEND_AT_BLOCK] = {
        ids.SEND_AT_ACTION: {"type": "datetimepicker", "selected_date_time": when}
    }
    return bot.slack.interact(payload)


def scheduled_post(bot: Bot) -> ChannelMessage:
    """The scheduled text, once it shows in its thread."""

    def ready():
        with bot.session() as session:
            conversation = session.exec(select(Conversation)).first()
        if conversation is None or not conversation.slack_thread_ts:
            return None
        posts = bot.fake_slack.thread(CHANNEL, conversation.slack_thread_ts)
        return posts[0] if posts else None

    return wait_until(ready, what="the scheduled text in its thread")


def time_passes(bot: Bot, by: timedelta = timedelta(hours=2)) -> None:
    """Let the workers finish what is due, then move the bot's clock on (past a text
    scheduled an hour ahead, by default)."""
    bot.runtime.settle()
    bot.runtime.clock.advance(by)
    bot.runtime.wake_workers()


def in_an_hour(bot: Bot) -> int:
    """A Send later time an hour ahead by the bot's clock (a datetimepicker's value)."""
    return int((bot.runtime.clock() + timedelta(hours=1)).timestamp())
