"""`/text LINE NUMBER_OR_CONTACT MESSAGE`: send without the form, with the form's checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from handlers import texts
from handlers.refusals import refusal_text
from handlers.views.common import contact_mrkdwn, escape, line_label, segments_summary
from models.contacts import bounded_query, search_contacts
from models.directory import Viewer, can_see_contact
from models.phone import format_phone, try_parse_phone
from models.send_plan import (
    Field,
    Kind,
    RecipientInput,
    Refusal,
    SendPlan,
    SendRules,
    TextRequest,
    carry_out,
    plan_text,
)
from models.sending import LineRefusal, line_refusal
from models.slack_text import NameLookup, phone_text, unescape
from models.tables import Contact, Line

_MAX_NAME_WORDS = 6
# A number as people type it: digits and the separators between them, in up to this many
# words ("+1 (202) 555-0123" is three).
_MAX_NUMBER_WORDS = 5
_NUMBER_WORD = re.compile(r"[+(]?[0-9][0-9().\-]*")
_QUOTES = {
    '"': '"',
    "\u201c": "\u201d",
    "'": "'",
    "\u2018": "\u2019",
}  # straight, and curly as phones type them
MAX_LISTED_CONTACTS = 20


class QuickSendError(Exception):
    """What to tell the user instead of sending."""


@dataclass
class QuickSend:
    plan: SendPlan  # plan.text is what the phone shows
    shown_by_number: bool  # the recipient was typed as a number
    typed: str = ""  # what the author saw in Slack


def _no_names(_: str) -> str | None:
    return None


def quoted_words(words: list[str]) -> tuple[str, int] | None:
    """The text between a quote opening words[0] and its closing quote, and how many words
    it spans; None when words[0] opens no quote. QuickSendError when it is never closed."""
    if not words or words[0][0] not in _QUOTES:
        return None
    closing = _QUOTES[words[0][0]]
    for used in range(1, len(words) + 1):
        span = " ".join(words[:used])
        if len(span) > 1 and span.endswith(closing):
            return span[1:-1].strip(), used
    raise QuickSendError(texts.QUICK_UNCLOSED_QUOTE)


def number_readings(words: list[str], region: str) -> list[tuple[str, int]]:
    """Each way the leading words read as one valid number: (E.164, words used). Only
    words of digits and separators count, so a number never takes a word of the message."""
    run = []
    for word in words[:_MAX_NUMBER_WORDS]:
        if not _NUMBER_WORD.fullmatch(word):
            break
        run.append(word)
    readings = []
    for used in range(1, len(run) + 1):
        number = try_parse_phone(" ".join(run[:used]), region=region)
        if number:
            readings.append((number, used))
    return readings


def starts_with_a_number(words: list[str]) -> bool:
    return bool(words) and bool(_NUMBER_WORD.fullmatch(words[0]))


def _one_number(words: list[str], region: str) -> tuple[str, int]:
    readings = number_readings(words, region)
    if not readings:
        typed = " ".join(w for w in words[:_MAX_NUMBER_WORDS] if _NUMBER_WORD.fullmatch(w))
        raise QuickSendError(texts.QUICK_UNKNOWN_RECIPIENT.format(recipient=typed or words[0]))
    if len(readings) > 1:
        choices = " or ".join(f"“{' '.join(words[:used])}”" for _, used in readings)
        raise QuickSendError(texts.QUICK_WHICH_NUMBER.format(choices=choices))
    return readings[0]


def _match_line(session: Session, team_id: str, words: list[str], region: str) -> tuple[Line, int]:
    """The line named first: by its number as typed, or its name (in quotes, or matched
    exactly, the longest name first)."""
    lines = session.exec(select(Line).where(Line.team_id == team_id)).all()
    quoted = quoted_words(words)
    if quoted is not None:
        name, used = quoted
        candidates = [(name, used)]
    elif starts_with_a_number(words):
        candidates = [(number, used) for number, used in number_readings(words, region)] or [
            (words[0], 1)
        ]
    else:
        candidates = [
            (" ".join(words[:size]), size)
            for size in range(min(len(words), _MAX_NAME_WORDS), 0, -1)
        ]
    for candidate, used in candidates:
        for line in lines:
            if line.number == candidate or line.name.lower() == candidate.lower():
                return line, used
    raise QuickSendError(texts.QUICK_UNKNOWN_LINE.format(line=candidates[-1][0]))


def _contacts_named(session: Session, viewer: Viewer, name: str) -> list[Contact]:
    """Contacts the user may see whose whole name is `name` (in any case)."""
    return [
        s.contact
        for s in search_contacts(session=session, viewer=viewer, query=name, limit=50)
        if (s.contact.name or "").lower() == name.lower()
    ]


def _match_recipient(
    session: Session, viewer: Viewer, words: list[str], region: str
) -> tuple[Contact | None, str | None, int]:
    """The recipient named after the line: a number as typed, a contact's name in quotes,
    or a contact's exact name; when two readings fit, QuickSendError asks which."""
    if not words:
        raise QuickSendError(texts.QUICK_UNKNOWN_RECIPIENT.format(recipient=""))
    quoted = quoted_words(words)
    if quoted is not None:
        name, used = quoted
        return _one_contact(_contacts_named(session, viewer, name), name), None, used
    if starts_with_a_number(words):
        number, used = _one_number(words, region)
        known = session.exec(
            select(Contact).where(Contact.team_id == viewer.team_id, Contact.phone == number)
        ).first()
        if known is not None and not can_see_contact(
            session=session, viewer=viewer, contact_id=known.id or 0
        ):
            known = None  # a contact they may not see is a new number to them
        return known, None if known else number, used
    # Never the whole text: a message follows the name.
    sizes = range(1, min(len(words) - 1, _MAX_NAME_WORDS) + 1)
    named = [
        (size, found)
        for size in sizes
        if (found := _contacts_named(session, viewer, " ".join(words[:size])))
    ]
    if not named:
        if len(words) <= _MAX_NAME_WORDS and _contacts_named(session, viewer, " ".join(words)):
            raise QuickSendError(texts.QUICK_NO_MESSAGE)  # a name, and nothing to send
        raise QuickSendError(texts.QUICK_UNKNOWN_RECIPIENT.format(recipient=words[0]))
    if len(named) > 1:
        choices = " or ".join(f"“{' '.join(words[:size])}”" for size, _ in named)
        raise QuickSendError(texts.QUICK_WHICH_CONTACT.format(choices=choices))
    size, found = named[0]
    return _one_contact(found, " ".join(words[:size])), None, size


def _one_contact(found: list[Contact], name: str) -> Contact:
    if not found:
        raise QuickSendError(texts.QUICK_UNKNOWN_RECIPIENT.format(recipient=name))
    if len(found) > 1:
        raise QuickSendError(texts.QUICK_AMBIGUOUS_CONTACT.format(name=name))
    return found[0]


def parse_quick_send(
    session: Session,
    *,
    viewer: Viewer,
    text: str,
    rules: SendRules,
    now: datetime,
    names: NameLookup = _no_names,
) -> QuickSend:
    """Read LINE, then a number or the exact name of a contact the user may see, then the
    message, and check them as the form does (models.sending); raises QuickSendError with
    the reason.

    `text` is the command's text as Slack sends it (`&amp;`, `<https://…|…>`, `<@U…>`):
    the line and the recipient are read with the escaping undone, and the message becomes
    what a phone shows (its line breaks kept), mentions named by `names` (no Slack call:
    this runs before the acknowledgement)."""
    region = rules.region
    spans = list(re.finditer(r"\S+", text))
    words = [unescape(m.group(0)) for m in spans]
    line, used = _match_line(session, viewer.team_id, words, region)
    refused = line_refusal(
        session=session, line=line, team_id=viewer.team_id, user_id=viewer.user_id
    )
    if refused is not None:
        template = texts.LINE_INACTIVE if refused.turned_off else texts.NO_ACCESS_TO_NAMED_LINE
        raise QuickSendError(template.format(line=line.name))
    contact, new_phone, used_by_recipient = _match_recipient(session, viewer, words[used:], region)
    first = used + used_by_recipient
    markup = text[spans[first].start() :] if first < len(spans) else ""
    message = phone_text({"text": markup}, names)
    request = TextRequest(
        team_id=viewer.team_id,
        user_id=viewer.user_id,
        kind=Kind.CONVERSATION,
        line_id=line.id,
        recipients=[
            RecipientInput(contact_id=contact.id)
            if contact is not None
            else RecipientInput(number=new_phone)
        ],
        body=message.text,
    )
    plan = plan_text(session, request, rules=rules, now=now)
    if not isinstance(plan, SendPlan):
        first_refusal = next(plan[part] for part in _ORDER if part in plan)
        raise QuickSendError(_refusal_text(first_refusal))
    return QuickSend(plan=plan, shown_by_number=contact is None, typed=message.typed)


# Which refusal quick send names when several apply.
_ORDER = (Field.LINE, Field.RECIPIENTS, Field.MESSAGE, Field.PICTURES, Field.SEND_AT)


def _refusal_text(refusal: Refusal) -> str:
    if isinstance(refusal, LineRefusal) and refusal.line is not None:
        template = texts.LINE_INACTIVE if refusal.turned_off else texts.NO_ACCESS_TO_NAMED_LINE
        return template.format(line=refusal.line.name)
    return refusal_text(refusal, quiet_template=texts.QUICK_QUIET_HOURS, show=escape)


def quick_send(
    session: Session,
    *,
    viewer: Viewer,
    text: str,
    rules: SendRules,
    dedupe_key: str,
    now: datetime,
    names: NameLookup = _no_names,
) -> str:
    """Send, and say what happened (or why not), privately: with what the customer gets
    when it differs from what was typed."""
    try:
        parsed = parse_quick_send(
            session, viewer=viewer, text=text, rules=rules, now=now, names=names
        )
    except QuickSendError as exc:
        return f":warning: Not sent: {exc}\n{texts.QUICK_USAGE}"
    plan = parsed.plan
    carried = carry_out(
        session, plan, team_id=viewer.team_id, user_id=viewer.user_id, key=dedupe_key
    )
    contact = carried.contacts[0]
    # A typed number is named as typed: its contact may be one the user may not see.
    who = format_phone(contact.phone) if parsed.shown_by_number else contact_mrkdwn(contact)
    sent = texts.QUICK_SENT.format(
        who=who,
        line=escape(line_label(plan.line)),
        channel=plan.line.channel_id,
    )
    if plan.text == parsed.typed:
        return sent
    segments = segments_summary(plan.segments)
    return sent + "\n" + texts.TEXTED_AS.format(text=escape(plan.text), segments=segments)


def list_contacts(session: Session, *, viewer: Viewer, query: str) -> str:
    """/text contacts QUERY, for someone with a usable line (the caller checks)."""
    query = bounded_query(query)
    if not query:
        return texts.CONTACTS_USAGE
    found = search_contacts(
        session=session,
        viewer=viewer,
        query=query,
        limit=MAX_LISTED_CONTACTS,
    )
    if not found:
        return texts.NO_CONTACTS_FOUND.format(query=query)
    rows = "\n".join(
        f"• {escape(s.contact.name or '(no name)')}: {escape(format_phone(s.contact.phone))}"
        for s in found
    )
    return f"*Contacts matching “{query}”*\n{rows}"
