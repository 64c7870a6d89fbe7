"""Saved replies: a line's canned texts, with merge fields filled in for each recipient."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.conversations import check_message_body
from models.merge_fields import DEFAULT_FALLBACK
from models.tables import Line, SavedReply

# A saved reply is picked by "Line: name" in a menu whose options hold 75 characters.
MAX_SAVED_REPLY_NAME_LENGTH = 30


class SavedReplyError(ValueError):
    """The saved reply cannot be stored as given; str() says why."""


def list_saved_replies(*, session: Session, line_ids: list[int]) -> list[SavedReply]:
    if not line_ids:
        return []
    return list(
        session.exec(
            select(SavedReply)
            .where(col(SavedReply.line_id).in_(line_ids))
            .order_by(col(SavedReply.line_id), col(SavedReply.name))
        ).all()
    )


def add_saved_reply(
    *, session: Session, line: Line, name: str, body: str, fallback: str | None, user_id: str
) -> SavedReply:
    name = " ".join(name.split())
    if not name:
        raise SavedReplyError("A saved reply needs a name.")
    if len(name) > MAX_SAVED_REPLY_NAME_LENGTH:
        raise SavedReplyError(
            f"A saved reply's name can be at most {MAX_SAVED_REPLY_NAME_LENGTH} characters "
            f"(this one has {len(name)})."
        )
    try:
        text = check_message_body(body)
    except ValueError as exc:
        raise SavedReplyError(str(exc)) from None
    exists = session.exec(
        select(SavedReply).where(SavedReply.line_id == line.id, SavedReply.name == name)
    ).first()
    if exists is not None:
        raise SavedReplyError(f"{line.name} already has a saved reply called “{name}”.")
    reply = SavedReply(
        line_id=line.id,  # type: ignore[arg-type]
        name=name,
        body=text,
        fallback_name=(fallback or "").strip() or DEFAULT_FALLBACK,
        created_by=user_id,
    )
    session.add(reply)
    session.flush()
    return reply


def delete_saved_replies(*, session: Session, line: Line, reply_ids: list[int]) -> list[str]:
    """Delete the line's replies among reply_ids; returns their names."""
    deleted = []
    for reply in list_saved_replies(session=session, line_ids=[line.id or 0]):
        if reply.id in reply_ids:
            deleted.append(reply.name)
            session.delete(reply)
    session.flush()
    return deleted
