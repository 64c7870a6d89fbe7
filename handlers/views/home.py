"""App Home: the user's lines, open conversations and scheduled texts, a page at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from handlers import ids
from handlers.limits import SECTION_TEXT, cut_mrkdwn, pack_rows
from handlers.views.common import (
    Block,
    button,
    escape,
    line_label,
    mrkdwn,
    plain,
    slack_date,
    thread_link,
)
from models.tables import Conversation, Line, Message

_Item = TypeVar("_Item")

# App Home shows long lists a page at a time: with every part at its fullest the view stays
# within Slack's 100 blocks (a unit test builds it so).
HOME_LINES_PER_PAGE = 40
HOME_CONVERSATIONS_PER_PAGE = 20
HOME_SCHEDULED_PER_PAGE = 10
HOME_MANAGED_PER_PAGE = 12


@dataclass(frozen=True)
class HomePage:
    """Which page of each of App Home's lists is shown; carried in the pager buttons."""

    lines: int = 0
    conversations: int = 0
    scheduled: int = 0
    managed: int = 0

    def encode(self) -> str:
        return f"{self.lines}.{self.conversations}.{self.scheduled}.{self.managed}"

    @classmethod
    def decode(cls, value: str) -> HomePage:
        """A pager button's value; anything else is the first page of everything."""
        parts = value.split(".")
        if len(parts) != 4 or not all(part.isdigit() and len(part) < 6 for part in parts):
            return cls()
        return cls(*(int(part) for part in parts))


FIRST_PAGE = HomePage()


def page_of(items: Sequence[_Item], page: int, per_page: int) -> tuple[Sequence[_Item], int]:
    """The page's items and the page actually shown (the last one if `page` is past it)."""
    last = max(0, (len(items) - 1) // per_page)
    page = min(max(page, 0), last)
    return items[page * per_page : (page + 1) * per_page], page


def pager(
    what: str, total: int, page: int, per_page: int, turn: Callable[[int], HomePage]
) -> list[Block]:
    """'Showing 21 to 40 of 57' and Previous/Next buttons, for a list longer than a page."""
    if total <= per_page:
        return []
    first = page * per_page + 1
    last = min(total, first + per_page - 1)
    buttons = []
    if page > 0:
        buttons.append(button(ids.HOME_PREVIOUS_ACTION, "Previous", turn(page - 1).encode()))
    if last < total:
        buttons.append(button(ids.HOME_NEXT_ACTION, "Next", turn(page + 1).encode()))
    return [
        {"type": "context", "elements": [mrkdwn(f"Showing {first} to {last} of {total} {what}")]},
        {"type": "actions", "block_id": f"page:{what}", "elements": buttons},
    ]


def build_app_home(
    *,
    user_id: str,
    lines: Sequence[Line],
    conversations: Sequence[tuple[Conversation, Line, str]],
    team_url: str,
    no_lines_text: str,
    scheduled: Sequence[tuple[Message, Conversation, Line]] = (),
    page: HomePage = FIRST_PAGE,
) -> dict[str, Any]:
    """App Home: my lines, my open conversations (assigned to me first), a New button; each
    list a page at a time."""
    blocks: list[Block] = [
        {"type": "header", "text": plain("textbot")},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": ids.NEW_CONVERSATION_BUTTON,
                    "text": plain("New conversation"),
                    "style": "primary",
                    "value": "new",
                }
            ],
        },
        {"type": "section", "text": mrkdwn("*Your lines*")},
    ]
    if lines:
        shown_lines, at = page_of(lines, page.lines, HOME_LINES_PER_PAGE)
        listing = pack_rows(
            f"• {escape(line_label(line))} in <#{line.channel_id}>" for line in shown_lines
        )
        blocks += [{"type": "section", "text": mrkdwn(text)} for text in listing]
        blocks += pager(
            "lines", len(lines), at, HOME_LINES_PER_PAGE, lambda n: replace(page, lines=n)
        )
    else:
        blocks.append({"type": "section", "text": mrkdwn(no_lines_text)})
    blocks.append({"type": "section", "text": mrkdwn("*Open conversations*")})
    if not conversations:
        blocks.append({"type": "context", "elements": [mrkdwn("No open conversations.")]})
    shown, at = page_of(conversations, page.conversations, HOME_CONVERSATIONS_PER_PAGE)
    for conversation, line, who in shown:
        mine = (
            " · :bust_in_silhouette: assigned to you" if conversation.assigned_to == user_id else ""
        )
        when = (
            slack_date(conversation.last_message_at)
            if conversation.last_message_at
            else "no texts yet"
        )
        link = thread_link(team_url, conversation.slack_channel_id, conversation.slack_thread_ts)
        name = cut_mrkdwn(escape(who), SECTION_TEXT // 2)
        title = f"<{link}|{name}>" if link else name
        blocks.append(
            {
                "type": "section",
                "text": mrkdwn(f"*{title}*\n{escape(line.name)} · last text {when}{mine}"),
            }
        )
    blocks += pager(
        "conversations",
        len(conversations),
        at,
        HOME_CONVERSATIONS_PER_PAGE,
        lambda n: replace(page, conversations=n),
    )
    if scheduled:
        blocks.append({"type": "section", "text": mrkdwn("*Your scheduled texts*")})
    shown_scheduled, at = page_of(scheduled, page.scheduled, HOME_SCHEDULED_PER_PAGE)
    for message, conversation, line in shown_scheduled:
        link = thread_link(team_url, conversation.slack_channel_id, conversation.slack_thread_ts)
        where = f"<{link}|in its thread>" if link else ""
        assert message.scheduled_for is not None
        blocks.append(
            {
                "type": "section",
                "text": mrkdwn(
                    f":alarm_clock: {slack_date(message.scheduled_for)} from {escape(line.name)} "
                    f"{where}: “{escape(message.body[:120])}”"
                ),
                "accessory": button(ids.CANCEL_SCHEDULED_ACTION, "Cancel", message.id),
            }
        )
    blocks += pager(
        "scheduled texts",
        len(scheduled),
        at,
        HOME_SCHEDULED_PER_PAGE,
        lambda n: replace(page, scheduled=n),
    )
    return {"type": "home", "blocks": blocks}
