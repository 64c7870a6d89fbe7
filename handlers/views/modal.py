"""The modals people fill in: the /text form with its menus' options and the views that take
its place, and the contact form opened from a conversation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from handlers import ids, texts
from handlers.limits import DEFAULT_GROUP_SIZE, DEFAULT_MAX_MULTI_RECIPIENTS
from handlers.refusals import hour_label
from handlers.views.common import (
    Block,
    contact_label,
    contact_mrkdwn,
    escape,
    line_label,
    mrkdwn,
    option,
    plain,
    segments_summary,
    select_or_search,
)
from models.contacts import MAX_NAME_LENGTH
from models.conversations import MAX_MESSAGE_LENGTH
from models.outbound_media import MAX_MMS_FILES
from models.phone import format_phone
from models.sms_segments import SmsSegments
from models.tables import Contact, Line, SavedReply


def build_line_option(line: Line) -> dict[str, Any]:
    return option(line_label(line), str(line.id))


def build_contact_option(contact: Contact) -> dict[str, Any]:
    return option(contact_label(contact), f"{ids.CONTACT_OPTION_PREFIX}{contact.id}")


def build_new_number_option(phone: str) -> dict[str, Any]:
    return option(f"{format_phone(phone)} (new contact)", f"{ids.NEW_NUMBER_OPTION_PREFIX}{phone}")


def build_saved_reply_option(reply: SavedReply, line: Line) -> dict[str, Any]:
    return option(f"{line.name}: {reply.name}", str(reply.id))


_KIND_LABELS = {
    ids.KIND_CONVERSATION: "Conversation",
    ids.KIND_MULTI: "Multi-recipient message",
    ids.KIND_GROUP: "Reply-all group",
}
_KIND_HELP = {
    ids.KIND_CONVERSATION: texts.KIND_HELP_CONVERSATION,
    ids.KIND_MULTI: texts.KIND_HELP_MULTI,
    ids.KIND_GROUP: texts.KIND_HELP_GROUP,
}
_TITLES = {
    ids.KIND_CONVERSATION: "New conversation",
    ids.KIND_MULTI: "New message",
    ids.KIND_GROUP: "New group text",
}


def _kind_option(kind: str) -> dict[str, Any]:
    return {"text": plain(_KIND_LABELS[kind]), "value": kind}


def build_new_conversation_modal(
    *,
    lines: Sequence[Line],
    kind: str = ids.KIND_CONVERSATION,
    private_metadata: dict[str, Any] | None = None,
    max_multi: int = DEFAULT_MAX_MULTI_RECIPIENTS,
    group_size: tuple[int, int] = DEFAULT_GROUP_SIZE,
    message: str | None = None,
    saved_replies: Sequence[tuple[SavedReply, Line]] = (),
) -> dict[str, Any]:
    """The /text modal: the kind switch, the line, the recipient(s), a saved reply if the
    lines have any, and the message (prefilled when given, e.g. from a message shortcut).
    Its hints name the limits: `max_multi` recipients, a group of `group_size` people, the
    lines' quiet hours."""
    line_select: dict[str, Any] = select_or_search(
        ids.LINE_ACTION, [build_line_option(line) for line in lines], "Choose a line"
    )
    if len(lines) == 1:
        line_select["initial_option"] = build_line_option(lines[0])
    explanation = _KIND_HELP[kind].format(
        max_multi=max_multi, group_min=group_size[0], group_max=group_size[1]
    )
    return {
        "type": "modal",
        "callback_id": ids.NEW_CONVERSATION_VIEW,
        "title": plain(_TITLES[kind]),
        "submit": plain("Send"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({**(private_metadata or {}), "kind": kind}),
        "blocks": [
            {
                "type": "actions",
                "block_id": ids.KIND_BLOCK,
                "elements": [
                    {
                        "type": "radio_buttons",
                        "action_id": ids.KIND_ACTION,
                        "options": [_kind_option(k) for k in ids.KINDS],
                        "initial_option": _kind_option(kind),
                    }
                ],
            },
            {"type": "context", "elements": [mrkdwn(explanation)]},
            {
                "type": "input",
                "block_id": ids.LINE_BLOCK,
                "label": plain("From line"),
                "element": line_select,
            },
            _recipients_block(kind, max_multi if kind == ids.KIND_MULTI else group_size[1]),
            *(_GROUP_RELAY_BLOCKS if kind == ids.KIND_GROUP else []),
            *_saved_reply_blocks(saved_replies),
            {
                "type": "input",
                "block_id": ids.MESSAGE_BLOCK,
                "label": plain("Message"),
                "optional": bool(saved_replies),
                "hint": plain(texts.MESSAGE_HINT),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ids.MESSAGE_ACTION,
                    "multiline": True,
                    "max_length": MAX_MESSAGE_LENGTH,
                    "placeholder": plain("Your text message"),
                    **({"initial_value": message[:MAX_MESSAGE_LENGTH]} if message else {}),
                },
            },
            {
                "type": "input",
                "block_id": ids.PICTURES_BLOCK,
                "label": plain("Pictures"),
                "optional": True,
                "hint": plain(texts.PICTURES_HINT),
                "element": {
                    "type": "file_input",
                    "action_id": ids.PICTURES_ACTION,
                    "filetypes": ["jpg", "jpeg", "png", "gif"],
                    "max_files": MAX_MMS_FILES,
                },
            },
            {
                "type": "input",
                "block_id": ids.SEND_AT_BLOCK,
                "label": plain("Send later"),
                "optional": True,
                "hint": plain("Leave empty to send now."),
                "element": {"type": "datetimepicker", "action_id": ids.SEND_AT_ACTION},
            },
            {
                "type": "input",
                "block_id": ids.QUIET_OK_BLOCK,
                "label": plain("Quiet hours"),
                "optional": True,
                "element": {
                    "type": "checkboxes",
                    "action_id": ids.QUIET_OK_ACTION,
                    "options": [{"text": plain(quiet_ok_wording(lines)), "value": "yes"}],
                },
            },
        ],
    }


def _recipients_block(kind: str, limit: int) -> Block:
    """One recipient for a conversation; up to `limit` for the other kinds."""
    if kind == ids.KIND_CONVERSATION:
        return {
            "type": "input",
            "block_id": ids.RECIPIENT_BLOCK,
            "label": plain("To"),
            "hint": plain("Type a name or a phone number; a new number becomes a contact."),
            "element": {
                "type": "external_select",
                "action_id": ids.RECIPIENT_ACTION,
                "placeholder": plain("Name or number"),
                "min_query_length": 1,
            },
        }
    return {
        "type": "input",
        "block_id": ids.RECIPIENTS_BLOCK,
        "label": plain("To" if kind == ids.KIND_MULTI else "Participants"),
        "hint": plain(texts.RECIPIENTS_HINT.format(limit=limit)),
        "element": {
            "type": "multi_external_select",
            "action_id": ids.RECIPIENTS_ACTION,
            "placeholder": plain("Names or numbers"),
            "min_query_length": 1,
            "max_selected_items": limit,
        },
    }


def quiet_ok_wording(lines: Sequence[Line]) -> str:
    """The quiet-hours checkbox: the lines' hours when they all keep the same ones."""
    hours = {(line.quiet_start_hour, line.quiet_end_hour) for line in lines}
    quiet = {(start, end) for start, end in hours if start != end}  # equal hours: none
    if not quiet:
        return texts.QUIET_OK_NO_HOURS
    if len(hours) > 1:
        return texts.QUIET_OK_CHOSEN_LINE
    ((start, end),) = quiet
    return texts.QUIET_OK_HOURS.format(start=hour_label(start), end=hour_label(end))


# On a line with group texts (group MMS), a group is one group thread on every phone; this
# asks for a relayed group instead (each member texted one to one by the line).
_GROUP_RELAY_BLOCKS: list[Block] = [
    {
        "type": "input",
        "block_id": ids.GROUP_RELAY_BLOCK,
        "label": plain("Group text"),
        "optional": True,
        "hint": plain(texts.GROUP_RELAY_HINT),
        "element": {
            "type": "checkboxes",
            "action_id": ids.GROUP_RELAY_ACTION,
            "options": [
                {
                    "text": plain("Relay it: the line texts each member on their own"),
                    "value": "relay",
                }
            ],
        },
    }
]


def _saved_reply_blocks(saved_replies: Sequence[tuple[SavedReply, Line]]) -> list[Block]:
    if not saved_replies:
        return []
    options = [build_saved_reply_option(reply, line) for reply, line in saved_replies]
    return [
        {
            "type": "input",
            "block_id": ids.SAVED_REPLY_BLOCK,
            "label": plain("Saved reply"),
            "optional": True,
            "hint": plain("Pick one instead of typing a message."),
            "element": select_or_search(ids.SAVED_REPLY_ACTION, options, "Choose a saved reply"),
        }
    ]


def build_no_lines_modal(text: str) -> dict[str, Any]:
    """Instead of an empty form, for someone with no line (from a shortcut or App Home)."""
    return {
        "type": "modal",
        "title": plain("No line to text from"),
        "close": plain("OK"),
        "blocks": [{"type": "section", "text": mrkdwn(text)}],
    }


def build_loading_modal(title: str = "Just a moment") -> dict[str, Any]:
    """Opened first when a modal needs Slack's answers (the trigger lasts 3 s), then updated
    with its content."""
    return {
        "type": "modal",
        "callback_id": ids.LOADING_VIEW,
        "title": plain(title),
        "close": plain("Cancel"),
        "blocks": [{"type": "section", "text": mrkdwn(":hourglass_flowing_sand: Loading…")}],
    }


def _segments_context(segments: SmsSegments | None) -> list[Block]:
    if segments is None:
        return []
    summary = segments_summary(segments)
    return [{"type": "context", "elements": [mrkdwn(f":iphone: Takes {summary}.")]}]


def build_queued_confirmation(
    *, line: Line, text: str, segments: SmsSegments | None = None
) -> dict[str, Any]:
    """What the modal turns into once a multi-recipient or group text is accepted."""
    return {
        "type": "modal",
        "title": plain("Text on its way"),
        "close": plain("Done"),
        "blocks": [
            {
                "type": "section",
                "text": mrkdwn(f":outbox_tray: {text} from *{escape(line_label(line))}*."),
            },
            *_segments_context(segments),
        ],
    }


def build_sent_confirmation(
    *, line: Line, contact: Contact, created: bool, segments: SmsSegments | None = None
) -> dict[str, Any]:
    """What the modal turns into once a text is accepted, with the SMS it takes."""
    what = "A new conversation" if created else "The conversation"
    return {
        "type": "modal",
        "title": plain("Text on its way"),
        "close": plain("Done"),
        "blocks": [
            {
                "type": "section",
                "text": mrkdwn(
                    f":outbox_tray: Your text to *{contact_mrkdwn(contact)}* is on its "
                    f"way from *{escape(line_label(line))}*.\n{what} with them is in "
                    f"<#{line.channel_id}>: replies will appear in its thread."
                ),
            },
            *_segments_context(segments),
        ],
    }


def build_edit_contact_modal(*, contact: Contact, conversation_id: int) -> dict[str, Any]:
    """A small form to rename a contact, opened from a conversation."""
    name_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": ids.CONTACT_NAME_ACTION,
        "max_length": MAX_NAME_LENGTH,
        "placeholder": plain("Name"),
    }
    if contact.name:
        name_input["initial_value"] = contact.name
    return {
        "type": "modal",
        "callback_id": ids.EDIT_CONTACT_VIEW,
        "title": plain("Edit contact"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({"conversation_id": conversation_id}),
        "blocks": [
            {
                "type": "context",
                "elements": [mrkdwn(f":iphone: {escape(format_phone(contact.phone))}")],
            },
            {
                "type": "input",
                "block_id": ids.CONTACT_NAME_BLOCK,
                "label": plain("Name"),
                "optional": True,
                "element": name_input,
            },
        ],
    }
