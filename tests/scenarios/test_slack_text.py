"""What a reply typed in Slack texts the customer, through the real server: Slack's markup
(escaping, links, mentions, emoji, marks, the rich_text block) becomes what a phone shows,
the author is told when that differs from what they typed, and a link preview Slack adds
to a reply is no edit."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlmodel import select

from handlers import ids
from models.tables import Contact, Conversation, Line
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.slack_driver import APP_ID, message_event, shown_modal, trigger_id, wait_until

ALICE = "U0ALICE"  # may use the Sales line
BOB = "U0BOB"  # a colleague she mentions
MALLORY = "U0MALLORY"  # may not use it
SALES = "+12025550100"
CHANNEL = "C0SALES"
JANE = "+12025550123"

# A reply as Slack sends it: the text field escaped and marked up, and the composer's
# rich_text block saying the same thing as elements.
TYPED_TEXT = (
    "Hi <@U0BOB> :wave: your order: <https://example.com/o/7|example.com/o/7> "
    "Tom &amp; Jerry *thanks*"
)
TYPED_BLOCKS = [
    {
        "type": "rich_text",
        "block_id": "x7Kq",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "Hi "},
                    {"type": "user", "user_id": BOB},
                    {"type": "text", "text": " "},
                    {"type": "emoji", "name": "wave", "unicode": "1f44b"},
                    {"type": "text", "text": " your order: "},
                    {"type": "link", "url": "https://example.com/o/7", "text": "example.com/o/7"},
                    {"type": "text", "text": " Tom & Jerry "},
                    {"type": "text", "text": "thanks", "style": {"bold": True}},
                ],
            }
        ],
    }
]
TYPED = "Hi @Bob Builder :wave: your order: example.com/o/7 Tom & Jerry *thanks*"  # as seen
ON_THE_PHONE = "Hi @Bob Builder 👋 your order: https://example.com/o/7 Tom & Jerry thanks"


@pytest.fixture
def line(bot: Bot) -> Line:
    with bot.session() as session, session.begin():
        line = make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE,))
        make_contact(session, phone=JANE, name="Jane Doe")
    bot.fake_slack.display_names[BOB] = "Bob Builder"
    return line


def _start_with_jane(bot: Bot, line: Line) -> Conversation:
    with bot.session() as session:
        jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()
    view = bot.slack.open_modal(user=ALICE)
    response = bot.slack.submit(
        view, user=ALICE, line_id=str(line.id), recipient=f"contact:{jane.id}", message="Hi Jane"
    )
    assert response.json()["response_action"] == "update", response.text
    wait_until(lambda: bot.fake_twilio.sent_to(JANE), what="the first text")
    return wait_until(lambda: _thread_ready(bot), what="the conversation's thread")


def _thread_ready(bot: Bot) -> Conversation | None:
    with bot.session() as session:
        conversation = session.exec(select(Conversation)).first()
    return conversation if conversation and conversation.slack_thread_ts else None


def _reply(
    bot: Bot,
    conversation: Conversation,
    text: str,
    *,
    markup: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Alice types `text` in the thread; Slack tells the bot with the event it sends: the
    text escaped with a rich_text block, or Slack's `markup` and `blocks` when given."""
    typed = bot.fake_slack.add_user_message(
        CHANNEL,
        text,
        user=ALICE,
        thread_ts=conversation.slack_thread_ts,
        markup=markup,
        blocks=blocks,
    )
    fields = {"blocks": blocks} if blocks is not None else {}
    event = message_event(
        channel=CHANNEL,
        user=ALICE,
        text=text,
        markup=markup,
        ts=typed.ts,
        thread_ts=conversation.slack_thread_ts,
        client_msg_id="5c1e9a4e-0d1f-4d7e-9b7a-3f2a1c0e8d11",
        team="T0TEST",
        **fields,
    )
    assert bot.slack.send_event(event).status_code == 200
    return event


def _changed(
    reply: dict[str, Any], *, text: str, blocks: list[dict[str, Any]], **message: Any
) -> dict[str, Any]:
    """The message_changed event Slack sends about a reply in the thread."""
    previous = {k: reply[k] for k in ("type", "user", "text", "ts", "thread_ts", "team")}
    if "blocks" in reply:
        previous["blocks"] = reply["blocks"]
    return message_event(
        channel=CHANNEL,
        user="",
        text="",
        ts=f"1700000009.{time.monotonic_ns() % 1_000_000:06d}",
        thread_ts=None,
        subtype="message_changed",
        hidden=True,
        message={**previous, "text": text, "blocks": blocks, **message},
        previous_message=previous,
    )


def _ephemerals(bot: Bot) -> list[str]:
    return [call.params["text"] for call in bot.fake_slack.calls_to("chat.postEphemeral")]


def test_a_thread_reply_texts_what_a_phone_shows(bot: Bot, line: Line) -> None:
    conversation = _start_with_jane(bot, line)
    # The names are looked up after the ack: the event is answered while Slack still holds
    # its answer to users.info.
    release = bot.fake_slack.hold("users.info")
    _reply(bot, conversation, TYPED, markup=TYPED_TEXT, blocks=TYPED_BLOCKS)
    wait_until(lambda: bot.fake_slack.calls_to("users.info"), what="the name looked up")
    bot.runtime.settle()  # the reply waits for the name
    assert len(bot.fake_twilio.sent_to(JANE)) == 1
    release.set()
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the reply texted")
    assert bot.fake_twilio.sent_to(JANE)[1].body == ON_THE_PHONE
    note = wait_until(_ephemerals_of(bot), what="the note to Alice")[0]
    assert "The customer will get" in note and ON_THE_PHONE.replace("&", "&amp;") in note
    assert "2 SMS segments: 👋 makes it Unicode" in note  # 73 characters with an emoji


def _ephemerals_of(bot: Bot):
    return lambda: _ephemerals(bot)


def test_a_reply_from_the_text_field_alone_texts_what_a_phone_shows(bot: Bot, line: Line) -> None:
    """A message without a rich_text block (an older client, an integration): Slack's
    markup in the text field is all there is."""
    conversation = _start_with_jane(bot, line)
    _reply(
        bot,
        conversation,
        "Tom & Jerry: a@b.c #sales _soon_ :+1:",
        markup="Tom &amp; Jerry: <mailto:a@b.c|a@b.c> <#C0123|sales> _soon_ :+1:",
        blocks=[],
    )
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the reply texted")
    assert bot.fake_twilio.sent_to(JANE)[1].body == "Tom & Jerry: a@b.c #sales soon 👍"


def test_a_plain_reply_gets_no_note(bot: Bot, line: Line) -> None:
    conversation = _start_with_jane(bot, line)
    _reply(bot, conversation, "Tom & Jerry at 3")  # Slack's text: "Tom &amp; Jerry at 3"
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the reply texted")
    assert bot.fake_twilio.sent_to(JANE)[1].body == "Tom & Jerry at 3"
    _reply_as_mallory(bot, conversation)  # a reply that is answered with a note
    wait_until(_ephemerals_of(bot), what="Mallory's note")
    assert len(_ephemerals(bot)) == 1 and "don't have access" in _ephemerals(bot)[0]


def _reply_as_mallory(bot: Bot, conversation: Conversation) -> None:
    typed = bot.fake_slack.add_user_message(
        CHANNEL, "hi", user=MALLORY, thread_ts=conversation.slack_thread_ts
    )
    event = message_event(
        channel=CHANNEL,
        user=MALLORY,
        text="hi",
        ts=typed.ts,
        thread_ts=conversation.slack_thread_ts,
    )
    assert bot.slack.send_event(event).status_code == 200


def test_an_edit_texts_what_a_phone_shows(bot: Bot, line: Line) -> None:
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).reply_delay_seconds = 2
    conversation = _start_with_jane(bot, line)
    reply = _reply(bot, conversation, "See you at 3")
    edited = _changed(
        reply,
        text=TYPED_TEXT,
        blocks=TYPED_BLOCKS,
        edited={"user": ALICE, "ts": "1700000009.000000"},
    )
    assert bot.slack.send_event(edited).status_code == 200
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the edited reply")
    assert bot.fake_twilio.sent_to(JANE)[1].body == ON_THE_PHONE
    note = wait_until(_ephemerals_of(bot), what="the note to Alice")[0]
    assert "The customer will get" in note


def test_a_link_preview_added_to_a_sent_reply_is_no_edit(bot: Bot, line: Line) -> None:
    conversation = _start_with_jane(bot, line)
    link = "Your order: <https://example.com/o/7>"
    blocks = [
        {
            "type": "rich_text",
            "block_id": "p2Vb",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "text", "text": "Your order: "},
                        {"type": "link", "url": "https://example.com/o/7"},
                    ],
                }
            ],
        }
    ]
    reply = _reply(
        bot, conversation, "Your order: https://example.com/o/7", markup=link, blocks=blocks
    )
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the reply texted")
    unfurled = _changed(
        reply,
        text=link,
        blocks=blocks,
        attachments=[
            {
                "id": 1,
                "from_url": "https://example.com/o/7",
                "original_url": "https://example.com/o/7",
                "title": "Order 7",
                "title_link": "https://example.com/o/7",
                "service_name": "example.com",
                "fallback": "example.com: Order 7",
            }
        ],
    )
    assert bot.slack.send_event(unfurled).status_code == 200
    _reply_as_mallory(bot, conversation)  # answered with a note: the bot has caught up
    wait_until(_ephemerals_of(bot), what="Mallory's note")
    time.sleep(0.3)  # a note about the preview would be posted alongside it
    assert [n for n in _ephemerals(bot) if "already been texted" in n] == []
    assert len(_ephemerals(bot)) == 1
    assert [m.body for m in bot.fake_twilio.sent_to(JANE)] == [
        "Hi Jane",
        "Your order: https://example.com/o/7",
    ]


def test_the_message_shortcut_prefills_what_a_phone_shows(bot: Bot, line: Line) -> None:
    payload = {
        "type": "message_action",
        "callback_id": ids.TEXT_THIS_SHORTCUT,
        "trigger_id": trigger_id(),
        "team": {"id": "T0TEST"},
        "user": {"id": ALICE},
        "channel": {"id": "C0GENERAL"},
        "message": {"type": "message", "text": TYPED_TEXT, "blocks": TYPED_BLOCKS, "ts": "1.2"},
        "response_url": bot.fake_slack.response_url("shortcut"),
        "api_app_id": APP_ID,
    }
    assert bot.slack.interact(payload).status_code == 200
    view = shown_modal(bot.fake_slack)
    message = next(b for b in view["blocks"] if b.get("block_id") == ids.MESSAGE_BLOCK)
    assert message["element"]["initial_value"] == ON_THE_PHONE


def test_the_forms_confirmation_counts_the_sms(bot: Bot, line: Line) -> None:
    with bot.session() as session:
        jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()
    view = bot.slack.open_modal(user=ALICE)
    response = bot.slack.submit(
        view,
        user=ALICE,
        line_id=str(line.id),
        recipient=f"contact:{jane.id}",
        message="“Thanks” " + "x" * 70,
    )
    confirmation = str(response.json()["view"]["blocks"])
    assert "Takes 2 SMS segments: “ ” make it Unicode, 67 characters a segment" in confirmation


def test_what_is_typed_in_the_form_is_sent_as_typed(bot: Bot, line: Line) -> None:
    """The form's input is plain text, not markup: nothing in it is decoded or dropped."""
    with bot.session() as session:
        jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()
    typed = "Tom &amp; Jerry *as is* :wave: <@U0BOB>"
    view = bot.slack.open_modal(user=ALICE)
    bot.slack.submit(
        view, user=ALICE, line_id=str(line.id), recipient=f"contact:{jane.id}", message=typed
    )
    wait_until(lambda: bot.fake_twilio.sent_to(JANE), what="the text")
    assert bot.fake_twilio.sent_to(JANE)[0].body == typed


def _quick_send(bot: Bot, text: str) -> str:
    """`/text LINE RECIPIENT MESSAGE` with the command's text as Slack sends it."""
    response = bot.slack.slash(text, user=ALICE)
    assert response.status_code == 200
    if response.headers.get("content-type", "").startswith("application/json"):
        return str(response.json()["text"])
    return response.text


def test_quick_send_texts_what_a_phone_shows(bot: Bot, line: Line) -> None:
    """A slash command's text is escaped and marked up like a message's text field."""
    reply = _quick_send(
        bot,
        "Sales 2025550150 Tom &amp; Jerry: <https://example.com/o/7|example.com/o/7> "
        "<@U0BOB|bob> :wave: *today*\nsee you",
    )
    assert "is on its way" in reply, reply
    sent = "Tom & Jerry: https://example.com/o/7 @bob 👋 today\nsee you"
    sms = wait_until(lambda: bot.fake_twilio.sent_to("+12025550150"), what="the text")
    assert [s.body for s in sms] == [sent]
    assert "The customer will get: “" + sent.replace("&", "&amp;") + "”" in reply
    assert "Unicode" in reply  # the emoji


def test_quick_send_reads_escaped_names_and_says_nothing_more_for_plain_text(
    bot: Bot, line: Line
) -> None:
    with bot.session() as session, session.begin():
        make_contact(session, phone="+12025550124", name="Tom & Jerry")
    reply = _quick_send(bot, 'Sales "Tom &amp; Jerry" Fish &amp; chips &lt;3')
    assert "Your text to Tom &amp; Jerry (+1 202-555-0124) is on its way" in reply, reply
    assert "The customer will get" not in reply
    sms = wait_until(lambda: bot.fake_twilio.sent_to("+12025550124"), what="the text")
    assert [s.body for s in sms] == ["Fish & chips <3"]
