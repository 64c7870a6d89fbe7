"""Provider error codes in words, for the people reading the Slack thread."""

from __future__ import annotations

# https://www.twilio.com/docs/api/errors — the ones a texting team meets.
_REASONS = {
    20429: "the provider is rate limiting this account",
    21211: "the number is not a valid phone number",
    21408: "texting this country is not enabled on the account",
    21602: "the message is empty",
    21610: "the recipient has replied STOP and opted out of texts from this line",
    21612: "this line cannot text that number",
    21614: "the number is not a mobile number that can receive texts",
    21617: "the message is too long",
    30003: "the phone is unreachable (off or out of coverage)",
    30004: "the recipient's carrier blocked the message",
    30005: "the number does not exist or is no longer in service",
    30006: "the number is a landline or cannot receive texts",
    30007: "the carrier filtered the message as spam",
    30008: "the carrier could not deliver it (unknown error)",
    # Group texts (group MMS through Twilio Conversations).
    50386: "the group text is still being set up",
    50407: "a recipient's number cannot be in a group text",
    50426: "the group text was closed",
    50427: "the group text was closed",
    50436: "a group text can have at most 10 members, the line included",
    50437: "already in the group text",
    50438: "a group text with the same members already exists",
    50452: "group texting (group MMS) is not enabled on the Twilio account",
}

# Group texts: still initializing (wait and retry); closed (reopen it, then retry).
GROUP_INITIALIZING = 50386
GROUP_CLOSED = frozenset({50426, 50427})
GROUP_EXISTS = 50438
GROUP_ALREADY_MEMBER = 50437
GROUP_NOT_ENABLED = 50452

OPTED_OUT = 21610

# Codes worth trying again later; everything else is final.
TRANSIENT_CODES = frozenset({20429, 20500, 20503, GROUP_INITIALIZING})


def describe_error(code: int | None, fallback: str | None = None) -> str:
    if code is not None and code in _REASONS:
        return f"{_REASONS[code]} (error {code})"
    if fallback:
        return f"{fallback} (error {code})" if code is not None else fallback
    return f"error {code}" if code is not None else "unknown error"
