"""A conversation's Slack thread: its parent message, the messages and notices in it, and
the sender's summary of a multi-recipient message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handlers import ids, texts
from handlers.limits import FALLBACK_TEXT, MESSAGE_BLOCKS, SECTION_TEXT, cut_mrkdwn, pack_rows
from handlers.views.common import (
    Block,
    button,
    contact_label,
    contact_mrkdwn,
    context_block,
    escape,
    line_label,
    mrkdwn,
    plain,
    section_blocks,
    slack_date,
    thread_link,
)
from models.broadcasts import RecipientProgress
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
)

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
        who = contact_mrkdwn(contact)
        title = f":speech_balloon: *{who}*"
    else:
        names = [
            contact_mrkdwn(p) + (" (opted out)" if p.id in opted_out_ids else "")
            for p in participants
        ]
        # A group text (group MMS) is one thread on every phone; a relayed group is not.
        kind = "Group text" if conversation.group_mms else "Group"
        who = f"{kind}: " + ", ".join(names)
        title = f":speech_balloon: *{kind}:* {', '.join(names)}"
    is_open = conversation.status == ConversationStatus.OPEN
    status = ":large_green_circle: Open" if is_open else ":white_circle: Closed"
    if not is_open:
        status += (
            f" by <@{conversation.closed_by}>" if conversation.closed_by else " after a quiet spell"
        )
    if conversation.assigned_to:
        status += f" · Assigned to <@{conversation.assigned_to}>"
    buttons: list[dict[str, Any]] = [
        button(ids.CLOSE_CONVERSATION_ACTION, "Close", conversation.id)
        if is_open
        else button(ids.REOPEN_CONVERSATION_ACTION, "Reopen", conversation.id, style="primary"),
        button(ids.CLAIM_CONVERSATION_ACTION, "Claim", conversation.id),
    ]
    if conversation.assigned_to:
        buttons.append(button(ids.UNASSIGN_CONVERSATION_ACTION, "Unassign", conversation.id))
    if contact is not None:
        buttons.append(button(ids.EDIT_CONTACT_ACTION, "Edit contact", conversation.id))
    blocks: list[Block] = [
        *section_blocks(title, at_most=MESSAGE_BLOCKS - 2),
        context_block(f"Line *{escape(line_label(line))}* · {status}"),
        {"type": "actions", "block_id": f"conversation:{conversation.id}", "elements": buttons},
    ]
    fallback = f"Conversation with {who} on {escape(line.name)}"
    return cut_mrkdwn(fallback, FALLBACK_TEXT), blocks


def describe_delivery(delivery: Delivery) -> str:
    label = _STATUS_LABELS.get(DeliveryStatus(delivery.status), delivery.status)
    if delivery.status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED):
        return f"{label}: {escape(delivery.error_text or 'no reason given')}"
    if delivery.status == DeliveryStatus.PENDING and delivery.error_text:
        return f"{label} (retrying: {escape(delivery.error_text)})"
    return label


# A picture's name as the thread shows it (ten of them stay within a context element).
MAX_PICTURE_NAME = 80


def build_message_reply(
    *,
    message: Message,
    deliveries: Sequence[Delivery],
    contact: Contact | None = None,
    assignee: str | None = None,
    pictures: Sequence[str] = (),
) -> tuple[str, list[Block]]:
    """One message posted in the conversation's thread: what was texted (with who sent it,
    the names of the `pictures` sent with it, and its delivery state), what a contact
    texted, or a notice from textbot. A long text
    is spread over as many sections as it needs: escaped, 1,600 characters of `&` are
    8,000, more than one section holds."""
    body = escape(message.body)
    # The fallback text is what notifications and previews show: escaped like the blocks.
    fallback = cut_mrkdwn(body, FALLBACK_TEXT)
    if message.direction == MessageDirection.NOTICE:
        return fallback or "(no text)", [context_block(body or "_(no text)_")]
    # Room for the context and the actions below the text.
    text_blocks = section_blocks(body or "_(no text)_", at_most=MESSAGE_BLOCKS - 2)
    if message.direction == MessageDirection.INBOUND:
        who = contact_mrkdwn(contact) if contact else "The contact"
        context = f":inbox_tray: {who} texted"
        if message.received_late and message.sent_at:
            context += " · " + texts.RECEIVED_LATE.format(when=slack_date(message.sent_at))
        if message.media:
            context += f" · :paperclip: {len(message.media)} attachment(s)"
        if deliveries:
            context += f" · relayed to {len(deliveries)}: " + " · ".join(
                describe_delivery(d) for d in deliveries
            )
        if assignee:
            # The fallback text is what notifies: the assignee hears of every inbound text.
            context += f" · for <@{assignee}>"
            mention = f"<@{assignee}> "
            return mention + cut_mrkdwn(body, FALLBACK_TEXT - len(mention)), [
                *text_blocks,
                context_block(context),
            ]
    elif _waiting_for_its_time(message, deliveries):
        author = f"<@{message.author_user_id}>" if message.author_user_id else "textbot"
        assert message.scheduled_for is not None
        when = slack_date(message.scheduled_for)
        return fallback or "(no text)", [
            *text_blocks,
            context_block(f":alarm_clock: {author} scheduled this for {when}"),
            {
                "type": "actions",
                "block_id": f"scheduled:{message.id}",
                "elements": [
                    button(ids.CANCEL_SCHEDULED_ACTION, "Cancel", message.id, style="danger")
                ],
            },
        ]
    else:
        author = f"<@{message.author_user_id}>" if message.author_user_id else "textbot"
        states = " · ".join(describe_delivery(d) for d in deliveries) or "Not sent"
        verb = "scheduled" if message.scheduled_for else "texted"
        if any(d.group_conversation_id is not None for d in deliveries):
            verb += " the group"
        context = f":outbox_tray: {author} {verb} · {states}"
        if pictures:
            names = ", ".join(escape(name[:MAX_PICTURE_NAME]) for name in pictures)
            context = f"{context} · :frame_with_picture: {len(pictures)} picture(s): {names}"
    return fallback or "(no text)", [*text_blocks, context_block(context)]


def build_catch_up(
    *, messages: Sequence[Message], contact: Contact | None, assignee: str | None = None
) -> tuple[str, list[Block]]:
    """Several texts from one contact in one post (see models.mirroring.plan_posts): each
    text, then when it was sent and, if it came in after newer ones, that it was late."""
    who = contact_mrkdwn(contact) if contact else "The contact"
    blocks: list[Block] = []
    for message in messages:
        blocks.append({"type": "section", "text": mrkdwn(escape(message.body) or "_(no text)_")})
        context = f":inbox_tray: {who} texted {slack_date(message.sent_at or message.created_at)}"
        if message.received_late:
            context += " · " + texts.RECEIVED_LATE_AT_ITS_TIME
        blocks.append(context_block(context))
    fallback = "\n".join(escape(message.body) for message in messages)
    if assignee:
        mention = f"<@{assignee}> "
        return mention + cut_mrkdwn(fallback, FALLBACK_TEXT - len(mention)), blocks
    return cut_mrkdwn(fallback, FALLBACK_TEXT) or "(no text)", blocks


def build_plain_fallback(text: str) -> tuple[str, list[Block]]:
    """What to post instead when Slack refuses a message's blocks: its fallback text (mrkdwn,
    escaped) in one section, within every limit; a cut says so."""
    shown = text or "(no text)"
    return cut_mrkdwn(shown, FALLBACK_TEXT), [
        {"type": "section", "text": mrkdwn(cut_mrkdwn(shown, SECTION_TEXT))}
    ]


def _waiting_for_its_time(message: Message, deliveries: Sequence[Delivery]) -> bool:
    return message.scheduled_for is not None and any(
        d.status == DeliveryStatus.PENDING for d in deliveries
    )


def build_media_links(media: Sequence[tuple[int, str | None]]) -> Block:
    """Attachments that could not be copied into Slack (numbered from 1): a link to each,
    or, for one with no URL to offer, a word that it could not be fetched."""
    links = " · ".join(
        f"<{_link_target(url)}|attachment {number}>"
        if url
        else f"attachment {number} {texts.ATTACHMENT_NOT_FETCHED}"
        for number, url in media
    )
    return context_block(f":paperclip: {links}")


def _link_target(url: str) -> str:
    """A URL from outside, made safe inside <url|label>: a '|' would end it early."""
    return escape(url.replace("|", "%7C"))


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
        who = contact_mrkdwn(item.contact)
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
    # Every row, spread over as many sections as they need: cut at 3,000 characters, rows
    # were lost mid-row (18 of 20 shown with failures, 10 of 20 with long names).
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(header)},
        {"type": "context", "elements": [mrkdwn(tally or "nothing sent")]},
        *(
            {"type": "section", "text": mrkdwn(text)}
            for text in pack_rows(rows) or ["_no recipients_"]
        ),
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
                        "text": plain(f"Retry {failed} failed"),
                        "value": str(broadcast.id),
                    }
                ],
            }
        )
    return f"Your text to {len(progress)} recipient(s): {tally}", blocks
