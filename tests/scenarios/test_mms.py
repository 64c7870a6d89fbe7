"""Pictures out as MMS through the real server: a thread reply with a picture (Slack's
file_share event) is texted with it, Twilio fetching the picture from textbot's own
unguessable, expiring URL; a file that cannot go is refused, its author told, and nothing
is texted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select

from handlers import ids
from models.outbound_media import MAX_MMS_BYTES
from models.tables import (
    Contact,
    Conversation,
    Delivery,
    DeliveryStatus,
    Line,
    Message,
    OutboundMedia,
)
from models.types import utcnow
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.fakes.slack import BOT_TOKEN
from tests.slack_driver import file_share_event, wait_until

ALICE = "U0ALICE"
SALES = "+12025550100"
CHANNEL = "C0SALES"
JANE = "+12025550123"

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)


@pytest.fixture
def line(bot: Bot) -> Line:
    with bot.session() as session, session.begin():
        line = make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE,))
        make_contact(session, phone=JANE, name="Jane Doe")
    return line


def _start_with_jane(bot: Bot, line: Line) -> Conversation:
    """Alice texts Jane from the modal; returns the conversation once its thread exists."""
    with bot.session() as session:
        jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()
    view = bot.slack.open_modal(user=ALICE)
    response = bot.slack.submit(
        view, user=ALICE, line_id=str(line.id), recipient=f"contact:{jane.id}", message="Hi Jane"
    )
    assert response.json()["response_action"] == "update", response.text

    def conversation() -> Conversation | None:
        with bot.session() as session:
            found = session.exec(select(Conversation)).first()
        return found if found is not None and found.slack_thread_ts else None

    started = wait_until(conversation, what="the conversation's thread")
    wait_until(lambda: bot.fake_twilio.sent_to(JANE), what="the first text")
    return started


def _share_in_thread(
    bot: Bot, conversation: Conversation, text: str, files: list[dict[str, Any]], **send: Any
) -> dict[str, Any]:
    """Alice shares files (with a comment) in the thread: Slack shows it, then sends the
    file_share event."""
    typed = bot.fake_slack.add_user_message(
        CHANNEL, text, user=ALICE, thread_ts=conversation.slack_thread_ts
    )
    event = file_share_event(
        channel=CHANNEL,
        user=ALICE,
        text=text,
        ts=typed.ts,
        thread_ts=conversation.slack_thread_ts,
        files=files,
    )
    response = bot.slack.send_event(event, **send)
    assert response.status_code == 200, response.text
    return event


def test_a_picture_in_a_thread_reply_is_texted_as_mms(bot: Bot, line: Line) -> None:
    conversation = _start_with_jane(bot, line)
    photo = bot.fake_slack.add_file(JPEG, name="storefront.jpg", mimetype="image/jpeg")
    event = _share_in_thread(bot, conversation, "Here is the shop", [photo])
    # Slack delivers it again: still one text.
    bot.slack.send_event(event, retry=1)

    sent = wait_until(lambda: bot.fake_twilio.sent_to(JANE)[1:], what="the MMS")
    assert len(sent) == 1
    assert sent[0].body == "Here is the shop"
    [url] = sent[0].media_urls
    assert url.startswith(bot.url + "/media/")
    assert len(url.rsplit("/", 1)[1]) >= 40  # unguessable

    # The picture came from Slack with the bot token, and Twilio gets it at the URL.
    assert (photo["id"], f"Bearer {BOT_TOKEN}") in bot.fake_slack.file_downloads
    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert fetched.content == JPEG
    assert fetched.headers["content-type"] == "image/jpeg"

    assert httpx.get(bot.url + "/media/not-a-token").status_code == 404
    with bot.session() as session, session.begin():
        media = session.exec(select(OutboundMedia)).one()
        media.expires_at = utcnow() - timedelta(seconds=1)
        session.add(media)
    assert httpx.get(url).status_code == 404
    with bot.session() as session:
        assert (
            len(session.exec(select(Message).where(Message.body == "Here is the shop")).all()) == 1
        )


def test_a_picture_alone_is_texted_with_no_words(bot: Bot, line: Line) -> None:
    conversation = _start_with_jane(bot, line)
    pictures = [
        bot.fake_slack.add_file(JPEG, name="front.jpg", mimetype="image/jpeg"),
        bot.fake_slack.add_file(PNG, name="map.png", mimetype="image/png"),
    ]
    _share_in_thread(bot, conversation, "", pictures)

    sent = wait_until(lambda: bot.fake_twilio.sent_to(JANE)[1:], what="the MMS")
    assert sent[0].body == ""
    assert len(sent[0].media_urls) == 2
    contents = [httpx.get(url) for url in sent[0].media_urls]
    assert [(r.content, r.headers["content-type"]) for r in contents] == [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
    ]


def _refused(bot: Bot, conversation: Conversation, text: str, file: dict[str, Any]) -> str:
    """Alice shares a file that cannot go; returns what she is told privately."""
    _share_in_thread(bot, conversation, text, [file])
    note = wait_until(
        lambda: bot.fake_slack.calls_to("chat.postEphemeral"), what="the private note"
    )[0]
    assert note.params["user"] == ALICE and note.params["thread_ts"] == conversation.slack_thread_ts
    with bot.session() as session:
        assert session.exec(select(Message).where(Message.body == text)).all() == []
        assert len(session.exec(select(Delivery)).all()) == 1
    assert len(bot.fake_twilio.sent_to(JANE)) == 1
    return str(note.params["text"])


def test_a_pdf_is_refused_and_its_author_told(bot: Bot, line: Line) -> None:
    conversation = _start_with_jane(bot, line)
    pdf = bot.fake_slack.add_file(b"%PDF-1.7\n", name="invoice.pdf", mimetype="application/pdf")
    told = _refused(bot, conversation, "Your invoice", pdf)
    assert "Not sent: invoice.pdf is application/pdf" in told
    assert "only JPEG, PNG and GIF pictures" in told
    assert "Nothing was texted" in told


def test_a_picture_over_5_mb_is_refused_and_its_author_told(bot: Bot, line: Line) -> None:
    conversation = _start_with_jane(bot, line)
    huge = bot.fake_slack.add_file(
        JPEG + bytes(MAX_MMS_BYTES), name="huge.jpg", mimetype="image/jpeg"
    )
    told = _refused(bot, conversation, "Big one", huge)
    assert "huge.jpg is 5.0 MB; a text can carry at most 5.0 MB" in told
    assert bot.fake_slack.file_downloads == []


def test_a_picture_slack_will_not_give_fails_the_reply_and_nothing_is_texted(
    bot: Bot, line: Line
) -> None:
    conversation = _start_with_jane(bot, line)
    photo = bot.fake_slack.add_file(JPEG, name="storefront.jpg", mimetype="image/jpeg")
    bot.fake_slack.scopes.discard("files:read")  # installed before the app asked for it
    _share_in_thread(bot, conversation, "Here is the shop", [photo])

    def failed() -> Delivery | None:
        with bot.session() as session:
            return session.exec(
                select(Delivery).where(Delivery.status == DeliveryStatus.FAILED)
            ).first()

    delivery = wait_until(failed, what="the failed delivery")
    assert "files:read" in (delivery.error_text or "")
    assert len(bot.fake_twilio.sent_to(JANE)) == 1
    wait_until(
        lambda: any(
            "Your reply was not delivered" in p.text
            for p in bot.fake_slack.thread(CHANNEL, conversation.slack_thread_ts or "")
        ),
        what="the failure in the thread",
    )


# --- the /text form ------------------------------------------------------------------------


def _jane_id(bot: Bot) -> int:
    with bot.session() as session:
        return session.exec(select(Contact).where(Contact.phone == JANE)).one().id or 0


def test_pictures_attached_to_the_form_are_texted_as_mms(bot: Bot, line: Line) -> None:
    view = bot.slack.open_modal(user=ALICE)
    [field] = [b for b in view["blocks"] if b.get("block_id") == ids.PICTURES_BLOCK]
    assert field["element"]["type"] == "file_input" and field["optional"] is True
    photo = bot.fake_slack.add_file(JPEG, name="coupon.jpg", mimetype="image/jpeg")
    response = bot.slack.submit(
        view,
        user=ALICE,
        line_id=str(line.id),
        recipient=f"contact:{_jane_id(bot)}",
        message="Your coupon",
        files=[photo],
    )
    assert response.json()["response_action"] == "update", response.text
    [sent] = wait_until(lambda: bot.fake_twilio.sent_to(JANE), what="the MMS")
    assert sent.body == "Your coupon"
    [url] = sent.media_urls
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and fetched.content == JPEG

    def shown() -> list[Any]:
        with bot.session() as session:
            thread_ts = session.exec(select(Conversation)).one().slack_thread_ts
        return bot.fake_slack.thread(CHANNEL, thread_ts) if thread_ts else []

    [post] = wait_until(shown, what="the text in the thread")
    assert ":frame_with_picture: 1 picture(s): coupon.jpg" in post.all_text


def test_a_file_the_form_cannot_text_is_refused_on_its_field(bot: Bot, line: Line) -> None:
    view = bot.slack.open_modal(user=ALICE)
    pdf = bot.fake_slack.add_file(b"%PDF-1.7\n", name="terms.pdf", mimetype="application/pdf")
    response = bot.slack.submit(
        view,
        user=ALICE,
        line_id=str(line.id),
        recipient=f"contact:{_jane_id(bot)}",
        message="Our terms",
        files=[pdf],
    )
    answer = response.json()
    assert answer["response_action"] == "errors", response.text
    assert "terms.pdf is application/pdf" in answer["errors"][ids.PICTURES_BLOCK]
    with bot.session() as session:
        assert session.exec(select(Message)).all() == []
    assert bot.fake_twilio.sent_to(JANE) == []
