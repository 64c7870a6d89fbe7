"""The team's day-to-day in Slack: App Home, claiming, contact editing, help, quick send,
shortcuts, and a manifest that matches what the code handles."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from sqlmodel import select

from handlers import ids
from models.tables import Contact, Conversation, Line, Message
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.slack_driver import (
    APP_ID,
    button_payload,
    event_body,
    message_event,
    shown_modal,
    slash_command_body,
    wait_until,
)

ALICE = "U0ALICE"
BOB = "U0BOB"
MALLORY = "U0MALLORY"
SALES = "+12025550100"
CHANNEL = "C0SALES"
JANE = "+12025550123"


@pytest.fixture
def line(bot: Bot) -> Line:
    with bot.session() as session, session.begin():
        line = make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE, BOB))
        make_line(
            session,
            number="+12025550101",
            name="Billing",
            channel_id="C0BILLING",
            grants=(MALLORY,),
        )
        make_contact(session, phone=JANE, name="Jane Doe")
        make_contact(session, phone="+12025550124", name="John Smith")
    return line


def _start(bot: Bot, line: Line, phone: str = JANE) -> Conversation:
    bot.slack.slash(f"Sales {phone} Hello there", user=ALICE)
    wait_until(lambda: _conversation(bot), what="the conversation")
    wait_until(lambda: _conversation(bot).slack_thread_ts, what="its thread")
    return _conversation(bot)


def _conversation(bot: Bot) -> Conversation | None:
    with bot.session() as session:
        return session.exec(select(Conversation)).first()


def _parent(bot: Bot):
    return bot.fake_slack.top_level(CHANNEL)[0]


def _reply(bot: Bot, text: str, *, user: str = ALICE) -> str:
    response = bot.slack.slash(text, user=user)
    assert response.status_code == 200
    # Bolt answers ack("...") as plain text, which Slack shows only to the user.
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()["text"]
    return response.text


# --- App Home -------------------------------------------------------------------------------


def _open_home(bot: Bot, user: str) -> dict:
    before = len(bot.fake_slack.calls_to("views.publish"))
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": "D0HOME",
        "tab": "home",
        "event_ts": "1.1",
    }
    assert bot.slack.post(event_body(event), content_type="application/json").status_code == 200
    call = wait_until(
        lambda: bot.fake_slack.calls_to("views.publish")[before:], what="views.publish"
    )[0]
    assert call.params["user_id"] == user
    return call.params["view"]


def test_app_home_shows_my_lines_and_open_conversations_assigned_first(
    bot: Bot, line: Line
) -> None:
    _start(bot, line)
    bot.slack.slash("Sales +12025550124 Hi John", user=ALICE)
    wait_until(lambda: len(bot.fake_slack.top_level(CHANNEL)) == 2, what="two conversations")
    with bot.session() as session:
        john = session.exec(select(Conversation).where(Conversation.id == 2)).one()
    bot.slack.click(
        ids.CLAIM_CONVERSATION_ACTION,
        str(john.id),
        user=ALICE,
        channel=CHANNEL,
        message_ts=john.slack_thread_ts or "",
    )
    wait_until(lambda: _conversation_by_id(bot, john.id).assigned_to == ALICE, what="claimed")
    home = json.dumps(_open_home(bot, ALICE))
    assert "Sales (+1 202-555-0100)" in home and "Billing" not in home
    assert home.index("John Smith") < home.index("Jane Doe")  # assigned to me first
    assert "assigned to you" in home
    assert "https://test.slack.com/archives/C0SALES/p" in home
    assert ids.NEW_CONVERSATION_BUTTON in home


def _conversation_by_id(bot: Bot, conversation_id: int) -> Conversation:
    with bot.session() as session:
        return session.get_one(Conversation, conversation_id)


def test_app_home_for_someone_with_no_line(bot: Bot, line: Line) -> None:
    home = json.dumps(_open_home(bot, "U0NOBODY"))
    assert "don't have access to any texting line" in home
    assert "No open conversations." in home


def test_the_new_conversation_button_opens_the_form(bot: Bot, line: Line) -> None:
    payload = button_payload(
        ids.NEW_CONVERSATION_BUTTON, "new", user=ALICE, channel="", message_ts="", response_url=""
    )
    payload["container"] = {"type": "view", "view_id": "VHOME"}
    assert bot.slack.interact(payload).status_code == 200
    view = wait_until(lambda: bot.fake_slack.calls_to("views.open"), what="views.open")[0].params[
        "view"
    ]
    assert view["callback_id"] == ids.NEW_CONVERSATION_VIEW


# --- claim, contact editing ------------------------------------------------------------------


def test_claim_reassign_and_unassign(bot: Bot, line: Line) -> None:
    conversation = _start(bot, line)
    click = dict(channel=CHANNEL, message_ts=conversation.slack_thread_ts)
    bot.slack.click(ids.CLAIM_CONVERSATION_ACTION, str(conversation.id), user=ALICE, **click)
    wait_until(lambda: f"Assigned to <@{ALICE}>" in _parent(bot).all_text, what="assigned to Alice")
    assert ids.UNASSIGN_CONVERSATION_ACTION in _parent(bot).all_text
    bot.slack.click(ids.CLAIM_CONVERSATION_ACTION, str(conversation.id), user=BOB, **click)
    wait_until(lambda: f"Assigned to <@{BOB}>" in _parent(bot).all_text, what="reassigned to Bob")
    # Inbound texts in an assigned conversation mention the assignee.
    bot.twilio.text(from_=JANE, to=SALES, body="Hello?")
    inbound = wait_until(
        lambda: [
            p for p in bot.fake_slack.thread(CHANNEL, conversation.slack_thread_ts) if p.username
        ],
        what="inbound",
    )[0]
    assert inbound.text.startswith(f"<@{BOB}>")
    bot.slack.click(ids.UNASSIGN_CONVERSATION_ACTION, str(conversation.id), user=BOB, **click)
    wait_until(lambda: "Assigned to" not in _parent(bot).all_text, what="unassigned")
    assert _conversation(bot).assigned_to is None
    # Someone without the line cannot claim.
    bot.slack.click(ids.CLAIM_CONVERSATION_ACTION, str(conversation.id), user=MALLORY, **click)
    refusal = wait_until(lambda: bot.fake_slack.responses, what="refusal")[0]
    assert "don't have access to the line Sales" in refusal["text"]
    assert _conversation(bot).assigned_to is None


def test_editing_a_contact_updates_the_parent(bot: Bot, line: Line) -> None:
    conversation = _start(bot, line)
    bot.slack.click(
        ids.EDIT_CONTACT_ACTION,
        str(conversation.id),
        user=ALICE,
        channel=CHANNEL,
        message_ts=conversation.slack_thread_ts,
    )
    form = wait_until(lambda: bot.fake_slack.calls_to("views.open"), what="the edit form")[
        0
    ].params["view"]
    assert form["callback_id"] == ids.EDIT_CONTACT_VIEW
    name_block = next(b for b in form["blocks"] if b.get("block_id") == ids.CONTACT_NAME_BLOCK)
    assert name_block["element"]["initial_value"] == "Jane Doe"
    submission = _contact_submission(form, ALICE, "Jane Roe")
    assert bot.slack.interact(submission).status_code == 200
    wait_until(lambda: "Jane Roe (+1 202-555-0123)" in _parent(bot).all_text, what="renamed parent")
    with bot.session() as session:
        assert session.exec(select(Contact).where(Contact.phone == JANE)).one().name == "Jane Roe"
    # Someone without the line cannot rename through a crafted submission.
    refused = bot.slack.interact(_contact_submission(form, MALLORY, "Hacked"))
    assert refused.json()["response_action"] == "errors"
    with bot.session() as session:
        assert session.exec(select(Contact).where(Contact.phone == JANE)).one().name == "Jane Roe"


def _contact_submission(form: dict, user: str, name: str) -> dict:
    return {
        "type": "view_submission",
        "team": {"id": "T0TEST"},
        "user": {"id": user},
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


# --- help, contacts, quick send --------------------------------------------------------------


@pytest.mark.parametrize("text", ["help", "frobnicate", "lines please"])
def test_help_and_unknown_subcommands_answer_with_help(bot: Bot, line: Line, text: str) -> None:
    reply = _reply(bot, text)
    assert "`/text LINE NUMBER_OR_CONTACT MESSAGE`" in reply and "`/text contacts QUERY`" in reply
    if text != "help":
        assert f"I don't know `/text {text}`" in reply


@pytest.mark.parametrize(
    "settings_overrides",
    [{"max_multi_recipients": 35, "min_group_participants": 3, "max_group_participants": 7}],
)
def test_help_and_the_form_name_the_configured_limits(bot: Bot, line: Line) -> None:
    """Help said "up to 20" whatever the setting was."""
    reply = _reply(bot, "help")
    assert "the same text to up to 35 people" in reply
    assert "a reply-all group text of 3 to 7 people" in reply
    before = len(bot.fake_slack.calls_to("views.open"))
    assert bot.slack.slash("multi", user=ALICE).status_code == 200
    multi = shown_modal(bot.fake_slack, before=before)
    assert "Up to 35 recipients." in json.dumps(multi)
    recipients = next(b for b in multi["blocks"] if b.get("block_id") == ids.RECIPIENTS_BLOCK)
    assert recipients["element"]["max_selected_items"] == 35


def test_text_contacts_lists_matches_privately(bot: Bot, line: Line) -> None:
    assert "Jane Doe: +1 202-555-0123" in _reply(bot, "contacts jan")
    assert "No contact matches “zed”" in _reply(bot, "contacts zed")


def test_quick_send_to_a_number_and_to_a_contact_by_name(bot: Bot, line: Line) -> None:
    reply = _reply(bot, "Sales (202) 555-0150 Your order is ready")
    assert "Your text to +1 202-555-0150 is on its way from Sales (+1 202-555-0100)" in reply
    sms = wait_until(lambda: bot.fake_twilio.sent_to("+12025550150"), what="the text")
    assert sms[0].body == "Your order is ready"
    assert "Jane Doe" in _reply(bot, "sales jane doe See you soon")
    by_number = _reply(bot, "+1-202-555-0100 +12025550151 By number")
    assert "from Sales (+1 202-555-0100)" in by_number
    wait_until(lambda: bot.fake_twilio.sent_to(JANE), what="the text to Jane")
    assert bot.fake_twilio.sent_to(JANE)[0].body == "See you soon"


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("+12025550100 +12025550177 Ok see you at 5", "Ok see you at 5"),
        ("Sales +12025550177 I am running late", "I am running late"),
        ("Sales (202) 555-0177 5 minutes away", "5 minutes away"),
        ('Sales "Jane Doe" Doe family order is in', "Doe family order is in"),
        ("Sales “jane doe” Hi", "Hi"),
        ("sales jane doe Doe a deer", "Doe a deer"),
    ],
)
def test_quick_send_never_eats_the_message(bot: Bot, line: Line, text: str, sent: str) -> None:
    reply = _reply(bot, text)
    assert "is on its way" in reply, reply
    texts = wait_until(lambda: bot.fake_twilio.requests, what="the text")
    assert [t["Body"] for t in texts] == [sent]


def test_quick_send_asks_when_two_contacts_fit(bot: Bot, line: Line) -> None:
    with bot.session() as session, session.begin():
        make_contact(session, phone="+12025550125", name="Jane")
    reply = _reply(bot, "Sales Jane Doe will call you")
    assert "“Jane” or “Jane Doe”" in reply and "in quotes" in reply
    assert bot.fake_twilio.requests == []
    assert "is on its way" in _reply(bot, 'Sales "Jane" Doe will call you')
    texts = wait_until(lambda: bot.fake_twilio.requests, what="the text")
    assert [(t["To"], t["Body"]) for t in texts] == [("+12025550125", "Doe will call you")]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('Sales "Jane Doe Hi', "a quote is opened but never closed"),
        ("Support 2025550150 Hi", "there is no line called “Support”"),
        ("Billing 2025550150 Hi", "you don't have access to the line Billing"),
        ("Sales Nobody Known Hi", "“Nobody” is neither a valid phone number nor the exact name"),
        ("Sales 555-0199 now", "“555-0199” is neither a valid phone number"),
        ("Sales 2025550150 " + "x" * 1601, "The message is 1,601 characters long"),
    ],
)
def test_quick_send_errors_are_private_and_send_nothing(
    bot: Bot, line: Line, text: str, error: str
) -> None:
    reply = _reply(bot, text)
    assert reply.startswith(":warning: Not sent:") and error in reply
    with bot.session() as session:
        assert session.exec(select(Message)).all() == []
    assert bot.fake_twilio.requests == []


def test_quick_send_refuses_an_opted_out_contact_and_a_deactivated_line(
    bot: Bot, line: Line
) -> None:
    bot.twilio.text(from_=JANE, to=SALES, body="STOP")
    wait_until(lambda: _conversation(bot), what="the STOP")
    assert "has opted out of texts from Sales" in _reply(bot, "Sales Jane Doe Hi")
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).active = False
    assert "the line Sales is turned off" in _reply(bot, "Sales 2025550150 Hi")
    assert bot.fake_twilio.requests == []


# --- shortcuts and the manifest ---------------------------------------------------------------


def test_the_message_shortcut_prefills_the_form(bot: Bot, line: Line) -> None:
    payload = {
        "type": "message_action",
        "callback_id": ids.TEXT_THIS_SHORTCUT,
        "trigger_id": "9.9.t",
        "team": {"id": "T0TEST"},
        "user": {"id": ALICE},
        "channel": {"id": "C0GENERAL"},
        "message": {"type": "message", "text": "Your order #123 shipped", "ts": "1.2"},
        "response_url": bot.fake_slack.response_url("shortcut"),
        "api_app_id": APP_ID,
    }
    assert bot.slack.interact(payload).status_code == 200
    view = wait_until(lambda: bot.fake_slack.calls_to("views.open"), what="views.open")[0].params[
        "view"
    ]
    message = next(b for b in view["blocks"] if b.get("block_id") == ids.MESSAGE_BLOCK)
    assert message["element"]["initial_value"] == "Your order #123 shipped"


def test_manifest_declares_exactly_what_the_bot_handles(bot: Bot, line: Line) -> None:
    manifest = yaml.safe_load(Path("manifest.yml").read_text())
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    shortcuts = {s["callback_id"]: s["type"] for s in manifest["features"]["shortcuts"]}
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert commands == [ids.TEXT_COMMAND]
    assert shortcuts == {ids.NEW_TEXT_SHORTCUT: "global", ids.TEXT_THIS_SHORTCUT: "message"}
    assert sorted(events) == ["app_home_opened", "message.channels", "message.groups"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    # Each declared entry point reaches a listener (Bolt answers 404 when none matches).
    for command in commands:
        body = slash_command_body(
            "help", user=ALICE, channel="C0GENERAL", response_url=bot.fake_slack.response_url()
        )
        assert (
            bot.slack.post(body.replace("%2Ftext", command.replace("/", "%2F"))).status_code == 200
        )
    for callback_id, kind in shortcuts.items():
        payload = {
            "type": "shortcut" if kind == "global" else "message_action",
            "callback_id": callback_id,
            "trigger_id": "1.1.t",
            "team": {"id": "T0TEST"},
            "user": {"id": ALICE},
            "channel": {"id": "C0GENERAL"},
            "message": {"text": "x", "ts": "1.1"},
            "api_app_id": APP_ID,
        }
        assert bot.slack.interact(payload).status_code == 200, callback_id
    for name in events:
        event_type = name.split(".")[0]
        event = (
            {"type": event_type, "user": ALICE, "channel": "D0", "tab": "home", "event_ts": "1.1"}
            if event_type == "app_home_opened"
            else message_event(channel="C0OTHER", user=ALICE, text="hi", ts="5.5", thread_ts=None)
        )
        assert (
            bot.slack.post(event_body(event), content_type="application/json").status_code == 200
        ), name
    # And something undeclared is not handled.
    unknown = urlencode(
        {
            "payload": json.dumps(
                {
                    "type": "shortcut",
                    "callback_id": "nope",
                    "trigger_id": "1",
                    "team": {"id": "T0TEST"},
                    "user": {"id": ALICE},
                }
            )
        }
    )
    assert bot.slack.post(unknown).status_code == 404
