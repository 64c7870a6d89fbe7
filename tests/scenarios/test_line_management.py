"""Line management from App Home: admins and line managers only, every change audited."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from handlers import ids
from models.access import grant_line
from models.tables import AuditEntry, Conversation, Line, LineAccess, SavedReply
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.slack_driver import (
    APP_ID,
    button_payload,
    event_body,
    message_event,
    shown_modal,
    submission_payload,
    wait_until,
)

ADMIN = "U0ADMIN"
MANAGER = "U0MANAGER"
BOB = "U0BOB"
MALLORY = "U0MALLORY"
TEAM = "S0TEAM"


@pytest.fixture
def line(bot: Bot) -> Line:
    bot.fake_slack.admins = {ADMIN}
    bot.fake_slack.usergroups[TEAM] = [BOB]
    with bot.session() as session, session.begin():
        line = make_line(session, number="+12025550100", name="Sales", channel_id="C0SALES")
        grant_line(session=session, line=line, principals=[MANAGER], manager=True)
        make_contact(session, phone="+12025550123", name="Jane Doe")
    return line


def _home(bot: Bot, user: str) -> dict:
    before = len(bot.fake_slack.calls_to("views.publish"))
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": "D0",
        "tab": "home",
        "event_ts": "1.1",
    }
    bot.slack.post(event_body(event), content_type="application/json")
    return wait_until(lambda: bot.fake_slack.calls_to("views.publish")[before:], what="home")[
        0
    ].params["view"]


def _click(bot: Bot, user: str, action_id: str, value: str) -> dict:
    before = len(bot.fake_slack.calls_to("views.open"))
    payload = button_payload(
        action_id, value, user=user, channel="", message_ts="", response_url=""
    )
    payload["container"] = {"type": "view", "view_id": "VHOME"}
    bot.slack.interact(payload)
    return shown_modal(bot.fake_slack, before=before)


def _submit(bot: Bot, user: str, callback_id: str, values: dict, metadata: dict | None = None):
    state = {block: {ids.FIELD_ACTION: value} for block, value in values.items()}
    payload = {
        "type": "view_submission",
        "team": {"id": "T0TEST"},
        "user": {"id": user},
        "api_app_id": APP_ID,
        "view": {
            "id": "V0M",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": json.dumps(metadata or {}),
            "state": {"values": state},
        },
    }
    return bot.slack.interact(payload)


def _settings_values(line: Line, **overrides) -> dict:
    values = {
        ids.LINE_NAME_BLOCK: {"type": "plain_text_input", "value": line.name},
        ids.LINE_CHANNEL_BLOCK: {
            "type": "conversations_select",
            "selected_conversation": line.channel_id,
        },
        ids.LINE_ACTIVE_BLOCK: {"type": "checkboxes", "selected_options": [{"value": "on"}]},
        ids.LINE_USERS_BLOCK: {"type": "multi_users_select", "selected_users": []},
        ids.LINE_GROUPS_BLOCK: {"type": "multi_static_select", "selected_options": []},
        ids.LINE_MANAGERS_BLOCK: {"type": "multi_users_select", "selected_users": [MANAGER]},
    }
    values.update(overrides)
    return values


def _audit(bot: Bot) -> list[AuditEntry]:
    with bot.session() as session:
        return list(session.exec(select(AuditEntry).order_by(AuditEntry.id)).all())


def test_an_admin_adds_a_line_grants_a_group_and_a_member_then_sees_it(
    bot: Bot, line: Line
) -> None:
    home = json.dumps(_home(bot, ADMIN))
    assert "Manage lines" in home and ids.ADD_LINE_ACTION in home
    form = _click(bot, ADMIN, ids.ADD_LINE_ACTION, "add")
    assert form["callback_id"] == ids.ADD_LINE_VIEW
    response = _submit(
        bot,
        ADMIN,
        ids.ADD_LINE_VIEW,
        {
            ids.LINE_NUMBER_BLOCK: {"type": "plain_text_input", "value": "(202) 555-0110"},
            ids.LINE_NAME_BLOCK: {"type": "plain_text_input", "value": "Support"},
            ids.LINE_CHANNEL_BLOCK: {
                "type": "conversations_select",
                "selected_conversation": "C0SUPPORT",
            },
        },
    )
    assert response.status_code == 200 and not response.content
    joined = wait_until(lambda: bot.fake_slack.calls_to("conversations.join"), what="the bot joins")
    assert joined[0].params["channel"] == "C0SUPPORT"
    with bot.session() as session:
        support = session.exec(select(Line).where(Line.name == "Support")).one()
    assert support.number == "+12025550110" and support.team_id == "T0TEST"

    settings = _click(bot, ADMIN, ids.LINE_SETTINGS_ACTION, str(support.id))
    assert settings["callback_id"] == ids.LINE_SETTINGS_VIEW
    assert '"@s0team"' in json.dumps(settings)  # the group picker offers the workspace's groups
    response = _submit(
        bot,
        ADMIN,
        ids.LINE_SETTINGS_VIEW,
        _settings_values(
            support,
            **{
                ids.LINE_GROUPS_BLOCK: {
                    "type": "multi_static_select",
                    "selected_options": [{"value": TEAM}],
                },
                ids.LINE_USERS_BLOCK: {"type": "multi_users_select", "selected_users": [ADMIN]},
                ids.LINE_MANAGERS_BLOCK: {"type": "multi_users_select", "selected_users": []},
            },
        ),
        {"line_id": support.id},
    )
    assert response.status_code == 200 and not response.content
    assert [(e.actor, e.action) for e in _audit(bot)] == [
        (ADMIN, "line.add"),
        (ADMIN, "access.grant"),
        (ADMIN, "access.grant"),
    ]
    assert f"granted Support to {ADMIN}" in _audit(bot)[1].detail  # who adds a line may use it
    assert "granted Support to S0TEAM" in _audit(bot)[-1].detail

    view = bot.slack.open_modal(user=BOB)
    line_block = next(b for b in view["blocks"] if b.get("block_id") == ids.LINE_BLOCK)
    assert [o["text"]["text"] for o in line_block["element"]["options"]] == [
        "Support (+1 202-555-0110)"
    ]


def test_a_private_channel_the_bot_cannot_join_gets_an_invite_request(bot: Bot, line: Line) -> None:
    _home(bot, ADMIN)
    _submit(
        bot,
        ADMIN,
        ids.ADD_LINE_VIEW,
        {
            ids.LINE_NUMBER_BLOCK: {"type": "plain_text_input", "value": "2025550111"},
            ids.LINE_NAME_BLOCK: {"type": "plain_text_input", "value": "Private"},
            ids.LINE_CHANNEL_BLOCK: {
                "type": "conversations_select",
                "selected_conversation": "G0PRIVATE",
            },
        },
    )
    note = wait_until(lambda: bot.fake_slack.top_level(ADMIN), what="the invite request")[0]
    assert "Invite me there with `/invite @textbot`" in note.text


def test_a_line_manager_changes_their_line(bot: Bot, line: Line) -> None:
    home = json.dumps(_home(bot, MANAGER))
    assert "Manage lines" in home and ids.ADD_LINE_ACTION not in home  # managers cannot add lines
    _click(bot, MANAGER, ids.LINE_SETTINGS_ACTION, str(line.id))
    response = _submit(
        bot,
        MANAGER,
        ids.LINE_SETTINGS_VIEW,
        _settings_values(
            line,
            **{
                ids.LINE_NAME_BLOCK: {"type": "plain_text_input", "value": "Sales East"},
                ids.LINE_CHANNEL_BLOCK: {
                    "type": "conversations_select",
                    "selected_conversation": "C0EAST",
                },
                ids.LINE_USERS_BLOCK: {"type": "multi_users_select", "selected_users": [BOB]},
            },
        ),
        {"line_id": line.id},
    )
    assert response.status_code == 200 and not response.content
    with bot.session() as session:
        changed = session.get_one(Line, line.id)
        grants = {a.principal: a.manager for a in session.exec(select(LineAccess)).all()}
    assert (changed.name, changed.channel_id) == ("Sales East", "C0EAST")
    assert grants == {MANAGER: True, BOB: False}
    assert [e.action for e in _audit(bot)] == ["line.rename", "line.move", "access.grant"]
    assert all(e.actor == MANAGER for e in _audit(bot))


def test_a_non_managers_crafted_admin_actions_are_refused_and_not_logged(
    bot: Bot, line: Line
) -> None:
    assert "Manage lines" not in json.dumps(_home(bot, MALLORY))  # no controls shown
    refusal = _click(bot, MALLORY, ids.LINE_SETTINGS_ACTION, str(line.id))
    assert "Only workspace admins and this line's managers" in json.dumps(refusal)
    response = _submit(
        bot,
        MALLORY,
        ids.LINE_SETTINGS_VIEW,
        _settings_values(
            line,
            **{ids.LINE_USERS_BLOCK: {"type": "multi_users_select", "selected_users": [MALLORY]}},
        ),
        {"line_id": line.id},
    )
    assert response.json()["response_action"] == "errors"
    added = _submit(
        bot,
        MALLORY,
        ids.ADD_LINE_VIEW,
        {
            ids.LINE_NUMBER_BLOCK: {"type": "plain_text_input", "value": "2025550112"},
            ids.LINE_NAME_BLOCK: {"type": "plain_text_input", "value": "Mine"},
            ids.LINE_CHANNEL_BLOCK: {
                "type": "conversations_select",
                "selected_conversation": "C0MINE",
            },
        },
    )
    assert added.json()["errors"] == {
        ids.LINE_NUMBER_BLOCK: "Only workspace admins can add lines. Nothing was added."
    }
    assert _audit(bot) == []
    with bot.session() as session:
        assert [a.principal for a in session.exec(select(LineAccess)).all()] == [MANAGER]
        assert len(session.exec(select(Line)).all()) == 1


def test_a_deactivated_line_refuses_sends_and_says_so(bot: Bot, line: Line) -> None:
    with bot.session() as session, session.begin():
        grant_line(session=session, line=session.get_one(Line, line.id), principals=[BOB])
    bot.slack.slash("Sales 2025550123 Before", user=BOB)
    wait_until(lambda: bot.fake_twilio.sent_to("+12025550123"), what="a first text")
    _home(bot, ADMIN)
    _submit(
        bot,
        ADMIN,
        ids.LINE_SETTINGS_VIEW,
        _settings_values(
            line,
            **{
                ids.LINE_ACTIVE_BLOCK: {"type": "checkboxes", "selected_options": []},
                ids.LINE_USERS_BLOCK: {"type": "multi_users_select", "selected_users": [BOB]},
            },
        ),
        {"line_id": line.id},
    )
    assert [e.action for e in _audit(bot)] == ["line.deactivate"]
    view = {"type": "modal", "callback_id": ids.NEW_CONVERSATION_VIEW, "blocks": []}
    refused = bot.slack.submit(
        view, user=BOB, line_id=str(line.id), recipient="new:+12025550150", message="Hi"
    )
    assert refused.json()["errors"] == {
        ids.LINE_BLOCK: "This line no longer exists or is turned off. Pick another line."
    }
    with bot.session() as session:
        conversation = session.exec(select(Conversation)).one()
    wait_until(lambda: _thread_ts(bot), what="the thread")
    typed = bot.fake_slack.add_user_message(
        "C0SALES", "Still there?", user=BOB, thread_ts=_thread_ts(bot)
    )
    bot.slack.send_event(
        message_event(
            channel="C0SALES", user=BOB, text="Still there?", ts=typed.ts, thread_ts=_thread_ts(bot)
        )
    )
    note = wait_until(lambda: bot.fake_slack.calls_to("chat.postEphemeral"), what="the note")[0]
    assert "the line Sales is turned off" in note.params["text"]
    assert len(bot.fake_twilio.requests) == 1 and conversation.id


def _thread_ts(bot: Bot) -> str | None:
    with bot.session() as session:
        return session.exec(select(Conversation)).one().slack_thread_ts


def _reply_values(
    name: str, body: str, fallback: str | None = None, delete: list[int] = ()
) -> dict:
    values = {
        ids.REPLY_NAME_BLOCK: {"type": "plain_text_input", "value": name},
        ids.REPLY_BODY_BLOCK: {"type": "plain_text_input", "value": body},
        ids.REPLY_FALLBACK_BLOCK: {"type": "plain_text_input", "value": fallback},
    }
    if delete:
        values[ids.REPLY_DELETE_BLOCK] = {
            "type": "checkboxes",
            "selected_options": [{"value": str(i)} for i in delete],
        }
    return values


def test_a_saved_reply_is_personalised_for_each_recipient(bot: Bot, line: Line) -> None:
    with bot.session() as session, session.begin():
        grant_line(session=session, line=session.get_one(Line, line.id), principals=[BOB])
        ann = make_contact(session, phone="+12025550131", name="Ann Lee")
        ben = make_contact(session, phone="+12025550132", name="Ben")
    _home(bot, MANAGER)
    form = _click(bot, MANAGER, ids.SAVED_REPLIES_ACTION, str(line.id))
    assert form["callback_id"] == ids.SAVED_REPLIES_VIEW
    response = _submit(
        bot,
        MANAGER,
        ids.SAVED_REPLIES_VIEW,
        _reply_values("Ready", "Hi {first_name}, your order is ready!", "friend"),
        {"line_id": line.id},
    )
    assert response.status_code == 200 and not response.content
    assert [e.action for e in _audit(bot)] == ["reply.add"]

    view = bot.slack.open_modal(user=BOB)
    saved = next(b for b in view["blocks"] if b.get("block_id") == ids.SAVED_REPLY_BLOCK)
    option = saved["element"]["options"][0]
    assert option["text"]["text"] == "Sales: Ready"
    payload = submission_payload(
        {**view, "private_metadata": json.dumps({"kind": ids.KIND_MULTI})},
        user=BOB,
        line_id=str(line.id),
        recipient=None,
        message=None,
    )
    values = payload["view"]["state"]["values"]
    values[ids.RECIPIENTS_BLOCK] = {
        ids.RECIPIENTS_ACTION: {
            "type": "multi_external_select",
            "selected_options": [
                {"value": f"contact:{ann.id}"},
                {"value": f"contact:{ben.id}"},
                {"value": "new:+12025550133"},
            ],
        }
    }
    values[ids.SAVED_REPLY_BLOCK] = {
        ids.SAVED_REPLY_ACTION: {"type": "static_select", "selected_option": option}
    }
    assert bot.slack.interact(payload).json()["response_action"] == "update"
    wait_until(lambda: len(bot.fake_twilio.messages) == 3, what="three texts")
    bodies = {m.to: m.body for m in bot.fake_twilio.messages}
    assert bodies == {
        "+12025550131": "Hi Ann, your order is ready!",
        "+12025550132": "Hi Ben, your order is ready!",
        "+12025550133": "Hi friend, your order is ready!",
    }


def test_saved_replies_are_checked_like_everything_else(bot: Bot, line: Line) -> None:
    _home(bot, MANAGER)
    _submit(
        bot,
        MANAGER,
        ids.SAVED_REPLIES_VIEW,
        _reply_values("Hello", "Hello {name}"),
        {"line_id": line.id},
    )
    duplicate = _submit(
        bot, MANAGER, ids.SAVED_REPLIES_VIEW, _reply_values("Hello", "Again"), {"line_id": line.id}
    )
    assert (
        "already has a saved reply called “Hello”"
        in duplicate.json()["errors"][ids.REPLY_NAME_BLOCK]
    )
    refused = _submit(
        bot, MALLORY, ids.SAVED_REPLIES_VIEW, _reply_values("Spam", "Buy now"), {"line_id": line.id}
    )
    assert refused.json()["response_action"] == "errors"
    with bot.session() as session, session.begin():
        other = make_line(
            session, number="+12025550109", name="Other", channel_id="C0OTHER", grants=(BOB,)
        )
        grant_line(session=session, line=session.get_one(Line, line.id), principals=[BOB])
        reply = session.exec(select(SavedReply)).one()
        reply_id, other_id = reply.id, other.id
    view = {"type": "modal", "callback_id": ids.NEW_CONVERSATION_VIEW, "blocks": []}
    payload = submission_payload(
        view, user=BOB, line_id=str(other_id), recipient="new:+12025550150", message=None
    )
    payload["view"]["state"]["values"][ids.SAVED_REPLY_BLOCK] = {
        ids.SAVED_REPLY_ACTION: {
            "type": "static_select",
            "selected_option": {"value": str(reply_id)},
        }
    }
    wrong_line = bot.slack.interact(payload).json()
    assert wrong_line["errors"] == {
        ids.SAVED_REPLY_BLOCK: "Pick one of the chosen line's saved replies.",
        ids.MESSAGE_BLOCK: "The message is empty. Type something to send.",
    }
    deleted = _submit(
        bot,
        MANAGER,
        ids.SAVED_REPLIES_VIEW,
        _reply_values("", "", delete=[reply_id]),
        {"line_id": line.id},
    )
    assert deleted.status_code == 200
    assert [e.action for e in _audit(bot)] == ["reply.add", "reply.delete"]
    assert bot.fake_twilio.requests == []


def test_names_longer_than_slack_can_show_are_refused_in_the_form(bot: Bot, line: Line) -> None:
    long_name = "Sales and support for the north-east region, weekdays"  # 53 characters
    _home(bot, ADMIN)
    _home(bot, MANAGER)
    added = _submit(
        bot,
        ADMIN,
        ids.ADD_LINE_VIEW,
        {
            ids.LINE_NUMBER_BLOCK: {"type": "plain_text_input", "value": "(202) 555-0110"},
            ids.LINE_NAME_BLOCK: {"type": "plain_text_input", "value": long_name},
            ids.LINE_CHANNEL_BLOCK: {
                "type": "conversations_select",
                "selected_conversation": "C0SUPPORT",
            },
        },
    )
    assert added.json()["errors"] == {
        ids.LINE_NAME_BLOCK: "A line's name can be at most 40 characters (this one has 53): "
        "it shows in menus and on every conversation."
    }
    renamed = _submit(
        bot,
        MANAGER,
        ids.LINE_SETTINGS_VIEW,
        _settings_values(
            line, **{ids.LINE_NAME_BLOCK: {"type": "plain_text_input", "value": long_name}}
        ),
        {"line_id": line.id},
    )
    assert "at most 40 characters" in renamed.json()["errors"][ids.LINE_NAME_BLOCK]
    reply = _submit(
        bot,
        MANAGER,
        ids.SAVED_REPLIES_VIEW,
        _reply_values("Opening hours over the holidays", "We open at 9"),
        {"line_id": line.id},
    )
    assert "at most 30 characters" in reply.json()["errors"][ids.REPLY_NAME_BLOCK]
    with bot.session() as session:
        assert [line.name for line in session.exec(select(Line)).all()] == ["Sales"]
        assert session.exec(select(SavedReply)).all() == []
    assert _audit(bot) == []


def test_a_line_name_is_one_line_of_the_workspace_in_any_case(bot: Bot, line: Line) -> None:
    """Quick send picks a line by its name: a second line cannot take one, whatever its
    case, neither when added nor when renamed."""
    _home(bot, ADMIN)  # Slack says who is an admin
    response = _submit(
        bot,
        ADMIN,
        ids.ADD_LINE_VIEW,
        {
            ids.LINE_NUMBER_BLOCK: {"type": "plain_text_input", "value": "(202) 555-0110"},
            ids.LINE_NAME_BLOCK: {"type": "plain_text_input", "value": "SALES"},
            ids.LINE_CHANNEL_BLOCK: {
                "type": "conversations_select",
                "selected_conversation": "C0SUPPORT",
            },
        },
    )
    assert response.json() == {
        "response_action": "errors",
        "errors": {
            ids.LINE_NAME_BLOCK: "There is already a line called 'Sales' (+12025550100) in "
            "this workspace: pick another name."
        },
    }
    with bot.session() as session, session.begin():
        assert [x.name for x in session.exec(select(Line)).all()] == ["Sales"]
        support = make_line(session, number="+12025550110", name="Support", channel_id="C0SUP")
        support_id = support.id
    renamed = _submit(
        bot,
        ADMIN,
        ids.LINE_SETTINGS_VIEW,
        _settings_values(
            support, **{ids.LINE_NAME_BLOCK: {"type": "plain_text_input", "value": "sales"}}
        ),
        {"line_id": support_id},
    )
    assert renamed.json()["errors"] == {
        ids.LINE_NAME_BLOCK: "There is already a line called 'Sales' (+12025550100) in this "
        "workspace: pick another name."
    }
    with bot.session() as session:
        assert session.get_one(Line, support_id).name == "Support"
    assert [e.action for e in _audit(bot)] == []


def test_group_texts_are_a_line_setting_in_the_settings_form(bot: Bot, line: Line) -> None:
    _home(bot, MANAGER)
    modal = _click(bot, MANAGER, ids.LINE_SETTINGS_ACTION, str(line.id))
    assert ids.LINE_GROUP_MMS_BLOCK in {b.get("block_id") for b in modal["blocks"]}
    on = {"type": "checkboxes", "selected_options": [{"value": "on"}]}
    response = _submit(
        bot,
        MANAGER,
        ids.LINE_SETTINGS_VIEW,
        _settings_values(line, **{ids.LINE_GROUP_MMS_BLOCK: on}),
        {"line_id": line.id},
    )
    assert response.status_code == 200 and not response.content
    with bot.session() as session:
        assert session.get_one(Line, line.id).group_mms
    assert [e.detail for e in _audit(bot)] == ["set Sales: reply-all groups group texts"]
    # A toll-free line cannot: its form says why, and a crafted submission is refused.
    with bot.session() as session, session.begin():
        free = make_line(session, number="+18885550100", name="Free", channel_id="C0FREE")
        grant_line(session=session, line=free, principals=[MANAGER], manager=True)
    modal = _click(bot, MANAGER, ids.LINE_SETTINGS_ACTION, str(free.id))
    assert ids.LINE_GROUP_MMS_BLOCK not in {b.get("block_id") for b in modal["blocks"]}
    assert "is a toll-free number" in json.dumps(modal)
    refused = _submit(
        bot,
        MANAGER,
        ids.LINE_SETTINGS_VIEW,
        _settings_values(free, **{ids.LINE_GROUP_MMS_BLOCK: on}),
        {"line_id": free.id},
    )
    assert "toll-free" in refused.json()["errors"][ids.LINE_GROUP_MMS_BLOCK]
    with bot.session() as session:
        assert not session.get_one(Line, free.id).group_mms
