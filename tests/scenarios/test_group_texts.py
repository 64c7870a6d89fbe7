"""Reply-all groups on a line with group texts (group MMS): one Twilio conversation, one
message for everyone, members' texts in the thread once, through the real server."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bot.sms_group_texts import GroupConversation
from handlers import ids
from models.tables import Contact, Conversation, Delivery, Line, Message, OptOut
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.fakes.slack import ChannelMessage
from tests.slack_driver import message_event, submission_payload, wait_until

ALICE = "U0ALICE"
SALES = "+12025550100"
CHANNEL = "C0SALES"
ANN, BEN, CAT = "+12025550131", "+12025550132", "+12025550133"


@pytest.fixture
def line(bot: Bot) -> Line:
    with bot.session() as session, session.begin():
        line = make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE,))
        line.sends_per_second = 50
        line.group_mms = True
        for phone, name in ((ANN, "Ann"), (BEN, "Ben"), (CAT, "Cat")):
            make_contact(session, phone=phone, name=name)
    return line


def _contact_id(bot: Bot, phone: str) -> int:
    with bot.session() as session:
        return session.exec(select(Contact).where(Contact.phone == phone)).one().id


def _submit(bot: Bot, line: Line, recipients: list[str], *, relay: bool = False, message="Hi"):
    view = bot.slack.open_modal(user=ALICE)
    view = {**view, "private_metadata": json.dumps({"kind": ids.KIND_GROUP})}
    payload = submission_payload(
        view, user=ALICE, line_id=str(line.id), recipient=None, message=message
    )
    values = payload["view"]["state"]["values"]
    values[ids.RECIPIENTS_BLOCK] = {
        ids.RECIPIENTS_ACTION: {
            "type": "multi_external_select",
            "selected_options": [
                {"text": {"type": "plain_text", "text": "x"}, "value": v} for v in recipients
            ],
        }
    }
    if relay:
        values[ids.GROUP_RELAY_BLOCK] = {
            ids.GROUP_RELAY_ACTION: {
                "type": "checkboxes",
                "selected_options": [
                    {"text": {"type": "plain_text", "text": "x"}, "value": "relay"}
                ],
            }
        }
    return bot.slack.interact(payload)


def _group(bot: Bot, line: Line, message: str = "Team dinner Friday?") -> GroupConversation:
    response = _submit(
        bot, line, [f"contact:{_contact_id(bot, p)}" for p in (ANN, BEN, CAT)], message=message
    )
    assert response.json()["response_action"] == "update", response.text
    wait_until(lambda: bot.fake_twilio.group_texts.received_by(ANN), what="the opening text")
    return bot.fake_twilio.group_texts.of(SALES)[0]


def _thread(bot: Bot) -> Conversation:
    def posted() -> Conversation | None:
        with bot.session() as session:  # a session per look: each sees the latest
            return session.exec(
                select(Conversation).where(Conversation.slack_thread_ts != None)  # noqa: E711
            ).first()

    return wait_until(posted, what="the group thread")


def _member_texts(bot: Bot, conversation: GroupConversation, author: str, body: str):
    message = bot.fake_twilio.group_texts.add_from_member(
        conversation.sid, author=author, body=body
    )
    return message, bot.twilio.group_text(
        conversation_sid=conversation.sid,
        sid=message.sid,
        index=message.index,
        author=author,
        body=body,
    )


def test_a_group_of_three_is_one_conversation_and_one_message(bot: Bot, line: Line) -> None:
    group = _group(bot, line)
    assert sorted(group.addresses) == [ANN, BEN, CAT] and group.projected_address == SALES
    assert len(bot.fake_twilio.group_texts.create_requests) == 1
    for phone in (ANN, BEN, CAT):
        assert [m.body for m in bot.fake_twilio.group_texts.received_by(phone)] == [
            "Team dinner Friday?"
        ]
    assert [r["Author"] for r in bot.fake_twilio.group_texts.send_requests] == [SALES]
    assert bot.fake_twilio.requests == []  # not one SMS

    def settled() -> list[Delivery] | None:
        with bot.session() as session:
            rows = session.exec(select(Delivery)).all()
        return rows if rows and all(d.status == "sent" for d in rows) else None

    deliveries = wait_until(settled, what="the send recorded")
    with bot.session() as session:
        conversation = session.exec(select(Conversation)).one()
    assert conversation.group_mms and conversation.provider_conversation_sid == group.sid
    assert len(deliveries) == 1 and deliveries[0].status == "sent"
    assert deliveries[0].provider_sid == group.messages[0].sid
    thread = _thread(bot)
    parent = next(p for p in bot.fake_slack.top_level(CHANNEL) if p.ts == thread.slack_thread_ts)
    assert "Group text:" in parent.all_text and "Ann (+1 202-555-0131)" in parent.all_text

    def opening_sent() -> ChannelMessage | None:
        # The parent can be in Slack a moment before the text under it.
        posts = bot.fake_slack.thread(CHANNEL, thread.slack_thread_ts)
        return posts[0] if posts and "Sent" in posts[0].all_text else None

    opening = wait_until(opening_sent, what="the opening text's state")
    context = opening.blocks[-1]["elements"][0]["text"]
    assert context == ":outbox_tray: <@U0ALICE> texted the group · :white_check_mark: Sent"


def test_a_thread_reply_goes_to_the_group_once(bot: Bot, line: Line) -> None:
    group = _group(bot, line)
    thread = _thread(bot)
    typed = bot.fake_slack.add_user_message(
        CHANNEL, "Booked for 7pm", user=ALICE, thread_ts=thread.slack_thread_ts
    )
    bot.slack.send_event(
        message_event(
            channel=CHANNEL,
            user=ALICE,
            text="Booked for 7pm",
            ts=typed.ts,
            thread_ts=thread.slack_thread_ts,
        )
    )
    wait_until(lambda: len(group.messages) == 2, what="the reply")
    assert [m.body for m in bot.fake_twilio.group_texts.received_by(BEN)] == [
        "Team dinner Friday?",
        "Booked for 7pm",
    ]
    assert len(bot.fake_twilio.group_texts.create_requests) == 1
    assert bot.fake_twilio.requests == []


def test_members_texts_land_in_the_thread_once_in_order_under_their_names(
    bot: Bot, line: Line
) -> None:
    group = _group(bot, line)
    thread = _thread(bot)
    first, _ = _member_texts(bot, group, ANN, "I'm in!")
    second = bot.fake_twilio.group_texts.add_from_member(group.sid, author=BEN, body="Me too")
    # Ben's webhook comes before Ann's, and Ann's comes twice (Twilio retried).
    for message, author in ((second, BEN), (first, ANN), (first, ANN)):
        response = bot.twilio.group_text(
            conversation_sid=group.sid,
            sid=message.sid,
            index=message.index,
            author=author,
            body=message.body,
        )
        assert response.status_code == 200
    bot.wait_routed()
    posts = wait_until(
        lambda: len(p := bot.fake_slack.thread(CHANNEL, thread.slack_thread_ts)) >= 3 and p,
        what="the members' texts",
    )
    # In the group's order (Index), whichever webhook came first.
    assert [(p.username, p.text) for p in posts[1:]] == [
        ("Ann (+1 202-555-0131)", "I'm in!"),
        ("Ben (+1 202-555-0132)", "Me too"),
    ]
    # Nothing is relayed: Twilio gave everyone the texts already.
    assert bot.fake_twilio.requests == [] and len(group.messages) == 3


def test_group_texts_in_one_batch_go_in_index_order() -> None:
    from models.inbound import in_group_text_order
    from models.tables import InboundWebhook

    def staged(sid: str, index: int | None, conversation: str | None) -> InboundWebhook:
        return InboundWebhook(
            message_sid=sid,
            to_number="",
            from_number=ANN,
            conversation_sid=conversation,
            conversation_index=index,
        )

    texts = [
        staged("IM3", 3, "CH1"),
        staged("SM1", None, None),
        staged("IM1", 1, "CH1"),
        staged("IMx", 0, "CH2"),
    ]
    assert [t.message_sid for t in in_group_text_order(texts)] == ["IM1", "SM1", "IM3", "IMx"]


def test_a_text_both_webhooks_bring_is_in_the_thread_once(bot: Bot, line: Line) -> None:
    group = _group(bot, line)
    thread = _thread(bot)
    _member_texts(bot, group, CAT, "See you there")
    bot.wait_routed()
    bot.twilio.text(from_=CAT, to=SALES, body="See you there")  # the number's webhook too
    bot.wait_routed()
    bot.twilio.text(from_=BEN, to=SALES, body="Where is it?")  # only the number's webhook
    bot.wait_routed()
    _member_texts(bot, group, BEN, "Where is it?")
    bot.wait_routed()
    with bot.session() as session:
        inbound = session.exec(
            select(Message.body, Message.conversation_id).where(Message.direction == "inbound")
        ).all()
    assert sorted(inbound) == [("See you there", thread.id), ("Where is it?", thread.id)]
    assert bot.fake_twilio.requests == []


def test_stop_from_one_member_leaves_the_others_in_the_group(bot: Bot, line: Line) -> None:
    group = _group(bot, line)
    thread = _thread(bot)
    bot.twilio.text(from_=CAT, to=SALES, body="STOP")
    wait_until(lambda: _count(bot, OptOut) == 1, what="the opt-out")
    bot.fake_twilio._opted_out.add((CAT, SALES))  # Twilio's own opt-out list
    parent = wait_until(
        lambda: [
            p
            for p in bot.fake_slack.top_level(CHANNEL)
            if p.ts == thread.slack_thread_ts and "opted out" in p.all_text
        ],
        what="the opt-out on the parent",
    )[0]
    assert "Cat (+1 202-555-0133) (opted out)" in parent.all_text
    typed = bot.fake_slack.add_user_message(
        CHANNEL, "Still on", user=ALICE, thread_ts=thread.slack_thread_ts
    )
    bot.slack.send_event(
        message_event(
            channel=CHANNEL,
            user=ALICE,
            text="Still on",
            ts=typed.ts,
            thread_ts=thread.slack_thread_ts,
        )
    )
    wait_until(lambda: len(group.messages) == 2, what="the reply to the group")
    assert [m.body for m in bot.fake_twilio.group_texts.received_by(ANN)][-1] == "Still on"
    assert [m.body for m in bot.fake_twilio.group_texts.received_by(BEN)][-1] == "Still on"
    assert [m.body for m in bot.fake_twilio.group_texts.received_by(CAT)] == ["Team dinner Friday?"]
    assert len(bot.fake_twilio.group_texts.conversations) == 1


def _count(bot: Bot, table) -> int:
    with bot.session() as session:
        return len(session.exec(select(table)).all())


def test_the_same_group_again_reopens_it(bot: Bot, line: Line) -> None:
    group = _group(bot, line)
    _submit(bot, line, [f"contact:{_contact_id(bot, p)}" for p in (CAT, ANN, BEN)], message="Again")
    wait_until(lambda: len(group.messages) == 2, what="the second opening")
    assert len(bot.fake_twilio.group_texts.conversations) == 1
    assert _count(bot, Conversation) == 1


def test_a_group_made_before_a_crash_is_reused_not_made_twice(bot: Bot, line: Line) -> None:
    # Twilio made the group, and the process died before recording it.
    bot.fake_twilio.group_texts.conversations["CH" + "f" * 32] = GroupConversation(
        sid="CH" + "f" * 32,
        friendly_name="Sales",
        addresses=[ANN, BEN, CAT],
        projected_address=SALES,
    )
    group = _group(bot, line)
    assert group.sid == "CH" + "f" * 32 and len(bot.fake_twilio.group_texts.conversations) == 1
    with bot.session() as session:
        assert session.exec(select(Conversation)).one().provider_conversation_sid == group.sid


def test_a_group_that_cannot_be_a_group_text_is_refused_with_the_reason(
    bot: Bot, line: Line
) -> None:
    response = _submit(
        bot, line, [f"contact:{_contact_id(bot, ANN)}", "new:+442071838750"], message="Hi"
    )
    assert response.json()["response_action"] == "errors"
    error = response.json()["errors"][ids.RECIPIENTS_BLOCK]
    assert "cannot be in a group text: only +1" in error and "relayed group" in error
    assert bot.fake_twilio.group_texts.create_requests == [] and _count(bot, Conversation) == 0


def test_a_relayed_group_on_a_group_text_line_is_relayed(bot: Bot, line: Line) -> None:
    response = _submit(
        bot, line, [f"contact:{_contact_id(bot, p)}" for p in (ANN, BEN)], relay=True
    )
    assert response.json()["response_action"] == "update", response.text
    wait_until(
        lambda: bot.fake_twilio.sent_to(ANN) and bot.fake_twilio.sent_to(BEN), what="two SMS"
    )
    assert bot.fake_twilio.group_texts.create_requests == []


def test_the_conversations_webhook_must_be_signed_and_well_formed(bot: Bot, line: Line) -> None:
    params = {
        "EventType": "onMessageAdded",
        "ConversationSid": "CH" + "0" * 32,
        "MessageSid": "IM" + "0" * 32,
        "Index": "1",
        "Author": ANN,
        "Body": "Hi",
    }
    assert bot.twilio.post("/twilio/conversations", params, signature="forged").status_code == 403
    bad_index = bot.twilio.post("/twilio/conversations", {**params, "Index": "-1"})
    assert bad_index.status_code == 400
    other_event = bot.twilio.post("/twilio/conversations", {**params, "EventType": "onX"})
    assert other_event.status_code == 200
    with bot.session() as session:
        assert session.exec(select(Message)).all() == []


def test_the_same_words_twice_by_one_webhook_are_two_texts(bot: Bot, line: Line) -> None:
    group = _group(bot, line)
    _member_texts(bot, group, ANN, "ok")
    _member_texts(bot, group, ANN, "ok")
    bot.wait_routed()
    bot.twilio.text(from_=ANN, to=SALES, body="ok")  # the number's webhook, for the first
    bot.wait_routed()
    with bot.session() as session:
        inbound = session.exec(select(Message.body).where(Message.direction == "inbound")).all()
    assert inbound == ["ok", "ok"]
