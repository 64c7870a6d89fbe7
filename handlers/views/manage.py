"""Managing lines: App Home's part for admins and managers, and the forms it opens (add a
line, a line's settings, its saved replies)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from handlers import ids
from handlers.limits import CHECKBOX_OPTIONS, SECTION_TEXT, plain_label
from handlers.views.common import (
    Block,
    button,
    escape,
    line_label,
    mrkdwn,
    option,
    plain,
    select_or_search,
)
from handlers.views.home import FIRST_PAGE, HOME_MANAGED_PER_PAGE, HomePage, page_of, pager
from models.conversations import MAX_MESSAGE_LENGTH
from models.lines import MAX_LINE_NAME_LENGTH, group_mms_refusal
from models.phone import format_phone
from models.saved_replies import MAX_SAVED_REPLY_NAME_LENGTH
from models.tables import Line, SavedReply


def build_manage_lines_section(
    *,
    lines: Sequence[Line],
    grants: dict[int, list[tuple[str, bool]]],
    can_add: bool,
    page: HomePage = FIRST_PAGE,
) -> list[Block]:
    """App Home's part for admins and line managers, a page of lines at a time."""
    blocks: list[Block] = [
        {"type": "divider"},
        {"type": "section", "text": mrkdwn("*Manage lines*")},
    ]
    shown, at = page_of(lines, page.managed, HOME_MANAGED_PER_PAGE)
    for line in shown:
        state = "" if line.active else " · :no_entry_sign: turned off"
        heading = f"*{escape(line_label(line))}* in <#{line.channel_id}>{state}\nAccess: "
        principals = [
            (f"<!subteam^{p}>" if p.startswith("S") else f"<@{p}>") + (" (manager)" if m else "")
            for p, m in grants.get(line.id or 0, [])
        ]
        access = _listing(principals, SECTION_TEXT - len(heading), rest="in its Settings")
        blocks.append(
            {
                "type": "section",
                "text": mrkdwn(heading + (access or "nobody yet")),
                "accessory": button(ids.LINE_SETTINGS_ACTION, "Settings", line.id),
            }
        )
        blocks.append(
            {
                "type": "actions",
                "elements": [button(ids.SAVED_REPLIES_ACTION, "Saved replies", line.id)],
            }
        )
    blocks += pager(
        "managed lines", len(lines), at, HOME_MANAGED_PER_PAGE, lambda n: replace(page, managed=n)
    )
    if can_add:
        blocks.append(
            {"type": "actions", "elements": [button(ids.ADD_LINE_ACTION, "Add a line", "add")]}
        )
    return blocks


def _listing(items: Sequence[str], limit: int, *, rest: str) -> str:
    """Items joined by commas, as many as fit in `limit`, then how many more and where."""
    shown: list[str] = []
    for number, item in enumerate(items):
        more = f" and {len(items) - number} more ({rest})"
        if len(", ".join([*shown, item])) + len(more) > limit:
            return ", ".join(shown) + more
        shown.append(item)
    return ", ".join(shown)


def _field(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "optional": optional,
        "element": {**element, "action_id": ids.FIELD_ACTION},
    }


# A line's channel is a channel: never a direct message, which the picker offers otherwise.
_CHANNELS_ONLY = {"include": ["public", "private"], "exclude_bot_users": True}


def build_add_line_modal() -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": ids.ADD_LINE_VIEW,
        "title": plain("Add a line"),
        "submit": plain("Add"),
        "close": plain("Cancel"),
        "blocks": [
            _field(
                ids.LINE_NUMBER_BLOCK,
                "Number",
                {"type": "plain_text_input", "placeholder": plain("+1 202 555 0100")},
            ),
            _field(
                ids.LINE_NAME_BLOCK,
                "Name",
                {
                    "type": "plain_text_input",
                    "placeholder": plain("Sales"),
                    "max_length": MAX_LINE_NAME_LENGTH,
                },
            ),
            _field(
                ids.LINE_CHANNEL_BLOCK,
                "Channel",
                {"type": "conversations_select", "filter": _CHANNELS_ONLY},
            ),
        ],
    }


def build_group_option(group_id: str, names: dict[str, str]) -> dict[str, Any]:
    return option(names.get(group_id, group_id), group_id)


def build_line_settings_modal(
    *, line: Line, grants: Sequence[tuple[str, bool]], usergroup_names: dict[str, str]
) -> dict[str, Any]:
    """Rename, move, turn off, and who may use or manage the line, in one form."""
    users = [p for p, m in grants if not p.startswith("S") and not m]
    managers = [p for p, m in grants if m]
    groups = [p for p, _ in grants if p.startswith("S")]
    active: dict[str, Any] = {"text": plain("On: the line can send texts"), "value": "on"}
    group_options = [
        build_group_option(g, usergroup_names) for g in sorted(set(usergroup_names) | set(groups))
    ] or [build_group_option("none", {"none": "(no user groups)"})]
    group_select = select_or_search(ids.FIELD_ACTION, group_options, "User groups", multi=True)
    if groups:
        # Among the options when they are listed: Slack refuses the form otherwise.
        group_select["initial_options"] = [build_group_option(g, usergroup_names) for g in groups]
    checkbox: dict[str, Any] = {"type": "checkboxes", "options": [active]}
    if line.active:
        checkbox["initial_options"] = [active]
    group_texts: dict[str, Any] = {
        "text": plain("Group texts: a reply-all group is one group thread on every phone"),
        "description": plain("+1 long codes only; off: the line relays each member's texts"),
        "value": "on",
    }
    group_checkbox: dict[str, Any] = {"type": "checkboxes", "options": [group_texts]}
    if line.group_mms:
        group_checkbox["initial_options"] = [group_texts]
    cannot = group_mms_refusal(line.number)
    group_block: Block = (
        {"type": "context", "elements": [mrkdwn(f"Group texts: {escape(cannot)}")]}
        if cannot and not line.group_mms
        else _field(ids.LINE_GROUP_MMS_BLOCK, "Reply-all groups", group_checkbox, optional=True)
    )
    return {
        "type": "modal",
        "callback_id": ids.LINE_SETTINGS_VIEW,
        "title": plain("Line settings"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({"line_id": line.id}),
        "blocks": [
            {"type": "context", "elements": [mrkdwn(f":iphone: {format_phone(line.number)}")]},
            _field(
                ids.LINE_NAME_BLOCK,
                "Name",
                {
                    "type": "plain_text_input",
                    "initial_value": line.name,
                    "max_length": MAX_LINE_NAME_LENGTH,
                },
            ),
            _field(
                ids.LINE_CHANNEL_BLOCK,
                "Channel",
                {
                    "type": "conversations_select",
                    "initial_conversation": line.channel_id,
                    "filter": _CHANNELS_ONLY,
                },
            ),
            _field(ids.LINE_ACTIVE_BLOCK, "Status", checkbox, optional=True),
            group_block,
            _field(
                ids.LINE_USERS_BLOCK,
                "People who may use it",
                {"type": "multi_users_select", **({"initial_users": users} if users else {})},
                optional=True,
            ),
            _field(
                ids.LINE_GROUPS_BLOCK, "User groups who may use it", group_select, optional=True
            ),
            _field(
                ids.LINE_MANAGERS_BLOCK,
                "Managers (may change these settings)",
                {"type": "multi_users_select", **({"initial_users": managers} if managers else {})},
                optional=True,
            ),
        ],
    }


def build_saved_replies_modal(*, line: Line, replies: Sequence[SavedReply]) -> dict[str, Any]:
    """A line's saved replies: delete some, add one."""
    blocks: list[Block] = []
    if 0 < len(replies) <= CHECKBOX_OPTIONS:
        options = [
            {
                "text": plain(plain_label(reply.name)),
                "description": plain(plain_label(reply.body)),
                "value": str(reply.id),
            }
            for reply in replies
        ]
        delete: dict[str, Any] = {"type": "checkboxes", "options": options}
        blocks.append(_field(ids.REPLY_DELETE_BLOCK, "Delete", delete, optional=True))
    elif replies:
        # More than checkboxes hold (10): a menu of them all, searched past 100.
        options = [option(reply.name, str(reply.id)) for reply in replies]
        delete = select_or_search(ids.FIELD_ACTION, options, "Replies to delete", multi=True)
        blocks.append(_field(ids.REPLY_DELETE_BLOCK, "Delete", delete, optional=True))
    blocks += [
        {"type": "section", "text": mrkdwn("*Add a saved reply*")},
        _field(
            ids.REPLY_NAME_BLOCK,
            "Name",
            {"type": "plain_text_input", "max_length": MAX_SAVED_REPLY_NAME_LENGTH},
            optional=True,
        ),
        _field(
            ids.REPLY_BODY_BLOCK,
            "Text",
            {"type": "plain_text_input", "multiline": True, "max_length": MAX_MESSAGE_LENGTH},
            optional=True,
        ),
        _field(
            ids.REPLY_FALLBACK_BLOCK,
            "For contacts with no name, say",
            {"type": "plain_text_input", "placeholder": plain("there")},
            optional=True,
        ),
        {
            "type": "context",
            "elements": [
                mrkdwn(
                    "`{first_name}` and `{name}` are filled in for each recipient, "
                    "e.g. “Hi {first_name}, your order is ready.”"
                )
            ],
        },
    ]
    return {
        "type": "modal",
        "callback_id": ids.SAVED_REPLIES_VIEW,
        "title": plain("Saved replies"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({"line_id": line.id}),
        "blocks": blocks,
    }
