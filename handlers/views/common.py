"""What every surface's builders share: text objects, escaping, labels, options, buttons."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.limits import (
    CONTEXT_TEXT,
    MESSAGE_BLOCKS,
    OPTION_TEXT,
    SELECT_OPTIONS,
    cut_mrkdwn,
    split_mrkdwn,
)
from models.contacts import contact_label
from models.phone import format_phone
from models.sms_segments import PER_SEGMENT, SINGLE_SEGMENT, SmsEncoding, SmsSegments
from models.tables import Contact, Line

Block = dict[str, Any]


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section_blocks(text: str, *, at_most: int = MESSAGE_BLOCKS) -> list[Block]:
    """Text of any length as section blocks, each within Slack's limit; past `at_most`
    sections, the last says how much more there was rather than losing it silently."""
    pieces = split_mrkdwn(text)
    if len(pieces) > at_most:
        left_out = sum(len(piece) for piece in pieces[at_most - 1 :])
        pieces = [*pieces[: at_most - 1], f"_… and {left_out} more characters_"]
    return [{"type": "section", "text": mrkdwn(piece)} for piece in pieces]


def context_block(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(cut_mrkdwn(text, CONTEXT_TEXT))]}


def escape(text: str) -> str:
    """Text that is not ours (a customer's text or name, what a user typed) as it reads, for
    a mrkdwn field or a message's `text`: Slack then finds no mention, link or markup in it.
    Only these three need escaping; plain_text fields are not parsed and take text as is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def segments_summary(segments: SmsSegments) -> str:
    """How many SMS a text takes and, when it is more than plain letters allow, why."""
    count = "1 SMS" if segments.count == 1 else f"{segments.count} SMS segments"
    if segments.encoding == SmsEncoding.GSM7:
        return count
    limits = PER_SEGMENT if segments.count > 1 else SINGLE_SEGMENT
    shown = [
        c if c.isprintable() and not c.isspace() else f"U+{ord(c):04X}" for c in segments.not_gsm
    ]
    which = " ".join(shown[:3]) + (" …" if len(shown) > 3 else "")
    verb = "makes" if len(segments.not_gsm) == 1 else "make"
    return (
        f"{count}: {escape(which)} {verb} it Unicode, {limits[SmsEncoding.UCS2]} characters "
        f"{'a segment' if segments.count > 1 else 'an SMS'} instead of "
        f"{limits[SmsEncoding.GSM7]}"
    )


def contact_mrkdwn(contact: Contact) -> str:
    return escape(contact_label(contact))


def line_label(line: Line) -> str:
    return f"{line.name} ({format_phone(line.number)})"


def slack_date(moment: datetime) -> str:
    """A time each reader sees in their own time zone."""
    fallback = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def thread_link(team_url: str, channel_id: str | None, thread_ts: str | None) -> str | None:
    if not (team_url and channel_id and thread_ts):
        return None
    return f"{team_url.rstrip('/')}/archives/{channel_id}/p{thread_ts.replace('.', '')}"


def option(text: str, value: str) -> dict[str, Any]:
    if len(text) > OPTION_TEXT:
        text = text[: OPTION_TEXT - 1] + "…"
    return {"text": plain(text), "value": value}


def button(action_id: str, text: str, value: object, **extra: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": plain(text),
        "value": str(value),
        **extra,
    }


def select_or_search(
    action_id: str, options: list[dict[str, Any]], placeholder: str, *, multi: bool = False
) -> dict[str, Any]:
    """A menu of the options; past Slack's 100, one that searches them as the user types
    (the options handler answers), so that none is left out."""
    kind = "multi_" if multi else ""
    if len(options) <= SELECT_OPTIONS:
        return {
            "type": f"{kind}static_select",
            "action_id": action_id,
            "placeholder": plain(placeholder),
            "options": options,
        }
    return {
        "type": f"{kind}external_select",
        "action_id": action_id,
        "placeholder": plain(f"{placeholder} (type to search)"),
        "min_query_length": 0,
    }
