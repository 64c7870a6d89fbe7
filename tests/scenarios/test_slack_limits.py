"""Slack's limits and errors through the real server, against a fake as strict as Slack:
long texts reach Slack whole, a post Slack refuses for good is parked rather than retried
forever, and what the bot shows stays within Block Kit's limits whatever the data."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlmodel import select

from handlers import ids
from handlers.views.common import escape
from handlers.views.home import HomePage
from models.access import grant_line
from models.tables import Conversation, Line, Message, SavedReply
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.fakes.slack import ChannelMessage
from tests.slack_driver import APP_ID, button_payload, event_body, wait_until

ALICE = "U0ALICE"
MANAGER = "U0MANAGER"
SALES = "+12025550100"
CHANNEL = "C0SALES"
JANE = "+12025550123"


@pytest.fixture
def line(bot: Bot) -> Line:
    with bot.session() as session, session.begin():
        line = make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE,))
        make_contact(session, phone=JANE, name="Jane Doe")
    return line


def _thread_of_first_conversation(bot: Bot, count: int) -> list[ChannelMessage]:
    def ready() -> list[ChannelMessage] | None:
        with bot.session() as session:
            conversation = session.exec(select(Conversation).order_by(Conversation.id)).first()
        if conversation is None or conversation.slack_thread_ts is None:
            return None
        posts = bot.fake_slack.thread(
            conversation.slack_channel_id or CHANNEL, conversation.slack_thread_ts
        )
        return posts if len(posts) >= count else None

    return wait_until(ready, what=f"{count} posts in the thread")


def _section_text(post: ChannelMessage) -> str:
    return "".join(b["text"]["text"] for b in post.blocks if b["type"] == "section")


def test_a_1600_character_text_of_ampersands_reaches_slack_whole(bot: Bot, line: Line) -> None:
    """Escaped, it is 8,000 characters: more than a section holds. Slack refused it, the
    mirror retried it every 5 s for ever, and the contact's later texts never showed."""
    body = "&" * 1600
    assert bot.twilio.text(from_=JANE, to=SALES, body=body).status_code == 200
    assert bot.twilio.text(from_=JANE, to=SALES, body="Did you get that?").status_code == 200
    first, second = _thread_of_first_conversation(bot, 2)
    assert _section_text(first) == escape(body)
    assert all(len(b["text"]["text"]) <= 3000 for b in first.blocks if b["type"] == "section")
    assert second.text == "Did you get that?"


# --- permanent Slack errors ------------------------------------------------------------------


def _messages(bot: Bot) -> list[Message]:
    with bot.session() as session:
        return list(session.exec(select(Message).order_by(Message.id)).all())


def _conversation(bot: Bot) -> Conversation | None:
    with bot.session() as session:
        return session.exec(select(Conversation)).first()


def _metrics(bot: Bot) -> str:
    return httpx.get(f"{bot.url}/metrics").text


def test_an_archived_channel_parks_the_conversation_until_its_next_text(
    bot: Bot, line: Line
) -> None:
    """Slack answers is_archived however often it is asked: the mirror asked every 5 s for
    ever. Parked, it is counted, and tried again with the next text."""
    channel = bot.fake_slack.add_channel(CHANNEL, "sales", archived=True)
    bot.twilio.text(from_=JANE, to=SALES, body="Hello?")
    parked = wait_until(
        lambda: (c := _conversation(bot)) and c.slack_error and not c.mirror_pending and c,
        what="the conversation parked",
    )
    assert parked.slack_error == "is_archived" and parked.slack_thread_ts is None
    assert len(bot.fake_slack.calls_to("chat.postMessage")) == 1
    assert 'textbot_slack_parked{error="is_archived",what="conversation"} 1.0' in _metrics(bot)

    channel.is_archived = False
    bot.twilio.text(from_=JANE, to=SALES, body="Anyone there?")
    first, second = _thread_of_first_conversation(bot, 2)
    assert (first.text, second.text) == ("Hello?", "Anyone there?")
    wait_until(
        lambda: (c := _conversation(bot)) and c.slack_error is None,
        what="the conversation unparked",
    )
    assert "textbot_slack_parked{" not in _metrics(bot)


def test_the_mirror_joins_a_channel_it_was_removed_from(bot: Bot, line: Line) -> None:
    bot.fake_slack.add_channel(CHANNEL, "sales", member=False)
    bot.twilio.text(from_=JANE, to=SALES, body="Hello?")
    [post] = _thread_of_first_conversation(bot, 1)
    assert post.text == "Hello?"
    assert [c.params["channel"] for c in bot.fake_slack.calls_to("conversations.join")] == [CHANNEL]


def test_a_message_slack_refuses_is_posted_plain_and_never_holds_up_the_next(
    bot: Bot, line: Line
) -> None:
    bot.twilio.text(from_=JANE, to=SALES, body="First")
    _thread_of_first_conversation(bot, 1)
    # Slack refuses the next post's blocks, then even its plain fallback.
    bot.fake_slack.fail_next("chat.postMessage", status=200, error="invalid_blocks", times=2)
    bot.twilio.text(from_=JANE, to=SALES, body="Second")
    wait_until(lambda: _messages(bot)[-1].slack_error, what="the second text parked")
    bot.twilio.text(from_=JANE, to=SALES, body="Third")
    posts = _thread_of_first_conversation(bot, 2)
    assert [p.text for p in posts] == ["First", "Third"]
    assert [m.slack_error for m in _messages(bot)] == [None, "invalid_blocks", None]
    assert 'textbot_slack_parked{error="invalid_blocks",what="message"} 1.0' in _metrics(bot)

    bot.fake_slack.fail_next("chat.postMessage", status=200, error="invalid_blocks")
    bot.twilio.text(from_=JANE, to=SALES, body="Fourth & last")
    fourth = _thread_of_first_conversation(bot, 3)[-1]
    assert fourth.text == "Fourth &amp; last"
    assert [b["type"] for b in fourth.blocks] == ["section"]  # plain: the text alone


def test_moving_a_line_joins_its_new_channel(bot: Bot, line: Line) -> None:
    """New conversations are posted in the new channel: never joined, each one failed with
    not_in_channel for ever."""
    with bot.session() as session, session.begin():
        grant_line(session=session, line=line, principals=[MANAGER], manager=True)
    bot.fake_slack.add_channel("C0NEW", "new-sales", member=False)
    values = {
        ids.LINE_NAME_BLOCK: {"type": "plain_text_input", "value": "Sales"},
        ids.LINE_CHANNEL_BLOCK: {
            "type": "conversations_select",
            "selected_conversation": "C0NEW",
        },
        ids.LINE_ACTIVE_BLOCK: {"type": "checkboxes", "selected_options": [{"value": "on"}]},
        ids.LINE_USERS_BLOCK: {"type": "multi_users_select", "selected_users": [ALICE]},
        ids.LINE_GROUPS_BLOCK: {"type": "multi_static_select", "selected_options": []},
        ids.LINE_MANAGERS_BLOCK: {"type": "multi_users_select", "selected_users": [MANAGER]},
    }
    payload = {
        "type": "view_submission",
        "team": {"id": "T0TEST"},
        "user": {"id": MANAGER},
        "api_app_id": APP_ID,
        "view": {
            "id": "V0M",
            "type": "modal",
            "callback_id": ids.LINE_SETTINGS_VIEW,
            "private_metadata": json.dumps({"line_id": line.id}),
            "state": {"values": {b: {ids.FIELD_ACTION: v} for b, v in values.items()}},
        },
    }
    response = bot.slack.interact(payload)
    assert response.status_code == 200 and not response.content, response.text
    joined = wait_until(lambda: bot.fake_slack.calls_to("conversations.join"), what="a join")
    assert joined[0].params["channel"] == "C0NEW"
    assert bot.fake_slack.channels["C0NEW"].is_member


# --- limits hold for any data ----------------------------------------------------------------

ADMIN = "U0ADMIN"


def _publish_count(bot: Bot) -> int:
    return len(bot.fake_slack.calls_to("views.publish"))


def _home(bot: Bot, user: str, before: int) -> dict:
    publish = wait_until(
        lambda: bot.fake_slack.calls_to("views.publish")[before:], what="App Home published"
    )
    return publish[0].params["view"]


def test_app_home_of_an_admin_with_46_lines_is_published_a_page_at_a_time(bot: Bot) -> None:
    """109 blocks, more than a view's 100: Slack answered invalid_arguments."""
    bot.fake_slack.admins = {ADMIN}
    with bot.session() as session, session.begin():
        for n in range(46):
            make_line(session, number=f"+120255501{n:02d}", name=f"Line {n:02d}", grants=(ADMIN,))
    before = _publish_count(bot)
    event = {"type": "app_home_opened", "user": ADMIN, "channel": "D0", "tab": "home"}
    bot.slack.post(event_body({**event, "event_ts": "1.1"}), content_type="application/json")
    first = _home(bot, ADMIN, before)
    assert "Showing 1 to 12 of 46 managed lines" in json.dumps(first)
    [next_button] = [
        element
        for block in first["blocks"]
        if block.get("block_id") == "page:managed lines"
        for element in block["elements"]
    ]
    assert next_button["action_id"] == ids.HOME_NEXT_ACTION

    before = _publish_count(bot)
    click = button_payload(
        ids.HOME_NEXT_ACTION,
        next_button["value"],
        user=ADMIN,
        channel="",
        message_ts="",
        response_url="",
    )
    click["container"] = {"type": "view", "view_id": "VHOME"}
    assert bot.slack.interact(click).status_code == 200
    second = _home(bot, ADMIN, before)
    assert "Showing 13 to 24 of 46 managed lines" in json.dumps(second)
    shown = json.dumps(second)
    assert "*Line 12 (+1" in shown and "*Line 24 (+1" not in shown and "*Line 11 (+1" not in shown
    assert HomePage.decode(next_button["value"]) == HomePage(managed=1)


def _suggest(bot: Bot, user: str, action_id: str, block_id: str, query: str, **view) -> list:
    payload = {
        "type": "block_suggestion",
        "user": {"id": user, "team_id": "T0TEST"},
        "team": {"id": "T0TEST", "domain": "test"},
        "api_app_id": APP_ID,
        "action_id": action_id,
        "block_id": block_id,
        "value": query,
        "container": {"type": "view", "view_id": "V0"},
        "view": {"id": "V0", **view},
    }
    response = bot.slack.interact(payload)
    assert response.status_code == 200, response.text
    return response.json()["options"]


def test_menus_past_100_options_are_searched(bot: Bot, line: Line) -> None:
    """The /text form offered only the first 100 lines and saved replies, the settings form
    broke past 100 user groups: past 100, the menus search as the user types."""
    with bot.session() as session, session.begin():
        make_line(session, number="+12025550101", name="Support", grants=(ALICE,))
        make_line(session, number="+12025550102", name="Billing")  # not Alice's
        grant_line(session=session, line=line, principals=[MANAGER], manager=True)
        for name in ("Opening hours", "Directions", "Hours on holidays"):
            session.add(SavedReply(line_id=line.id or 0, name=name, body=name))
    lines = _suggest(bot, ALICE, ids.LINE_ACTION, ids.LINE_BLOCK, "sup")
    assert [o["text"]["text"] for o in lines] == ["Support (+1 202-555-0101)"]
    assert _suggest(bot, ALICE, ids.LINE_ACTION, ids.LINE_BLOCK, "bill") == []
    replies = _suggest(bot, ALICE, ids.SAVED_REPLY_ACTION, ids.SAVED_REPLY_BLOCK, "hours")
    assert [o["text"]["text"] for o in replies] == [
        "Sales: Hours on holidays",
        "Sales: Opening hours",
    ]

    bot.fake_slack.usergroups = {f"S{n:08d}": [] for n in range(200)}
    bot.runtime.refresh_usergroups()  # the search answers from the copy the job keeps
    groups = _suggest(
        bot,
        MANAGER,
        ids.FIELD_ACTION,
        ids.LINE_GROUPS_BLOCK,
        "s0000019",
        callback_id=ids.LINE_SETTINGS_VIEW,
    )
    assert [o["value"] for o in groups] == [f"S0000019{n}" for n in range(10)]
    metadata = json.dumps({"line_id": line.id})
    deletable = _suggest(
        bot,
        MANAGER,
        ids.FIELD_ACTION,
        ids.REPLY_DELETE_BLOCK,
        "dir",
        callback_id=ids.SAVED_REPLIES_VIEW,
        private_metadata=metadata,
    )
    assert [o["text"]["text"] for o in deletable] == ["Sales: Directions"]
    # Someone who does not manage the line sees none of its replies.
    assert (
        _suggest(
            bot,
            ALICE,
            ids.FIELD_ACTION,
            ids.REPLY_DELETE_BLOCK,
            "",
            callback_id=ids.SAVED_REPLIES_VIEW,
            private_metadata=metadata,
        )
        == []
    )
