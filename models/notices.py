"""What textbot tells the team in a conversation's thread when a customer's text calls for
it. Notices are stored as messages of the conversation, so their wording lives here."""

from __future__ import annotations

from models.optouts import Keyword

OPTED_OUT = (
    ":no_entry_sign: {who} texted {keyword} and is opted out of texts from {line}. Nothing "
    "more will be sent to them from this line until they text START."
)
OPTED_IN = ":white_check_mark: {who} texted START and can be texted from {line} again."
HELP = ":information_source: {who} texted HELP."
ROUTED = (
    ":twisted_rightwards_arrows: {who} is also in {others} other open conversation(s) on "
    "{line}; this text came here because this conversation texted them most recently."
)
SENDER_NOT_TEXTABLE = (
    ":information_source: {who} is a short code or a sender name, not a phone number: it "
    "can text in, but it cannot be texted back."
)
SCHEDULED_CANCELED_BY_REPLY = (
    ":no_entry_sign: {who} texted in before the scheduled text left, so it was canceled. "
    "Schedule it again if it still applies."
)


def keyword_notice(keyword: Keyword | None, *, opt_out_changed: bool) -> str | None:
    """The notice for a STOP or START that changed something, or any HELP."""
    if keyword == Keyword.STOP and opt_out_changed:
        return OPTED_OUT
    if keyword == Keyword.START and opt_out_changed:
        return OPTED_IN
    if keyword == Keyword.HELP:
        return HELP
    return None
