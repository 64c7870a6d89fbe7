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
}

OPTED_OUT = 21610

# Codes worth trying again later; everything else is final.
TRANSIENT_CODES = frozenset({20429, 20500, 20503})


def describe_error(code: int | None, fallback: str | None = None) -> str:
    if code is not None and code in _REASONS:
        return f"{_REASONS[code]} (error {code})"
    if fallback:
        return f"{fallback} (error {code})" if code is not None else fallback
    return f"error {code}" if code is not None else "unknown error"
