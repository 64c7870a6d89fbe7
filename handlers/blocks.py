"""Block Kit builders: pure functions from rows to Slack payloads, no I/O."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handlers import ids
from models.broadcasts import RecipientProgress
from models.phone import format_phone
from models.tables import (
    Broadcast,
    Contact,
    Conversation,
    ConversationStatus,
    Delivery,
    DeliveryStatus,
    Line,
    Message,
    MessageDirection,
    SavedReply,
)

Block = dict[str, Any]

_OPTION_TEXT_LIMIT = 75

_STATUS_LABELS = {
    DeliveryStatus.PENDING: ":hourglass_flowing_sand: Sending",
    DeliveryStatus.SENDING: ":hourglass_flowing_sand: Sending",
    DeliveryStatus.QUEUED: ":outbox_tray: Sent to carrier",
    DeliveryStatus.SENT: ":white_check_mark: Sent",
    DeliveryStatus.DELIVERED: ":white_check_mark: Delivered",
    DeliveryStatus.UNDELIVERED: ":x: Not delivered",
    DeliveryStatus.FAILED: ":x: Failed",
    DeliveryStatus.CANCELED: ":no_entry_sign: Canceled",
}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def escape(text: str) -> str:
    """Slack mrkdwn needs only these three escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def contact_label(contact: Contact) -> str:
    number = format_phone(contact.phone)
    return f"{contact.name} ({number})" if contact.name else number


def line_label(line: Line) -> str:
    return f"{line.name} ({format_phone(line.number)})"


def _option(text: str, value: str) -> dict[str, Any]:
    if len(text) > _OPTION_TEXT_LIMIT:
        text = text[: _OPTION_TEXT_LIMIT - 1] + "…"
    return {"text": _plain(text), "value": value}


def build_line_option(line: Line) -> dict[str, Any]:
    return _option(line_label(line), str(line.id))


def build_contact_option(contact: Contact) -> dict[str, Any]:
    return _option(contact_label(contact), f"{ids.CONTACT_OPTION_PREFIX}{contact.id}")


def build_new_number_option(phone: str) -> dict[str, Any]:
    return _option(f"{format_phone(phone)} (new contact)", f"{ids.NEW_NUMBER_OPTION_PREFIX}{phone}")


_KIND_LABELS = {
    ids.KIND_CONVERSATION: "Conversation",
    ids.KIND_MULTI: "Multi-recipient message",
    ids.KIND_GROUP: "Reply-all group",
}
_KIND_HELP = {
    ids.KIND_CONVERSATION: "Text one person. Their replies come back to the thread.",
    ids.KIND_MULTI: (
        "Each recipient gets the text on their own, in a conversation of their own: "
        "recipients never see each other. Up to {multi} recipients."
    ),
    ids.KIND_GROUP: (
        "One group text: every participant sees the others' numbers and replies, and the "
        "team sees them all in one thread. {group_min} to {group_max} participants."
    ),
}


def _kind_option(kind: str) -> dict[str, Any]:
    return {"text": _plain(_KIND_LABELS[kind]), "value": kind}


def build_new_conversation_modal(
    *,
    lines: Sequence[Line],
    kind: str = ids.KIND_CONVERSATION,
    private_metadata: dict[str, Any] | None = None,
    max_multi: int = 20,
    group_size: tuple[int, int] = (2, 9),
    message: str | None = None,
    saved_replies: Sequence[tuple[SavedReply, Line]] = (),
) -> dict[str, Any]:
    """The /text modal: the kind switch, the line, the recipient(s), a saved reply if the
    lines have any, and the message (prefilled when given, e.g. from a message shortcut)."""
    line_select: dict[str, Any] = {
        "type": "static_select",
        "action_id": ids.LINE_ACTION,
        "placeholder": _plain("Choose a line"),
        "options": [build_line_option(line) for line in lines[:100]],
    }
    if len(lines) == 1:
        line_select["initial_option"] = build_line_option(lines[0])
    if kind == ids.KIND_CONVERSATION:
        recipients: Block = {
            "type": "input",
            "block_id": ids.RECIPIENT_BLOCK,
            "label": _plain("To"),
            "hint": _plain("Type a name or a phone number; a new number becomes a contact."),
            "element": {
                "type": "external_select",
                "action_id": ids.RECIPIENT_ACTION,
                "placeholder": _plain("Name or number"),
                "min_query_length": 1,
            },
        }
    else:
        limit = max_multi if kind == ids.KIND_MULTI else group_size[1]
        recipients = {
            "type": "input",
            "block_id": ids.RECIPIENTS_BLOCK,
            "label": _plain("To" if kind == ids.KIND_MULTI else "Participants"),
            "hint": _plain(f"Type names or phone numbers, up to {limit}."),
            "element": {
                "type": "multi_external_select",
                "action_id": ids.RECIPIENTS_ACTION,
                "placeholder": _plain("Names or numbers"),
                "min_query_length": 1,
                "max_selected_items": limit,
            },
        }
    explanation = _KIND_HELP[kind].format(
        multi=max_multi, group_min=group_size[0], group_max=group_size[1]
    )
    titles = {
        ids.KIND_CONVERSATION: "New conversation",
        ids.KIND_MULTI: "New message",
        ids.KIND_GROUP: "New group text",
    }
    return {
        "type": "modal",
        "callback_id": ids.NEW_CONVERSATION_VIEW,
        "title": _plain(titles[kind]),
        "submit": _plain("Send"),
        "close": _plain("Cancel"),
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
            {"type": "context", "elements": [_mrkdwn(explanation)]},
            {
                "type": "input",
                "block_id": ids.LINE_BLOCK,
                "label": _plain("From line"),
                "element": line_select,
            },
            recipients,
            *_saved_reply_blocks(saved_replies),
            {
                "type": "input",
                "block_id": ids.MESSAGE_BLOCK,
                "label": _plain("Message"),
                "optional": bool(saved_replies),
                "hint": _plain("{first_name} and {name} are filled in for each recipient."),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ids.MESSAGE_ACTION,
                    "multiline": True,
                    "max_length": 1600,
                    "placeholder": _plain("Your text message"),
                    **({"initial_value": message[:1600]} if message else {}),
                },
            },
            {
                "type": "input",
                "block_id": ids.SEND_AT_BLOCK,
                "label": _plain("Send later"),
                "optional": True,
                "hint": _plain("Leave empty to send now."),
                "element": {"type": "datetimepicker", "action_id": ids.SEND_AT_ACTION},
            },
            {
                "type": "input",
                "block_id": ids.QUIET_OK_BLOCK,
                "label": _plain("Quiet hours"),
                "optional": True,
                "element": {
                    "type": "checkboxes",
                    "action_id": ids.QUIET_OK_ACTION,
                    "options": [_QUIET_OK_OPTION],
                },
            },
        ],
    }


def _saved_reply_blocks(saved_replies: Sequence[tuple[SavedReply, Line]]) -> list[Block]:
    if not saved_replies:
        return []
    options = [
        _option(f"{line.name}: {reply.name}", str(reply.id)) for reply, line in saved_replies[:100]
    ]
    return [
        {
            "type": "input",
            "block_id": ids.SAVED_REPLY_BLOCK,
            "label": _plain("Saved reply"),
            "optional": True,
            "hint": _plain("Pick one instead of typing a message."),
            "element": {
                "type": "static_select",
                "action_id": ids.SAVED_REPLY_ACTION,
                "placeholder": _plain("Choose a saved reply"),
                "options": options,
            },
        }
    ]


def build_no_lines_modal(text: str) -> dict[str, Any]:
    """Instead of an empty form, for someone with no line (from a shortcut or App Home)."""
    return {
        "type": "modal",
        "title": _plain("No line to text from"),
        "close": _plain("OK"),
        "blocks": [{"type": "section", "text": _mrkdwn(text)}],
    }


def slack_date(moment: datetime) -> str:
    """A time each reader sees in their own time zone."""
    fallback = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def build_app_home(
    *,
    user_id: str,
    lines: Sequence[Line],
    conversations: Sequence[tuple[Conversation, Line, str]],
    team_url: str,
    no_lines_text: str,
    scheduled: Sequence[tuple[Message, Conversation, Line]] = (),
) -> dict[str, Any]:
    """App Home: my lines, my open conversations (assigned to me first), a New button."""
    blocks: list[Block] = [
        {"type": "header", "text": _plain("textbot")},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": ids.NEW_CONVERSATION_BUTTON,
                    "text": _plain("New conversation"),
                    "style": "primary",
                    "value": "new",
                }
            ],
        },
        {"type": "section", "text": _mrkdwn("*Your lines*")},
    ]
    if lines:
        listing = "\n".join(
            f"• {escape(line_label(line))} in <#{line.channel_id}>" for line in lines
        )
        blocks.append({"type": "section", "text": _mrkdwn(listing)})
    else:
        blocks.append({"type": "section", "text": _mrkdwn(no_lines_text)})
    blocks.append({"type": "section", "text": _mrkdwn("*Open conversations*")})
    if not conversations:
        blocks.append({"type": "context", "elements": [_mrkdwn("No open conversations.")]})
    for conversation, line, who in conversations[:40]:
        mine = (
            " · :bust_in_silhouette: assigned to you" if conversation.assigned_to == user_id else ""
        )
        when = (
            slack_date(conversation.last_message_at)
            if conversation.last_message_at
            else "no texts yet"
        )
        link = thread_link(team_url, conversation.slack_channel_id, conversation.slack_thread_ts)
        title = f"<{link}|{escape(who)}>" if link else escape(who)
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(f"*{title}*\n{escape(line.name)} · last text {when}{mine}"),
            }
        )
    if scheduled:
        blocks.append({"type": "section", "text": _mrkdwn("*Your scheduled texts*")})
    for message, conversation, line in scheduled:
        link = thread_link(team_url, conversation.slack_channel_id, conversation.slack_thread_ts)
        where = f"<{link}|in its thread>" if link else ""
        assert message.scheduled_for is not None
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(
                    f":alarm_clock: {slack_date(message.scheduled_for)} from {escape(line.name)} "
                    f"{where}: “{escape(message.body[:120])}”"
                ),
                "accessory": _button(ids.CANCEL_SCHEDULED_ACTION, "Cancel", message.id),
            }
        )
    return {"type": "home", "blocks": blocks}


_QUIET_OK_OPTION = {
    "text": _plain("Send even if it is night for the recipient (9pm to 8am their time)"),
    "value": "yes",
}


def build_queued_confirmation(*, line: Line, text: str) -> dict[str, Any]:
    """What the modal turns into once a multi-recipient or group text is accepted."""
    return {
        "type": "modal",
        "title": _plain("Text on its way"),
        "close": _plain("Done"),
        "blocks": [
            {
                "type": "section",
                "text": _mrkdwn(f":outbox_tray: {text} from *{escape(line_label(line))}*."),
            }
        ],
    }


def build_sent_confirmation(*, line: Line, contact: Contact, created: bool) -> dict[str, Any]:
    """What the modal turns into once a text is accepted."""
    what = "A new conversation" if created else "The conversation"
    return {
        "type": "modal",
        "title": _plain("Text on its way"),
        "close": _plain("Done"),
        "blocks": [
            {
                "type": "section",
                "text": _mrkdwn(
                    f":outbox_tray: Your text to *{escape(contact_label(contact))}* is on its "
                    f"way from *{escape(line_label(line))}*.\n{what} with them is in "
                    f"<#{line.channel_id}>: replies will appear in its thread."
                ),
            }
        ],
    }


def _button(action_id: str, text: str, value: object, **extra: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": _plain(text),
        "value": str(value),
        **extra,
    }


def build_conversation_parent(
    *,
    conversation: Conversation,
    line: Line,
    contact: Contact | None,
    participants: Sequence[Contact] = (),
    opted_out_ids: frozenset[int] = frozenset(),
) -> tuple[str, list[Block]]:
    """The conversation's parent message in the line's channel: (fallback text, blocks).
    A group lists its participants, marking those who opted out."""
    if contact is not None:
        who = escape(contact_label(contact))
    else:
        names = [
            escape(contact_label(p)) + (" (opted out)" if p.id in opted_out_ids else "")
            for p in participants
        ]
        who = "Group: " + ", ".join(names)
    is_open = conversation.status == ConversationStatus.OPEN
    status = ":large_green_circle: Open" if is_open else ":white_circle: Closed"
    if not is_open:
        status += (
            f" by <@{conversation.closed_by}>" if conversation.closed_by else " after a quiet spell"
        )
    if conversation.assigned_to:
        status += f" · Assigned to <@{conversation.assigned_to}>"
    buttons: list[dict[str, Any]] = [
        _button(ids.CLOSE_CONVERSATION_ACTION, "Close", conversation.id)
        if is_open
        else _button(ids.REOPEN_CONVERSATION_ACTION, "Reopen", conversation.id, style="primary"),
        _button(ids.CLAIM_CONVERSATION_ACTION, "Claim", conversation.id),
    ]
    if conversation.assigned_to:
        buttons.append(_button(ids.UNASSIGN_CONVERSATION_ACTION, "Unassign", conversation.id))
    if contact is not None:
        buttons.append(_button(ids.EDIT_CONTACT_ACTION, "Edit contact", conversation.id))
    blocks: list[Block] = [
        {"type": "section", "text": _mrkdwn(f":speech_balloon: *{who}*")},
        {
            "type": "context",
            "elements": [_mrkdwn(f"Line *{escape(line_label(line))}* · {status}")],
        },
        {"type": "actions", "block_id": f"conversation:{conversation.id}", "elements": buttons},
    ]
    return f"Conversation with {who} on {line.name}", blocks


def describe_delivery(delivery: Delivery) -> str:
    label = _STATUS_LABELS.get(DeliveryStatus(delivery.status), delivery.status)
    if delivery.status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED):
        return f"{label}: {escape(delivery.error_text or 'no reason given')}"
    if delivery.status == DeliveryStatus.PENDING and delivery.error_text:
        return f"{label} (retrying: {escape(delivery.error_text)})"
    return label


def build_message_reply(
    *,
    message: Message,
    deliveries: Sequence[Delivery],
    contact: Contact | None = None,
    assignee: str | None = None,
) -> tuple[str, list[Block]]:
    """One message posted in the conversation's thread: what was texted (with who sent it
    and its delivery state), what a contact texted, or a notice from textbot."""
    body = escape(message.body)
    if message.direction == MessageDirection.NOTICE:
        return message.body, [{"type": "context", "elements": [_mrkdwn(body)]}]
    if message.direction == MessageDirection.INBOUND:
        who = escape(contact_label(contact)) if contact else "The contact"
        context = f":inbox_tray: {who} texted"
        if message.media:
            context += f" · :paperclip: {len(message.media)} attachment(s)"
        if deliveries:
            context += f" · relayed to {len(deliveries)}: " + " · ".join(
                describe_delivery(d) for d in deliveries
            )
        if assignee:
            # The fallback text is what notifies: the assignee hears of every inbound text.
            context += f" · for <@{assignee}>"
            blocks = [
                {"type": "section", "text": _mrkdwn(body or "_(no text)_")},
                {"type": "context", "elements": [_mrkdwn(context)]},
            ]
            return f"<@{assignee}> {message.body}"[:3000], blocks
    elif _waiting_for_its_time(message, deliveries):
        author = f"<@{message.author_user_id}>" if message.author_user_id else "textbot"
        assert message.scheduled_for is not None
        when = slack_date(message.scheduled_for)
        return message.body[:3000], [
            {"type": "section", "text": _mrkdwn(body)},
            {
                "type": "context",
                "elements": [_mrkdwn(f":alarm_clock: {author} scheduled this for {when}")],
            },
            {
                "type": "actions",
                "block_id": f"scheduled:{message.id}",
                "elements": [
                    _button(ids.CANCEL_SCHEDULED_ACTION, "Cancel", message.id, style="danger")
                ],
            },
        ]
    else:
        author = f"<@{message.author_user_id}>" if message.author_user_id else "textbot"
        states = " · ".join(describe_delivery(d) for d in deliveries) or "Not sent"
        verb = "scheduled" if message.scheduled_for else "texted"
        context = f":outbox_tray: {author} {verb} · {states}"
    blocks: list[Block] = [
        {"type": "section", "text": _mrkdwn(body or "_(no text)_")},
        {"type": "context", "elements": [_mrkdwn(context)]},
    ]
    return message.body[:3000] or "(no text)", blocks


def _waiting_for_its_time(message: Message, deliveries: Sequence[Delivery]) -> bool:
    return message.scheduled_for is not None and any(
        d.status == DeliveryStatus.PENDING for d in deliveries
    )


def build_media_links(media: Sequence[tuple[int, dict[str, str]]]) -> Block:
    """Attachments that could not be copied into Slack (numbered from 1), as links."""
    links = " · ".join(f"<{m['url']}|attachment {number}>" for number, m in media)
    return {"type": "context", "elements": [_mrkdwn(f":paperclip: {links}")]}


def message_identity(message: Message, contact: Contact | None) -> dict[str, str]:
    """Inbound texts are posted under the contact's name, so the thread reads like one."""
    if message.direction == MessageDirection.INBOUND and contact is not None:
        return {"username": contact_label(contact)[:80], "icon_emoji": ":iphone:"}
    return {}


# Reactions on a reply typed in Slack, for where its text has got to.
REPLY_REACTIONS = {
    "note": "memo",
    "sent": "outbox_tray",
    "delivered": "white_check_mark",
    "failed": "x",
}


def reply_mark(message: Message, deliveries: Sequence[Delivery]) -> str | None:
    """What a reply typed in Slack should show: a note, sent, delivered or failed."""
    if message.direction == MessageDirection.NOTE:
        return "note"
    statuses = {DeliveryStatus(d.status) for d in deliveries}
    if not statuses or statuses == {DeliveryStatus.CANCELED}:
        return None
    if statuses & {DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED}:
        return "failed"
    if statuses <= {DeliveryStatus.DELIVERED, DeliveryStatus.CANCELED}:
        return "delivered"
    if statuses & {DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED}:
        return "sent"
    return None


_PROGRESS_LABELS = {
    DeliveryStatus.PENDING: ":hourglass_flowing_sand: queued",
    DeliveryStatus.SENDING: ":hourglass_flowing_sand: sending",
    DeliveryStatus.QUEUED: ":outbox_tray: sent to carrier",
    DeliveryStatus.SENT: ":outbox_tray: sent",
    DeliveryStatus.DELIVERED: ":white_check_mark: delivered",
    DeliveryStatus.UNDELIVERED: ":x: not delivered",
    DeliveryStatus.FAILED: ":x: failed",
    DeliveryStatus.CANCELED: ":no_entry_sign: canceled",
}


def thread_link(team_url: str, channel_id: str | None, thread_ts: str | None) -> str | None:
    if not (team_url and channel_id and thread_ts):
        return None
    return f"{team_url.rstrip('/')}/archives/{channel_id}/p{thread_ts.replace('.', '')}"


def build_broadcast_summary(
    *,
    broadcast: Broadcast,
    line: Line,
    progress: Sequence[RecipientProgress],
    team_url: str,
) -> tuple[str, list[Block]]:
    """The sender's one summary of a multi-recipient message, kept up to date."""
    counts: dict[str, int] = {}
    rows = []
    for item in progress:
        status = DeliveryStatus(item.delivery.status)
        label = _PROGRESS_LABELS[status]
        counts[label] = counts.get(label, 0) + 1
        if (
            status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)
            and item.delivery.error_text
        ):
            label += f" ({escape(item.delivery.error_text)})"
        if item.replied:
            label += " · :speech_balloon: replied"
        who = escape(contact_label(item.contact))
        link = thread_link(
            team_url, item.conversation.slack_channel_id, item.conversation.slack_thread_ts
        )
        rows.append(f"• {f'<{link}|{who}>' if link else who}: {label}")
    for skipped in broadcast.skipped:
        rows.append(
            f"• {escape(skipped['label'])}: :no_entry_sign: not sent, {escape(skipped['reason'])}"
        )
    header = (
        f":outbox_tray: Your text from *{escape(line_label(line))}* to "
        f"{len(progress)} recipient(s): “{escape(broadcast.body[:200])}”"
    )
    tally = " · ".join(f"{n} {label}" for label, n in counts.items())
    blocks: list[Block] = [
        {"type": "section", "text": _mrkdwn(header)},
        {"type": "context", "elements": [_mrkdwn(tally or "nothing sent")]},
        {"type": "section", "text": _mrkdwn("\n".join(rows)[:3000] or "_no recipients_")},
    ]
    failed = sum(
        1
        for item in progress
        if item.delivery.status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)
    )
    if failed:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"broadcast:{broadcast.id}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ids.RETRY_FAILED_ACTION,
                        "text": _plain(f"Retry {failed} failed"),
                        "value": str(broadcast.id),
                    }
                ],
            }
        )
    return f"Your text to {len(progress)} recipient(s): {tally}", blocks


def build_edit_contact_modal(*, contact: Contact, conversation_id: int) -> dict[str, Any]:
    """A small form to rename a contact, opened from a conversation."""
    name_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": ids.CONTACT_NAME_ACTION,
        "max_length": 120,
        "placeholder": _plain("Name"),
    }
    if contact.name:
        name_input["initial_value"] = contact.name
    return {
        "type": "modal",
        "callback_id": ids.EDIT_CONTACT_VIEW,
        "title": _plain("Edit contact"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"conversation_id": conversation_id}),
        "blocks": [
            {"type": "context", "elements": [_mrkdwn(f":iphone: {format_phone(contact.phone)}")]},
            {
                "type": "input",
                "block_id": ids.CONTACT_NAME_BLOCK,
                "label": _plain("Name"),
                "optional": True,
                "element": name_input,
            },
        ],
    }


def build_manage_lines_section(
    *, lines: Sequence[Line], grants: dict[int, list[tuple[str, bool]]], can_add: bool
) -> list[Block]:
    """App Home's part for admins and line managers."""
    blocks: list[Block] = [
        {"type": "divider"},
        {"type": "section", "text": _mrkdwn("*Manage lines*")},
    ]
    for line in lines:
        access = ", ".join(
            (f"<!subteam^{p}>" if p.startswith("S") else f"<@{p}>") + (" (manager)" if m else "")
            for p, m in grants.get(line.id or 0, [])
        )
        state = "" if line.active else " · :no_entry_sign: turned off"
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(
                    f"*{escape(line_label(line))}* in <#{line.channel_id}>{state}\n"
                    f"Access: {access or 'nobody yet'}"
                ),
                "accessory": _button(ids.LINE_SETTINGS_ACTION, "Settings", line.id),
            }
        )
        blocks.append(
            {
                "type": "actions",
                "elements": [_button(ids.SAVED_REPLIES_ACTION, "Saved replies", line.id)],
            }
        )
    if can_add:
        blocks.append(
            {"type": "actions", "elements": [_button(ids.ADD_LINE_ACTION, "Add a line", "add")]}
        )
    return blocks


def _field(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "optional": optional,
        "element": {**element, "action_id": ids.FIELD_ACTION},
    }


def build_add_line_modal() -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": ids.ADD_LINE_VIEW,
        "title": _plain("Add a line"),
        "submit": _plain("Add"),
        "close": _plain("Cancel"),
        "blocks": [
            _field(
                ids.LINE_NUMBER_BLOCK,
                "Number",
                {"type": "plain_text_input", "placeholder": _plain("+1 202 555 0100")},
            ),
            _field(
                ids.LINE_NAME_BLOCK,
                "Name",
                {"type": "plain_text_input", "placeholder": _plain("Sales")},
            ),
            _field(
                ids.LINE_CHANNEL_BLOCK,
                "Channel",
                {
                    "type": "conversations_select",
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                },
            ),
        ],
    }


def _group_option(group_id: str, names: dict[str, str]) -> dict[str, Any]:
    return {"text": _plain(names.get(group_id, group_id)[:75]), "value": group_id}


def build_line_settings_modal(
    *, line: Line, grants: Sequence[tuple[str, bool]], usergroup_names: dict[str, str]
) -> dict[str, Any]:
    """Rename, move, turn off, and who may use or manage the line, in one form."""
    users = [p for p, m in grants if not p.startswith("S") and not m]
    managers = [p for p, m in grants if m]
    groups = [p for p, _ in grants if p.startswith("S")]
    active: dict[str, Any] = {"text": _plain("On: the line can send texts"), "value": "on"}
    group_select: dict[str, Any] = {
        "type": "multi_static_select",
        "options": [
            _group_option(g, usergroup_names) for g in sorted(set(usergroup_names) | set(groups))
        ][:100]
        or [_group_option("none", {"none": "(no user groups)"})],
    }
    if groups:
        group_select["initial_options"] = [_group_option(g, usergroup_names) for g in groups]
    checkbox: dict[str, Any] = {"type": "checkboxes", "options": [active]}
    if line.active:
        checkbox["initial_options"] = [active]
    return {
        "type": "modal",
        "callback_id": ids.LINE_SETTINGS_VIEW,
        "title": _plain("Line settings"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"line_id": line.id}),
        "blocks": [
            {"type": "context", "elements": [_mrkdwn(f":iphone: {format_phone(line.number)}")]},
            _field(
                ids.LINE_NAME_BLOCK,
                "Name",
                {"type": "plain_text_input", "initial_value": line.name},
            ),
            _field(
                ids.LINE_CHANNEL_BLOCK,
                "Channel",
                {"type": "conversations_select", "initial_conversation": line.channel_id},
            ),
            _field(ids.LINE_ACTIVE_BLOCK, "Status", checkbox, optional=True),
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
    if replies:
        options = [
            {
                "text": _plain(reply.name[:75]),
                "description": _plain(reply.body[:75]),
                "value": str(reply.id),
            }
            for reply in replies[:10]
        ]
        blocks.append(
            _field(
                ids.REPLY_DELETE_BLOCK,
                "Delete",
                {"type": "checkboxes", "options": options},
                optional=True,
            )
        )
    blocks += [
        {"type": "section", "text": _mrkdwn("*Add a saved reply*")},
        _field(
            ids.REPLY_NAME_BLOCK,
            "Name",
            {"type": "plain_text_input", "max_length": 60},
            optional=True,
        ),
        _field(
            ids.REPLY_BODY_BLOCK,
            "Text",
            {"type": "plain_text_input", "multiline": True, "max_length": 1600},
            optional=True,
        ),
        _field(
            ids.REPLY_FALLBACK_BLOCK,
            "For contacts with no name, say",
            {"type": "plain_text_input", "placeholder": _plain("there")},
            optional=True,
        ),
        {
            "type": "context",
            "elements": [
                _mrkdwn(
                    "`{first_name}` and `{name}` are filled in for each recipient, "
                    "e.g. “Hi {first_name}, your order is ready.”"
                )
            ],
        },
    ]
    return {
        "type": "modal",
        "callback_id": ids.SAVED_REPLIES_VIEW,
        "title": _plain("Saved replies"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"line_id": line.id}),
        "blocks": blocks,
    }
