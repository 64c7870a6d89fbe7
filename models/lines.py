"""Lines: the team's business numbers, each mirrored into one Slack channel."""

from __future__ import annotations

import re
import zoneinfo
from datetime import time

from sqlmodel import Session, col, select

from models.tables import Line, LineAccess

_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,}")
# A line's name shows in menus (an option's 75 characters hold "Sales: saved reply"),
# on App Home and on every conversation.
MAX_LINE_NAME_LENGTH = 40


class LineError(ValueError):
    """A line cannot be added or changed as asked; str() says why."""


class LineNameTaken(LineError):
    """Another line of the workspace has the name (ignoring case)."""


def clean_line_name(name: str) -> str:
    """The name on one line, or LineError saying what is wrong with it."""
    name = " ".join(name.split())
    if not name:
        raise LineError("A line needs a name, such as Sales.")
    if len(name) > MAX_LINE_NAME_LENGTH:
        raise LineError(
            f"A line's name can be at most {MAX_LINE_NAME_LENGTH} characters (this one has "
            f"{len(name)}): it shows in menus and on every conversation."
        )
    return name


def check_name_free(
    *, session: Session, team_id: str, name: str, line_id: int | None = None
) -> None:
    """Raise LineNameTaken when another line of the team is called `name`, in any case:
    people (and quick send) pick a line by its name."""
    others = session.exec(
        select(Line.name, Line.number).where(Line.team_id == team_id, Line.id != line_id)
    ).all()
    for other_name, number in others:
        if other_name.casefold() == name.casefold():
            raise LineNameTaken(
                f"There is already a line called {other_name!r} ({number}) in this "
                "workspace: pick another name."
            )


def find_line_by_number(*, session: Session, number: str) -> Line | None:
    return session.exec(select(Line).where(Line.number == number)).first()


def create_line(*, session: Session, team_id: str, number: str, name: str, channel_id: str) -> Line:
    name = clean_line_name(name)
    if not _CHANNEL.fullmatch(channel_id):
        raise LineError(
            f"{channel_id!r} is not a Slack channel id (C... or G...); find it in the channel's "
            "details, at the bottom of the About tab"
        )
    existing = find_line_by_number(session=session, number=number)
    if existing is not None:
        raise LineError(f"{number} is already the line {existing.name!r}")
    check_name_free(session=session, team_id=team_id, name=name)
    line = Line(team_id=team_id, number=number, name=name, channel_id=channel_id)
    session.add(line)
    session.flush()
    return line


def list_lines(*, session: Session, team_id: str | None = None) -> list[tuple[Line, list[str]]]:
    """Every line (of one team, or all) with its grants."""
    query = select(Line).order_by(col(Line.team_id), col(Line.name))
    if team_id is not None:
        query = query.where(Line.team_id == team_id)
    lines = session.exec(query).all()
    grants: dict[int, list[str]] = {}
    for access in session.exec(select(LineAccess).order_by(col(LineAccess.principal))).all():
        grants.setdefault(access.line_id, []).append(access.principal)
    return [(line, grants.get(line.id or 0, [])) for line in lines]


def find_line_for_inbound(
    *, session: Session, to_number: str, messaging_service_sid: str | None
) -> Line | None:
    """The line an inbound text was sent to: by its number, else by its Messaging Service
    (numbers in a service may not be lines themselves)."""
    line = find_line_by_number(session=session, number=to_number)
    if line is None and messaging_service_sid:
        line = session.exec(
            select(Line).where(Line.messaging_service_sid == messaging_service_sid)
        ).first()
    return line


_UNSET: object = object()


def configure_line(
    *,
    session: Session,
    line: Line,
    reply_delay_seconds: float | None = None,
    sends_per_second: float | None = None,
    opt_out_footer: str | object | None = _UNSET,
    auto_close_days: float | None = None,
    away_message: str | object | None = _UNSET,
    business_hours: str | None = None,
    time_zone: str | None = None,
    quiet_hours: tuple[int, int] | None = None,
    group_mms: bool | None = None,
) -> Line:
    """Change a line's settings; raises LineError for values out of range."""
    if reply_delay_seconds is not None:
        if not 0 <= reply_delay_seconds <= 300:
            raise LineError("The reply delay must be between 0 and 300 seconds.")
        line.reply_delay_seconds = reply_delay_seconds
    if sends_per_second is not None:
        if not 0.01 <= sends_per_second <= 1000:
            raise LineError("The send rate must be between 0.01 and 1000 texts a second.")
        line.sends_per_second = sends_per_second
    if auto_close_days is not None:
        if not 0 <= auto_close_days <= 365:
            raise LineError("Auto-close must be between 0 (never) and 365 days.")
        line.auto_close_days = auto_close_days
    if away_message is not _UNSET:
        line.away_message = " ".join(str(away_message or "").split()) or None
    if business_hours is not None:
        parse_business_hours(business_hours)
        line.business_hours = business_hours.replace(" ", "")
    if time_zone is not None:
        line.time_zone = check_time_zone(time_zone)
    if quiet_hours is not None:
        start, end = quiet_hours
        if not (0 <= start <= 23 and 0 <= end <= 23):
            raise LineError("Quiet hours are two hours of the day, 0 to 23.")
        line.quiet_start_hour, line.quiet_end_hour = start, end
    if opt_out_footer is not _UNSET:
        footer = " ".join(str(opt_out_footer or "").split()) or None
        if footer and len(footer) > 160:
            raise LineError("The opt-out footer must be at most 160 characters.")
        line.opt_out_footer = footer
    if group_mms is not None:
        if group_mms:
            refused = group_mms_refusal(line.number)
            if refused:
                raise LineError(refused)
        line.group_mms = group_mms
    session.add(line)
    session.flush()
    return line


def describe_line_settings(line: Line) -> dict[str, str]:
    """A line's settings in words, for the CLI and the audit log."""
    days = line.auto_close_days
    quiet_off = line.quiet_start_hour == line.quiet_end_hour
    return {
        "reply delay": f"{line.reply_delay_seconds:g}s",
        "send rate": f"{line.sends_per_second:g} texts/s",
        "auto-close": "never" if days == 0 else f"after {days:g} day{'' if days == 1 else 's'}",
        "quiet hours": "off"
        if quiet_off
        else f"{line.quiet_start_hour}-{line.quiet_end_hour} (recipient's time)",
        "away message": f'"{line.away_message}"' if line.away_message else "off",
        "business hours": line.business_hours,
        "time zone": line.time_zone,
        "footer": f'"{line.opt_out_footer}"' if line.opt_out_footer else "none",
        "reply-all groups": "group texts" if line.group_mms else "relayed",
    }


# Group texting (group MMS) works on +1 (US and Canada) long codes only: not toll-free
# numbers, not short codes, not other countries. The toll-free area codes of the NANP:
TOLL_FREE_AREA_CODES = frozenset({"800", "833", "844", "855", "866", "877", "888"})
_NANP_LONG_CODE = re.compile(r"\+1([2-9][0-9]{2})[2-9][0-9]{6}")


def group_mms_refusal(number: str) -> str | None:
    """Why a line's number cannot send group texts (group MMS), or None if it can."""
    match = _NANP_LONG_CODE.fullmatch(number)
    if match is None:
        if number.startswith("+") and not number.startswith("+1"):
            return (
                f"{number} is not a +1 (US or Canada) number: group texts work only on +1 "
                "long codes."
            )
        return (
            f"{number} is not a +1 long code (a short code or sender name): group texts "
            "work only on +1 (US or Canada) long codes."
        )
    if match.group(1) in TOLL_FREE_AREA_CODES:
        return (
            f"{number} is a toll-free number: group texts work only on +1 (US or Canada) "
            "long codes, not toll-free numbers."
        )
    return None


_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_business_hours(text: str) -> tuple[time, time]:
    """'09:00-17:00' -> (9:00, 17:00); raises LineError."""
    match = _HOURS.match(text)
    if not match:
        raise LineError(f"{text!r} is not business hours like 09:00-17:00.")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        return time(h1, m1), time(h2, m2)
    except ValueError:
        raise LineError(f"{text!r} is not business hours like 09:00-17:00.") from None


def check_time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise LineError(f"{name!r} is not a time zone, e.g. America/New_York.") from None
    return name
