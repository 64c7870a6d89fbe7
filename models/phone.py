"""Phone numbers: parsed with phonenumbers, stored as E.164, shown in international format."""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "its country code is unknown",
    NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}

_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "its country code is unknown",
    ValidationResult.TOO_SHORT: "it is too short",
    ValidationResult.TOO_LONG: "it is too long",
    ValidationResult.INVALID_LENGTH: "it has the wrong number of digits",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "it needs an area code",
}


class InvalidPhoneNumber(ValueError):
    """The text is not a number we can text; str() says why, in words."""


def parse_phone(text: str, *, region: str = "US") -> str:
    """Return the E.164 form of `text`, or raise InvalidPhoneNumber with the reason."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidPhoneNumber("no number was given")
    try:
        number = phonenumbers.parse(cleaned, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "it is not a phone number")
        raise InvalidPhoneNumber(f"{cleaned} is not a valid number: {reason}") from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible in _POSSIBLE_REASONS:
        raise InvalidPhoneNumber(f"{cleaned} is not a valid number: {_POSSIBLE_REASONS[possible]}")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(
            f"{cleaned} is not a valid number: no such number exists "
            f"in {phonenumbers.region_code_for_number(number) or region}"
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def try_parse_phone(text: str, *, region: str = "US") -> str | None:
    try:
        return parse_phone(text, region=region)
    except InvalidPhoneNumber:
        return None


@functools.lru_cache(maxsize=65536)  # parsing costs ~50 µs; labels repeat a lot
def format_phone(e164: str) -> str:
    """+12025550123 -> +1 202-555-0123, for people to read."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def number_search_terms(e164: str) -> list[str]:
    """Digit strings a person may start typing: the full international digits and the
    national number (what people in the same country dial)."""
    digits = e164.lstrip("+")
    number = phonenumbers.parse(e164, None)
    national = str(number.national_number)
    return list(dict.fromkeys([digits, national]))
