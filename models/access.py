"""Line access: who may see and use which line.

A line is granted to Slack users and user groups. Group membership lives in Slack; we keep
a copy (UsergroupMember) refreshed from Slack by the runtime, so every access check is one
database query and never waits on the Slack API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import BindParameter, Integer, String, bindparam, case, delete, or_
from sqlmodel import Session, col, select

from models.tables import (
    Conversation,
    ConversationStatus,
    Line,
    LineAccess,
    Usergroup,
    UsergroupMember,
    UsergroupSync,
)
from models.types import insert_ignoring_conflicts, utcnow

_TEAM = re.compile(r"[TE][A-Z0-9]{2,}")
_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_USERGROUP = re.compile(r"S[A-Z0-9]{2,}")


class InvalidPrincipal(ValueError):
    """Not a Slack user id (U.../W...) or user group id (S...)."""


class InvalidTeamId(ValueError):
    """Not a Slack workspace id (T..., or E... for an Enterprise Grid organization)."""


def check_team_id(team_id: str) -> str:
    team_id = team_id.strip()
    if not _TEAM.fullmatch(team_id):
        raise InvalidTeamId(
            f"{team_id!r} is not a Slack workspace id (T... in capitals and digits, e.g. "
            "T0123ABCD: Slack shows it in the workspace's settings, or ask `auth.test`)"
        )
    return team_id


def check_principal(principal: str) -> str:
    principal = principal.strip()
    if not (_USER.fullmatch(principal) or _USERGROUP.fullmatch(principal)):
        raise InvalidPrincipal(
            f"{principal!r} is neither a Slack user id (U... or W...) nor a user group id (S...)"
        )
    return principal


def is_usergroup(principal: str) -> bool:
    return principal.startswith("S")


def _usable_line_ids(  # type: ignore[no-untyped-def]
    team_id: str | BindParameter[str], user_id: str | BindParameter[str]
):
    groups_of_user = select(UsergroupMember.usergroup_id).where(
        UsergroupMember.team_id == team_id, UsergroupMember.user_id == user_id
    )
    return select(LineAccess.line_id).where(
        or_(col(LineAccess.principal) == user_id, col(LineAccess.principal).in_(groups_of_user))
    )


def find_usable_lines(*, session: Session, team_id: str, user_id: str) -> list[Line]:
    """The active lines of the team that the user may use, directly or through a group."""
    return list(
        session.exec(
            select(Line)
            .where(
                Line.team_id == team_id,
                col(Line.active).is_(True),
                col(Line.id).in_(_usable_line_ids(team_id, user_id)),
            )
            .order_by(Line.name, Line.number)
        ).all()
    )


def find_granted_line_ids(*, session: Session, team_id: str, user_id: str) -> set[int]:
    """The ids of the team's lines the user may use, turned off or not: can_use_line for
    all of them at once."""
    found = session.exec(
        select(Line.id).where(
            Line.team_id == team_id, col(Line.id).in_(_usable_line_ids(team_id, user_id))
        )
    ).all()
    return {line_id for line_id in found if line_id is not None}


# The ids of the team's active lines the user may use, for statements built once: it takes
# the bind parameters team_id and user_id. (Building a statement costs more than running it.)
USABLE_LINE_IDS = select(Line.id).where(
    Line.team_id == bindparam("team_id"),
    col(Line.active).is_(True),
    col(Line.id).in_(
        _usable_line_ids(bindparam("team_id", type_=String), bindparam("user_id", type_=String))
    ),
)


def can_use_line(*, session: Session, line: Line, user_id: str) -> bool:
    found = session.exec(
        _LINE_USABLE_BY,
        params={"line_id": line.id, "team_id": line.team_id, "user_id": user_id},
    ).first()
    return found is not None


# Built once: every text asks it as it leaves (models.sending.departure_refusal). The
# user's grants (theirs or their groups') on this line.
_LINE_USABLE_BY = (
    _usable_line_ids(bindparam("team_id", type_=String), bindparam("user_id", type_=String))
    .where(col(LineAccess.line_id) == bindparam("line_id", type_=Integer))
    .limit(1)
)


def find_usable_line(
    *, session: Session, team_id: str, user_id: str, line_id: int | str | None
) -> Line | None:
    """The line with this id if it is the team's, active, and the user may use it."""
    try:
        wanted = int(line_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    line = session.get(Line, wanted)
    if line is None or line.team_id != team_id or not line.active:
        return None
    return line if can_use_line(session=session, line=line, user_id=user_id) else None


def list_grants(*, session: Session, line: Line) -> list[LineAccess]:
    """Who may use the line (and who manages it), by principal."""
    return list(
        session.exec(
            select(LineAccess)
            .where(LineAccess.line_id == line.id)
            .order_by(col(LineAccess.principal))
        ).all()
    )


def grant_line(
    *,
    session: Session,
    line: Line,
    principals: Iterable[str],
    granted_by: str | None = None,
    manager: bool = False,
) -> list[str]:
    """Grant the line; returns the principals that did not have it already."""
    added = []
    for principal in principals:
        checked = check_principal(principal)
        if manager and is_usergroup(checked):
            raise InvalidPrincipal(f"{checked} is a user group; only users can manage a line")
        row = {
            "line_id": line.id,
            "principal": checked,
            "granted_by": granted_by,
            "manager": manager,
        }
        if insert_ignoring_conflicts(session, LineAccess, row):
            added.append(checked)
    return added


def revoke_line(*, session: Session, line: Line, principals: Iterable[str]) -> list[str]:
    """Revoke the line; returns the principals that had it."""
    removed = []
    for principal in principals:
        result = session.execute(
            delete(LineAccess).where(
                col(LineAccess.line_id) == line.id,
                col(LineAccess.principal) == check_principal(principal),
            )
        )
        if result.rowcount:  # type: ignore[attr-defined]
            removed.append(principal)
    return removed


def find_granted_usergroups(*, session: Session, team_id: str) -> list[str]:
    return list(
        session.exec(
            select(LineAccess.principal)
            .join(Line, col(Line.id) == LineAccess.line_id)
            .where(Line.team_id == team_id, col(LineAccess.principal).startswith("S"))
            .distinct()
        ).all()
    )


def find_stale_usergroups(
    *, session: Session, team_id: str, max_age: timedelta, now: datetime | None = None
) -> list[str]:
    """Granted user groups whose membership copy is older than max_age (or missing)."""
    now = now or utcnow()
    fresh = set(
        session.exec(
            select(UsergroupSync.usergroup_id).where(
                UsergroupSync.team_id == team_id, UsergroupSync.synced_at > now - max_age
            )
        ).all()
    )
    return [g for g in find_granted_usergroups(session=session, team_id=team_id) if g not in fresh]


def replace_usergroup_members(
    *, session: Session, team_id: str, usergroup_id: str, user_ids: Iterable[str]
) -> None:
    """Store the membership just read from Slack."""
    session.execute(
        delete(UsergroupMember).where(
            col(UsergroupMember.team_id) == team_id,
            col(UsergroupMember.usergroup_id) == usergroup_id,
        )
    )
    members = [
        {"team_id": team_id, "usergroup_id": usergroup_id, "user_id": u} for u in set(user_ids)
    ]
    if members:
        insert_ignoring_conflicts(session, UsergroupMember, members)
    sync = session.get(UsergroupSync, (team_id, usergroup_id))
    if sync is None:
        sync = UsergroupSync(team_id=team_id, usergroup_id=usergroup_id)
    sync.synced_at = utcnow()
    session.add(sync)
    session.flush()


def replace_usergroups(
    *, session: Session, team_id: str, handles: dict[str, str], now: datetime | None = None
) -> None:
    """Store the workspace's user groups just listed by Slack ({id: handle}): groups it no
    longer lists are forgotten."""
    now = now or utcnow()
    session.execute(
        delete(Usergroup).where(
            col(Usergroup.team_id) == team_id,
            col(Usergroup.usergroup_id).not_in(list(handles)),
        )
    )
    for usergroup_id, handle in handles.items():
        group = session.get(Usergroup, (team_id, usergroup_id))
        if group is None:
            group = Usergroup(team_id=team_id, usergroup_id=usergroup_id, handle=handle)
        group.handle, group.listed_at = handle, now
        session.add(group)
    session.flush()


def find_usergroup_handles(*, session: Session, team_id: str) -> dict[str, str]:
    """The workspace's user groups as last listed by Slack: {id: handle}."""
    rows = session.exec(
        select(Usergroup.usergroup_id, Usergroup.handle)
        .where(Usergroup.team_id == team_id)
        .order_by(col(Usergroup.handle))
    ).all()
    return dict(rows)


def find_open_conversations_for_user(
    *, session: Session, team_id: str, user_id: str, limit: int = 40
) -> list[tuple[Conversation, Line]]:
    """Open conversations on the lines the user may use: assigned to them first, then the
    most recently active."""
    assigned_first = case((col(Conversation.assigned_to) == user_id, 0), else_=1)
    rows = session.exec(
        select(Conversation, Line)
        .join(Line, col(Line.id) == Conversation.line_id)
        .where(
            Conversation.team_id == team_id,
            Conversation.status == ConversationStatus.OPEN,
            col(Line.active).is_(True),
            col(Line.id).in_(_usable_line_ids(team_id, user_id)),
        )
        .order_by(
            assigned_first,
            col(Conversation.last_message_at).desc().nulls_last(),
            col(Conversation.id).desc(),
        )
        .limit(limit)
    ).all()
    return [(conversation, line) for conversation, line in rows]
