"""Block Kit's limits the builders keep to, and the ways to keep to them without losing
text: split long text over several blocks, spread rows over sections, cut only with a word
of what was left out. Lengths are counted on the text as sent (after escaping). Also the
recipient limits' defaults, which the settings, the handlers and the wording share."""

from __future__ import annotations

import re
from collections.abc import Iterable

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
CONTEXT_TEXT = 3000
FALLBACK_TEXT = 4000  # a message's `text`: Slack advises at most 4,000 characters
OPTION_TEXT = 75
OPTION_VALUE = 150
SELECT_OPTIONS = 100
CHECKBOX_OPTIONS = 10
PRIVATE_METADATA = 3000

# How many people one text may go to, unless the settings say otherwise (bot.settings):
# a multi-recipient message's recipients, a reply-all group's participants (fewest, most).
DEFAULT_MAX_MULTI_RECIPIENTS = 20
DEFAULT_GROUP_SIZE = (2, 9)

# What must not be cut in two: an HTML entity, or markup in angle brackets (a link, a
# mention, a date).
_UNCUTTABLE = re.compile(r"&[a-z]+;|<[^<>]*>")


def _safe_end(text: str, end: int) -> int:
    """The largest cut at or before `end` that does not fall inside an entity or markup."""
    for match in _UNCUTTABLE.finditer(text, max(0, end - 3000), min(len(text), end + 3000)):
        if match.start() < end < match.end():
            return match.start()
    return end


def split_mrkdwn(text: str, limit: int = SECTION_TEXT) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut after a line or a word where
    there is one in the second half of the piece, never inside an entity or markup.
    Joined back together they are `text` again."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        end = _safe_end(rest, limit)
        window = rest[:end]
        for separator in ("\n", " "):
            at = window.rfind(separator)
            if at >= limit // 2:
                end = _safe_end(rest, at + 1)
                break
        if end == 0:  # one piece of markup longer than the limit: cut it as text
            end = limit
        pieces.append(rest[:end])
        rest = rest[end:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def cut_mrkdwn(text: str, limit: int, *, more: str = "…") -> str:
    """`text` if it fits in `limit`, else its beginning with `more` after it, cut where
    split_mrkdwn would cut."""
    if len(text) <= limit:
        return text
    return split_mrkdwn(text, limit - len(more))[0].rstrip() + more


def pack_rows(rows: Iterable[str], limit: int = SECTION_TEXT) -> list[str]:
    """Rows joined by newlines into as few texts of at most `limit` characters as they
    fit in, never cutting a row unless it is longer than `limit` on its own."""
    texts: list[str] = []
    current = ""
    for row in rows:
        for piece in split_mrkdwn(row, limit):
            joined = f"{current}\n{piece}" if current else piece
            if len(joined) <= limit:
                current = joined
            else:
                texts.append(current)
                current = piece
    if current:
        texts.append(current)
    return texts


def plain_label(text: str, limit: int = OPTION_TEXT) -> str:
    """A plain_text label (an option, a button) of at most `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
