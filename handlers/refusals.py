"""The send policy's refusals (models.sending, models.send_plan) in words, for every surface
alike: a modal's field errors, an ephemeral note."""

from __future__ import annotations

from collections.abc import Callable

from handlers import ids, texts
from models.send_plan import (
    BadBody,
    BadNumber,
    BadPictures,
    BadSendTime,
    Field,
    Kind,
    NobodyToText,
    NoPicturesInGroupText,
    NotForGroupText,
    QuietFor,
    RecipientCount,
    RecipientOptedOut,
    Refusal,
    Refusals,
    SavedReplyRefusal,
    UnknownContact,
)
from models.sending import LineRefusal, QuietHours

_WHAT = {Kind.MULTI: "A multi-recipient message", Kind.GROUP: "A reply-all group"}


def hour_label(hour: int) -> str:
    """21 -> 9pm, 8 -> 8am."""
    return f"{hour % 12 or 12}{'am' if hour < 12 else 'pm'}"


def quiet_hours_text(template: str, quiet: QuietHours, who: str) -> str:
    """`template` (texts.QUIET_HOURS or QUICK_QUIET_HOURS) filled in for this refusal."""
    return template.format(
        start=hour_label(quiet.start_hour),
        end=hour_label(quiet.end_hour),
        who=who,
        local=f"{quiet.local:%H:%M} ({quiet.local.tzname()})",
        when=f"{quiet.next_allowed.astimezone(quiet.local.tzinfo):%a %H:%M} their time",
    )


def refusal_text(
    refusal: Refusal,
    *,
    quiet_template: str = texts.QUIET_HOURS,
    show: Callable[[str], str] = lambda who: who,
) -> str:
    """One refusal in words: plain for a modal's field error; for mrkdwn, `show` escapes
    the recipient's name (a customer's own words)."""
    match refusal:
        case LineRefusal(turned_off=True):
            return texts.LINE_GONE
        case LineRefusal():
            return texts.NO_ACCESS_TO_LINE
        case RecipientCount(kind=Kind.CONVERSATION):
            return texts.PICK_RECIPIENT
        case RecipientCount(kind=kind, count=count, low=low) if count < low:
            return texts.TOO_FEW_RECIPIENTS.format(what=_WHAT[kind], low=low)
        case RecipientCount(kind=kind, count=count, high=high):
            return texts.TOO_MANY_RECIPIENTS.format(what=_WHAT[kind], high=high, count=count)
        case UnknownContact():
            return texts.UNKNOWN_CONTACT
        case RecipientOptedOut(shown=who, line=line):
            return texts.RECIPIENT_OPTED_OUT.format(who=show(who), line=line.name)
        case NobodyToText():
            return texts.NOBODY_TO_TEXT
        case NoPicturesInGroupText():
            return texts.NO_PICTURES_IN_GROUP_TEXTS
        case SavedReplyRefusal(other_line=True):
            return texts.SAVED_REPLY_OTHER_LINE
        case SavedReplyRefusal():
            return texts.REPLY_OR_MESSAGE
        case BadSendTime(reason=None):
            return texts.BAD_TIME
        case (
            BadNumber(reason=reason)
            | NotForGroupText(reason=reason)
            | BadBody(reason=reason)
            | BadPictures(reason=reason)
            | BadSendTime(reason=str() as reason)
        ):
            return reason
        case QuietFor(quiet=quiet, shown=who):
            return quiet_hours_text(quiet_template, quiet, show(who))
    raise AssertionError(f"unworded refusal {refusal!r}")


def skip_reason(refusal: Refusal) -> str:
    """Why a multi-recipient message skipped someone, as its summary lists it."""
    if isinstance(refusal, RecipientOptedOut):
        return "opted out (texted STOP)"
    return refusal_text(refusal).rstrip(".")


_MODAL_BLOCKS = {
    Field.LINE: ids.LINE_BLOCK,
    Field.MESSAGE: ids.MESSAGE_BLOCK,
    Field.SAVED_REPLY: ids.SAVED_REPLY_BLOCK,
    Field.SEND_AT: ids.SEND_AT_BLOCK,
    Field.PICTURES: ids.PICTURES_BLOCK,
}


def modal_errors(refusals: Refusals, *, recipients_block: str) -> dict[str, str]:
    """The /text modal's field errors, by block id."""
    return {
        _MODAL_BLOCKS.get(part, recipients_block): refusal_text(refusal)
        for part, refusal in refusals.items()
    }
