"""The conversation spine through the real server: /text -> modal -> SMS -> Slack thread."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from handlers import ids
from models.tables import Contact, Conversation, Delivery, DeliveryStatus, Line, Message
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.slack_driver import wait_until

ALICE = "U0ALICE"  # granted the Sales line directly
BOB = "U0BOB"  # in the S0SUPPORT user group, which is granted the Support line
MALLORY = "U0MALLORY"  # no line at all
SALES_CHANNEL = "C0SALES"
NEW_NUMBER = "+12025550150"


@pytest.fixture
def lines(bot: Bot) -> dict[str, Line]:
    bot.fake_slack.usergroups["S0SUPPORT"] = [BOB]
    with bot.session() as session, session.begin():
        sales = make_line(
            session, number="+12025550100", name="Sales", channel_id=SALES_CHANNEL, grants=(ALICE,)
        )
        support = make_line(
            session,
            number="+12025550101",
            name="Support",
            channel_id="C0SUPPORT",
            grants=("S0SUPPORT",),
        )
        billing = make_line(session, number="+12025550102", name="Billing", channel_id="C0BILLING")
        make_contact(session, phone="+12025550123", name="Jane Doe")
        make_contact(session, phone="+12025550124", name="John Smith")
        make_contact(session, phone="+12025550125", name="Zoë Janssen")
    return {"sales": sales, "support": support, "billing": billing}


def _line_names(view: dict) -> list[str]:
    block = next(b for b in view["blocks"] if b.get("block_id") == ids.LINE_BLOCK)
    return [o["text"]["text"] for o in block["element"]["options"]]


def _send(
    bot: Bot, *, user: str, line: Line, recipient: str, message: str, view_id: str | None = None
):
    view = bot.slack.open_modal(user=user)
    return bot.slack.submit(
        view, user=user, line_id=str(line.id), recipient=recipient, message=message, view_id=view_id
    )


def _conversation(bot: Bot) -> Conversation:
    with bot.session() as session:
        return session.exec(select(Conversation)).one()


def _delivery_when(bot: Bot, check) -> Delivery:
    def ready():
        with bot.session() as session:
            delivery = session.exec(select(Delivery)).one()
        return delivery if check(delivery) else None

    return wait_until(ready, what="the delivery to settle")


def _thread_when(bot: Bot, count: int):
    """The thread of the only conversation once it shows `count` replies."""

    def ready():
        conversation = _conversation(bot)
        if not conversation.slack_thread_ts:
            return None
        replies = bot.fake_slack.thread(SALES_CHANNEL, conversation.slack_thread_ts)
        return replies if len(replies) >= count else None

    return wait_until(ready, what=f"{count} replies in the thread")


def test_modal_lists_only_the_lines_granted_directly(bot: Bot, lines) -> None:
    view = bot.slack.open_modal(user=ALICE)
    assert _line_names(view) == ["Sales (+1 202-555-0100)"]
    line_block = next(b for b in view["blocks"] if b.get("block_id") == ids.LINE_BLOCK)
    assert line_block["element"]["initial_option"]["value"] == str(lines["sales"].id)


def test_modal_lists_lines_granted_through_a_user_group(bot: Bot, lines) -> None:
    view = bot.slack.open_modal(user=BOB)
    assert _line_names(view) == ["Support (+1 202-555-0101)"]
    assert [c.params["usergroup"] for c in bot.fake_slack.calls_to("usergroups.users.list")] == [
        "S0SUPPORT"
    ]
    # The membership is cached: a second /text does not ask Slack again.
    bot.slack.open_modal(user=BOB)
    assert len(bot.fake_slack.calls_to("usergroups.users.list")) == 1


def test_someone_with_no_line_is_told_privately_and_gets_no_form(bot: Bot, lines) -> None:
    # With the user groups' copy fresh: when it is stale, Slack is asked after a loading
    # view opens, and that view says why (test_views_open_first).
    bot.runtime.refresh_usergroups()
    response = bot.slack.slash("", user=MALLORY)
    assert response.status_code == 200
    reply = wait_until(lambda: bot.fake_slack.responses, what="response_url answer")[0]
    assert reply["response_type"] == "ephemeral"
    assert "don't have access to any texting line" in reply["text"]
    assert bot.fake_slack.calls_to("views.open") == []


def test_suggestions_by_name_prefix_and_any_name_word(bot: Bot, lines) -> None:
    by_first = [o["text"]["text"] for o in bot.slack.suggest("ja", user=ALICE)]
    assert by_first == ["Jane Doe (+1 202-555-0123)", "Zoë Janssen (+1 202-555-0125)"]
    by_last = [o["text"]["text"] for o in bot.slack.suggest("SMI", user=ALICE)]
    assert by_last == ["John Smith (+1 202-555-0124)"]
    both = [o["text"]["text"] for o in bot.slack.suggest("jane d", user=ALICE)]
    assert both == ["Jane Doe (+1 202-555-0123)"]


def test_suggestions_by_partial_number(bot: Bot, lines) -> None:
    options = bot.slack.suggest("(202) 555-012", user=ALICE)
    assert [o["text"]["text"] for o in options] == [
        "Jane Doe (+1 202-555-0123)",
        "John Smith (+1 202-555-0124)",
        "Zoë Janssen (+1 202-555-0125)",
    ]
    with bot.session() as session:
        jane = session.exec(select(Contact).where(Contact.name == "Jane Doe")).one()
    assert options[0]["value"] == f"{ids.CONTACT_OPTION_PREFIX}{jane.id}"
    assert [o["text"]["text"] for o in bot.slack.suggest("1202555012", user=ALICE)][:1] == [
        "Jane Doe (+1 202-555-0123)"
    ]


def test_a_typed_new_number_is_offered_as_a_new_contact(bot: Bot, lines) -> None:
    options = bot.slack.suggest("202 555 0150", user=ALICE)
    assert options == [
        {
            "text": {"type": "plain_text", "text": "+1 202-555-0150 (new contact)", "emoji": True},
            "value": f"{ids.NEW_NUMBER_OPTION_PREFIX}{NEW_NUMBER}",
        }
    ]
    # A known number is not offered as new.
    known = bot.slack.suggest("2025550123", user=ALICE)
    assert [o["text"]["text"] for o in known] == ["Jane Doe (+1 202-555-0123)"]


def test_suggestions_are_empty_for_someone_without_a_line(bot: Bot, lines) -> None:
    assert bot.slack.suggest("ja", user=MALLORY) == []


def test_a_send_to_a_new_number_creates_contact_conversation_sms_and_thread(
    bot: Bot, lines
) -> None:
    response = _send(
        bot,
        user=ALICE,
        line=lines["sales"],
        recipient=f"new:{NEW_NUMBER}",
        message="Hello from Sales!",
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "update"
    assert "on its way" in json.dumps(answer["view"])

    sms = wait_until(lambda: bot.fake_twilio.sent_to(NEW_NUMBER), what="the SMS")
    assert len(sms) == 1
    assert sms[0].from_ == "+12025550100"
    assert sms[0].body == "Hello from Sales!"
    assert sms[0].status_callback == f"{bot.url}/twilio/status"

    replies = _thread_when(bot, 1)
    conversation = _conversation(bot)
    parent = bot.fake_slack.top_level(SALES_CHANNEL)
    assert [p.ts for p in parent] == [conversation.slack_thread_ts]
    assert "+1 202-555-0150" in parent[0].all_text
    assert "Sales" in parent[0].all_text
    assert "Hello from Sales!" in replies[0].text
    assert f"<@{ALICE}>" in replies[0].all_text
    with bot.session() as session:
        contact = session.exec(select(Contact).where(Contact.phone == NEW_NUMBER)).one()
        assert conversation.contact_id == contact.id
    delivery = _delivery_when(bot, lambda d: d.provider_sid is not None)
    assert delivery.provider_sid == sms[0].sid
    # The thread shows the delivery state as it moves on.
    bot.fake_twilio.report(NEW_NUMBER, "delivered")
    wait_until(lambda: "Delivered" in _thread_when(bot, 1)[0].all_text, what="delivered in thread")
    # And the new number is now a contact that suggestions find.
    assert bot.slack.suggest("2025550150", user=ALICE)[0]["value"].startswith(
        ids.CONTACT_OPTION_PREFIX
    )


def test_a_second_send_reopens_the_same_conversation_and_thread(bot: Bot, lines) -> None:
    _send(bot, user=ALICE, line=lines["sales"], recipient=f"new:{NEW_NUMBER}", message="First")
    _thread_when(bot, 1)
    first = _conversation(bot)
    close = bot.slack.click(
        ids.CLOSE_CONVERSATION_ACTION,
        str(first.id),
        user=ALICE,
        channel=SALES_CHANNEL,
        message_ts=first.slack_thread_ts,
    )
    assert close.status_code == 200
    wait_until(lambda: _conversation(bot).status == "closed", what="closed")
    parent = bot.fake_slack.top_level(SALES_CHANNEL)[0]
    wait_until(lambda: "Closed" in parent.all_text, what="parent shows Closed")
    assert ids.REOPEN_CONVERSATION_ACTION in parent.all_text

    with bot.session() as session:
        contact = session.exec(select(Contact).where(Contact.phone == NEW_NUMBER)).one()
    _send(bot, user=ALICE, line=lines["sales"], recipient=f"contact:{contact.id}", message="Second")
    replies = _thread_when(bot, 2)
    again = _conversation(bot)
    assert again.id == first.id and again.status == "open"
    assert again.slack_thread_ts == first.slack_thread_ts
    assert [r.text for r in replies] == ["First", "Second"]
    assert len(bot.fake_slack.top_level(SALES_CHANNEL)) == 1
    wait_until(lambda: "Open" in parent.all_text, what="parent shows Open again")
    # The Reopen button works too (and Close after it).
    bot.slack.click(
        ids.CLOSE_CONVERSATION_ACTION,
        str(first.id),
        user=ALICE,
        channel=SALES_CHANNEL,
        message_ts=first.slack_thread_ts,
    )
    wait_until(lambda: "Reopen" in parent.all_text, what="Reopen button")
    bot.slack.click(
        ids.REOPEN_CONVERSATION_ACTION,
        str(first.id),
        user=ALICE,
        channel=SALES_CHANNEL,
        message_ts=first.slack_thread_ts,
    )
    wait_until(lambda: _conversation(bot).status == "open", what="reopened by the button")
    wait_until(lambda: ids.CLOSE_CONVERSATION_ACTION in parent.all_text, what="Close button again")
    assert (
        len(
            wait_until(
                lambda: (
                    len(bot.fake_twilio.sent_to(NEW_NUMBER)) == 2
                    and bot.fake_twilio.sent_to(NEW_NUMBER)
                )
            )
        )
        == 2
    )


def test_the_same_submission_twice_sends_once(bot: Bot, lines) -> None:
    for _ in range(2):
        response = _send(
            bot,
            user=ALICE,
            line=lines["sales"],
            recipient=f"new:{NEW_NUMBER}",
            message="Once",
            view_id="V0SAME",
        )
        assert response.status_code == 200
    _thread_when(bot, 1)
    with bot.session() as session:
        assert len(session.exec(select(Message)).all()) == 1
        assert len(session.exec(select(Delivery)).all()) == 1
    assert len(bot.fake_twilio.sent_to(NEW_NUMBER)) == 1


def _assert_nothing_written(bot: Bot) -> None:
    with bot.session() as session:
        assert session.exec(select(Conversation)).all() == []
        assert session.exec(select(Message)).all() == []
        assert session.exec(select(Delivery)).all() == []
        assert session.exec(select(Contact).where(Contact.phone == NEW_NUMBER)).all() == []
    assert bot.fake_twilio.requests == []


def test_a_crafted_submission_for_a_line_the_user_may_not_use_sends_nothing(
    bot: Bot, lines
) -> None:
    view = bot.slack.open_modal(user=ALICE)
    for line in (lines["billing"], lines["support"]):
        response = bot.slack.submit(
            view, user=ALICE, line_id=str(line.id), recipient=f"new:{NEW_NUMBER}", message="Sneaky"
        )
        assert response.json() == {
            "response_action": "errors",
            "errors": {
                ids.LINE_BLOCK: "You don't have access to this line. Pick one of your lines."
            },
        }
    # Someone with no line at all, submitting a view they never got.
    response = bot.slack.submit(
        view,
        user=MALLORY,
        line_id=str(lines["sales"].id),
        recipient=f"new:{NEW_NUMBER}",
        message="Sneaky",
    )
    assert response.json()["errors"] == {
        ids.LINE_BLOCK: "You don't have access to this line. Pick one of your lines."
    }
    _assert_nothing_written(bot)


@pytest.mark.parametrize(
    ("recipient", "message", "block", "error"),
    [
        (
            "new:555-0199",
            "Hi",
            ids.RECIPIENT_BLOCK,
            "555-0199 is not a valid number: it needs an area code.",
        ),
        (
            "new:+1202555",
            "Hi",
            ids.RECIPIENT_BLOCK,
            "+1202555 is not a valid number: it is too short.",
        ),
        (
            None,
            "Hi",
            ids.RECIPIENT_BLOCK,
            "Pick a contact, or type a phone number and choose it from the list.",
        ),
        (
            "contact:999999",
            "Hi",
            ids.RECIPIENT_BLOCK,
            "That contact no longer exists. Search for it again.",
        ),
        (
            f"new:{NEW_NUMBER}",
            "",
            ids.MESSAGE_BLOCK,
            "The message is empty. Type something to send.",
        ),
        (
            f"new:{NEW_NUMBER}",
            "   \n ",
            ids.MESSAGE_BLOCK,
            "The message is empty. Type something to send.",
        ),
        (
            f"new:{NEW_NUMBER}",
            "\x00\u202e",  # nothing a phone shows (PostgreSQL cannot even store NUL)
            ids.MESSAGE_BLOCK,
            "The message is empty. Type something to send.",
        ),
        (
            f"new:{NEW_NUMBER}",
            "x" * 1601,
            ids.MESSAGE_BLOCK,
            "The message is 1,601 characters long; the limit is 1,600. Shorten it by 1.",
        ),
    ],
)
def test_bad_input_gets_a_field_error_and_changes_nothing(
    bot: Bot, lines, recipient, message, block, error
) -> None:
    view = bot.slack.open_modal(user=ALICE)
    response = bot.slack.submit(
        view, user=ALICE, line_id=str(lines["sales"].id), recipient=recipient, message=message
    )
    assert response.status_code == 200
    assert response.json() == {"response_action": "errors", "errors": {block: error}}
    _assert_nothing_written(bot)


def test_a_message_of_exactly_1600_characters_is_sent(bot: Bot, lines) -> None:
    _send(bot, user=ALICE, line=lines["sales"], recipient=f"new:{NEW_NUMBER}", message="y" * 1600)
    sms = wait_until(lambda: bot.fake_twilio.sent_to(NEW_NUMBER), what="the SMS")
    assert sms[0].body == "y" * 1600


def test_twilio_21211_marks_the_delivery_failed_and_the_thread_says_why(bot: Bot, lines) -> None:
    bot.fake_twilio.refuse(
        NEW_NUMBER,
        status=400,
        code=21211,
        message=f"The 'To' number {NEW_NUMBER} is not a valid phone number.",
    )
    _send(bot, user=ALICE, line=lines["sales"], recipient=f"new:{NEW_NUMBER}", message="Hello?")
    reply = wait_until(
        lambda: (r := _thread_when(bot, 1)[0]) and "Failed" in r.all_text and r,
        what="failure shown in the thread",
    )
    assert "the number is not a valid phone number (error 21211)" in reply.all_text
    with bot.session() as session:
        delivery = session.exec(select(Delivery)).one()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == 21211
    assert delivery.attempts == 1  # permanent: not retried
    assert bot.fake_twilio.sent_to(NEW_NUMBER) == []


def test_a_transient_twilio_error_is_retried(bot: Bot, lines) -> None:
    bot.fake_twilio.refuse(NEW_NUMBER, status=503, code=20503, message="Service unavailable")
    _send(bot, user=ALICE, line=lines["sales"], recipient=f"new:{NEW_NUMBER}", message="Persist")
    sms = wait_until(
        lambda: bot.fake_twilio.sent_to(NEW_NUMBER), timeout=15, what="the retried SMS"
    )
    assert len(sms) == 1
    delivery = _delivery_when(bot, lambda d: d.provider_sid is not None)
    assert delivery.attempts == 2
    assert delivery.provider_sid == sms[0].sid


def test_slack_429_on_post_message_is_retried_and_the_message_appears_once(bot: Bot, lines) -> None:
    # Both the retry inside the Slack client and our own retry get a 429 first.
    bot.fake_slack.fail_next("chat.postMessage", status=429, retry_after=1, times=4)
    _send(bot, user=ALICE, line=lines["sales"], recipient=f"new:{NEW_NUMBER}", message="Patience")
    replies = wait_until(lambda: _thread_when(bot, 1), timeout=20, what="the reply despite 429s")
    assert [r.text for r in replies] == ["Patience"]
    assert len(bot.fake_slack.top_level(SALES_CHANNEL)) == 1
    posts = bot.fake_slack.calls_to("chat.postMessage")
    assert len(posts) == 6  # 4 refused, then the parent and the reply once each


def test_close_and_reopen_buttons_enforce_line_access(bot: Bot, lines) -> None:
    _send(bot, user=ALICE, line=lines["sales"], recipient=f"new:{NEW_NUMBER}", message="Hi")
    _thread_when(bot, 1)
    conversation = _conversation(bot)
    for user in (MALLORY, BOB):
        response = bot.slack.click(
            ids.CLOSE_CONVERSATION_ACTION,
            str(conversation.id),
            user=user,
            channel=SALES_CHANNEL,
            message_ts=conversation.slack_thread_ts,
        )
        assert response.status_code == 200
    refusals = wait_until(
        lambda: len(bot.fake_slack.responses) == 2 and bot.fake_slack.responses, what="refusals"
    )
    assert all("don't have access to the line Sales" in r["text"] for r in refusals)
    assert all(r["response_type"] == "ephemeral" for r in refusals)
    assert _conversation(bot).status == "open"
