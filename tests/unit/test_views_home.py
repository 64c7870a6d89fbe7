"""App Home's builder: the user's lines, open conversations and scheduled texts, a page at a
time. (test_view_limits builds it at random sizes; these check what it says.)"""

from __future__ import annotations

import json

import pytest

from handlers import ids
from handlers.views.common import escape
from handlers.views.home import (
    FIRST_PAGE,
    HOME_CONVERSATIONS_PER_PAGE,
    HOME_LINES_PER_PAGE,
    HOME_SCHEDULED_PER_PAGE,
    HomePage,
    build_app_home,
)
from models.tables import Message, MessageDirection
from tests.slack_markup import mrkdwn_texts
from tests.view_checks import (
    LONG_BODY,
    LONG_CONTACT_NAME,
    LONG_LINE_NAME,
    NOW,
    TEAM_URL,
    conversation,
    line,
    valid_view,
)

ALICE = "U0ALICE"


def _scheduled(n: int, on_conversation, on_line) -> tuple:
    message = Message(
        id=n,
        conversation_id=on_conversation.id,
        direction=MessageDirection.OUTBOUND,
        body=LONG_BODY,
        scheduled_for=NOW,
    )
    return message, on_conversation, on_line


def _buttons(view: dict) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element["value"])
        for b in view["blocks"]
        for element in (b.get("elements") or [b.get("accessory") or {}])
        if element.get("type") == "button"
    ]


def test_home_shows_my_lines_my_conversations_and_my_scheduled_texts() -> None:
    sales = line(1, name="Sales & <Support>")
    mine = conversation(1, sales)
    mine.assigned_to = ALICE
    theirs = conversation(2, sales)
    theirs.last_message_at = None
    view = valid_view(
        build_app_home(
            user_id=ALICE,
            lines=[sales],
            conversations=[(mine, sales, "Jane <Doe>"), (theirs, sales, "+1 202-555-0150")],
            team_url=TEAM_URL,
            no_lines_text="none",
            scheduled=[_scheduled(7, mine, sales)],
        )
    )
    texts = mrkdwn_texts(view)
    assert "• Sales &amp; &lt;Support&gt; (+1 202-555-0101) in <#C00000001>" in texts
    assert (
        "*<https://acme.slack.com/archives/C00000001/p1700000000000001|Jane &lt;Doe&gt;>*\n"
        f"Sales &amp; &lt;Support&gt; · last text <!date^{int(NOW.timestamp())}^"
    ) in "\n".join(texts)
    assert "assigned to you" in texts[texts.index("*Open conversations*") + 1]
    assert "last text no texts yet" in texts[texts.index("*Open conversations*") + 2]
    assert "assigned to you" not in texts[texts.index("*Open conversations*") + 2]
    scheduled = next(t for t in texts if t.startswith(":alarm_clock:"))
    assert "<https://acme.slack.com/archives/C00000001/p1700000000000001|in its thread>" in (
        scheduled
    )
    assert scheduled.endswith(f"“{escape(LONG_BODY[:120])}”")
    assert _buttons(view) == [
        (ids.NEW_CONVERSATION_BUTTON, "new"),
        (ids.CANCEL_SCHEDULED_ACTION, "7"),
    ]
    assert "Showing" not in json.dumps(view)  # one page of each: no pager


def test_home_without_lines_says_why_and_how_to_get_one() -> None:
    view = valid_view(
        build_app_home(
            user_id=ALICE, lines=[], conversations=[], team_url="", no_lines_text="Ask an admin."
        )
    )
    texts = mrkdwn_texts(view)
    assert "Ask an admin." in texts
    assert "No open conversations." in texts
    assert "*Your scheduled texts*" not in texts


def test_home_at_its_fullest_pages_every_list_and_fits() -> None:
    """Every list past a page, the longest names and texts, on a middle page: the view keeps
    within Slack's 100 blocks and says where it is in each list."""
    lines = [line(n, name=LONG_LINE_NAME) for n in range(1, 3 * HOME_LINES_PER_PAGE + 1)]
    rows = [
        (conversation(n, lines[n % len(lines)]), lines[n % len(lines)], LONG_CONTACT_NAME * 30)
        for n in range(1, 3 * HOME_CONVERSATIONS_PER_PAGE + 1)
    ]
    scheduled = [_scheduled(n, rows[0][0], lines[0]) for n in range(3 * HOME_SCHEDULED_PER_PAGE)]
    page = HomePage(lines=1, conversations=1, scheduled=1)
    view = valid_view(
        build_app_home(
            user_id=ALICE,
            lines=lines,
            conversations=rows,
            team_url=TEAM_URL,
            no_lines_text="none",
            scheduled=scheduled,
            page=page,
        )
    )
    text = json.dumps(view)
    assert "Showing 41 to 80 of 120 lines" in text
    assert "Showing 21 to 40 of 60 conversations" in text
    assert "Showing 11 to 20 of 30 scheduled texts" in text
    turns = {value for action, value in _buttons(view) if action != ids.CANCEL_SCHEDULED_ACTION}
    assert {
        HomePage(lines=0, conversations=1, scheduled=1).encode(),
        HomePage(lines=2, conversations=1, scheduled=1).encode(),
        HomePage(lines=1, conversations=2, scheduled=1).encode(),
        HomePage(lines=1, conversations=1, scheduled=0).encode(),
    } <= turns


def test_a_page_past_the_end_shows_the_last_one() -> None:
    lines = [line(n) for n in range(1, 46)]
    view = build_app_home(
        user_id=ALICE,
        lines=lines,
        conversations=[],
        team_url="",
        no_lines_text="none",
        page=HomePage(lines=9),
    )
    assert "Showing 41 to 45 of 45 lines" in json.dumps(view)


@pytest.mark.parametrize("value", ["", "1.2.3", "a.b.c.d", "1.2.3.4.5", "999999.0.0.0", "-1.0.0.0"])
def test_a_pager_value_that_is_not_ours_is_the_first_page(value: str) -> None:
    assert HomePage.decode(value) == FIRST_PAGE


def test_a_pager_value_round_trips() -> None:
    page = HomePage(lines=3, conversations=2, scheduled=1, managed=12)
    assert HomePage.decode(page.encode()) == page
