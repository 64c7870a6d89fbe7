"""A customer who writes Slack markup (or hides characters) in a text or a name can neither
ping the team nor disguise a link, on any surface: thread posts and their notification
text, notices, private notes, App Home, modals, suggestions and DMs."""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import select

from handlers import ids
from models.tables import Contact, Conversation, Line
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.slack_driver import (
    APP_ID,
    event_body,
    message_event,
    submission_payload,
    wait_until,
)
from tests.slack_markup import SHOWN_METHODS, all_strings, mrkdwn_texts, parsed_texts

ALICE = "U0ALICE"
SALES = "+12025550100"
CHANNEL = "C0SALES"
EVE = "+12025550150"
ANN = "+12025550131"

HOSTILE_BODY = "<!channel> call me back <https://evil.example|your bank> <@U0ADMIN>"
# What a user might paste in Edit contact: markup, a right-to-left override, a bell.
HOSTILE_NAME = "\u202eEve\x07 <!here> <https://evil.example|Support> <@U0ADMIN>"
SHOWN_NAME = "Eve <!here> <https://evil.example|Support> <@U0ADMIN>"
RAW_MARKUP = ("<!channel>", "<!here>", "<https://evil.example|", "<@U0ADMIN>")
HIDDEN = ("\u202e", "\x07")


@pytest.fixture
def line(bot: Bot) -> Line:
    with bot.session() as session, session.begin():
        line = make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE,))
        line.sends_per_second = 50
    return line


def _conversation(bot: Bot) -> Conversation | None:
    with bot.session() as session:
        return session.exec(select(Conversation)).first()


def _thread_texts(bot: Bot) -> list[str]:
    conversation = _conversation(bot)
    if conversation is None or conversation.slack_thread_ts is None:
        return []
    return [m.text for m in bot.fake_slack.thread(CHANNEL, conversation.slack_thread_ts)]


def _assert_nothing_slack_would_parse(bot: Bot) -> None:
    """In every call people see, no customer markup is live and nothing is hidden."""
    shown = [c for c in bot.fake_slack.calls if c.method in SHOWN_METHODS]
    assert shown
    for call in shown:
        for text in parsed_texts(call.params):
            for markup in RAW_MARKUP:
                assert markup not in text, (call.method, text)
        for text in all_strings(call.params):
            assert not any(hidden in text for hidden in HIDDEN), (call.method, text)


def _click(bot: Bot, action_id: str, conversation: Conversation) -> None:
    response = bot.slack.click(
        action_id,
        str(conversation.id),
        user=ALICE,
        channel=CHANNEL,
        message_ts=conversation.slack_thread_ts or "",
    )
    assert response.status_code == 200


def _rename(bot: Bot, conversation: Conversation, name: str) -> None:
    """Edit contact, as Alice would: the button, then the form submitted with `name`."""
    before = len(bot.fake_slack.calls_to("views.open"))
    _click(bot, ids.EDIT_CONTACT_ACTION, conversation)
    form = wait_until(lambda: bot.fake_slack.calls_to("views.open")[before:], what="the form")[
        0
    ].params["view"]
    submission = {
        "type": "view_submission",
        "team": {"id": "T0TEST"},
        "user": {"id": ALICE},
        "api_app_id": APP_ID,
        "view": {
            **form,
            "id": "V0EDIT",
            "state": {
                "values": {
                    ids.CONTACT_NAME_BLOCK: {
                        ids.CONTACT_NAME_ACTION: {"type": "plain_text_input", "value": name}
                    }
                }
            },
        },
    }
    assert bot.slack.interact(submission).status_code == 200


def test_a_hostile_text_and_name_stay_text_in_the_thread_notices_and_notes(
    bot: Bot, line: Line
) -> None:
    bot.twilio.text(from_=EVE, to=SALES, body=HOSTILE_BODY)
    wait_until(lambda: _thread_texts(bot), what="the first text in its thread")
    conversation = _conversation(bot)
    assert conversation is not None
    _click(bot, ids.CLAIM_CONVERSATION_ACTION, conversation)
    wait_until(lambda: (_conversation(bot) or conversation).assigned_to == ALICE, what="claim")
    _rename(bot, conversation, HOSTILE_NAME)
    wait_until(
        lambda: "Eve &lt;!here&gt;" in bot.fake_slack.top_level(CHANNEL)[0].text,
        what="the parent redrawn with the new name",
    )

    # The assignee hears of the next text: textbot's own mention stays a mention.
    bot.twilio.text(from_=EVE, to=SALES, body=HOSTILE_BODY)
    pinged = wait_until(
        lambda: [t for t in _thread_texts(bot) if t.startswith(f"<@{ALICE}> ")],
        what="the text that notifies the assignee",
    )
    assert pinged[0] == (
        f"<@{ALICE}> &lt;!channel&gt; call me back "
        "&lt;https://evil.example|your bank&gt; &lt;@U0ADMIN&gt;"
    )

    # A thread reply that fails is explained with the contact's name.
    typed = bot.fake_slack.add_user_message(
        CHANNEL, "Are you there?", user=ALICE, thread_ts=conversation.slack_thread_ts
    )
    event = message_event(
        channel=CHANNEL,
        user=ALICE,
        text="Are you there?",
        ts=typed.ts,
        thread_ts=conversation.slack_thread_ts,
    )
    assert bot.slack.send_event(event).status_code == 200
    sms = wait_until(lambda: bot.fake_twilio.sent_to(EVE), what="the reply texted")
    wait_until(lambda: "outbox_tray" in typed.reactions, what="the reply marked sent")
    bot.twilio.status(sms[0].sid, "undelivered", to=EVE, from_=SALES, error_code=30003)
    wait_until(
        lambda: any("was not delivered to Eve &lt;!here&gt;" in t for t in _thread_texts(bot)),
        what="the failure explained",
    )

    # A notice names the contact; so does the private note to someone who replies after.
    bot.twilio.text(from_=EVE, to=SALES, body="STOP")
    wait_until(
        lambda: any("Eve &lt;!here&gt;" in t and "opted out" in t for t in _thread_texts(bot)),
        what="the opt-out notice",
    )
    typed = bot.fake_slack.add_user_message(
        CHANNEL, "Sorry!", user=ALICE, thread_ts=conversation.slack_thread_ts
    )
    event = message_event(
        channel=CHANNEL, user=ALICE, text="Sorry!", ts=typed.ts, thread_ts=typed.thread_ts
    )
    assert bot.slack.send_event(event).status_code == 200
    note = wait_until(lambda: bot.fake_slack.calls_to("chat.postEphemeral"), what="the note")
    assert "Eve &lt;!here&gt;" in note[0].params["text"]

    _assert_nothing_slack_would_parse(bot)
    with bot.session() as session:
        assert session.exec(select(Contact)).one().name == SHOWN_NAME


def test_a_hostile_name_stays_text_in_app_home_suggestions_commands_and_the_summary_dm(
    bot: Bot, line: Line
) -> None:
    with bot.session() as session, session.begin():
        eve = make_contact(session, phone=EVE, name=HOSTILE_NAME)
        ann = make_contact(session, phone=ANN, name="Ann")
        eve_id, ann_id = eve.id, ann.id

    # Suggestions are plain_text: the name shows as typed, without what was hidden in it.
    options = bot.slack.suggest("eve", user=ALICE)
    assert options[0]["text"]["text"].startswith(SHOWN_NAME[:60])

    # A multi-recipient message (with a crafted value among the recipients): the modal's
    # confirmation, then the summary in Alice's DM.
    view = bot.slack.open_modal(user=ALICE)
    view = {**view, "private_metadata": json.dumps({"kind": ids.KIND_MULTI})}
    payload = submission_payload(
        view, user=ALICE, line_id=str(line.id), recipient=None, message="Hello"
    )
    values = [f"contact:{eve_id}", f"contact:{ann_id}", "new:<!channel>"]
    payload["view"]["state"]["values"][ids.RECIPIENTS_BLOCK] = {
        ids.RECIPIENTS_ACTION: {
            "type": "multi_external_select",
            "selected_options": [
                {"text": {"type": "plain_text", "text": "x"}, "value": v} for v in values
            ],
        }
    }
    confirmation = bot.slack.interact(payload).json()
    assert confirmation["response_action"] == "update"
    confirmed = "\n".join(mrkdwn_texts(confirmation["view"]))
    assert "Not sent to &lt;!channel&gt;" in confirmed
    summary = wait_until(lambda: bot.fake_slack.top_level(ALICE), what="the summary DM")[0]
    assert "Eve &lt;!here&gt;" in summary.all_text

    # A text scheduled to her: the modal's confirmation names her.
    view = bot.slack.open_modal(user=ALICE)
    payload = submission_payload(
        view, user=ALICE, line_id=str(line.id), recipient=f"contact:{eve_id}", message="Later"
    )
    later = int(time.time()) + 3600
    payload["view"]["state"]["values"][ids.SEND_AT_BLOCK] = {
        ids.SEND_AT_ACTION: {"type": "datetimepicker", "selected_date_time": later}
    }
    confirmation = bot.slack.interact(payload).json()
    assert "Your text to Eve &lt;!here&gt;" in "\n".join(mrkdwn_texts(confirmation["view"]))
    for text in mrkdwn_texts(confirmation["view"]):
        assert not any(markup in text for markup in RAW_MARKUP), text

    # App Home lists the open conversation with her name.
    event = {"type": "app_home_opened", "user": ALICE, "tab": "home", "event_ts": "1.1"}
    assert bot.slack.post(event_body(event), content_type="application/json").status_code == 200
    home = wait_until(lambda: bot.fake_slack.calls_to("views.publish"), what="App Home")[0]
    assert "Eve &lt;!here&gt;" in json.dumps(home.params["view"])

    # `/text contacts` answers in a message, parsed like any other.
    listed = bot.slack.slash("contacts eve", user=ALICE)
    assert "Eve &lt;!here&gt; &lt;https://evil.example|Support&gt;" in listed.text
    assert not any(markup in listed.text for markup in RAW_MARKUP)

    _assert_nothing_slack_would_parse(bot)
