"""The thread's builders: a conversation's parent message, the messages and notices in its
thread, and the sender's summary of a multi-recipient message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers import ids, texts
from handlers.limits import DEFAULT_MAX_MULTI_RECIPIENTS, FALLBACK_TEXT
from handlers.views.common import escape
from handlers.views.thread import (
    REPLY_REACTIONS,
    build_broadcast_summary,
    build_catch_up,
    build_conversation_parent,
    build_media_links,
    build_message_reply,
    build_plain_fallback,
    describe_delivery,
    message_identity,
    reply_mark,
)
from models.broadcasts import RecipientProgress
from models.mirroring import CATCH_UP_CHARACTERS, CATCH_UP_MOST, plan_posts
from models.tables import (
    Broadcast,
    Contact,
    Conversation,
    ConversationKind,
    Delivery,
    DeliveryStatus,
    Message,
    MessageDirection,
)
from tests.slack_markup import mrkdwn_texts
from tests.view_checks import (
    LONG_BODY,
    LONG_CONTACT_NAME,
    LONG_LINE_NAME,
    TEAM_URL,
    contact,
    conversation,
    line,
    valid_message,
)

HOSTILE = "<!channel> call me back <https://evil.example|your bank> <@U0ADMIN>"
ESCAPED = "&lt;!channel&gt; call me back &lt;https://evil.example|your bank&gt; &lt;@U0ADMIN&gt;"


def _live_markup(text: str) -> bool:
    return any(m in text for m in ("<!channel>", "<https://evil.example|", "<@U0ADMIN>"))


def _delivery(status: DeliveryStatus, *, n: int = 1, error: str | None = None) -> Delivery:
    return Delivery(
        id=n,
        message_id=1,
        line_id=1,
        contact_id=n,
        to_phone="+12025550123",
        body="x",
        status=status,
        error_text=error,
    )


def _context(blocks: list[dict]) -> str:
    return str(blocks[-1]["elements"][0]["text"])


def test_the_parent_shows_who_the_line_the_status_and_the_right_buttons() -> None:
    jane = Contact(id=1, team_id="T", phone="+12025550123", name="Jane <Doe>")
    open_one = Conversation(id=5, team_id="T", line_id=1, contact_id=1, assigned_to="U0BOB")
    text, blocks = valid_message(
        *build_conversation_parent(conversation=open_one, line=line(), contact=jane)
    )
    assert text == "Conversation with Jane &lt;Doe&gt; (+1 202-555-0123) on Line 1"
    assert ":large_green_circle: Open · Assigned to <@U0BOB>" in blocks[1]["elements"][0]["text"]
    assert [e["action_id"] for e in blocks[-1]["elements"]] == [
        ids.CLOSE_CONVERSATION_ACTION,
        ids.CLAIM_CONVERSATION_ACTION,
        ids.UNASSIGN_CONVERSATION_ACTION,
        ids.EDIT_CONTACT_ACTION,
    ]
    closed = Conversation(id=5, team_id="T", line_id=1, contact_id=1, status="closed")
    closed.closed_by = "U1"
    _, blocks = build_conversation_parent(conversation=closed, line=line(), contact=jane)
    assert "Closed by <@U1>" in blocks[1]["elements"][0]["text"]
    assert blocks[-1]["elements"][0]["action_id"] == ids.REOPEN_CONVERSATION_ACTION


def test_the_parent_of_the_largest_group_lists_everyone() -> None:
    """A group of 50 (past the default largest), each with the longest name, one opted out."""
    people = [contact(n, name=LONG_CONTACT_NAME) for n in range(1, 51)]
    group = Conversation(id=9, team_id="T", line_id=1, kind=ConversationKind.GROUP)
    text, blocks = valid_message(
        *build_conversation_parent(
            conversation=group,
            line=line(1, name=LONG_LINE_NAME),
            contact=None,
            participants=people,
            opted_out_ids=frozenset({3}),
        )
    )
    title = "".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert title.startswith(":speech_balloon: *Group:* Jane &lt;!channel&gt;")
    assert title.count("(+1 202-555-01") == 50
    assert title.count(" (opted out)") == 1
    assert len(text) <= FALLBACK_TEXT and text.startswith("Conversation with Group: ")
    assert ids.EDIT_CONTACT_ACTION not in str(blocks[-1])  # a group has no one contact


def test_a_reply_shows_its_author_and_each_delivery_state() -> None:
    message = Message(
        id=1, conversation_id=5, direction="outbound", body="Hi & bye", author_user_id="U1"
    )
    failed = _delivery(
        DeliveryStatus.FAILED,
        error="the number is a landline or cannot receive texts (error 30006)",
    )
    text, blocks = valid_message(*build_message_reply(message=message, deliveries=[failed]))
    assert text == "Hi &amp; bye"
    assert blocks[0]["text"]["text"] == "Hi &amp; bye"
    assert "<@U1> texted" in _context(blocks)
    assert ":x: Failed: the number is a landline" in _context(blocks)


def test_the_longest_text_of_markup_is_shown_whole_over_several_sections() -> None:
    message = Message(id=1, conversation_id=5, direction="outbound", body="&" * 1600)
    text, blocks = valid_message(
        *build_message_reply(
            message=message, deliveries=[_delivery(DeliveryStatus.DELIVERED, n=n) for n in range(9)]
        )
    )
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) == 3 and "".join(sections) == "&amp;" * 1600
    assert _context(blocks).count(":white_check_mark: Delivered") == 9
    assert text.endswith("…") and len(text) <= FALLBACK_TEXT


def test_a_reply_with_pictures_names_them_escaped() -> None:
    message = Message(id=1, conversation_id=5, direction="outbound", body="", author_user_id="U1")
    pictures = ["<!here>.png", "menu & prices.jpg", *["p" * 300 + ".png"] * 8]
    text, blocks = valid_message(
        *build_message_reply(message=message, deliveries=[], pictures=pictures)
    )
    assert text == "(no text)"
    assert ":frame_with_picture: 10 picture(s): &lt;!here&gt;.png, menu &amp; prices.jpg, " + (
        "p" * 80
    ) in _context(blocks)


def test_an_inbound_text_notifies_the_assignee_and_nothing_the_customer_wrote() -> None:
    eve = Contact(id=1, team_id="T", phone="+12025550150", name="Eve <@U0ADMIN>")
    message = Message(id=1, conversation_id=5, direction="inbound", body=HOSTILE, contact_id=1)
    text, blocks = valid_message(
        *build_message_reply(message=message, deliveries=[], contact=eve, assignee="U0ALICE")
    )
    assert text == f"<@U0ALICE> {ESCAPED}"
    assert not any(_live_markup(t) for t in mrkdwn_texts(blocks))
    assert "Eve &lt;@U0ADMIN&gt;" in _context(blocks)
    assert "for <@U0ALICE>" in _context(blocks)


def test_an_inbound_text_received_late_says_when_it_was_sent() -> None:
    sent = datetime(2026, 3, 2, 10, 42, tzinfo=UTC)

    def context(late: bool) -> str:
        message = Message(
            id=1,
            conversation_id=5,
            direction="inbound",
            body="Open today?",
            contact_id=1,
            sent_at=sent,
            received_late=late,
            media=["https://api.twilio.com/m/1"],
        )
        _, blocks = build_message_reply(message=message, deliveries=[], contact=contact())
        return _context(blocks)

    assert f"sent <!date^{int(sent.timestamp())}^" in context(True)
    assert "received late" in context(True)
    assert "received late" not in context(False)
    assert ":paperclip: 1 attachment(s)" in context(False)


def test_a_notice_naming_a_hostile_contact_stays_text_in_every_field() -> None:
    notice = Message(
        id=2,
        conversation_id=5,
        direction="notice",
        body=f"{HOSTILE} (+1 202-555-0150) texted HELP.",
    )
    text, blocks = valid_message(*build_message_reply(message=notice, deliveries=[]))
    assert text == f"{ESCAPED} (+1 202-555-0150) texted HELP."
    assert mrkdwn_texts(blocks) == [text]


def test_a_text_waiting_for_its_time_can_be_canceled() -> None:
    message = Message(
        id=3,
        conversation_id=5,
        direction="outbound",
        body="Hi {name} & co",
        author_user_id="U1",
        scheduled_for=datetime(2030, 1, 1, tzinfo=UTC),
    )
    pending = _delivery(DeliveryStatus.PENDING)
    text, blocks = valid_message(*build_message_reply(message=message, deliveries=[pending]))
    assert text == "Hi {name} &amp; co"
    assert "<@U1> scheduled this for <!date^1893456000^" in blocks[1]["elements"][0]["text"]
    assert blocks[2]["elements"][0]["action_id"] == ids.CANCEL_SCHEDULED_ACTION
    _, sent = build_message_reply(message=message, deliveries=[_delivery(DeliveryStatus.SENT)])
    assert "<@U1> scheduled · :white_check_mark: Sent" in _context(sent)


def test_a_refused_message_falls_back_to_its_text_within_every_limit() -> None:
    text, blocks = valid_message(*build_plain_fallback("&amp;" * 2000))
    assert len(text) <= FALLBACK_TEXT and text.endswith("…")
    assert blocks[0]["text"]["text"].endswith("…")
    assert build_plain_fallback("")[0] == "(no text)"


def test_an_attachment_link_cannot_be_bent_by_its_url() -> None:
    block = build_media_links([(1, "https://x.example/a|evil>b&c"), (2, None)])
    valid_message("attachments", [block])
    assert block["elements"][0]["text"] == (
        ":paperclip: <https://x.example/a%7Cevil&gt;b&amp;c|attachment 1> · attachment 2 "
        "could not be fetched (its address is not Twilio's)"
    )


def test_inbound_texts_are_posted_under_the_contacts_name() -> None:
    inbound = Message(id=1, conversation_id=5, direction="inbound", body="Hi")
    identity = message_identity(inbound, contact(1, name=LONG_CONTACT_NAME + "x" * 100))
    assert identity["icon_emoji"] == ":iphone:" and len(identity["username"]) == 80
    outbound = Message(id=2, conversation_id=5, direction="outbound", body="Hi")
    assert message_identity(outbound, contact()) == {}


@pytest.mark.parametrize(
    ("statuses", "mark"),
    [
        ([], None),
        ([DeliveryStatus.CANCELED], None),
        ([DeliveryStatus.PENDING], None),
        ([DeliveryStatus.QUEUED, DeliveryStatus.PENDING], "sent"),
        ([DeliveryStatus.DELIVERED, DeliveryStatus.CANCELED], "delivered"),
        ([DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERED], "failed"),
    ],
)
def test_a_reply_typed_in_slack_is_marked_with_where_its_text_got_to(
    statuses: list[DeliveryStatus], mark: str | None
) -> None:
    message = Message(id=1, conversation_id=5, direction="outbound", body="Hi")
    deliveries = [_delivery(status, n=n) for n, status in enumerate(statuses)]
    assert reply_mark(message, deliveries) == mark
    assert mark is None or mark in REPLY_REACTIONS
    note = Message(id=2, conversation_id=5, direction=MessageDirection.NOTE, body="internal")
    assert reply_mark(note, deliveries) == "note"


def test_a_delivery_says_why_it_failed_and_why_it_waits() -> None:
    assert describe_delivery(_delivery(DeliveryStatus.FAILED)) == ":x: Failed: no reason given"
    retrying = _delivery(DeliveryStatus.PENDING, error="Twilio <busy>")
    assert describe_delivery(retrying) == (
        ":hourglass_flowing_sand: Sending (retrying: Twilio &lt;busy&gt;)"
    )


def _progress(names: list[str], status: DeliveryStatus) -> list[RecipientProgress]:
    on = line(1, name=LONG_LINE_NAME)
    return [
        RecipientProgress(
            contact=contact(n, name=name),
            conversation=conversation(n, on),
            delivery=_delivery(
                status,
                n=n,
                error="Unknown destination handset" if status == DeliveryStatus.FAILED else None,
            ),
            replied=n % 2 == 0,
        )
        for n, name in enumerate(names, start=1)
    ]


def test_the_summary_of_the_most_recipients_with_the_longest_names_lists_every_one() -> None:
    names = [f"{n} {LONG_CONTACT_NAME}" for n in range(DEFAULT_MAX_MULTI_RECIPIENTS)]
    progress = _progress(names, DeliveryStatus.FAILED)
    broadcast = Broadcast(
        id=4,
        team_id="T",
        line_id=1,
        user_id="U0A",
        body=LONG_BODY,
        skipped=[{"label": name, "reason": "opted out (texted STOP)"} for name in names[:5]],
    )
    text, blocks = valid_message(
        *build_broadcast_summary(
            broadcast=broadcast,
            line=line(1, name=LONG_LINE_NAME),
            progress=progress,
            team_url=TEAM_URL,
        )
    )
    assert text == "Your text to 20 recipient(s): 20 :x: failed"
    assert blocks[0]["text"]["text"].startswith(":outbox_tray: Your text from *Sales &lt;!channel")
    rows = "\n".join(b["text"]["text"] for b in blocks[2:] if b["type"] == "section")
    assert rows.count("• ") == 25
    assert rows.count("<https://acme.slack.com/archives/C00000001/p1700000000") == 20
    assert rows.count(":speech_balloon: replied") == 10
    assert rows.count(":no_entry_sign: not sent, opted out (texted STOP)") == 5
    for name in names:
        assert escape(name) in rows
    retry = blocks[-1]["elements"][0]
    assert (retry["action_id"], retry["text"]["text"], retry["value"]) == (
        ids.RETRY_FAILED_ACTION,
        "Retry 20 failed",
        "4",
    )


def test_a_summary_with_nothing_failed_offers_no_retry() -> None:
    progress = _progress(["Ann", "Bob"], DeliveryStatus.DELIVERED)
    broadcast = Broadcast(id=4, team_id="T", line_id=1, user_id="U0A", body="Hi")
    text, blocks = valid_message(
        *build_broadcast_summary(broadcast=broadcast, line=line(), progress=progress, team_url="")
    )
    assert text == "Your text to 2 recipient(s): 2 :white_check_mark: delivered"
    assert all(b["type"] != "actions" for b in blocks)
    assert "<https://" not in str(blocks)  # no workspace URL known: names, no links


def _inbound(n: int, body: str, **fields) -> Message:
    return Message(
        id=n,
        conversation_id=1,
        line_id=1,
        contact_id=1,
        direction=MessageDirection.INBOUND,
        body=body,
        sent_at=datetime(2026, 12, 1, 9, n % 60, tzinfo=UTC),
        **fields,
    )


def test_the_largest_catch_up_post_is_within_slacks_limits() -> None:
    """As many texts as plan_posts puts in one post, each all ampersands (escaped, five
    times as long), from the longest name, for an assignee: Slack takes it, and its
    notification text holds as much as it can."""
    body = "&" * (CATCH_UP_CHARACTERS // CATCH_UP_MOST)
    [post, *_] = plan_posts([_inbound(n, body) for n in range(40)], relayed=())
    assert len(post) == CATCH_UP_MOST
    text, blocks = valid_message(
        *build_catch_up(
            messages=post, contact=contact(name=LONG_CONTACT_NAME), assignee="U0ASSIGNEE"
        )
    )
    assert text.startswith("<@U0ASSIGNEE> ") and len(text) <= FALLBACK_TEXT
    assert [b["text"]["text"] for b in blocks[0::2]] == [escape(body)] * CATCH_UP_MOST


def test_a_catch_up_post_shows_each_text_escaped_with_its_time_and_lateness() -> None:
    messages = [_inbound(1, HOSTILE), _inbound(2, "second", received_late=True), _inbound(3, "")]
    text, blocks = valid_message(*build_catch_up(messages=messages, contact=contact()))
    assert not _live_markup(text) and not any(_live_markup(t) for t in mrkdwn_texts(blocks))
    sections, contexts = blocks[0::2], blocks[1::2]
    assert [b["text"]["text"] for b in sections] == [ESCAPED, "second", "_(no text)_"]
    shown = [b["elements"][0]["text"] for b in contexts]
    assert all("Jane Doe" in line and "texted <!date^" in line for line in shown)
    assert [texts.RECEIVED_LATE_AT_ITS_TIME in line for line in shown] == [False, True, False]
    assert text == f"{ESCAPED}\nsecond\n"
