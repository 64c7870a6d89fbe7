"""How many SMS segments a text takes, which is what carriers bill.

A text that fits the GSM-7 alphabet travels 7 bits a character: 160 in a single SMS, 153
in each segment of a longer one (the 6-byte concatenation header takes the rest). The ten
characters of GSM-7's extension table are sent behind an escape and count twice. One
character outside GSM-7 (an emoji, a curly quote) sends the whole text as UCS-2, 16 bits a
code unit: 70 in a single SMS, 67 in each segment of a longer one, and an emoji outside
Unicode's basic plane takes two code units (a UTF-16 surrogate pair). A character is never
split between two segments. (Twilio's "How long can a message be?" and "What is UCS-2?")
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# 3GPP TS 23.038's default alphabet (127 characters: its 128 codes less the escape).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Its extension table, reached through the escape: two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_SEGMENT = {"GSM-7": 160, "UCS-2": 70}
PER_SEGMENT = {"GSM-7": 153, "UCS-2": 67}


class SmsEncoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SmsSegments:
    encoding: SmsEncoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int  # segments billed; 0 for an empty text
    not_gsm: tuple[str, ...] = ()  # the characters that made it UCS-2, first seen first


def _gsm7_cost(char: str) -> int | None:
    if char in GSM7_BASIC:
        return 1
    if char in GSM7_EXTENSION:
        return 2
    return None


def _ucs2_cost(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def count_segments(text: str) -> SmsSegments:
    """The encoding Twilio picks for `text` (the most compact one that can carry it) and the
    number of segments it takes."""
    not_gsm = tuple(dict.fromkeys(c for c in text if _gsm7_cost(c) is None))
    encoding = SmsEncoding.UCS2 if not_gsm else SmsEncoding.GSM7
    costs = [_ucs2_cost(c) if not_gsm else _gsm7_cost(c) or 0 for c in text]
    units = sum(costs)
    if units == 0:
        count = 0
    elif units <= SINGLE_SEGMENT[encoding]:
        count = 1
    else:
        count, free = 1, PER_SEGMENT[encoding]
        for cost in costs:
            if cost > free:  # the character goes whole into the next segment
                count, free = count + 1, PER_SEGMENT[encoding]
            free -= cost
    return SmsSegments(encoding=encoding, units=units, count=count, not_gsm=not_gsm)
