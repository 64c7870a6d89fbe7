"""Two-way texting through the real server: inbound texts into threads, thread replies out
as texts (with notes, the undo window and access checks), delivery states and opt-out."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlmodel import select

from handlers import ids
from models.tables import (
    Contact,
    Delivery,
    DeliveryStatus,
    Line,
    Message,
    OptOut,
)
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.scenarios.sales_line import (
    ALICE,
    CHANNEL,
    JANE,
    MALLORY,
    SALES,
    conversations,
    reply_in_thread,
    start_with_jane,
    thread,
    time_passes,
)
from tests.slack_driver import message_event, wait_until

NEW = "+12025550150"


@pytest.fixture
def line(bot: Bot) -> Line:
    with bot.session() as session, session.begin():
        line = make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE,))
        make_contact(session, phone=JANE, name="Jane Doe")
    return line


# --- inbound -------------------------------------------------------------------------------


def test_a_text_from_a_known_contact_lands_in_itsthread(bot: Bot, line: Line) -> None:
    conversation = start_with_jane(bot, line)
    response = bot.twilio.text(from_=JANE, to=SALES, body="Thanks, see you at 3!")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    posts = thread(bot, 2)
    assert posts[1].text == "Thanks, see you at 3!"
    assert posts[1].username == "Jane Doe (+1 202-555-0123)"
    assert len(conversations(bot)) == 1 and conversations(bot)[0].id == conversation.id


def test_a_text_from_a_new_number_starts_a_conversation(bot: Bot, line: Line) -> None:
    bot.twilio.text(from_=NEW, to=SALES, body="Do you deliver on Sundays?")
    posts = thread(bot, 1)
    assert posts[0].text == "Do you deliver on Sundays?"
    assert posts[0].username == "+1 202-555-0150"
    parents = bot.fake_slack.top_level(CHANNEL)
    assert len(parents) == 1 and "+1 202-555-0150" in parents[0].all_text
    with bot.session() as session:
        contact = session.exec(select(Contact).where(Contact.phone == NEW)).one()
    assert contact.name is None
    assert conversations(bot)[0].contact_id == contact.id


def test_the_same_message_sid_three_times_gives_one_slack_message(bot: Bot, line: Line) -> None:
    for _ in range(3):
        response = bot.twilio.text(from_=NEW, to=SALES, body="Hello?", sid="SM" + "a" * 32)
        assert response.status_code == 200
    thread(bot, 1)
    bot.twilio.text(from_=NEW, to=SALES, body="Anyone?")  # a later, different text
    posts = thread(bot, 2)
    assert [p.text for p in posts] == ["Hello?", "Anyone?"]
    with bot.session() as session:
        assert len(session.exec(select(Message)).all()) == 2


def test_forged_and_unsigned_webhooks_are_refused_and_change_nothing(bot: Bot, line: Line) -> None:
    params = bot.twilio.inbound_params(from_=NEW, to=SALES, body="forged")
    assert (
        bot.twilio.post("/twilio/messages", params, signature="bm90IGEgc2lnbmF0dXJl").status_code
        == 403
    )
    assert bot.twilio.post("/twilio/messages", params, signature="").status_code == 403
    tampered = dict(params, Body="tampered")
    signature = bot.twilio.validator.compute_signature(bot.url + "/twilio/messages", params)
    assert bot.twilio.post("/twilio/messages", tampered, signature=signature).status_code == 403
    status = bot.twilio.post(
        "/twilio/status", {"MessageSid": "SM1", "MessageStatus": "delivered"}, signature="x"
    )
    assert status.status_code == 403
    with bot.session() as session:
        assert session.exec(select(Contact).where(Contact.phone == NEW)).all() == []
        assert session.exec(select(Message)).all() == []


def test_a_text_to_an_unknown_number_is_answered_and_stores_nothing(
    bot: Bot, line: Line, caplog
) -> None:
    response = bot.twilio.text(from_=NEW, to="+12025550199", body="wrong number")
    assert response.status_code == 200
    bot.wait_routed()
    assert "matches no line" in caplog.text
    with bot.session() as session:
        assert session.exec(select(Message)).all() == []
        assert session.exec(select(Contact).where(Contact.phone == NEW)).all() == []


def test_a_text_to_a_number_in_a_lines_messaging_service_finds_the_line(
    bot: Bot, line: Line
) -> None:
    with bot.session() as session, session.begin():
        row = session.get_one(Line, line.id)
        row.messaging_service_sid = "MG" + "1" * 32
    bot.twilio.text(
        from_=NEW, to="+12025550188", body="via service", MessagingServiceSid="MG" + "1" * 32
    )
    assert thread(bot, 1)[0].text == "via service"


def test_a_text_reopens_the_contacts_closed_conversation_in_itsthread(bot: Bot, line: Line) -> None:
    conversation = start_with_jane(bot, line)
    bot.slack.click(
        ids.CLOSE_CONVERSATION_ACTION,
        str(conversation.id),
        user=ALICE,
        channel=CHANNEL,
        message_ts=conversation.slack_thread_ts,
    )
    wait_until(lambda: conversations(bot)[0].status == "closed", what="closed")
    bot.twilio.text(from_=JANE, to=SALES, body="One more thing")
    posts = thread(bot, 2)
    assert posts[1].text == "One more thing"
    assert conversations(bot)[0].status == "open"
    parent = bot.fake_slack.top_level(CHANNEL)[0]
    wait_until(lambda: ids.CLOSE_CONVERSATION_ACTION in parent.all_text, what="parent shows open")


def test_inbound_media_are_copied_into_the_thread_or_linked(bot: Bot, line: Line) -> None:
    sid = "SM" + "b" * 32
    photo = bot.fake_twilio.add_media(sid, b"\x89PNG fake image", "image/png")
    missing = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/x/Media/MEgone"
    bot.twilio.text(
        from_=JANE,
        to=SALES,
        body="Here is the photo",
        sid=sid,
        media=[(photo, "image/png"), (missing, "image/jpeg")],
    )
    posts = wait_until(
        lambda: (p := thread(bot, 2)) and any(x.files for x in p) and p, what="the upload"
    )
    files = [f for p in posts for f in p.files]
    assert len(files) == 1 and files[0]["size"] == len(b"\x89PNG fake image")
    assert list(bot.fake_slack.uploads.values()) == [b"\x89PNG fake image"]
    text_post = posts[0]
    wait_until(lambda: "attachment 2" in text_post.all_text, what="the failed attachment linked")
    assert missing in text_post.all_text


def test_media_on_a_host_that_is_not_twilios_are_not_fetched_with_the_credentials(
    bot: Bot, line: Line
) -> None:
    """The same fake media server, named by another host than TWILIO_API_URL's: the text
    arrives, its attachment is not downloaded, and the thread says it could not be."""
    sid = "SM" + "e" * 32
    twilio_url = bot.fake_twilio.add_media(sid, b"\x89PNG fake image", "image/png")
    elsewhere = twilio_url.replace("https://api.twilio.com", bot.fake_twilio.url).replace(
        "127.0.0.1", "localhost"
    )
    bot.twilio.text(from_=JANE, to=SALES, body="Look", sid=sid, media=[(elsewhere, "image/png")])
    text_post = thread(bot, 1)[0]
    wait_until(
        lambda: "attachment 1 could not be fetched" in text_post.all_text,
        what="the thread to say the attachment was not fetched",
    )
    assert text_post.text == "Look"
    assert elsewhere not in text_post.all_text
    assert bot.fake_twilio.media_requests == []
    assert bot.fake_slack.uploads == {}


# --- thread replies ------------------------------------------------------------------------


def test_a_thread_reply_is_texted_once_even_when_slack_delivers_it_twice(
    bot: Bot, line: Line
) -> None:
    conversation = start_with_jane(bot, line)
    typed = bot.fake_slack.add_user_message(
        CHANNEL, "On my way", user=ALICE, thread_ts=conversation.slack_thread_ts
    )
    event = message_event(
        channel=CHANNEL,
        user=ALICE,
        text="On my way",
        ts=typed.ts,
        thread_ts=conversation.slack_thread_ts,
    )
    # The retry races the first delivery, and another comes later.
    results = []
    senders = [
        threading.Thread(
            target=lambda r=retry: results.append(
                bot.slack.send_event(event, event_id="Ev1", retry=r)
            )
        )
        for retry in (None, 1)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert [r.status_code for r in results] == [200, 200]
    assert bot.slack.send_event(event, event_id="Ev1", retry=2).status_code == 200
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the reply texted")
    wait_until(lambda: "outbox_tray" in typed.reactions, what="the sent mark")
    assert [m.body for m in bot.fake_twilio.sent_to(JANE)] == ["Hi Jane", "On my way"]
    with bot.session() as session:
        assert len(session.exec(select(Message).where(Message.body == "On my way")).all()) == 1
    # Not reposted: the typed message is the one in the thread.
    assert [p.text for p in bot.fake_slack.thread(CHANNEL, conversation.slack_thread_ts)] == [
        "Hi Jane",
        "On my way",
    ]
    bot.fake_twilio.report(JANE, "delivered")
    wait_until(lambda: "white_check_mark" in typed.reactions, what="the delivered mark")


def test_a_reply_by_someone_without_access_is_not_sent_and_they_are_told(
    bot: Bot, line: Line
) -> None:
    conversation = start_with_jane(bot, line)
    reply_in_thread(bot, conversation, "Let me jump in", user=MALLORY)
    note = wait_until(
        lambda: bot.fake_slack.calls_to("chat.postEphemeral"), what="the private note"
    )[0]
    assert note.params["user"] == MALLORY and note.params["channel"] == CHANNEL
    assert note.params["thread_ts"] == conversation.slack_thread_ts
    assert "Not sent: you don't have access to the line Sales" in note.params["text"]
    with bot.session() as session:
        assert session.exec(select(Message).where(Message.body == "Let me jump in")).all() == []
    assert len(bot.fake_twilio.sent_to(JANE)) == 1


def test_the_bots_own_posts_are_never_texted(bot: Bot, line: Line) -> None:
    conversation = start_with_jane(bot, line)
    own = message_event(
        channel=CHANNEL,
        user="U0BOT",
        text="Hi Jane",
        ts="1700000000.999001",
        thread_ts=conversation.slack_thread_ts,
        bot_id="B0BOT",
    )
    other_bot = message_event(
        channel=CHANNEL,
        user="U0OTHER",
        text="beep",
        ts="1700000000.999002",
        thread_ts=conversation.slack_thread_ts,
        subtype="bot_message",
        bot_id="B0OTHER",
    )
    edited = message_event(
        channel=CHANNEL,
        user="",
        text="",
        ts="1700000000.999003",
        thread_ts=None,
        subtype="message_changed",
        message={
            "type": "message",
            "user": "U0BOT",
            "bot_id": "B0BOT",
            "text": "edited",
            "ts": "1700000000.999001",
            "thread_ts": conversation.slack_thread_ts,
        },
    )
    for event in (own, other_bot, edited):
        assert bot.slack.send_event(event).status_code == 200
    with bot.session() as session:
        assert len(session.exec(select(Message)).all()) == 1
    assert len(bot.fake_twilio.requests) == 1


@pytest.mark.parametrize(
    "text", ["Note: she prefers mornings", "// internal: VIP", "NOTE: call first"]
)
def test_a_note_stays_internal(bot: Bot, line: Line, text: str) -> None:
    conversation = start_with_jane(bot, line)
    typed, _ = reply_in_thread(bot, conversation, text)
    wait_until(lambda: "memo" in typed.reactions, what="the note mark")
    assert len(bot.fake_twilio.requests) == 1
    with bot.session() as session:
        note = session.exec(select(Message).where(Message.body == text)).one()
        assert note.direction == "note"
        assert session.exec(select(Delivery).where(Delivery.message_id == note.id)).all() == []


def test_a_reply_deleted_within_the_delay_is_not_sent(bot: Bot, line: Line) -> None:
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).reply_delay_seconds = 2
    conversation = start_with_jane(bot, line)
    typed, _ = reply_in_thread(bot, conversation, "Oops, wrong customer")
    deleted = message_event(
        channel=CHANNEL,
        user="",
        text="",
        ts="1700000001.000001",
        thread_ts=None,
        subtype="message_deleted",
        deleted_ts=typed.ts,
        previous_message={
            "type": "message",
            "user": ALICE,
            "text": typed.text,
            "ts": typed.ts,
            "thread_ts": conversation.slack_thread_ts,
        },
    )
    assert bot.slack.send_event(deleted).status_code == 200
    with bot.session() as session:
        delivery = session.exec(select(Delivery).order_by(Delivery.id.desc())).first()
    assert delivery.status == DeliveryStatus.CANCELED
    bot.twilio.text(from_=JANE, to=SALES, body="ok")  # time passes, the mirror runs
    thread(bot, 3)
    time_passes(bot, timedelta(seconds=3))  # past the delay
    bot.runtime.settle()
    assert [m.body for m in bot.fake_twilio.sent_to(JANE)] == ["Hi Jane"]


def test_a_reply_edited_within_the_delay_is_sent_as_edited(bot: Bot, line: Line) -> None:
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).reply_delay_seconds = 2
    conversation = start_with_jane(bot, line)
    typed, _ = reply_in_thread(bot, conversation, "See you at 3")
    changed = message_event(
        channel=CHANNEL,
        user="",
        text="",
        ts="1700000001.000002",
        thread_ts=None,
        subtype="message_changed",
        message={
            "type": "message",
            "user": ALICE,
            "text": "See you at 4",
            "ts": typed.ts,
            "thread_ts": conversation.slack_thread_ts,
        },
        previous_message={
            "type": "message",
            "user": ALICE,
            "text": "See you at 3",
            "ts": typed.ts,
            "thread_ts": conversation.slack_thread_ts,
        },
    )
    assert bot.slack.send_event(changed).status_code == 200
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, timeout=10, what="the edited reply")
    assert bot.fake_twilio.sent_to(JANE)[1].body == "See you at 4"


def _edited(conversation, typed, text: str, *, author: str = ALICE, editor: str = ALICE):
    """The message_changed event Slack sends when `editor` edits the reply `typed`."""
    return message_event(
        channel=CHANNEL,
        user="",
        text="",
        ts=f"1700000002.{time.monotonic_ns() % 1_000_000:06d}",
        thread_ts=None,
        subtype="message_changed",
        message={
            "type": "message",
            "user": author,
            "text": text,
            "ts": typed.ts,
            "thread_ts": conversation.slack_thread_ts,
            "edited": {"user": editor, "ts": "1700000002.000000"},
        },
    )


def test_a_reply_edited_into_a_note_is_not_texted(bot: Bot, line: Line) -> None:
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).reply_delay_seconds = 2
    conversation = start_with_jane(bot, line)
    typed, _ = reply_in_thread(bot, conversation, "Your refund is approved")
    changed = _edited(conversation, typed, "note: check the refund with finance first")
    assert bot.slack.send_event(changed).status_code == 200
    wait_until(lambda: "memo" in typed.reactions, what="the note mark")
    with bot.session() as session:
        message = session.exec(select(Message).where(Message.slack_ts == typed.ts)).one()
        deliveries = session.exec(select(Delivery).where(Delivery.message_id == message.id))
        assert message.direction == "note"
        assert [d.status for d in deliveries] == [DeliveryStatus.CANCELED]
    time_passes(bot, timedelta(seconds=3))  # past the delay
    bot.runtime.settle()
    assert [m.body for m in bot.fake_twilio.sent_to(JANE)] == ["Hi Jane"]


@pytest.mark.parametrize("forged", ["author", "editor"])
def test_an_edit_by_someone_else_changes_nothing(bot: Bot, line: Line, forged: str) -> None:
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).reply_delay_seconds = 1
    conversation = start_with_jane(bot, line)
    typed, _ = reply_in_thread(bot, conversation, "See you at 3")
    who = {"author": "U0MALLORY"} if forged == "author" else {"editor": "U0MALLORY"}
    for text in ("See you never", "note: not texted"):
        assert bot.slack.send_event(_edited(conversation, typed, text, **who)).status_code == 200
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the reply as typed")
    assert bot.fake_twilio.sent_to(JANE)[1].body == "See you at 3"


def test_an_edit_after_the_text_left_is_explained(bot: Bot, line: Line) -> None:
    conversation = start_with_jane(bot, line)
    typed, _ = reply_in_thread(bot, conversation, "See you at 3")
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the reply sent")
    wait_until(lambda: "outbox_tray" in typed.reactions, what="sent mark")
    changed = message_event(
        channel=CHANNEL,
        user="",
        text="",
        ts="1700000001.000003",
        thread_ts=None,
        subtype="message_changed",
        message={
            "type": "message",
            "user": ALICE,
            "text": "See you at 4",
            "ts": typed.ts,
            "thread_ts": conversation.slack_thread_ts,
        },
    )
    bot.slack.send_event(changed)
    note = wait_until(
        lambda: bot.fake_slack.calls_to("chat.postEphemeral"), what="the private note"
    )[0]
    assert "had already been texted" in note.params["text"]
    assert [m.body for m in bot.fake_twilio.sent_to(JANE)] == ["Hi Jane", "See you at 3"]


def test_a_reply_in_a_closed_conversation_reopens_it(bot: Bot, line: Line) -> None:
    conversation = start_with_jane(bot, line)
    bot.slack.click(
        ids.CLOSE_CONVERSATION_ACTION,
        str(conversation.id),
        user=ALICE,
        channel=CHANNEL,
        message_ts=conversation.slack_thread_ts,
    )
    wait_until(lambda: conversations(bot)[0].status == "closed", what="closed")
    reply_in_thread(bot, conversation, "Following up")
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the reply")
    assert conversations(bot)[0].status == "open"


# --- delivery status -------------------------------------------------------------------------


def test_out_of_order_status_callbacks_end_at_the_furthest_state(bot: Bot, line: Line) -> None:
    start_with_jane(bot, line)
    sid = wait_until(lambda: _delivery(bot).provider_sid, what="the sid")
    for status in ("delivered", "sent", "queued"):
        assert bot.twilio.status(sid, status, to=JANE, from_=SALES).status_code == 204
    assert _delivery(bot).status == DeliveryStatus.DELIVERED
    wait_until(lambda: "Delivered" in thread(bot, 1)[0].all_text, what="Delivered in the thread")


def test_an_undelivered_text_shows_the_reason_in_words(bot: Bot, line: Line) -> None:
    start_with_jane(bot, line)
    sid = wait_until(lambda: _delivery(bot).provider_sid, what="the sid")
    bot.twilio.status(sid, "sent", to=JANE, from_=SALES)
    bot.twilio.status(sid, "undelivered", to=JANE, from_=SALES, error_code=30006)
    post = wait_until(
        lambda: (p := thread(bot, 1)[0]) and "Not delivered" in p.all_text and p, what="failure"
    )
    assert "the number is a landline or cannot receive texts (error 30006)" in post.all_text
    assert _delivery(bot).error_code == 30006


def test_a_failed_thread_reply_is_marked_and_explained(bot: Bot, line: Line) -> None:
    conversation = start_with_jane(bot, line)
    typed, _ = reply_in_thread(bot, conversation, "Are you there?")
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="the reply")
    sid = bot.fake_twilio.sent_to(JANE)[1].sid
    wait_until(lambda: "outbox_tray" in typed.reactions, what="sent")
    bot.twilio.status(sid, "undelivered", to=JANE, from_=SALES, error_code=30003)
    wait_until(lambda: "x" in typed.reactions, what="the failed mark")
    posts = thread(bot, 3)
    assert "Your reply was not delivered to Jane Doe (+1 202-555-0123)" in posts[-1].text
    assert "unreachable" in posts[-1].text


def _delivery(bot: Bot) -> Delivery:
    with bot.session() as session:
        return session.exec(select(Delivery).order_by(Delivery.id)).first()


# --- opt-out -------------------------------------------------------------------------------


def test_stop_then_any_send_attempt_sends_nothing_and_start_re_enables(
    bot: Bot, line: Line
) -> None:
    conversation = start_with_jane(bot, line)
    bot.twilio.text(from_=JANE, to=SALES, body="STOP")
    posts = thread(bot, 3)
    assert posts[1].text == "STOP"
    assert "texted STOP and is opted out of texts from Sales" in posts[2].text
    with bot.session() as session:
        assert session.exec(select(OptOut)).one().keyword == "STOP"
        jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()

    # The modal refuses with a field error...
    view = bot.slack.open_modal(user=ALICE)
    refused = bot.slack.submit(
        view, user=ALICE, line_id=str(line.id), recipient=f"contact:{jane.id}", message="Hi?"
    )
    assert refused.json() == {
        "response_action": "errors",
        "errors": {
            ids.RECIPIENT_BLOCK: "Jane Doe (+1 202-555-0123) has opted out of texts from Sales "
            "(they texted STOP). Nothing was sent; they can text START to opt back in."
        },
    }
    # ...and so does a thread reply, privately.
    reply_in_thread(bot, conversation, "Sorry to see you go")
    note = wait_until(
        lambda: bot.fake_slack.calls_to("chat.postEphemeral"), what="the private note"
    )[0]
    assert "has opted out of texts from Sales" in note.params["text"]
    assert len(bot.fake_twilio.sent_to(JANE)) == 1

    bot.twilio.text(from_=JANE, to=SALES, body="start")
    wait_until(
        lambda: any("can be texted from Sales again" in p.text for p in thread(bot, 5)),
        what="opt-in notice",
    )
    reply_in_thread(bot, conversation, "Welcome back")
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="texting works again")
    assert bot.fake_twilio.sent_to(JANE)[1].body == "Welcome back"


def test_twilios_opt_out_type_is_honoured(bot: Bot, line: Line) -> None:
    bot.twilio.text(from_=NEW, to=SALES, body="ARRET", OptOutType="STOP")
    posts = thread(bot, 2)
    assert "opted out" in posts[1].text
    with bot.session() as session:
        assert len(session.exec(select(OptOut)).all()) == 1


def test_help_is_noted_in_thethread(bot: Bot, line: Line) -> None:
    bot.twilio.text(from_=NEW, to=SALES, body="help")
    posts = thread(bot, 2)
    assert "texted HELP" in posts[1].text


def test_a_carrier_opt_out_refusal_marks_the_contact_opted_out(bot: Bot, line: Line) -> None:
    bot.fake_twilio.refuse(
        JANE, status=400, code=21610, message="Attempt to send to unsubscribed recipient"
    )
    _start_with_jane_without_waiting_for_sms(bot, line)
    wait_until(lambda: _delivery(bot).status == DeliveryStatus.FAILED, what="failed")
    with bot.session() as session:
        assert session.exec(select(OptOut)).one().keyword == "STOP (carrier)"


def _start_with_jane_without_waiting_for_sms(bot: Bot, line: Line) -> None:
    with bot.session() as session:
        jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()
    view = bot.slack.open_modal(user=ALICE)
    bot.slack.submit(
        view, user=ALICE, line_id=str(line.id), recipient=f"contact:{jane.id}", message="Hi"
    )


def test_the_opt_out_footer_rides_on_the_first_text_only(bot: Bot, line: Line) -> None:
    with bot.session() as session, session.begin():
        session.get_one(Line, line.id).opt_out_footer = "Reply STOP to opt out"
    conversation = start_with_jane(bot, line, text="Welcome!")
    reply_in_thread(bot, conversation, "Second text")
    wait_until(lambda: len(bot.fake_twilio.sent_to(JANE)) == 2, what="two texts")
    assert [m.body for m in bot.fake_twilio.sent_to(JANE)] == [
        "Welcome!\n\nReply STOP to opt out",
        "Second text",
    ]


def test_texts_the_webhook_missed_are_imported_once_in_order(bot: Bot, line: Line) -> None:
    first = bot.fake_twilio.receive(sender=NEW, to=SALES, body="Hello? (sent while you were down)")
    time.sleep(0.01)
    bot.fake_twilio.receive(sender=NEW, to=SALES, body="Anyone there?")
    bot.fake_twilio.receive(sender=NEW, to="+12025550199", body="not one of our lines")
    assert bot.runtime.reconcile_inbound() == 2
    assert bot.runtime.reconcile_inbound() == 0
    # The webhook arriving late for one of them changes nothing either.
    bot.twilio.text(from_=NEW, to=SALES, body=first.body, sid=first.sid)
    posts = thread(bot, 2)
    bot.runtime.settle()
    assert [
        p.text for p in bot.fake_slack.thread(CHANNEL, conversations(bot)[0].slack_thread_ts)
    ] == [
        "Hello? (sent while you were down)",
        "Anyone there?",
    ]
    assert posts[0].username == "+1 202-555-0150"


def test_an_after_hours_text_gets_the_away_message_once_a_day(bot: Bot, line: Line) -> None:
    from datetime import UTC, datetime

    with bot.session() as session, session.begin():
        row = session.get_one(Line, line.id)
        row.away_message = "We're closed; we'll reply from 9am."
        row.business_hours, row.time_zone = "09:00-17:00", "America/New_York"
    bot.runtime.clock.set(datetime(2037, 11, 25, 23, 30, tzinfo=UTC))  # 18:30 in New York
    bot.twilio.text(from_=JANE, to=SALES, body="Are you open?")
    bot.twilio.text(from_=JANE, to=SALES, body="Hello??")
    wait_until(lambda: bot.fake_twilio.sent_to(JANE), what="the away message")
    bot.runtime.settle()
    assert [m.body for m in bot.fake_twilio.sent_to(JANE)] == [
        "We're closed; we'll reply from 9am."
    ]
    posts = thread(bot, 3, timeout=30)
    assert "We're closed" in posts[1].text or "We're closed" in posts[2].text
    bot.runtime.clock.set(datetime(2037, 11, 26, 15, 0, tzinfo=UTC))  # 10:00 next day: open
    bot.twilio.text(from_=JANE, to=SALES, body="Morning!")
    thread(bot, 4)
    bot.runtime.settle()
    assert len(bot.fake_twilio.sent_to(JANE)) == 1


def test_a_thread_message_without_its_own_ts_is_ignored(bot: Bot, line: Line) -> None:
    """No message Slack sends lacks a ts: one that does is answered 200 and changes
    nothing (it made the handler fail with a 500)."""
    conversation = start_with_jane(bot, line)
    event = message_event(
        channel=CHANNEL, user=ALICE, text="No ts", ts="1", thread_ts=conversation.slack_thread_ts
    )
    del event["ts"]
    response = bot.slack.send_event(event)
    assert response.status_code == 200, response.text
    with bot.session() as session:
        assert [m.body for m in session.exec(select(Message).order_by(Message.id))] == ["Hi Jane"]
