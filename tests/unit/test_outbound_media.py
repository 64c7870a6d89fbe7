"""The rules for pictures sent as MMS: which files may go, and how long their URL answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from models.conversations import InvalidMessageBody, open_or_reopen_conversation, send_text
from models.outbound_media import (
    MAX_MMS_BYTES,
    MEDIA_URL_LIFETIME,
    MediaRefused,
    OutboundFile,
    check_outbound_files,
    find_message_media,
    find_served_media,
    keep_media_available,
    purge_expired_media,
    sniff_picture_type,
    store_media_content,
)
from models.types import utcnow
from tests.factories import make_contact, make_line

JPEG = b"\xff\xd8\xff\xe0" + bytes(100)


def _file(content_type: str = "image/jpeg", size: int | None = 1000, name: str = "a.jpg"):
    return OutboundFile(file_id="F1", name=name, content_type=content_type, size=size, url=None)


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png", "image/gif", "IMAGE/PNG"])
def test_jpeg_png_and_gif_pictures_may_go(content_type: str) -> None:
    check_outbound_files([_file(content_type)])


@pytest.mark.parametrize(
    ("content_type", "said"),
    [
        ("application/pdf", "report.pdf is application/pdf"),
        ("image/heic", "report.pdf is image/heic"),
        ("image/svg+xml", "report.pdf is image/svg+xml"),
        ("video/mp4", "report.pdf is video/mp4"),
        ("", "report.pdf is of an unknown type"),
    ],
)
def test_other_types_are_refused_by_name(content_type: str, said: str) -> None:
    with pytest.raises(MediaRefused, match="only JPEG, PNG and GIF") as refused:
        check_outbound_files([_file(content_type, name="report.pdf")])
    assert said in str(refused.value)


def test_a_picture_over_5_mb_is_refused_and_one_of_exactly_5_mb_goes() -> None:
    check_outbound_files([_file(size=MAX_MMS_BYTES)])
    with pytest.raises(MediaRefused, match=r"a\.jpg is 5\.0 MB; a text can carry at most 5\.0 MB"):
        check_outbound_files([_file(size=MAX_MMS_BYTES + 1)])


def test_pictures_past_5_mb_together_are_refused() -> None:
    half = MAX_MMS_BYTES // 2 + 1
    with pytest.raises(MediaRefused, match=r"come to 5\.0 MB"):
        check_outbound_files([_file(size=half), _file(size=half)])


def test_at_most_ten_pictures_go_in_one_text() -> None:
    check_outbound_files([_file(size=10)] * 10)
    with pytest.raises(MediaRefused, match="11 files"):
        check_outbound_files([_file(size=10)] * 11)


def test_one_file_that_cannot_go_refuses_them_all() -> None:
    with pytest.raises(MediaRefused, match=r"notes\.txt"):
        check_outbound_files([_file(), _file("text/plain", name="notes.txt")])


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (JPEG, "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + bytes(8), "image/png"),
        (b"GIF89a" + bytes(8), "image/gif"),
        (b"GIF87a", "image/gif"),
        (b"<!DOCTYPE html><html>", None),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_pictures_are_known_by_their_bytes(content: bytes, kind: str | None) -> None:
    assert sniff_picture_type(content) == kind


def test_words_may_be_left_out_only_when_a_picture_goes(session: Session) -> None:
    line = make_line(session)
    contact = make_contact(session)
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id="U1"
    )
    with pytest.raises(InvalidMessageBody, match="empty"):
        send_text(
            session=session,
            conversation=conversation,
            line=line,
            recipients=[contact],
            body=" ",
            author_user_id="U1",
        )
    message, _ = send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[contact],
        body=" ",
        author_user_id="U1",
        media=[_file(), _file("image/png", name="b.png")],
    )
    assert message.body == ""
    media = find_message_media(session=session, message_id=message.id or 0)
    assert [m.name for m in media] == ["a.jpg", "b.png"]
    assert len({m.token for m in media}) == 2
    assert all(len(m.token) >= 40 for m in media)


def test_a_media_url_answers_once_fetched_until_it_expires(session: Session) -> None:
    line = make_line(session)
    contact = make_contact(session)
    conversation, _ = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id="U1"
    )
    message, _ = send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[contact],
        body="Look",
        author_user_id="U1",
        media=[_file()],
    )
    [media] = find_message_media(session=session, message_id=message.id or 0)
    now = utcnow()
    # Not fetched from Slack yet: nothing to serve.
    assert find_served_media(session=session, token=media.token, now=now) is None
    store_media_content(
        session=session, media_id=media.id or 0, content=JPEG, content_type="image/jpeg", now=now
    )
    # A second fetch racing the first changes nothing.
    store_media_content(
        session=session, media_id=media.id or 0, content=b"other", content_type="x", now=now
    )
    session.expire_all()
    served = find_served_media(session=session, token=media.token, now=now)
    assert served is not None and served.content == JPEG and served.content_type == "image/jpeg"
    assert find_served_media(session=session, token="", now=now) is None
    assert find_served_media(session=session, token=media.token + "x", now=now) is None

    expiry = now + MEDIA_URL_LIFETIME
    assert find_served_media(session=session, token=media.token, now=expiry) is None
    # A later send (a retry) gives it another day from then.
    later = now + timedelta(hours=20)
    keep_media_available(session=session, message_id=message.id or 0, now=later)
    session.expire_all()
    assert find_served_media(session=session, token=media.token, now=expiry) is not None

    assert purge_expired_media(session=session, now=expiry) == 0
    assert purge_expired_media(session=session, now=later + MEDIA_URL_LIFETIME) == 1
    session.expire_all()
    assert find_served_media(session=session, token=media.token, now=later) is None
