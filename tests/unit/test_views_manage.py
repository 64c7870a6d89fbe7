"""The line management builders: App Home's part for admins and managers, and the forms it
opens (add a line, a line's settings, its saved replies)."""

from __future__ import annotations

import json

from handlers import ids
from handlers.limits import CHECKBOX_OPTIONS, OPTION_TEXT
from handlers.views.home import HOME_MANAGED_PER_PAGE, HomePage
from handlers.views.manage import (
    build_add_line_modal,
    build_group_option,
    build_line_settings_modal,
    build_manage_lines_section,
    build_saved_replies_modal,
)
from models.lines import MAX_LINE_NAME_LENGTH
from models.saved_replies import MAX_SAVED_REPLY_NAME_LENGTH
from models.tables import SavedReply
from tests.slack_markup import mrkdwn_texts
from tests.view_checks import (
    LONG_LINE_NAME,
    block,
    line,
    saved_reply,
    shown,
    valid_options,
    valid_view,
)


def _home(blocks: list[dict]) -> dict:
    """The section as App Home shows it (it follows the user's own part)."""
    return valid_view({"type": "home", "blocks": blocks})


def test_the_manage_section_lists_each_line_with_who_may_use_it() -> None:
    sales = line(1, name="Sales & <Support>")
    off = line(2)
    off.active = False
    grants = {1: [("U0ALICE", False), ("U0BOB", True), ("S0SUPPORT", False)]}
    blocks = build_manage_lines_section(lines=[sales, off], grants=grants, can_add=True)
    _home(blocks)
    texts = mrkdwn_texts(blocks)
    assert texts[0] == "*Manage lines*"
    assert texts[1] == (
        "*Sales &amp; &lt;Support&gt; (+1 202-555-0101)* in <#C00000001>\n"
        "Access: <@U0ALICE>, <@U0BOB> (manager), <!subteam^S0SUPPORT>"
    )
    assert texts[2] == (
        "*Line 2 (+1 202-555-0102)* in <#C00000002> · :no_entry_sign: turned off\n"
        "Access: nobody yet"
    )
    buttons = [
        (e["action_id"], e["value"])
        for b in blocks
        for e in (b.get("elements") or [b.get("accessory") or {}])
        if e.get("type") == "button"
    ]
    assert buttons == [
        (ids.LINE_SETTINGS_ACTION, "1"),
        (ids.SAVED_REPLIES_ACTION, "1"),
        (ids.LINE_SETTINGS_ACTION, "2"),
        (ids.SAVED_REPLIES_ACTION, "2"),
        (ids.ADD_LINE_ACTION, "add"),
    ]
    without_add = build_manage_lines_section(lines=[sales], grants=grants, can_add=False)
    assert ids.ADD_LINE_ACTION not in json.dumps(without_add)


def test_the_manage_section_at_its_largest_pages_and_cuts_access_with_a_word() -> None:
    lines = [line(n, name=LONG_LINE_NAME) for n in range(1, 151)]
    grants = {
        n: [(f"U{m:08d}", m % 7 == 0) for m in range(300)] + [("S0GROUP", False)]
        for n in range(1, 151)
    }
    blocks = build_manage_lines_section(
        lines=lines, grants=grants, can_add=True, page=HomePage(managed=3)
    )
    _home(blocks)
    text = json.dumps(blocks)
    first = 3 * HOME_MANAGED_PER_PAGE + 1
    assert f"Showing {first} to {first + HOME_MANAGED_PER_PAGE - 1} of 150 managed lines" in text
    headings = [t for t in mrkdwn_texts(blocks) if t.startswith("*Sales")]
    assert len(headings) == HOME_MANAGED_PER_PAGE
    assert all(" more (in its Settings)" in heading for heading in headings)


def test_the_add_line_form_asks_for_a_number_a_name_and_a_channel() -> None:
    view = valid_view(build_add_line_modal())
    assert view["callback_id"] == ids.ADD_LINE_VIEW
    assert [b["block_id"] for b in view["blocks"]] == [
        ids.LINE_NUMBER_BLOCK,
        ids.LINE_NAME_BLOCK,
        ids.LINE_CHANNEL_BLOCK,
    ]
    assert block(view, ids.LINE_NAME_BLOCK)["element"]["max_length"] == MAX_LINE_NAME_LENGTH
    assert "+1 202 555 0100" in shown(view)


def test_the_channel_pickers_offer_channels_never_direct_messages() -> None:
    """A line moved to a DM could never post there: the settings' picker offered DMs."""
    for view in (
        build_add_line_modal(),
        build_line_settings_modal(line=line(), grants=[], usergroup_names={}),
    ):
        picker = block(view, ids.LINE_CHANNEL_BLOCK)["element"]
        assert picker["type"] == "conversations_select"
        assert picker["filter"]["include"] == ["public", "private"]


def test_a_user_group_option_is_its_handle_or_its_id() -> None:
    names = {"S0SUPPORT": "@support " + "x" * 100}
    options = valid_options(
        [build_group_option("S0SUPPORT", names), build_group_option("S0GONE", names)]
    )
    assert [o["value"] for o in options] == ["S0SUPPORT", "S0GONE"]
    assert len(options[0]["text"]["text"]) == OPTION_TEXT
    assert options[1]["text"]["text"] == "S0GONE"


def test_line_settings_show_the_line_as_it_is() -> None:
    sales = line(1, name=LONG_LINE_NAME)
    sales.group_mms = True
    grants = [("U0ALICE", False), ("U0BOB", True), ("S0SUPPORT", False)]
    view = valid_view(
        build_line_settings_modal(
            line=sales, grants=grants, usergroup_names={"S0SUPPORT": "@support", "S0SALES": "@s"}
        )
    )
    assert json.loads(view["private_metadata"]) == {"line_id": 1}
    assert block(view, ids.LINE_NAME_BLOCK)["element"]["initial_value"] == LONG_LINE_NAME
    assert block(view, ids.LINE_CHANNEL_BLOCK)["element"]["initial_conversation"] == "C00000001"
    assert block(view, ids.LINE_ACTIVE_BLOCK)["element"]["initial_options"][0]["value"] == "on"
    assert block(view, ids.LINE_GROUP_MMS_BLOCK)["element"]["initial_options"][0]["value"] == "on"
    assert block(view, ids.LINE_USERS_BLOCK)["element"]["initial_users"] == ["U0ALICE"]
    assert block(view, ids.LINE_MANAGERS_BLOCK)["element"]["initial_users"] == ["U0BOB"]
    groups = block(view, ids.LINE_GROUPS_BLOCK)["element"]
    assert [o["value"] for o in groups["options"]] == ["S0SALES", "S0SUPPORT"]
    assert [o["value"] for o in groups["initial_options"]] == ["S0SUPPORT"]


def test_a_line_that_cannot_send_group_texts_says_why_in_place_of_the_box() -> None:
    toll_free = line(1)
    toll_free.number = "+18005550100"
    view = valid_view(build_line_settings_modal(line=toll_free, grants=[], usergroup_names={}))
    assert all(b.get("block_id") != ids.LINE_GROUP_MMS_BLOCK for b in view["blocks"])
    assert any("toll-free" in t and t.startswith("Group texts: ") for t in mrkdwn_texts(view))
    off = line(2)
    off.active = False
    view = build_line_settings_modal(line=off, grants=[], usergroup_names={})
    assert "initial_options" not in block(view, ids.LINE_ACTIVE_BLOCK)["element"]
    groups = block(view, ids.LINE_GROUPS_BLOCK)["element"]
    assert groups["options"][0]["text"]["text"] == "(no user groups)"


def test_line_settings_with_more_user_groups_than_a_menu_holds_search_them() -> None:
    names = {f"S{n:08d}": f"@group-{n}-" + "x" * 80 for n in range(150)}
    view = valid_view(
        build_line_settings_modal(line=line(), grants=[("S00000149", False)], usergroup_names=names)
    )
    groups = block(view, ids.LINE_GROUPS_BLOCK)["element"]
    assert groups["type"] == "multi_external_select"
    # A menu that searches lists no options to match: the granted ones are shown as chosen.
    assert [o["value"] for o in groups["initial_options"]] == ["S00000149"]


def test_a_few_saved_replies_are_boxes_to_tick_for_deleting() -> None:
    sales = line()
    replies = [saved_reply(n, sales) for n in range(CHECKBOX_OPTIONS)]
    view = valid_view(build_saved_replies_modal(line=sales, replies=replies))
    delete = block(view, ids.REPLY_DELETE_BLOCK)["element"]
    assert delete["type"] == "checkboxes"
    assert [o["value"] for o in delete["options"]] == [str(n) for n in range(CHECKBOX_OPTIONS)]
    assert all(len(o["description"]["text"]) <= OPTION_TEXT for o in delete["options"])
    assert len(replies[0].name) == MAX_SAVED_REPLY_NAME_LENGTH
    assert block(view, ids.REPLY_NAME_BLOCK)["element"]["max_length"] == (
        MAX_SAVED_REPLY_NAME_LENGTH
    )
    assert block(view, ids.REPLY_BODY_BLOCK)["element"]["max_length"] == 1600
    assert "`{first_name}` and `{name}` are filled in" in shown(view)


def test_many_saved_replies_are_a_menu_and_none_is_a_form_to_add_one() -> None:
    sales = line()
    many = [saved_reply(n, sales) for n in range(150)]
    view = valid_view(build_saved_replies_modal(line=sales, replies=many))
    assert block(view, ids.REPLY_DELETE_BLOCK)["element"]["type"] == "multi_external_select"
    eleven = many[: CHECKBOX_OPTIONS + 1]
    view = valid_view(build_saved_replies_modal(line=sales, replies=eleven))
    assert len(block(view, ids.REPLY_DELETE_BLOCK)["element"]["options"]) == len(eleven)
    empty = valid_view(build_saved_replies_modal(line=sales, replies=list[SavedReply]()))
    assert all(b.get("block_id") != ids.REPLY_DELETE_BLOCK for b in empty["blocks"])
    assert json.loads(empty["private_metadata"]) == {"line_id": 1}
