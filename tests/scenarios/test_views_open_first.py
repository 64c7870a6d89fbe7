"""A trigger opens a view for 3 seconds: views.open is the first Slack call whenever a modal
opens, and an options request is answered without any Slack call. A slow or rate-limited
Slack method (user groups, users.info) runs after the view is open, and the view is updated
with what it brings. The fake answers `expired_trigger_id` to a views.open that comes too
late, and the tests check the order of the calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers import ids
from models.access import grant_line
from models.tables import Line
from tests.conftest import Bot
from tests.factories import make_line
from tests.fakes.slack import TRIGGER_SECONDS
from tests.slack_driver import APP_ID, button_payload, shown_modal, trigger_id

ALICE = "U0ALICE"  # manages the Sales line
BOB = "U0BOB"  # in the S0SUPPORT user group, which may use the Support line
SUPPORT_GROUP = "S0SUPPORT"
SLOW = TRIGGER_SECONDS + 0.5  # a Slack answer that outlasts a trigger


@pytest.fixture
def lines(bot: Bot) -> dict[str, Line]:
    bot.fake_slack.usergroups[SUPPORT_GROUP] = [BOB]
    with bot.session() as session, session.begin():
        sales = make_line(session, number="+12025550100", name="Sales", channel_id="C0SALES")
        grant_line(session=session, line=sales, principals=[ALICE], manager=True)
        support = make_line(
            session,
            number="+12025550101",
            name="Support",
            channel_id="C0SUPPORT",
            grants=(SUPPORT_GROUP,),
        )
    return {"sales": sales, "support": support}


def _first(bot: Bot, *methods: str) -> str:
    """Which of these methods the bot called first."""
    return next(m for m in bot.fake_slack.methods_called() if m in methods)


def _line_names(view: dict[str, Any]) -> list[str]:
    block = next(b for b in view["blocks"] if b.get("block_id") == ids.LINE_BLOCK)
    return [o["text"]["text"] for o in block["element"]["options"]]


def test_text_opens_the_form_while_a_slow_user_group_is_read(bot: Bot, lines) -> None:
    bot.fake_slack.delay("usergroups.users.list", SLOW)
    view = bot.slack.open_modal(user=BOB)
    assert _first(bot, "views.open", "usergroups.users.list") == "views.open"
    assert [c.answer["ok"] for c in bot.fake_slack.calls_to("views.open")] == [True]
    # The loading view is replaced by the form once Bob's group is known.
    assert view["callback_id"] == ids.NEW_CONVERSATION_VIEW
    assert _line_names(view) == ["Support (+1 202-555-0101)"]
    assert [c.params["usergroup"] for c in bot.fake_slack.calls_to("usergroups.users.list")] == [
        SUPPORT_GROUP
    ]


def test_text_opens_the_form_while_user_groups_are_rate_limited(bot: Bot, lines) -> None:
    bot.fake_slack.fail_next("usergroups.users.list", retry_after=TRIGGER_SECONDS + 1)
    view = bot.slack.open_modal(user=BOB)
    assert _first(bot, "views.open", "usergroups.users.list") == "views.open"
    assert _line_names(view) == ["Support (+1 202-555-0101)"]
    assert len(bot.fake_slack.calls_to("usergroups.users.list")) == 2  # retried after the wait


def test_a_fresh_copy_of_the_groups_opens_the_form_at_once(bot: Bot, lines) -> None:
    """No Slack call is needed: no loading view."""
    bot.slack.open_modal(user=BOB)
    before = len(bot.fake_slack.calls)
    view = bot.slack.open_modal(user=BOB)
    assert bot.fake_slack.methods_called()[before:] == ["views.open"]
    assert _line_names(view) == ["Support (+1 202-555-0101)"]


def test_with_a_stale_copy_someone_with_no_line_is_told_in_the_modal(bot: Bot, lines) -> None:
    """Whether a stale group gives Mallory a line is only known once Slack answers: the
    loading view opens first and then says why there is no form."""
    view = bot.slack.open_modal(user="U0MALLORY")
    assert _first(bot, "views.open", "usergroups.users.list") == "views.open"
    assert "don't have access to any texting line" in json.dumps(view)
    assert bot.fake_slack.responses == []


def test_the_app_home_button_opens_the_form_before_reading_groups(bot: Bot, lines) -> None:
    bot.fake_slack.delay("usergroups.users.list", SLOW)
    payload = button_payload(
        ids.NEW_CONVERSATION_BUTTON, "new", user=BOB, channel="", message_ts="", response_url=""
    )
    payload["container"] = {"type": "view", "view_id": "VHOME"}
    assert bot.slack.interact(payload).status_code == 200
    view = shown_modal(bot.fake_slack)
    assert _first(bot, "views.open", "usergroups.users.list") == "views.open"
    assert _line_names(view) == ["Support (+1 202-555-0101)"]


def test_the_message_shortcut_opens_before_names_are_looked_up(bot: Bot, lines) -> None:
    bot.fake_slack.display_names["U0CAROL"] = "Carol"
    bot.slack.open_modal(user=BOB)  # the groups' copy is fresh: only the name is missing
    bot.fake_slack.delay("users.info", SLOW)
    before = len(bot.fake_slack.calls_to("views.open"))
    payload = {
        "type": "message_action",
        "callback_id": ids.TEXT_THIS_SHORTCUT,
        "trigger_id": trigger_id(),
        "team": {"id": "T0TEST"},
        "user": {"id": BOB},
        "channel": {"id": "C0GENERAL"},
        "message": {"type": "message", "text": "Ask <@U0CAROL> &amp; me", "ts": "1.2"},
        "response_url": bot.fake_slack.response_url("shortcut"),
        "api_app_id": APP_ID,
    }
    assert bot.slack.interact(payload).status_code == 200
    view = shown_modal(bot.fake_slack, before=before)
    assert _first(bot, "views.open", "users.info") == "views.open"
    message = next(b for b in view["blocks"] if b.get("block_id") == ids.MESSAGE_BLOCK)
    assert message["element"]["initial_value"] == "Ask @Carol & me"


def _click_settings(bot: Bot, user: str, action_id: str, value: str) -> dict[str, Any]:
    before = len(bot.fake_slack.calls_to("views.open"))
    payload = button_payload(
        action_id, value, user=user, channel="", message_ts="", response_url=""
    )
    payload["container"] = {"type": "view", "view_id": "VHOME"}
    assert bot.slack.interact(payload).status_code == 200
    return shown_modal(bot.fake_slack, before=before)


@pytest.mark.parametrize("slow", ["usergroups.list", "users.info"])
def test_line_settings_open_before_the_role_and_groups_are_read(bot: Bot, lines, slow: str) -> None:
    bot.fake_slack.delay(slow, SLOW)
    view = _click_settings(bot, ALICE, ids.LINE_SETTINGS_ACTION, str(lines["sales"].id))
    assert view["callback_id"] == ids.LINE_SETTINGS_VIEW
    assert _first(bot, "views.open", "users.info", "usergroups.list") == "views.open"
    assert "@s0support" in json.dumps(view)


@pytest.mark.parametrize("action_id", [ids.ADD_LINE_ACTION, ids.SAVED_REPLIES_ACTION])
def test_other_management_modals_open_before_the_role_is_read(
    bot: Bot, lines, action_id: str
) -> None:
    bot.fake_slack.admins = {ALICE}
    bot.fake_slack.delay("users.info", SLOW)
    view = _click_settings(bot, ALICE, action_id, str(lines["sales"].id))
    assert view["callback_id"] in (ids.ADD_LINE_VIEW, ids.SAVED_REPLIES_VIEW)
    assert _first(bot, "views.open", "users.info") == "views.open"


def _search_groups(bot: Bot, user: str, query: str) -> list[dict[str, Any]]:
    payload = {
        "type": "block_suggestion",
        "user": {"id": user, "team_id": "T0TEST"},
        "team": {"id": "T0TEST", "domain": "test"},
        "api_app_id": APP_ID,
        "action_id": ids.FIELD_ACTION,
        "block_id": ids.LINE_GROUPS_BLOCK,
        "value": query,
        "container": {"type": "view", "view_id": "V0"},
        "view": {"id": "V0", "callback_id": ids.LINE_SETTINGS_VIEW},
    }
    response = bot.slack.interact(payload)
    assert response.status_code == 200, response.text
    return response.json().get("options", [])


def test_the_user_group_search_answers_from_the_copy_without_asking_slack(bot: Bot, lines) -> None:
    bot.fake_slack.usergroups["S0SALES"] = []
    # Opening the settings lists the groups (after views.open) and keeps them.
    _click_settings(bot, ALICE, ids.LINE_SETTINGS_ACTION, str(lines["sales"].id))
    before = len(bot.fake_slack.calls)
    options = _search_groups(bot, ALICE, "sup")
    assert bot.fake_slack.methods_called()[before:] == []
    assert [o["value"] for o in options] == [SUPPORT_GROUP]
    assert [o["value"] for o in _search_groups(bot, ALICE, "")] == ["S0SALES", SUPPORT_GROUP]


def test_the_periodic_job_keeps_the_groups_copy(bot: Bot, lines) -> None:
    bot.fake_slack.usergroups["S0NEW"] = []
    bot.runtime.refresh_usergroups()
    assert [o["value"] for o in _search_groups(bot, ALICE, "new")] == ["S0NEW"]
    del bot.fake_slack.usergroups["S0NEW"]
    bot.runtime.refresh_usergroups()
    assert _search_groups(bot, ALICE, "new") == []
