"""The send policy holds on every way in and again when a text leaves: every rule refuses
on every entry point (the form's three kinds, send later, quick send, a thread reply), and
a text that waited (an undo window, a scheduled time, a retry, a relay, an away message) is
not sent when a rule changed meanwhile, and says why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from handlers import ids
from models.access import revoke_line
from models.optouts import opt_out
from models.tables import (
    Broadcast,
    Contact,
    Conversation,
    Delivery,
    DeliveryStatus,
    Line,
    Message,
)
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.scenarios.sales_line import (
    ALICE,
    CHANNEL,
    JANE,
    MALLORY,
    SALES,
    in_an_hour,
    reply_in_thread,
    schedule,
    scheduled_post,
    start_with_jane,
    thread,
    time_passes,
)
from tests.slack_driver import submission_payload, wait_until

BOB = "+12025550124"
# A Wednesday ahead of the system clock: a running bot's clock only moves forward.
DAY = datetime(2037, 11, 25, 15, 0, tzinfo=UTC)  # 10:00 in Washington, DC
EVENING = datetime(2037, 11, 25, 23, 30, tzinfo=UTC)  # 18:30: the line's office is closed
NIGHT = datetime(2037, 11, 26, 8, 55, tzinfo=UTC)  # 03:55 on Thursday there
NEXT_DAY = datetime(2037, 11, 26, 15, 0, tzinfo=UTC)


@pytest.fixture
def line(bot: Bot) -> Line:
    bot.runtime.clock.set(DAY)  # quiet hours refuse only where a test says
    with bot.session() as session, session.begin():
        line = make_line(
            session, number=SALES, channel_id=CHANNEL, grants=(ALICE,), quiet_hours=(21, 8)
        )
        make_contact(session, phone=JANE, name="Jane Doe")
        make_contact(session, phone=BOB, name="Bob Roe")
    return line


def _contact_option(bot: Bot, phone: str) -> str:
    with bot.session() as session:
        return f"contact:{session.exec(select(Contact).where(Contact.phone == phone)).one().id}"


def _quick_send(bot: Bot, text: str) -> str:
    response = bot.slack.slash(text, user=ALICE)
    assert response.status_code == 200
    return response.text


def test_quick_send_keeps_the_lines_quiet_hours(bot: Bot, line: Line) -> None:
    bot.runtime.clock.set(NIGHT)
    reply = _quick_send(bot, "Sales 2025550150 Are you up?")
    assert reply.startswith(":warning: Not sent: it would be 03:55 (EST) for +1 202-555-0150")
    assert "quiet hours (9pm to 8am their time)" in reply
    assert "Send later (from Thu 08:00 their time)" in reply
    reply = _quick_send(bot, "Sales jane doe Are you up?")
    assert "for Jane Doe (+1 202-555-0123)" in reply
    assert bot.fake_twilio.requests == []

    bot.runtime.clock.set(NEXT_DAY)
    assert "is on its way" in _quick_send(bot, "Sales 2025550150 Good morning")
    sent = wait_until(lambda: bot.fake_twilio.requests, what="the daytime text")
    assert [t["Body"] for t in sent] == ["Good morning"]


def _last_delivery(bot: Bot) -> Delivery:
    with bot.session() as session:
        return session.exec(select(Delivery).order_by(col(Delivery.id).desc())).first()


def _settled(bot: Bot) -> Delivery:
    return wait_until(
        lambda: (d := _last_delivery(bot)).status == DeliveryStatus.FAILED and d,
        what="the refused delivery",
    )


def test_a_reply_whose_author_loses_the_line_in_its_undo_window_is_not_sent(
    bot: Bot, line: Line
) -> None:
    conversation = start_with_jane(bot, line)
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).reply_delay_seconds = 2
    reply_in_thread(bot, conversation, "One more thing")
    with bot.session() as session, session.begin():
        revoke_line(session=session, line=session.get_one(Line, line.id), principals=[ALICE])

    delivery = _settled(bot)
    assert delivery.error_text == "not sent: its author no longer had access to the line Sales"
    assert [m.body for m in bot.fake_twilio.sent_to(JANE)] == ["Hi Jane"]
    posts = wait_until(
        lambda: (p := thread(bot, 2)) and "no longer had access" in p[-1].text and p,
        what="the reason in the thread",
    )
    assert "Jane Doe" in posts[-1].text


def test_a_reply_on_a_line_turned_off_in_its_undo_window_is_not_sent(bot: Bot, line: Line) -> None:
    conversation = start_with_jane(bot, line)
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).reply_delay_seconds = 2
    reply_in_thread(bot, conversation, "One more thing")
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).active = False

    delivery = _settled(bot)
    assert delivery.error_text == "not sent: the line Sales was turned off before the text left"
    assert [m.body for m in bot.fake_twilio.sent_to(JANE)] == ["Hi Jane"]


# --- every rule on every way in -------------------------------------------------------------


def _no_access(bot: Bot, line: Line) -> dict[str, object]:
    return {"user": MALLORY}


def _line_off(bot: Bot, line: Line) -> dict[str, object]:
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).active = False
    return {}


def _opted_out(bot: Bot, line: Line) -> dict[str, object]:
    """Everyone the entry points text (Jane, and Bob in the group) texted STOP."""
    for phone in (JANE, BOB):
        _opt_out(bot, line, phone)
    return {}


def _opt_out(bot: Bot, line: Line, phone: str) -> None:
    with bot.session() as session, session.begin():
        contact = session.exec(select(Contact).where(Contact.phone == phone)).one()
        opt_out(
            session=session, line=session.get_one(Line, line.id), contact=contact, keyword="STOP"
        )


def _empty(bot: Bot, line: Line) -> dict[str, object]:
    return {"text": "   "}


def _too_long(bot: Bot, line: Line) -> dict[str, object]:
    return {"text": "x" * 1601}


def _night(bot: Bot, line: Line) -> dict[str, object]:
    bot.runtime.clock.set(NIGHT)
    return {}


# Each rule: how to break it, and the words every surface's refusal has in common.
RULES: dict[str, tuple[Callable[[Bot, Line], dict[str, object]], str]] = {
    "no access to the line": (_no_access, "have access"),
    "line turned off": (_line_off, "turned off"),
    "contact opted out": (_opted_out, "opted out"),
    "empty message": (_empty, "message is empty"),
    "message too long": (_too_long, "the limit is 1,600"),
    "quiet hours": (_night, "quiet hours"),
}


def _submit(bot: Bot, line: Line, *, user: str, text: str, **fields: object) -> str | None:
    """The /text form submitted (a payload naming the line whatever the form offered):
    its field errors, or None when it was accepted."""
    view = {"type": "modal", "callback_id": ids.NEW_CONVERSATION_VIEW, "blocks": []}
    fields = {"recipient": _contact_option(bot, JANE), **fields}
    payload = submission_payload(
        view, user=user, line_id=str(line.id), message=text, quiet_ok=False, **fields
    )
    answer = bot.slack.interact(payload).json()
    return " ".join(answer["errors"].values()) if answer["response_action"] == "errors" else None


def _by_form(bot: Bot, line: Line, *, user: str = ALICE, text: str = "Hello") -> str | None:
    return _submit(bot, line, user=user, text=text)


def _by_multi(bot: Bot, line: Line, *, user: str = ALICE, text: str = "Hello") -> str | None:
    recipients = [_contact_option(bot, JANE)]
    return _submit(
        bot, line, user=user, text=text, kind=ids.KIND_MULTI, recipient=None, recipients=recipients
    )


def _by_group(bot: Bot, line: Line, *, user: str = ALICE, text: str = "Hello") -> str | None:
    recipients = [_contact_option(bot, JANE), _contact_option(bot, BOB)]
    return _submit(
        bot, line, user=user, text=text, kind=ids.KIND_GROUP, recipient=None, recipients=recipients
    )


def _by_send_later(bot: Bot, line: Line, *, user: str = ALICE, text: str = "Hello") -> str | None:
    return _submit(bot, line, user=user, text=text, send_at=in_an_hour(bot))


def _by_quick_send(bot: Bot, line: Line, *, user: str = ALICE, text: str = "Hello") -> str | None:
    reply = bot.slack.slash(f"Sales jane doe {text}", user=user).text
    return reply if reply.startswith(":warning: Not sent:") else None


def _by_thread_reply(bot: Bot, line: Line, *, user: str = ALICE, text: str = "Hello") -> str | None:
    """A reply in the conversation's thread: refused when the author is told privately."""
    ephemerals = len(bot.fake_slack.calls_to("chat.postEphemeral"))
    reply_in_thread(bot, _conversation(bot), text, user=user)
    try:
        notes = wait_until(
            lambda: bot.fake_slack.calls_to("chat.postEphemeral")[ephemerals:],
            timeout=3,
            what="a private note",
        )
    except AssertionError:
        return None
    return str(notes[0].params["text"])


ENTRY_POINTS = {
    "form": _by_form,
    "multi-recipient form": _by_multi,
    "reply-all group form": _by_group,
    "send later": _by_send_later,
    "quick send": _by_quick_send,
    "thread reply": _by_thread_reply,
}
# Quiet hours guard the start of a conversation; a reply in a live one goes when written.
NOT_APPLICABLE = {("thread reply", "quiet hours")}
# A multi-recipient message or a group skips whoever opted out: with nobody left, it says so.
WORDS_FOR = {
    ("multi-recipient form", "contact opted out"): "None of these recipients can be texted",
    ("reply-all group form", "contact opted out"): "None of these recipients can be texted",
}


def _conversation(bot: Bot) -> Conversation:
    with bot.session() as session:
        return session.exec(select(Conversation).order_by(col(Conversation.id))).first()


def _outbound_count(bot: Bot) -> int:
    with bot.session() as session:
        return len(session.exec(select(Message).where(Message.direction == "outbound")).all())


@pytest.mark.parametrize(
    ("entry", "rule"),
    [(e, r) for e in ENTRY_POINTS for r in RULES if (e, r) not in NOT_APPLICABLE],
)
def test_every_rule_refuses_on_every_way_in(bot: Bot, line: Line, entry: str, rule: str) -> None:
    if entry == "thread reply":
        start_with_jane(bot, line)
    sent_before = len(bot.fake_twilio.requests)
    written_before = _outbound_count(bot)

    break_rule, words = RULES[rule]
    refusal = ENTRY_POINTS[entry](bot, line, **break_rule(bot, line))  # type: ignore[arg-type]

    assert refusal is not None, f"{entry} did not refuse: {rule}"
    assert WORDS_FOR.get((entry, rule), words) in refusal
    bot.runtime.settle()
    assert len(bot.fake_twilio.requests) == sent_before
    assert _outbound_count(bot) == written_before


def test_each_way_in_sends_when_no_rule_is_broken(bot: Bot, line: Line) -> None:
    """The matrix's control: the same requests, with every rule kept, are accepted."""
    start_with_jane(bot, line)
    for entry, send in ENTRY_POINTS.items():
        assert send(bot, line) is None, entry


# --- every rule again when a text leaves ----------------------------------------------------


def _author_loses_the_line(bot: Bot, line: Line, phone: str) -> None:
    with bot.session() as session, session.begin():
        revoke_line(session=session, line=session.get_one(Line, line.id), principals=[ALICE])


def _line_turned_off(bot: Bot, line: Line, phone: str) -> None:
    _line_off(bot, line)


def _recipient_opts_out(bot: Bot, line: Line, phone: str) -> None:
    _opt_out(bot, line, phone)


Change = Callable[[Bot, Line, str], None]
CHANGES: dict[str, Change] = {
    "its author lost the line": _author_loses_the_line,
    "the line was turned off": _line_turned_off,
    "the recipient opted out": _recipient_opts_out,
}


def _undo_window(bot: Bot, line: Line, change: Change) -> tuple[str, int]:
    """A thread reply, held for the line's undo window. Each of these returns the
    recipient, and how many texts they had before the one queued."""
    conversation = start_with_jane(bot, line)
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).reply_delay_seconds = 2
    sent = len(bot.fake_twilio.sent_to(JANE))
    reply_in_thread(bot, conversation, "One more thing")
    change(bot, line, JANE)
    return JANE, sent


def _scheduled(bot: Bot, line: Line, change: Change) -> tuple[str, int]:
    response = schedule(bot, line, in_an_hour(bot))
    assert response.json()["response_action"] == "update", response.text
    scheduled_post(bot)
    change(bot, line, JANE)
    time_passes(bot)
    return JANE, 0


def _retried(bot: Bot, line: Line, change: Change) -> tuple[str, int]:
    """A multi-recipient text that failed, retried from its summary."""
    assert _by_multi(bot, line) is None
    wait_until(lambda: bot.fake_twilio.sent_to(JANE), what="the first try")
    wait_until(lambda: _last_delivery(bot).provider_sid, what="its sid")
    bot.fake_twilio.report(JANE, "undelivered", error_code=30003)
    wait_until(lambda: _last_delivery(bot).status == DeliveryStatus.UNDELIVERED, what="the failure")
    change(bot, line, JANE)
    with bot.session() as session:
        broadcast = session.exec(select(Broadcast)).one()
    response = bot.slack.click(
        ids.RETRY_FAILED_ACTION, str(broadcast.id), user=ALICE, channel="D0ALICE", message_ts="1.1"
    )
    assert response.status_code == 200
    return JANE, 1


def _relayed(bot: Bot, line: Line, change: Change) -> tuple[str, int]:
    """Jane's text in a reply-all group, relayed to Bob."""
    assert _by_group(bot, line) is None
    wait_until(lambda: bot.fake_twilio.sent_to(BOB), what="the opening text")
    change(bot, line, BOB)
    bot.twilio.text(from_=JANE, to=SALES, body="I'm in!")
    return BOB, 1


def _away_message(bot: Bot, line: Line, change: Change) -> tuple[str, int]:
    """Jane texts after hours: the line's away message answers."""
    with bot.session() as session, session.begin():
        row = session.get_one(Line, line.id)
        row.away_message = "We're closed; we'll reply from 9am."
        row.business_hours, row.time_zone = "09:00-17:00", "America/New_York"
    bot.runtime.clock.set(EVENING)
    change(bot, line, JANE)
    bot.twilio.text(from_=JANE, to=SALES, body="Are you open?")
    return JANE, 0


QUEUED: dict[str, Callable[[Bot, Line, Change], tuple[str, int]]] = {
    "a reply in its undo window": _undo_window,
    "a scheduled text": _scheduled,
    "a retried text": _retried,
    "a relayed group text": _relayed,
    "an away message": _away_message,
}
# Relays and away messages have no author; a retry is checked as it is clicked (the clicker
# must have the line), which the buttons' own tests cover.
NO_AUTHOR = {"a relayed group text", "an away message", "a retried text"}


def _unsettled(bot: Bot) -> list[Delivery]:
    with bot.session() as session:
        return list(
            session.exec(
                select(Delivery).where(
                    col(Delivery.status).in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING])
                )
            ).all()
        )


@pytest.mark.parametrize(
    ("queued", "change"),
    [
        (q, c)
        for q in QUEUED
        for c in CHANGES
        if not (q in NO_AUTHOR and c == "its author lost the line")
    ],
)
def test_every_rule_holds_again_when_a_text_leaves(
    bot: Bot, line: Line, queued: str, change: str
) -> None:
    recipient, sent_before = QUEUED[queued](bot, line, CHANGES[change])
    bot.wait_routed()
    bot.runtime.wake_workers()
    wait_until(lambda: not _unsettled(bot), timeout=20, what="the outbox settled")

    assert len(bot.fake_twilio.sent_to(recipient)) == sent_before
    with bot.session() as session:
        refused = session.exec(
            select(Delivery).where(
                Delivery.to_phone == recipient, Delivery.status == DeliveryStatus.FAILED
            )
        ).all()
    # Refused as it left (with its reason), or never queued at all.
    assert all(d.error_text for d in refused)


@pytest.mark.parametrize("change", ["a STOP", "the line turned off"])
def test_a_change_between_the_forms_checks_and_its_write_is_a_field_error(
    bot: Bot, line: Line, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The form's checks passed, then (before the write) Jane texted STOP or the line was
    turned off: the form says so, nothing is written, and Slack gets no 500."""
    from handlers.slack import views

    checked_form = views.plan_text

    def checks_then_change(session, *args, **kwargs):  # type: ignore[no-untyped-def]
        checked = checked_form(session, *args, **kwargs)
        if change == "a STOP":
            jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()
            opt_out(
                session=session, line=session.get_one(Line, line.id), contact=jane, keyword="STOP"
            )
        else:
            session.get_one(Line, line.id).active = False
        session.flush()
        return checked

    monkeypatch.setattr(views, "plan_text", checks_then_change)
    with bot.session() as session:
        jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()
    view = {"type": "modal", "callback_id": ids.NEW_CONVERSATION_VIEW, "blocks": []}
    response = bot.slack.interact(
        submission_payload(
            view, user=ALICE, line_id=str(line.id), recipient=f"contact:{jane.id}", message="Hi"
        )
    )
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    expected = "texted STOP just now" if change == "a STOP" else "turned off"
    assert expected in next(iter(errors.values()))
    with bot.session() as session:
        assert session.exec(select(Message)).all() == []
        assert session.exec(select(Conversation)).all() == []
