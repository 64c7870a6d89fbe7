"""Pictures sent with a text (MMS): which files may go, and the media rows that keep them
until Twilio has fetched them from the URL textbot serves."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.tables import Message, OutboundMedia

# What Twilio sends as MMS to any US carrier, as the pictures they are; anything else it
# may turn into a link, or refuse.
MMS_CONTENT_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF"}
# Twilio's limit on the media of one message, all files together.
MAX_MMS_BYTES = 5 * 1024 * 1024
# Twilio takes at most 10 MediaUrl per message.
MAX_MMS_FILES = 10
# How long the URL of a picture answers after the latest send that used it: Twilio fetches
# it when it sends, within moments, and a retry later gives it a new day.
MEDIA_URL_LIFETIME = timedelta(days=1)


@dataclass(frozen=True)
class OutboundFile:
    """A file attached to a reply, as Slack describes it."""

    file_id: str
    name: str
    content_type: str
    size: int | None
    url: str | None = None


class MediaRefused(Exception):
    """Files that cannot go by MMS: the reason, in words for the author."""


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def check_outbound_files(files: Sequence[OutboundFile]) -> None:
    """Raise MediaRefused unless the files can all go with one MMS: JPEG, PNG or GIF
    pictures, at most 10, of at most 5 MB together."""
    if len(files) > MAX_MMS_FILES:
        raise MediaRefused(
            f"{len(files)} files are attached; a text can carry at most {MAX_MMS_FILES} pictures."
        )
    for file in files:
        check_picture(name=file.name, content_type=file.content_type, size=file.size or 0)
    total = sum(file.size or 0 for file in files)
    if total > MAX_MMS_BYTES:
        raise MediaRefused(
            f"the pictures come to {_megabytes(total)}; a text can carry at most "
            f"{_megabytes(MAX_MMS_BYTES)}."
        )


def check_picture(*, name: str, content_type: str, size: int) -> None:
    """Raise MediaRefused unless this one file is a picture that can go by MMS."""
    kind = content_type.split(";")[0].strip().lower()
    label = name or "the file"
    if kind not in MMS_CONTENT_TYPES:
        raise MediaRefused(
            f"{label} is {kind or 'of an unknown type'}; only JPEG, PNG and GIF pictures can "
            "be texted."
        )
    if size > MAX_MMS_BYTES:
        raise MediaRefused(
            f"{label} is {_megabytes(size)}; a text can carry at most {_megabytes(MAX_MMS_BYTES)}."
        )


def sniff_picture_type(content: bytes) -> str | None:
    """The picture type the bytes are (by their first bytes, whatever a header claimed):
    what the media URL serves them as, so it never serves anything else."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return None


def attach_media(*, session: Session, message: Message, files: Sequence[OutboundFile]) -> None:
    """Keep the files to send with the message, each with a token of its own for its URL."""
    for position, file in enumerate(files):
        session.add(
            OutboundMedia(
                message_id=message.id,  # type: ignore[arg-type]
                position=position,
                token=secrets.token_urlsafe(32),
                slack_file_id=file.file_id,
                name=file.name,
                source_url=file.url,
                content_type=file.content_type,
                size=file.size or 0,
            )
        )
    session.flush()


def find_message_media(*, session: Session, message_id: int) -> list[OutboundMedia]:
    return list(
        session.exec(
            select(OutboundMedia)
            .where(OutboundMedia.message_id == message_id)
            .order_by(col(OutboundMedia.position))
        ).all()
    )


def store_media_content(
    *, session: Session, media_id: int, content: bytes, content_type: str, now: datetime
) -> None:
    """Keep a picture's bytes as fetched (once: a second fetch racing the first changes
    nothing)."""
    session.execute(
        update(OutboundMedia)
        .where(col(OutboundMedia.id) == media_id, col(OutboundMedia.content).is_(None))
        .values(
            content=content,
            content_type=content_type,
            size=len(content),
            fetched_at=now,
            expires_at=now + MEDIA_URL_LIFETIME,
        )
        .execution_options(synchronize_session=False)
    )


def keep_media_available(*, session: Session, message_id: int, now: datetime) -> None:
    """A send of the message is about to go: its pictures' URLs answer for another day."""
    session.execute(
        update(OutboundMedia)
        .where(col(OutboundMedia.message_id) == message_id)
        .values(expires_at=now + MEDIA_URL_LIFETIME)
        .execution_options(synchronize_session=False)
    )


def find_served_media(*, session: Session, token: str, now: datetime) -> OutboundMedia | None:
    """The picture a media URL's token names, if it is fetched and not expired."""
    if not token:
        return None
    media = session.exec(select(OutboundMedia).where(OutboundMedia.token == token)).first()
    if media is None or media.content is None or media.expires_at is None:
        return None
    return media if media.expires_at > now else None


def purge_expired_media(*, session: Session, now: datetime) -> int:
    """Drop the bytes of pictures whose URLs have expired; returns how many."""
    result = session.execute(
        update(OutboundMedia)
        .where(col(OutboundMedia.expires_at) <= now, col(OutboundMedia.content).is_not(None))
        .values(content=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
