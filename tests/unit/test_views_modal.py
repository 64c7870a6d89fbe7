"""The modals' builders: the /text form and its options, what replaces it, the contact form."""

from __future__ import annotations

import json

import pytest

from handlers import ids
from handlers.limits import DEFAULT_GROUP_SIZE, DEFAULT_MAX_MULTI_RECIPIENTS, OPTION_TEXT
from handlers.views.modal import (
    build_contact_option,
    build_edit_contact_modal,
    build_line_option,
    build_loading_modal,
    build_new_conversation_modal,
    build_new_number_option,
    build_no_lines_modal,
    build_queued_confirmation,
    build_saved_reply_option,
    build_sent_confirmation,
)
from models.conversations import MAX_MESSAGE_LENGTH
from models.sms_segments import count_segments
from models.tables import Contact
from tests.slack_markup import mrkdwn_texts
from tests.view_checks import (
    LONG_BODY,
    LONG_CONTACT_NAME,
    LONG_LINE_NAME,
    block,
    contact,
    line,
    saved_reply,
    shown,
    valid_options,
    valid_view,
)


def _quiet_option(view: dict) -> str:
    options = block(view, ids.QUIET_OK_BLOCK)["element"]["options"]
    assert [o["value"] for o in options] == ["yes"]
    return str(options[0]["text"]["text"])


def _explanation(view: dict) -> str:
    return str(view["blocks"][1]["elements"][0]["text"])


def test_the_form_preselects_a_single_line_and_has_the_inputs() -> None:
    view = valid_view(build_new_conversation_modal(lines=[line()]))
    assert view["callback_id"] == ids.NEW_CONVERSATION_VIEW
    assert [b.get("block_id") for b in view["blocks"]] == [
        ids.KIND_BLOCK,
        None,
        ids.LINE_BLOCK,
        ids.RECIPIENT_BLOCK,
        ids.MESSAGE_BLOCK,
        ids.PICTURES_BLOCK,
        ids.SEND_AT_BLOCK,
        ids.QUIET_OK_BLOCK,
    ]
    pictures = block(view, ids.PICTURES_BLOCK)
    assert pictures["optional"] is True
    assert pictures["element"]["type"] == "file_input"
    assert pictures["element"]["filetypes"] == ["jpg", "jpeg", "png", "gif"]
    assert pictures["element"]["max_files"] == 10
    assert pictures["hint"]["text"] == "JPEG, PNG or GIF, 5 MB in all: sent with the text as MMS."
    assert block(view, ids.LINE_BLOCK)["element"]["initial_option"] == {
        "text": {"type": "plain_text", "text": "Line 1 (+1 202-555-0101)", "emoji": True},
        "value": "1",
    }
    assert block(view, ids.RECIPIENT_BLOCK)["element"]["type"] == "external_select"
    message = block(view, ids.MESSAGE_BLOCK)
    assert message["element"]["max_length"] == 1600
    assert "One SMS holds 160 characters, or 70 with an emoji" in message["hint"]["text"]
    assert json.loads(view["private_metadata"]) == {"kind": "conversation"}


def test_the_form_lets_people_choose_among_several_lines() -> None:
    view = valid_view(build_new_conversation_modal(lines=[line(1), line(2)]))
    assert "initial_option" not in block(view, ids.LINE_BLOCK)["element"]
    assert len(block(view, ids.LINE_BLOCK)["element"]["options"]) == 2


def test_each_kind_explains_itself_with_the_settings_limits() -> None:
    """The limits are settings: the form names the configured ones, not the defaults."""
    multi = valid_view(
        build_new_conversation_modal(lines=[line()], kind=ids.KIND_MULTI, max_multi=35)
    )
    recipients = block(multi, ids.RECIPIENTS_BLOCK)
    assert recipients["element"]["type"] == "multi_external_select"
    assert recipients["element"]["max_selected_items"] == 35
    assert recipients["hint"]["text"] == "Type names or phone numbers, up to 35."
    assert "never see each other. Up to 35 recipients." in _explanation(multi)
    group = valid_view(
        build_new_conversation_modal(lines=[line()], kind=ids.KIND_GROUP, group_size=(3, 7))
    )
    assert block(group, ids.RECIPIENTS_BLOCK)["element"]["max_selected_items"] == 7
    assert "sees the others' numbers" in _explanation(group)
    assert "3 to 7 participants." in _explanation(group)
    relay = block(group, ids.GROUP_RELAY_BLOCK)
    assert "(+1 mobile numbers, at most 9)" in relay["hint"]["text"]  # Twilio's, not a setting
    kind = block(group, ids.KIND_BLOCK)["elements"][0]
    assert kind["initial_option"]["value"] == ids.KIND_GROUP
    assert [o["value"] for o in kind["options"]] == list(ids.KINDS)


def test_the_defaults_are_the_settings_defaults() -> None:
    multi = build_new_conversation_modal(lines=[line()], kind=ids.KIND_MULTI)
    assert f"Up to {DEFAULT_MAX_MULTI_RECIPIENTS} recipients." in _explanation(multi)
    group = build_new_conversation_modal(lines=[line()], kind=ids.KIND_GROUP)
    low, high = DEFAULT_GROUP_SIZE
    assert f"{low} to {high} participants." in _explanation(group)


@pytest.mark.parametrize(
    ("hours", "wording"),
    [
        ([(21, 8)], "(9pm to 8am their time)"),
        ([(22, 7), (22, 7)], "(10pm to 7am their time)"),
        ([(0, 12)], "(12am to 12pm their time)"),
        ([(21, 8), (22, 7)], "(the line's quiet hours)"),
        ([(21, 8), (0, 0)], "(the line's quiet hours)"),
        ([(0, 0)], "(no quiet hours are set)"),
        ([(5, 5), (9, 9)], "(no quiet hours are set)"),
    ],
)
def test_the_quiet_hours_box_names_the_lines_own_hours(
    hours: list[tuple[int, int]], wording: str
) -> None:
    """It said 9pm to 8am whatever the line's quiet hours were."""
    lines = [line(n, quiet=quiet) for n, quiet in enumerate(hours, start=1)]
    view = valid_view(build_new_conversation_modal(lines=lines))
    assert _quiet_option(view) == f"Send even if it is night for the recipient {wording}"


def test_the_form_at_its_largest_fits_and_offers_everything() -> None:
    """150 lines of the longest names, 150 saved replies of the longest names and texts, a
    shared message longer than a text may be, the settings' largest recipient limits."""
    lines = [line(n, name=LONG_LINE_NAME, quiet=(21 + n % 3, 8)) for n in range(1, 151)]
    replies = [(saved_reply(n, lines[n % 150]), lines[n % 150]) for n in range(150)]
    for kind in ids.KINDS:
        view = valid_view(
            build_new_conversation_modal(
                lines=lines,
                kind=kind,
                private_metadata={"channel_id": "C0GENERAL"},
                max_multi=100,
                group_size=(2, 50),
                message=LONG_BODY * 2,
                saved_replies=replies,
            )
        )
        # Past 100 options, menus search as the user types rather than leave any out.
        assert block(view, ids.LINE_BLOCK)["element"]["type"] == "external_select"
        assert block(view, ids.SAVED_REPLY_BLOCK)["element"]["type"] == "external_select"
        message = block(view, ids.MESSAGE_BLOCK)
        assert message["optional"] is True  # a saved reply may take its place
        assert message["element"]["initial_value"] == (LONG_BODY * 2)[:MAX_MESSAGE_LENGTH]
        assert json.loads(view["private_metadata"]) == {"channel_id": "C0GENERAL", "kind": kind}


def test_options_name_lines_contacts_and_replies_within_slacks_limits() -> None:
    long_line = line(7, name=LONG_LINE_NAME)
    options = valid_options(
        [
            build_line_option(long_line),
            build_contact_option(contact(3, name=LONG_CONTACT_NAME + "x" * 200)),
            build_contact_option(contact(4, name=None)),
            build_new_number_option("+12025550150"),
            build_saved_reply_option(saved_reply(9, long_line), long_line),
        ]
    )
    assert [o["value"] for o in options] == ["7", "contact:3", "contact:4", "new:+12025550150", "9"]
    texts = [o["text"]["text"] for o in options]
    assert all(len(text) <= OPTION_TEXT for text in texts)
    assert texts[1].startswith("Jane ") and texts[1].endswith("…")
    assert texts[2] == "+1 202-555-0104"
    assert texts[3] == "+1 202-555-0150 (new contact)"
    assert texts[4].startswith(f"{LONG_LINE_NAME}: Reply 9")


def test_someone_with_no_line_gets_a_word_instead_of_the_form() -> None:
    view = valid_view(build_no_lines_modal("You don't have access to any texting line yet."))
    assert mrkdwn_texts(view) == ["You don't have access to any texting line yet."]
    assert "submit" not in view


def test_the_loading_view_is_replaced_by_its_callback_id() -> None:
    view = valid_view(build_loading_modal())
    assert view["callback_id"] == ids.LOADING_VIEW
    assert "Loading" in shown(view)


def test_the_queued_confirmation_names_the_line_and_what_the_text_takes() -> None:
    view = valid_view(
        build_queued_confirmation(
            line=line(1, name=LONG_LINE_NAME),
            text="Your text is on its way to 20 recipient(s)",
            segments=count_segments("Hi 👋" * 100),
        )
    )
    texts = mrkdwn_texts(view)
    assert texts[0].startswith(":outbox_tray: Your text is on its way to 20 recipient(s) from *")
    assert "&lt;!channel&gt; &amp;" in texts[0]  # the line's name, escaped
    # "Hi 👋" 100 times is 500 UCS-2 units: 8 segments of 67, an emoji never cut in two.
    assert texts[1] == (
        ":iphone: Takes 8 SMS segments: 👋 makes it Unicode, 67 characters a segment instead "
        "of 153."
    )


def test_the_sent_confirmation_says_where_the_conversation_is() -> None:
    jane = contact(3, name=LONG_CONTACT_NAME)
    created = valid_view(
        build_sent_confirmation(line=line(), contact=jane, created=True, segments=None)
    )
    (text,) = mrkdwn_texts(created)
    assert "Your text to *Jane &lt;!channel&gt; &amp;" in text
    assert "A new conversation with them is in <#C00000001>" in text
    again = build_sent_confirmation(
        line=line(), contact=jane, created=False, segments=count_segments("See you at 3")
    )
    assert "The conversation with them" in mrkdwn_texts(again)[0]
    assert mrkdwn_texts(again)[1] == ":iphone: Takes 1 SMS."


def test_the_edit_contact_form_shows_the_name_as_typed_and_escapes_the_number() -> None:
    jane = contact(1, name=LONG_CONTACT_NAME)
    view = valid_view(build_edit_contact_modal(contact=jane, conversation_id=5))
    name = block(view, ids.CONTACT_NAME_BLOCK)["element"]
    assert name["initial_value"] == LONG_CONTACT_NAME  # a plain_text input: never escaped
    assert name["max_length"] == len(LONG_CONTACT_NAME)
    assert json.loads(view["private_metadata"]) == {"conversation_id": 5}
    odd = build_edit_contact_modal(contact=contact(2, name=None), conversation_id=5)
    odd_number = build_edit_contact_modal(
        contact=Contact(id=3, team_id="T0TEAM", phone="<!channel>", name="A & <B>"),
        conversation_id=5,
    )
    assert "initial_value" not in block(odd, ids.CONTACT_NAME_BLOCK)["element"]
    assert mrkdwn_texts(odd_number) == [":iphone: &lt;!channel&gt;"]
