"""Multi-recipient messages and reply-all groups through the real server."""

from __future__ import annotations

import json

import pytest
from sqlmodel import col, select

from handlers import ids
from models.tables import Contact, Conversation, Delivery, Line, OptOut
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.slack_driver import button_payload, message_event, submission_payload, wait_until

ALICE = "U0ALICE"
SALES = "+12025550100"
CHANNEL = "C0SALES"
ANN, BEN, CAT = "+12025550131", "+12025550132", "+12025550133"
NEW = "+12025550150"


@pytest.fixture
def line(bot: Bot) -> Line:
    with bot.session() as session, session.begin():
        line = make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE,))
        line.sends_per_second = 50  # pacing has a test of its own
        for phone, name in ((ANN, "Ann"), (BEN, "Ben"), (CAT, "Cat")):
            make_contact(session, phone=phone, name=name)
    return line


def _contact_id(bot: Bot, phone: str) -> int:
    with bot.session() as session:
        return session.exec(select(Contact).where(Contact.phone == phone)).one().id


def _submit(bot: Bot, line: Line, kind: str, recipients: list[str], message: str = "Hello all"):
    view = bot.slack.open_modal(user=ALICE)
    view = {**view, "private_metadata": json.dumps({"kind": kind})}
    payload = submission_payload(
        view, user=ALICE, line_id=str(line.id), recipient=None, message=message
    )
    payload["view"]["state"]["values"][ids.RECIPIENTS_BLOCK] = {
        ids.RECIPIENTS_ACTION: {
            "type": "multi_external_select",
            "selected_options": [
                {"text": {"type": "plain_text", "text": "x"}, "value": v} for v in recipients
            ],
        }
    }
    return bot.slack.interact(payload)


def _opt_out(bot: Bot, phone: str) -> None:
    bot.twilio.text(from_=phone, to=SALES, body="STOP")
    wait_until(lambda: _count(bot, OptOut) >= 1, what="the opt-out")


def _count(bot: Bot, table) -> int:
    with bot.session() as session:
        return len(session.exec(select(table)).all())


def _dm(bot: Bot):
    return bot.fake_slack.top_level(ALICE)


# --- the modal -----------------------------------------------------------------------------


def test_text_multi_and_group_open_the_form_on_that_kind(bot: Bot, line: Line) -> None:
    bot.slack.slash("multi", user=ALICE)
    view = wait_until(lambda: bot.fake_slack.calls_to("views.open"), what="views.open")[0].params[
        "view"
    ]
    assert json.loads(view["private_metadata"])["kind"] == ids.KIND_MULTI
    assert any(b.get("block_id") == ids.RECIPIENTS_BLOCK for b in view["blocks"])
    bot.slack.slash("group", user=ALICE)
    view = wait_until(
        lambda: (
            len(bot.fake_slack.calls_to("views.open")) == 2
            and bot.fake_slack.calls_to("views.open")
        )
    )[1].params["view"]
    assert json.loads(view["private_metadata"])["kind"] == ids.KIND_GROUP


def test_switching_the_kind_redraws_the_form_in_place(bot: Bot, line: Line) -> None:
    view = bot.slack.open_modal(user=ALICE)
    payload = button_payload(
        ids.KIND_ACTION, "", user=ALICE, channel="", message_ts="", response_url=""
    )
    payload.update(
        container={"type": "view", "view_id": "V0OPEN"},
        view={**view, "id": "V0OPEN", "hash": "h1"},
        actions=[
            {
                "type": "radio_buttons",
                "action_id": ids.KIND_ACTION,
                "block_id": ids.KIND_BLOCK,
                "selected_option": {
                    "text": {"type": "plain_text", "text": "Multi"},
                    "value": ids.KIND_MULTI,
                },
            }
        ],
    )
    assert bot.slack.interact(payload).status_code == 200
    update = wait_until(lambda: bot.fake_slack.calls_to("views.update"), what="views.update")[
        0
    ].params
    assert update["view_id"] == "V0OPEN" and update["hash"] == "h1"
    assert json.loads(update["view"]["private_metadata"])["kind"] == ids.KIND_MULTI
    blocks = {b.get("block_id") for b in update["view"]["blocks"]}
    assert ids.RECIPIENTS_BLOCK in blocks and ids.RECIPIENT_BLOCK not in blocks


def test_suggestions_work_in_the_multi_select_too(bot: Bot, line: Line) -> None:
    options = bot.slack.suggest("be", user=ALICE, action_id=ids.RECIPIENTS_ACTION)
    assert [o["text"]["text"] for o in options] == ["Ben (+1 202-555-0132)"]


# --- multi-recipient -------------------------------------------------------------------------


def test_multi_to_a_new_a_known_and_an_opted_out_contact(bot: Bot, line: Line) -> None:
    _opt_out(bot, CAT)
    response = _submit(
        bot,
        line,
        ids.KIND_MULTI,
        [f"new:{NEW}", f"contact:{_contact_id(bot, ANN)}", f"contact:{_contact_id(bot, CAT)}"],
    )
    answer = response.json()
    assert answer["response_action"] == "update"
    assert "Not sent to Cat (+1 202-555-0133): opted out" in json.dumps(answer["view"])

    wait_until(
        lambda: bot.fake_twilio.sent_to(NEW) and bot.fake_twilio.sent_to(ANN), what="two texts"
    )
    assert bot.fake_twilio.sent_to(CAT) == []
    assert len(bot.fake_twilio.requests) == 2
    with bot.session() as session:
        conversations = session.exec(
            select(Conversation).where(col(Conversation.contact_id).is_not(None))
        ).all()

    # Cat's conversation holds only her STOP; Ann and the new number got one each.
    def threads_of_ann_and_new() -> list[Conversation] | None:
        found = [
            c for c in _conversations_with_threads(bot) if c.contact_id != _contact_id(bot, CAT)
        ]
        return found if len(found) == 2 else None  # the mirror posts them one after the other

    threads = wait_until(threads_of_ann_and_new, what="two threads")
    assert len({c.slack_thread_ts for c in threads}) == 2
    summary = wait_until(lambda: _dm(bot), what="the summary DM")[0]
    assert "to 2 recipient(s)" in summary.all_text
    assert "Cat (+1 202-555-0133): :no_entry_sign: not sent, opted out" in summary.all_text
    assert len(conversations) == 3


def _conversations_with_threads(bot: Bot) -> list[Conversation]:
    with bot.session() as session:
        rows = session.exec(
            select(Conversation).where(col(Conversation.slack_thread_ts).is_not(None))
        ).all()
    return [c for c in rows if bot.fake_slack.thread(CHANNEL, c.slack_thread_ts)]


def test_21_recipients_is_a_field_error_and_sends_nothing(bot: Bot, line: Line) -> None:
    numbers = [f"new:+120255501{n:02d}" for n in range(40, 61)]
    response = _submit(bot, line, ids.KIND_MULTI, numbers)
    assert response.json() == {
        "response_action": "errors",
        "errors": {
            ids.RECIPIENTS_BLOCK: "A multi-recipient message can go to at most 20 recipients; you "
            "picked 21. Remove some, or send it in two parts."
        },
    }
    assert _count(bot, Delivery) == 0 and _count(bot, Conversation) == 0
    assert bot.fake_twilio.requests == []


def test_the_summary_follows_progress_and_retries_the_failed(bot: Bot, line: Line) -> None:
    _submit(
        bot,
        line,
        ids.KIND_MULTI,
        [f"contact:{_contact_id(bot, ANN)}", f"contact:{_contact_id(bot, BEN)}"],
    )
    wait_until(lambda: bot.fake_twilio.sent_to(ANN) and bot.fake_twilio.sent_to(BEN), what="texts")
    wait_until(lambda: _count_with_sid(bot) == 2, what="sids recorded")
    bot.fake_twilio.report(ANN, "delivered")
    bot.fake_twilio.report(BEN, "undelivered", error_code=30003)
    bot.twilio.text(from_=ANN, to=SALES, body="Thanks!")
    summary = wait_until(lambda: _dm(bot), what="the summary")[0]
    wait_until(
        lambda: "replied" in summary.all_text and "not delivered" in summary.all_text,
        what="progress",
    )
    assert "Ann (+1 202-555-0131)" in summary.all_text and "delivered" in summary.all_text
    assert "unreachable" in summary.all_text
    assert len(_dm(bot)) == 1  # one summary, updated in place
    assert len(bot.fake_slack.calls_to("chat.update")) < 20  # paced, not one update per event
    retry = next(b for b in summary.blocks if b["type"] == "actions")["elements"][0]
    assert (
        retry["action_id"] == ids.RETRY_FAILED_ACTION and retry["text"]["text"] == "Retry 1 failed"
    )
    bot.slack.click(
        ids.RETRY_FAILED_ACTION,
        retry["value"],
        user=ALICE,
        channel=summary.channel,
        message_ts=summary.ts,
    )
    wait_until(lambda: len(bot.fake_twilio.sent_to(BEN)) == 2, what="the retried text")
    assert len(bot.fake_twilio.sent_to(ANN)) == 1


def _count_with_sid(bot: Bot) -> int:
    with bot.session() as session:
        return len(session.exec(select(Delivery).where(Delivery.provider_sid != None)).all())  # noqa: E711


def test_a_fan_out_keeps_to_the_lines_pace(bot: Bot, line: Line) -> None:
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).sends_per_second = 4
    numbers = [f"new:+120255501{n:02d}" for n in range(60, 66)]
    _submit(bot, line, ids.KIND_MULTI, numbers)
    wait_until(lambda: len(bot.fake_twilio.messages) == 6, what="six texts")
    # Pacing is enforced when a send is claimed; arrival at the provider adds jitter.
    with bot.session() as session:
        times = sorted(d.claimed_at for d in session.exec(select(Delivery)).all())
    assert len(times) == 6
    # Slots are a quarter second apart: any one second holds at most 4 (+1 at its edge).
    for index, start in enumerate(times):
        assert len([t for t in times[index:] if (t - start).total_seconds() < 1]) <= 5
    assert (times[-1] - times[0]).total_seconds() >= 5 * 0.25 - 0.3


# --- reply-all groups ------------------------------------------------------------------------


def _group(bot: Bot, line: Line) -> Conversation:
    response = _submit(
        bot,
        line,
        ids.KIND_GROUP,
        [f"contact:{_contact_id(bot, p)}" for p in (ANN, BEN, CAT)],
        message="Team dinner Friday?",
    )
    assert response.json()["response_action"] == "update", response.text
    wait_until(
        lambda: all(bot.fake_twilio.sent_to(p) for p in (ANN, BEN, CAT)), what="the opening text"
    )
    return wait_until(
        lambda: [c for c in _conversations_with_threads(bot) if c.kind == "group"],
        what="the group thread",
    )[0]


def test_a_group_opens_with_a_text_to_all_and_lists_its_participants(bot: Bot, line: Line) -> None:
    group = _group(bot, line)
    assert group.kind == "group" and group.contact_id is None
    parent = bot.fake_slack.top_level(CHANNEL)[0]
    for name in ("Ann (+1 202-555-0131)", "Ben (+1 202-555-0132)", "Cat (+1 202-555-0133)"):
        assert name in parent.all_text
    assert [bot.fake_twilio.sent_to(p)[0].body for p in (ANN, BEN, CAT)] == [
        "Team dinner Friday?"
    ] * 3


def test_a_participants_text_is_relayed_to_the_others_only_and_shown_in_the_thread(
    bot: Bot, line: Line
) -> None:
    group = _group(bot, line)
    bot.twilio.text(from_=ANN, to=SALES, body="I'm in!")
    wait_until(
        lambda: len(bot.fake_twilio.sent_to(BEN)) == 2 and len(bot.fake_twilio.sent_to(CAT)) == 2,
        what="the relay",
    )
    assert bot.fake_twilio.sent_to(BEN)[1].body == "Ann: I'm in!"
    assert bot.fake_twilio.sent_to(CAT)[1].body == "Ann: I'm in!"
    assert len(bot.fake_twilio.sent_to(ANN)) == 1  # never echoed to its sender
    posts = wait_until(
        lambda: len(p := bot.fake_slack.thread(CHANNEL, group.slack_thread_ts)) >= 2 and p,
        what="the thread",
    )
    assert posts[1].text == "I'm in!" and posts[1].username == "Ann (+1 202-555-0131)"
    wait_until(
        lambda: "relayed to 2" in bot.fake_slack.thread(CHANNEL, group.slack_thread_ts)[1].all_text,
        what="relay shown",
    )


def test_a_slack_thread_reply_reaches_every_participant(bot: Bot, line: Line) -> None:
    group = _group(bot, line)
    typed = bot.fake_slack.add_user_message(
        CHANNEL, "Booked for 7pm", user=ALICE, thread_ts=group.slack_thread_ts
    )
    bot.slack.send_event(
        message_event(
            channel=CHANNEL,
            user=ALICE,
            text="Booked for 7pm",
            ts=typed.ts,
            thread_ts=group.slack_thread_ts,
        )
    )
    wait_until(
        lambda: all(len(bot.fake_twilio.sent_to(p)) == 2 for p in (ANN, BEN, CAT)), what="the reply"
    )
    assert {bot.fake_twilio.sent_to(p)[1].body for p in (ANN, BEN, CAT)} == {"Booked for 7pm"}


def test_an_opted_out_participant_is_skipped_and_shown_as_such(bot: Bot, line: Line) -> None:
    _opt_out(bot, CAT)
    response = _submit(
        bot, line, ids.KIND_GROUP, [f"contact:{_contact_id(bot, p)}" for p in (ANN, BEN, CAT)]
    )
    assert "Not sent to Cat (+1 202-555-0133): opted out" in json.dumps(response.json()["view"])
    wait_until(lambda: bot.fake_twilio.sent_to(ANN) and bot.fake_twilio.sent_to(BEN), what="texts")
    assert bot.fake_twilio.sent_to(CAT) == []
    group = wait_until(
        lambda: [c for c in _conversations_with_threads(bot) if c.kind == "group"], what="group"
    )[0]
    parent = next(p for p in bot.fake_slack.top_level(CHANNEL) if p.ts == group.slack_thread_ts)
    assert "Cat (+1 202-555-0133) (opted out)" in parent.all_text


def test_a_group_needs_two_participants(bot: Bot, line: Line) -> None:
    response = _submit(bot, line, ids.KIND_GROUP, [f"contact:{_contact_id(bot, ANN)}"])
    assert response.json()["errors"] == {
        ids.RECIPIENTS_BLOCK: "A reply-all group needs at least 2 recipient(s)."
    }


def test_a_contact_in_a_group_and_a_direct_conversation_is_routed_by_the_rule(
    bot: Bot, line: Line
) -> None:
    # Ann has a direct conversation, then joins a group: the group texted her last.
    view = bot.slack.open_modal(user=ALICE)
    bot.slack.submit(
        view,
        user=ALICE,
        line_id=str(line.id),
        recipient=f"contact:{_contact_id(bot, ANN)}",
        message="Just you",
    )
    wait_until(lambda: bot.fake_twilio.sent_to(ANN), what="the direct text")
    group = _group(bot, line)
    bot.twilio.text(from_=ANN, to=SALES, body="Which one is this?")
    posts = wait_until(
        lambda: len(p := bot.fake_slack.thread(CHANNEL, group.slack_thread_ts)) >= 3 and p,
        what="the routed text",
    )
    assert posts[1].text == "Which one is this?"
    assert "also in 1 other open conversation(s) on Sales" in posts[2].text
    # The direct conversation texts her again: now it is the most recent.
    with bot.session() as session:
        direct = session.exec(
            select(Conversation).where(Conversation.contact_id == _contact_id(bot, ANN))
        ).one()
    typed = bot.fake_slack.add_user_message(
        CHANNEL, "It's me", user=ALICE, thread_ts=direct.slack_thread_ts
    )
    bot.slack.send_event(
        message_event(
            channel=CHANNEL,
            user=ALICE,
            text="It's me",
            ts=typed.ts,
            thread_ts=direct.slack_thread_ts,
        )
    )
    wait_until(lambda: len(bot.fake_twilio.sent_to(ANN)) == 3, what="the direct reply")
    bot.twilio.text(from_=ANN, to=SALES, body="Got it")
    wait_until(
        lambda: any(
            p.text == "Got it" for p in bot.fake_slack.thread(CHANNEL, direct.slack_thread_ts)
        ),
        what="routed to the direct conversation",
    )
