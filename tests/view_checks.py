"""Rows at their largest for the view builders' unit tests, and the checks they share: every
view and message within Block Kit's limits as the strict fake Slack checks them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from models.contacts import MAX_NAME_LENGTH
from models.conversations import MAX_MESSAGE_LENGTH
from models.lines import MAX_LINE_NAME_LENGTH
from models.saved_replies import MAX_SAVED_REPLY_NAME_LENGTH
from models.tables import Contact, Conversation, Line, SavedReply
from tests.fakes.block_kit_limits import message_problems, view_problems
from tests.slack_markup import all_strings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TEAM_URL = "https://acme.slack.com/"
# What someone could type or a customer could send: markup, entities, emoji that are two
# code points or more.
ODD = "<!channel> & *bold* 👩‍👩‍👧 "


def longest(prefix: str, length: int) -> str:
    """`prefix` padded with odd characters to exactly `length`."""
    return (prefix + ODD * length)[:length]


LONG_LINE_NAME = longest("Sales ", MAX_LINE_NAME_LENGTH)
LONG_CONTACT_NAME = longest("Jane ", MAX_NAME_LENGTH)
LONG_BODY = ("Your order & <invoice> are ready 😀 " * 100)[:MAX_MESSAGE_LENGTH]


def line(n: int = 1, *, name: str | None = None, quiet: tuple[int, int] = (21, 8)) -> Line:
    return Line(
        id=n,
        team_id="T0TEAM",
        number=f"+12025550{100 + n % 100}",  # fictional numbers only: they repeat
        name=name or f"Line {n}",
        channel_id=f"C{n:08d}",
        quiet_start_hour=quiet[0],
        quiet_end_hour=quiet[1],
    )


def contact(n: int = 1, *, name: str | None = "Jane Doe") -> Contact:
    return Contact(id=n, team_id="T0TEAM", phone=f"+12025550{100 + n % 100}", name=name)


def conversation(n: int, on: Line, *, contact_id: int | None = None) -> Conversation:
    return Conversation(
        id=n,
        team_id="T0TEAM",
        line_id=on.id or 0,
        contact_id=contact_id if contact_id is not None else n,
        slack_channel_id=on.channel_id,
        slack_thread_ts=f"1700000000.{n:06d}",
        last_message_at=NOW,
    )


def saved_reply(n: int, on: Line) -> SavedReply:
    return SavedReply(
        id=n,
        line_id=on.id or 0,
        name=longest(f"Reply {n} ", MAX_SAVED_REPLY_NAME_LENGTH),
        body=LONG_BODY,
    )


def valid_view(view: dict[str, Any]) -> dict[str, Any]:
    """The view, once the strict fake's checks find nothing Slack would refuse."""
    assert view_problems(view) == [], json.dumps(view)[:800]
    return view


def valid_message(text: str, blocks: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    assert message_problems(blocks, text) == [], json.dumps(blocks)[:800]
    return text, blocks


def valid_options(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Options as a menu in a modal takes them (an options handler's answer has the same
    limits)."""
    valid_view(
        {
            "type": "modal",
            "title": {"type": "plain_text", "text": "Options"},
            "blocks": [
                {
                    "type": "input",
                    "label": {"type": "plain_text", "text": "Pick"},
                    "element": {"type": "static_select", "action_id": "a", "options": options},
                }
            ],
        }
    )
    return options


def block(view_or_blocks: dict[str, Any] | list[dict[str, Any]], block_id: str) -> dict[str, Any]:
    blocks = view_or_blocks["blocks"] if isinstance(view_or_blocks, dict) else view_or_blocks
    return next(b for b in blocks if b.get("block_id") == block_id)


def shown(value: Any) -> str:
    """Every string in a view or blocks, one a line: what a test looks for wording in."""
    return "\n".join(all_strings(value))
