"""Send later: scheduled texts wait in the outbox, show in the thread with Cancel, and are
canceled when the contact texts in first."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from handlers import ids
from models.tables import Contact, Conversation, Delivery, DeliveryStatus, Line, Message
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.scenarios.sales_line import (
    ALICE,
    CHANNEL,
    JANE,
    SALES,
    in_an_hour,
    schedule,
    scheduled_post,
    time_passes,
)
from tests.slack_driver import event_body, submission_payload, wait_until


@pytest.fixture
def line(bot: Bot) -> Line:
    with bot.session() as session, session.begin():
        line = make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE,))
        make_contact(session, phone=JANE, name="Jane Doe")
    return line


def test_a_time_in_the_past_is_a_field_error(bot: Bot, line: Line) -> None:
    response = schedule(bot, line, int(time.time()) - 60)
    assert response.json() == {
        "response_action": "errors",
        "errors": {
            ids.SEND_AT_BLOCK: "That time has passed (or is under a minute away). Pick a later one."
        },
    }
    with bot.session() as session:
        assert session.exec(select(Message)).all() == []


def test_a_scheduled_text_waits_then_goes_out_once(bot: Bot, line: Line) -> None:
    response = schedule(bot, line, in_an_hour(bot))
    assert "is scheduled for" in json.dumps(response.json()["view"])
    post = scheduled_post(bot)
    assert ":alarm_clock:" in post.all_text and ids.CANCEL_SCHEDULED_ACTION in post.all_text
    bot.runtime.settle()
    assert bot.fake_twilio.requests == []
    time_passes(bot)
    sms = wait_until(lambda: bot.fake_twilio.sent_to(JANE), what="the scheduled text")
    assert [m.body for m in sms] == ["Reminder: your visit is tomorrow"]
    wait_until(
        lambda: ids.CANCEL_SCHEDULED_ACTION not in post.all_text, what="Cancel gone once sent"
    )
    assert "scheduled" in post.all_text


def test_cancel_in_the_thread_stops_it(bot: Bot, line: Line) -> None:
    schedule(bot, line, in_an_hour(bot))
    post = scheduled_post(bot)
    with bot.session() as session:
        message = session.exec(select(Message)).one()
    bot.slack.click(
        ids.CANCEL_SCHEDULED_ACTION,
        str(message.id),
        user=ALICE,
        channel=CHANNEL,
        message_ts=post.ts,
    )
    wait_until(lambda: "Canceled" in post.all_text, what="shown canceled")
    time_passes(bot)
    bot.runtime.settle()
    assert bot.fake_twilio.requests == []
    with bot.session() as session:
        assert session.exec(select(Delivery)).one().status == DeliveryStatus.CANCELED


def test_a_text_from_the_contact_cancels_the_scheduled_one(bot: Bot, line: Line) -> None:
    schedule(bot, line, in_an_hour(bot))
    scheduled_post(bot)
    bot.twilio.text(from_=JANE, to=SALES, body="Actually I need to reschedule")
    with bot.session() as session:
        conversation = session.exec(select(Conversation)).one()
    posts = wait_until(
        lambda: len(p := bot.fake_slack.thread(CHANNEL, conversation.slack_thread_ts)) >= 3 and p,
        what="the notice",
    )
    assert "texted in before the scheduled text left, so it was canceled" in posts[2].text
    time_passes(bot)
    bot.runtime.settle()
    assert bot.fake_twilio.requests == []


def test_app_home_lists_my_scheduled_texts(bot: Bot, line: Line) -> None:
    schedule(bot, line, in_an_hour(bot))
    scheduled_post(bot)
    event = {
        "type": "app_home_opened",
        "user": ALICE,
        "channel": "D0",
        "tab": "home",
        "event_ts": "1.1",
    }
    bot.slack.post(event_body(event), content_type="application/json")
    home = wait_until(lambda: bot.fake_slack.calls_to("views.publish"), what="home")[0].params[
        "view"
    ]
    text = json.dumps(home)
    assert "Your scheduled texts" in text and "Reminder: your visit is tomorrow" in text


def test_an_idle_conversation_closes_itself_and_says_so(bot: Bot, line: Line) -> None:
    bot.slack.slash("Sales 2025550123 Hello", user=ALICE)
    post = scheduled_post(bot)
    assert post.text == "Hello"
    time_passes(bot, timedelta(days=6))
    assert bot.runtime.close_idle_conversations() == 0
    time_passes(bot, timedelta(days=2))
    assert bot.runtime.close_idle_conversations() == 1
    parent = bot.fake_slack.top_level(CHANNEL)[0]
    wait_until(
        lambda: "Closed after a quiet spell" in parent.all_text, what="the parent says closed"
    )
    with bot.session() as session:
        conversation = session.exec(select(Conversation)).one()
    posts = wait_until(
        lambda: len(p := bot.fake_slack.thread(CHANNEL, conversation.slack_thread_ts)) >= 2 and p,
        what="the notice",
    )
    assert "Closed automatically after 7 day(s) without texts" in posts[1].text
    bot.twilio.text(from_=JANE, to=SALES, body="Back again")
    wait_until(lambda: ids.CLOSE_CONVERSATION_ACTION in parent.all_text, what="reopened by a text")


def _quiet_box(view: dict) -> str:
    box = next(b for b in view["blocks"] if b.get("block_id") == ids.QUIET_OK_BLOCK)
    return str(box["element"]["options"][0]["text"]["text"])


def test_the_forms_quiet_hours_box_names_the_lines_own_hours(bot: Bot, line: Line) -> None:
    """It said 9pm to 8am whatever the line's quiet hours were."""
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).quiet_start_hour = 22
        session.get_one(Line, line.id).quiet_end_hour = 7
    view = bot.slack.open_modal(user=ALICE)
    assert _quiet_box(view) == "Send even if it is night for the recipient (10pm to 7am their time)"
    # With two lines whose hours differ, the box cannot say which until a line is picked.
    with bot.session() as session, session.begin():
        make_line(
            session,
            number="+12025550101",
            name="Billing",
            channel_id="C0BILLING",
            grants=(ALICE,),
            quiet_hours=(21, 8),
        )
    view = bot.slack.open_modal(user=ALICE)
    assert _quiet_box(view) == "Send even if it is night for the recipient (the line's quiet hours)"


def test_quiet_hours_are_flagged_with_the_recipients_local_time(bot: Bot, line: Line) -> None:
    late_evening = datetime(2037, 11, 25, 4, 0, tzinfo=UTC)  # 23:00 in Washington, DC
    bot.runtime.clock.set(late_evening)
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).quiet_start_hour = 21
        session.get_one(Line, line.id).quiet_end_hour = 8
    with bot.session() as session:
        jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()
    view = {"type": "modal", "callback_id": ids.NEW_CONVERSATION_VIEW, "blocks": []}

    def submit(**options):
        payload = submission_payload(
            view,
            user=ALICE,
            line_id=str(line.id),
            recipient=f"contact:{jane.id}",
            message="Late news",
            **options,
        )
        return payload

    flagged = bot.slack.interact(submit(quiet_ok=False)).json()
    assert flagged == {
        "response_action": "errors",
        "errors": {
            ids.SEND_AT_BLOCK: "It would be 23:00 (EST) for Jane Doe (+1 202-555-0123): quiet "
            "hours (9pm to 8am their time). Schedule it with Send later (from Wed 08:00 their "
            "time), or tick “Send even if it is night” below."
        },
    }
    # A line whose quiet hours end at 23:00 does not flag it.
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).quiet_end_hour = 6
        session.get_one(Line, line.id).quiet_start_hour = 0
    assert bot.slack.interact(submit(quiet_ok=False)).json()["response_action"] == "update"
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).quiet_start_hour = 21
        session.get_one(Line, line.id).quiet_end_hour = 8
    # Scheduled for 8:00 their time: accepted.
    morning = submit(quiet_ok=False)
    morning["view"]["state"]["values"][ids.SEND_AT_BLOCK] = {
        ids.SEND_AT_ACTION: {
            "type": "datetimepicker",
            "selected_date_time": int(late_evening.timestamp()) + 9 * 3600,
        }
    }
    assert bot.slack.interact(morning).json()["response_action"] == "update"
    # Or sent anyway.
    assert bot.slack.interact(submit(quiet_ok=True)).json()["response_action"] == "update"
    sms = wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the texts sent anyway")
    assert sms
