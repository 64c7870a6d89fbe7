"""Quiet hours: carriers and the TCPA expect texts between 8am and 9pm in the recipient's
own time, which phonenumbers' time-zone data gives from the number."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import phonenumbers
from phonenumbers import timezone as number_timezones

DEFAULT_START = 21  # quiet from 9pm...
DEFAULT_END = 8  # ...until 8am


@dataclass(frozen=True)
class QuietTime:
    local: datetime  # the recipient's local time when the text would arrive
    next_allowed: datetime  # the first moment after that outside quiet hours (UTC)


def recipient_zone(phone: str) -> zoneinfo.ZoneInfo | None:
    """The number's time zone, when phonenumbers knows just one."""
    try:
        zones = number_timezones.time_zones_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None
    names = [z for z in zones if z != "Etc/Unknown"]
    if len(names) != 1:
        return None
    try:
        return zoneinfo.ZoneInfo(names[0])
    except zoneinfo.ZoneInfoNotFoundError:
        return None


def quiet_time(
    phone: str, at: datetime, *, start: int = DEFAULT_START, end: int = DEFAULT_END
) -> QuietTime | None:
    """If a text arriving `at` falls in the recipient's quiet hours, when it could go
    instead; None when it is fine (or the number's zone is unknown)."""
    zone = recipient_zone(phone)
    if zone is None:
        return None
    local = at.astimezone(zone)
    hour = local.hour
    quiet = hour >= start or hour < end if start > end else start <= hour < end
    if not quiet:
        return None
    day = local.date() if hour < end else local.date() + timedelta(days=1)
    next_local = datetime.combine(day, time(end), tzinfo=zone)
    return QuietTime(local=local, next_allowed=next_local.astimezone(at.tzinfo))
