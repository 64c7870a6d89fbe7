"""The view builders stay within Block Kit's limits whatever the data: large and odd inputs
(150 lines, 200 user groups, 20 recipients with 120-character names, 1,600-character texts
of &<> and emoji, 50 saved replies) validated with the same rules as the strict fake, and
nothing left out without a word."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import ids
from handlers.views.common import escape
from handlers.views.home import HomePage, build_app_home
from handlers.views.manage import (
    build_line_settings_modal,
    build_manage_lines_section,
    build_saved_replies_modal,
)
from handlers.views.modal import build_new_conversation_modal
from handlers.views.thread import (
    build_broadcast_summary,
    build_conversation_parent,
    build_message_reply,
)
from models.broadcasts import RecipientProgress
from models.tables import (
    Broadcast,
    Contact,
    Conversation,
    ConversationKind,
    Delivery,
    DeliveryStatus,
    Line,
    Message,
    MessageDirection,
    SavedReply,
)
from tests.fakes.block_kit_limits import message_problems, view_problems

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
_ODD = [*"&<>*_~`|ab \n", "😀", "👩\u200d👩\u200d👧", "é", "\u202e"]
odd_text = st.lists(st.sampled_from(_ODD), max_size=1600).map("".join)
odd_name = st.lists(st.sampled_from(_ODD), min_size=1, max_size=120).map("".join)
few_settings = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _line(n: int, name: str | None = None) -> Line:
    return Line(
        id=n,
        team_id="T",
        number=f"+12025550{100 + n % 100}",  # fictional numbers only: they repeat
        name=(name or f"Line {n}")[:40],
        channel_id=f"C{n:08d}",
    )


def _contact(n: int, name: str | None) -> Contact:
    return Contact(id=n, team_id="T", phone=f"+12025550{100 + n % 100}", name=name)


def _conversation(n: int, line: Line) -> Conversation:
    return Conversation(
        id=n,
        team_id="T",
        line_id=line.id or 0,
        contact_id=n,
        slack_channel_id=line.channel_id,
        slack_thread_ts=f"1700000000.{n:06d}",
        last_message_at=NOW,
    )


def _valid_message(text: str, blocks: list[dict]) -> None:
    assert message_problems(blocks, text) == []


def _valid_view(view: dict) -> None:
    assert view_problems(view) == [], json.dumps(view)[:500]


@few_settings
@given(body=odd_text, direction=st.sampled_from(list(MessageDirection)), name=odd_name)
def test_a_message_of_any_text_fits(body: str, direction: MessageDirection, name: str) -> None:
    message = Message(id=1, conversation_id=1, direction=direction, body=body)
    delivery = Delivery(
        id=1,
        message_id=1,
        line_id=1,
        contact_id=1,
        to_phone="+12025550123",
        body=body,
        status=DeliveryStatus.FAILED,
        error_text=name,
    )
    text, blocks = build_message_reply(
        message=message, deliveries=[delivery] * 8, contact=_contact(1, name), assignee="U0A"
    )
    _valid_message(text, blocks)
    shown = "".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    if body and direction != MessageDirection.NOTICE:
        assert shown == escape(body)


@few_settings
@given(names=st.lists(odd_name, min_size=2, max_size=9))
def test_a_group_parent_of_long_names_fits(names: list[str]) -> None:
    conversation = Conversation(id=1, team_id="T", line_id=1, kind=ConversationKind.GROUP)
    people = [_contact(n, name) for n, name in enumerate(names, start=1)]
    text, blocks = build_conversation_parent(
        conversation=conversation, line=_line(1), contact=None, participants=people
    )
    _valid_message(text, blocks)


@few_settings
@given(names=st.lists(odd_name, min_size=20, max_size=20), failed=st.booleans())
def test_a_summary_of_20_recipients_with_long_names_shows_every_one(
    names: list[str], failed: bool
) -> None:
    line = _line(1)
    status = DeliveryStatus.FAILED if failed else DeliveryStatus.DELIVERED
    progress = [
        RecipientProgress(
            contact=_contact(n, name),
            conversation=_conversation(n, line),
            delivery=Delivery(
                id=n,
                message_id=n,
                line_id=1,
                contact_id=n,
                to_phone="+12025550123",
                body="x",
                status=status,
                error_text="Unknown destination handset" if failed else None,
            ),
            replied=n % 2 == 0,
        )
        for n, name in enumerate(names, start=1)
    ]
    broadcast = Broadcast(
        id=1,
        team_id="T",
        line_id=1,
        user_id="U0A",
        body="&" * 1600,
        skipped=[{"label": name, "reason": "opted out"} for name in names[:5]],
    )
    text, blocks = build_broadcast_summary(
        broadcast=broadcast, line=line, progress=progress, team_url="https://t.slack.com/"
    )
    _valid_message(text, blocks)
    rows = "\n".join(b["text"]["text"] for b in blocks[2:] if b["type"] == "section")
    assert rows.count("• ") == 25
    for item in progress:
        assert escape(item.contact.name or "") in rows


def _home(lines: int, conversations: int, scheduled: int, page: HomePage) -> dict:
    all_lines = [_line(n, f"Line {n} " + "&" * 30) for n in range(1, lines + 1)]
    rows = [
        (_conversation(n, all_lines[n % len(all_lines)]), all_lines[n % len(all_lines)], "&" * 120)
        for n in range(1, conversations + 1)
    ]
    messages = [
        (
            Message(
                id=n,
                conversation_id=n,
                direction=MessageDirection.OUTBOUND,
                body="&<>" * 100,
                scheduled_for=NOW,
            ),
            rows[0][0],
            all_lines[0],
        )
        for n in range(1, scheduled + 1 if rows else 1)
    ]
    home = build_app_home(
        user_id="U0A",
        lines=all_lines,
        conversations=rows,
        team_url="https://t.slack.com/",
        no_lines_text="none",
        scheduled=messages,
        page=page,
    )
    grants = {
        line.id or 0: [(f"U{n:08d}", n % 7 == 0) for n in range(200)] + [("S0GROUP", False)]
        for line in all_lines
    }
    home["blocks"] += build_manage_lines_section(
        lines=all_lines, grants=grants, can_add=True, page=page
    )
    return home


@few_settings
@given(
    lines=st.integers(1, 150),
    conversations=st.integers(0, 120),
    scheduled=st.integers(0, 40),
    page=st.builds(
        HomePage,
        st.integers(0, 9),
        st.integers(0, 9),
        st.integers(0, 9),
        st.integers(0, 20),
    ),
)
def test_app_home_of_an_admin_with_150_lines_fits_on_every_page(
    lines: int, conversations: int, scheduled: int, page: HomePage
) -> None:
    _valid_view(_home(lines, conversations, scheduled, page))


def test_app_home_pages_through_every_line_and_conversation() -> None:
    """46 lines made 109 blocks, and Slack refused to publish App Home."""
    first = _home(150, 57, 0, HomePage())
    text = json.dumps(first)
    assert "Showing 1 to 40 of 150 lines" in text
    assert "Showing 1 to 20 of 57 conversations" in text
    assert "Showing 1 to 12 of 150 managed lines" in text
    assert re.search(r" and \d+ more \(in its Settings\)", text)  # 201 grants: cut, with a word
    next_values = [
        e["value"]
        for b in first["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == ids.HOME_NEXT_ACTION
    ]
    assert HomePage.decode(next_values[0]) == HomePage(lines=1)
    last = _home(150, 57, 0, HomePage(lines=3, conversations=2, managed=12))
    assert "Showing 121 to 150 of 150 lines" in json.dumps(last)
    assert "Showing 41 to 57 of 57 conversations" in json.dumps(last)
    assert "Showing 145 to 150 of 150 managed lines" in json.dumps(last)


@few_settings
@given(groups=st.integers(0, 200), granted=st.lists(st.integers(0, 199), max_size=20))
def test_line_settings_with_200_user_groups_fits(groups: int, granted: list[int]) -> None:
    """With more than 100 groups, granted ones past the 100th were initial options that
    were not among the options: Slack refused the form."""
    names = {f"S{n:08d}": f"@group-{n}-" + "x" * 80 for n in range(groups)}
    grants = [(f"S{n:08d}", False) for n in set(granted)] + [("U0A", True)]
    view = build_line_settings_modal(line=_line(1), grants=grants, usergroup_names=names)
    _valid_view(view)


@few_settings
@given(lines=st.integers(1, 150), replies=st.integers(0, 150), name=odd_name)
def test_the_text_form_offers_every_line_and_saved_reply(
    lines: int, replies: int, name: str
) -> None:
    all_lines = [_line(n, name) for n in range(1, lines + 1)]
    saved = [
        (SavedReply(id=n, line_id=1, name=f"{name} {n}", body=name), all_lines[0])
        for n in range(replies)
    ]
    for kind in ids.KINDS:
        view = build_new_conversation_modal(
            lines=all_lines, kind=kind, saved_replies=saved, message=name * 20
        )
        _valid_view(view)
        line_select = next(b for b in view["blocks"] if b.get("block_id") == ids.LINE_BLOCK)
        element = line_select["element"]
        assert len(element.get("options", [])) == lines or element["type"] == "external_select"


@few_settings
@given(replies=st.integers(0, 150), name=odd_name)
def test_the_saved_replies_form_offers_every_reply(replies: int, name: str) -> None:
    """It showed the first 10 of 50."""
    saved = [
        SavedReply(id=n, line_id=1, name=f"{name[:30]} {n}", body=name) for n in range(replies)
    ]
    view = build_saved_replies_modal(line=_line(1), replies=saved)
    _valid_view(view)
    if replies:
        delete = next(b for b in view["blocks"] if b.get("block_id") == ids.REPLY_DELETE_BLOCK)
        element = delete["element"]
        assert len(element.get("options", [])) == replies or "external" in element["type"]
