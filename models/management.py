"""Managing lines: who may (workspace admins, and each line's managers), the changes, and
the audit log that records every one of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from models.access import check_principal, is_usergroup
from models.lines import (
    LineError,
    check_name_free,
    clean_line_name,
    configure_line,
    create_line,
    describe_line_settings,
    group_mms_refusal,
)
from models.tables import AuditEntry, Line, LineAccess, SlackUser
from models.types import insert_ignoring_conflicts, utcnow

ROLE_MAX_AGE = timedelta(minutes=30)


def record_audit(
    *, session: Session, team_id: str, actor: str, action: str, detail: str, line_id: int | None
) -> None:
    session.add(
        AuditEntry(team_id=team_id, actor=actor, action=action, detail=detail, line_id=line_id)
    )
    session.flush()


def list_audit(
    *, session: Session, team_id: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if team_id is not None:
        query = query.where(AuditEntry.team_id == team_id)
    return list(reversed(session.exec(query).all()))


def remember_role(*, session: Session, team_id: str, user_id: str, is_admin: bool) -> None:
    """Store what Slack says (users.info is_admin / is_owner) for later checks."""
    row = session.get(SlackUser, (team_id, user_id)) or SlackUser(team_id=team_id, user_id=user_id)
    row.is_admin = is_admin
    row.checked_at = utcnow()
    session.add(row)
    session.flush()


def is_workspace_admin(
    *, session: Session, team_id: str, user_id: str, now: datetime | None = None
) -> bool:
    """True if Slack said, recently, that the user is an admin or owner."""
    row = session.get(SlackUser, (team_id, user_id))
    return bool(row and row.is_admin and row.checked_at > (now or utcnow()) - ROLE_MAX_AGE)


def is_line_manager(*, session: Session, line: Line, user_id: str) -> bool:
    return (
        session.exec(
            select(LineAccess.id).where(
                LineAccess.line_id == line.id,
                LineAccess.principal == user_id,
                col(LineAccess.manager).is_(True),
            )
        ).first()
        is not None
    )


def can_manage_line(*, session: Session, line: Line, user_id: str) -> bool:
    return is_workspace_admin(
        session=session, team_id=line.team_id, user_id=user_id
    ) or is_line_manager(session=session, line=line, user_id=user_id)


def find_manageable_lines(*, session: Session, team_id: str, user_id: str) -> list[Line]:
    """Every line of the team for an admin; the lines they manage for anyone else."""
    query = select(Line).where(Line.team_id == team_id).order_by(col(Line.name))
    if not is_workspace_admin(session=session, team_id=team_id, user_id=user_id):
        managed = select(LineAccess.line_id).where(
            LineAccess.principal == user_id, col(LineAccess.manager).is_(True)
        )
        query = query.where(col(Line.id).in_(managed))
    return list(session.exec(query).all())


def add_line(
    *, session: Session, team_id: str, number: str, name: str, channel_id: str, actor: str
) -> Line:
    line = create_line(
        session=session, team_id=team_id, number=number, name=name, channel_id=channel_id
    )
    record_audit(
        session=session,
        team_id=team_id,
        actor=actor,
        action="line.add",
        line_id=line.id,
        detail=f"added {name} ({number}) in {channel_id}",
    )
    return line


class GroupMmsRefused(LineError):
    """The line cannot send group texts; str() says why."""


@dataclass
class LineChanges:
    """A line's settings as a manager submitted them; None leaves a setting alone."""

    name: str | None = None
    channel_id: str | None = None
    active: bool | None = None
    group_mms: bool | None = None
    users: set[str] | None = None
    usergroups: set[str] | None = None
    managers: set[str] | None = None
    applied: list[str] = field(default_factory=list)


def _grants(session: Session, line: Line) -> dict[str, bool]:
    return {
        a.principal: a.manager
        for a in session.exec(select(LineAccess).where(LineAccess.line_id == line.id)).all()
    }


def change_line(*, session: Session, line: Line, changes: LineChanges, actor: str) -> list[str]:
    """Apply the changes, recording each in the audit log; returns what changed, in words.
    Raises LineError for a bad name or channel before changing anything."""
    audit: list[tuple[str, str]] = []
    if changes.name is not None and changes.name.strip() != line.name:
        name = clean_line_name(changes.name)
        check_name_free(session=session, team_id=line.team_id, name=name, line_id=line.id)
        audit.append(("line.rename", f"renamed {line.name} to {name}"))
        line.name = name
    if changes.channel_id and changes.channel_id != line.channel_id:
        audit.append(
            ("line.move", f"moved {line.name} from {line.channel_id} to {changes.channel_id}")
        )
        line.channel_id = changes.channel_id
    if changes.active is not None and changes.active != line.active:
        audit.append(
            (
                "line.activate" if changes.active else "line.deactivate",
                f"turned {line.name} {'on' if changes.active else 'off'}",
            )
        )
        line.active = changes.active
    if changes.group_mms is not None and changes.group_mms != line.group_mms:
        refused = group_mms_refusal(line.number) if changes.group_mms else None
        if refused:
            raise GroupMmsRefused(refused)
        line.group_mms = changes.group_mms
        groups = "group texts" if changes.group_mms else "relayed"
        audit.append(("line.configure", f"set {line.name}: reply-all groups {groups}"))
    session.add(line)
    current = _grants(session, line)
    wanted = dict(current)
    if changes.users is not None:
        for principal in [p for p in current if not is_usergroup(p)]:
            if principal not in changes.users and principal not in (changes.managers or set()):
                wanted.pop(principal)
        for user in changes.users:
            wanted.setdefault(check_principal(user), False)
    if changes.usergroups is not None:
        for principal in [p for p in current if is_usergroup(p)]:
            if principal not in changes.usergroups:
                wanted.pop(principal)
        for group in changes.usergroups:
            wanted.setdefault(check_principal(group), False)
    if changes.managers is not None:
        for principal, manager in list(wanted.items()):
            if manager and principal not in changes.managers:
                wanted[principal] = False
        for user in changes.managers:
            if is_usergroup(check_principal(user)):
                raise LineError("Only users can manage a line, not user groups.")
            wanted[user] = True
    for principal in sorted(set(current) - set(wanted)):
        session.execute(
            delete(LineAccess).where(
                col(LineAccess.line_id) == line.id, col(LineAccess.principal) == principal
            )
        )
        audit.append(("access.revoke", f"revoked {line.name} from {principal}"))
    for principal in sorted(set(wanted) - set(current)):
        insert_ignoring_conflicts(
            session,
            LineAccess,
            {
                "line_id": line.id,
                "principal": principal,
                "manager": wanted[principal],
                "granted_by": actor,
            },
        )
        audit.append(
            (
                "access.grant",
                f"granted {line.name} to {principal}"
                + (" as a manager" if wanted[principal] else ""),
            )
        )
    for principal in sorted(set(wanted) & set(current)):
        if wanted[principal] != current[principal]:
            session.execute(
                update(LineAccess)
                .where(col(LineAccess.line_id) == line.id, col(LineAccess.principal) == principal)
                .values(manager=wanted[principal])
            )
            audit.append(
                (
                    "access.manager",
                    f"{principal} {'now manages' if wanted[principal] else 'stopped managing'} "
                    f"{line.name}",
                )
            )
    for action, detail in audit:
        record_audit(
            session=session,
            team_id=line.team_id,
            actor=actor,
            action=action,
            detail=detail,
            line_id=line.id,
        )
    session.flush()
    return [detail for _, detail in audit]


def reconfigure_line(*, session: Session, line: Line, actor: str, **settings: Any) -> list[str]:
    """configure_line, recording what changed in the audit log; returns it in words."""
    before = describe_line_settings(line)
    configure_line(session=session, line=line, **settings)
    after = describe_line_settings(line)
    changed = [f"{label} {value}" for label, value in after.items() if before[label] != value]
    if changed:
        record_audit(
            session=session,
            team_id=line.team_id,
            actor=actor,
            action="line.configure",
            detail=f"set {line.name}: {'; '.join(changed)}",
            line_id=line.id,
        )
    return changed


def audit_grants(
    *, session: Session, line: Line, principals: Iterable[str], actor: str, granted: bool
) -> None:
    """Record grants or revocations made elsewhere (the CLI)."""
    for principal in principals:
        record_audit(
            session=session,
            team_id=line.team_id,
            actor=actor,
            action="access.grant" if granted else "access.revoke",
            detail=(
                f"granted {line.name} to {principal}"
                if granted
                else f"revoked {line.name} from {principal}"
            ),
            line_id=line.id,
        )
