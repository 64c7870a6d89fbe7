"""Which contacts a user may see: the contact directory rule.

Someone with no usable line (granted to them and active) sees no contact at all. Someone
with one sees, by the workspace's setting, either the workspace's whole directory
("shared", as business-texting tools do) or only the contacts who have a conversation,
direct or group, on one of their usable lines ("lines").

Every place that shows or takes a contact asks this rule: suggestions, `/text contacts`,
quick send, the form's recipients and Edit contact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal, get_args

from sqlalchemy import BindParameter, ColumnElement, Integer, bindparam, exists, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from models.access import USABLE_LINE_IDS
from models.tables import Contact, Conversation, ConversationParticipant, Line

ContactDirectory = Literal["shared", "lines"]
SHARED: ContactDirectory = "shared"
LINES: ContactDirectory = "lines"
CONTACT_DIRECTORIES: tuple[ContactDirectory, ...] = get_args(ContactDirectory)


@dataclass(frozen=True)
class Viewer:
    """Someone looking at contacts: a Slack user of a team, under the team's setting."""

    team_id: str
    user_id: str
    directory: ContactDirectory
    # The ids of their usable lines, once read (with_usable_lines); None: not read yet.
    usable_line_ids: tuple[int, ...] | None = None


def with_usable_lines(*, session: Session, viewer: Viewer) -> Viewer:
    """`viewer` with their usable lines read: what they may see is then checked without
    reading them again (a request that searches and checks reads them once)."""
    if viewer.usable_line_ids is not None:
        return viewer
    params = {"team_id": viewer.team_id, "user_id": viewer.user_id}
    line_ids = tuple(session.execute(USABLE_LINE_IDS, params).scalars())
    return replace(viewer, usable_line_ids=line_ids)


def visibility_params(*, session: Session, viewer: Viewer) -> dict[str, Any]:
    """What visible_contact's condition takes: the ids of the viewer's usable lines (as
    values, the database plans with the lines' real sizes)."""
    line_ids = with_usable_lines(session=session, viewer=viewer).usable_line_ids or ()
    return {"line_ids": list(line_ids)}


def visible_contact(directory: ContactDirectory, contact_id: Any) -> ColumnElement[bool]:
    """SQL: the contact whose id is `contact_id` (a column or value) is in the viewer's
    directory; the statement takes visibility_params. No usable line: no contact."""
    line_ids: BindParameter[list[int]] = bindparam("line_ids", expanding=True)
    if directory == SHARED:
        # Not tied to the contact: the database evaluates it once per statement.
        return exists(select(Line.id).where(col(Line.id).in_(line_ids)))
    if directory != LINES:
        raise ValueError(f"unknown contact directory {directory!r}")
    # Per contact, through the index on (line_id, contact_id) and the one on
    # conversation_participant.contact_id.
    direct = (
        select(Conversation.id)
        .where(col(Conversation.line_id).in_(line_ids), col(Conversation.contact_id) == contact_id)
        # OFFSET 0 keeps PostgreSQL from hashing every conversation of the user's lines
        # first (it guesses the whole prefix range is read): it stays a per-row check.
        .offset(0)
        .exists()
    )
    in_group = (
        select(ConversationParticipant.conversation_id)
        .join(Conversation, col(Conversation.id) == ConversationParticipant.conversation_id)
        .where(
            col(ConversationParticipant.contact_id) == contact_id,
            col(Conversation.line_id).in_(line_ids),
        )
        .offset(0)
        .exists()
    )
    return or_(direct, in_group)


def can_see_contact(*, session: Session, viewer: Viewer, contact_id: int) -> bool:
    params = {
        **visibility_params(session=session, viewer=viewer),
        "team_id": viewer.team_id,
        "contact_id": contact_id,
    }
    return session.exec(_contact_check(viewer.directory), params=params).first() is not None


@lru_cache
def _contact_check(directory: ContactDirectory) -> SelectOfScalar[int | None]:
    """The team's contact with this id, if the user may see it."""
    return select(col(Contact.id)).where(
        Contact.id == bindparam("contact_id", type_=Integer),
        Contact.team_id == bindparam("team_id"),
        visible_contact(directory, col(Contact.id)),
    )


def few_visible_contact_ids(
    *, line_ids: list[int], session: Session, most: int
) -> list[int] | None:
    """In a "lines" directory, the ids of the contacts on these lines if there are at most
    `most` of them; None if there may be more (reading them all would cost more)."""
    if not line_ids:
        return []
    params = {"line_ids": line_ids, "rows": most + 1}
    ids: list[int] = list(session.execute(_CONTACTS_ON_LINES, params).scalars())
    return None if len(ids) > most else list(dict.fromkeys(ids))


# A contact once per conversation: UNION ALL stops at the limit, where UNION would read all.
_CONTACTS_ON_LINES = (
    select(col(Conversation.contact_id))
    .where(
        col(Conversation.line_id).in_(bindparam("line_ids", expanding=True)),
        col(Conversation.contact_id).is_not(None),
    )
    .union_all(
        select(col(ConversationParticipant.contact_id))
        .join(Conversation, col(Conversation.id) == ConversationParticipant.conversation_id)
        .where(col(Conversation.line_id).in_(bindparam("line_ids", expanding=True)))
    )
    .limit(bindparam("rows", type_=Integer))
)
