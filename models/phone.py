"""Phone numbers: parsed with phonenumbers, stored as E.164, shown in international format."""

from __future__ import annotations

import functools
import re

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


# What texts can be sent to. Twilio gives a phone number's sender in this form; a short code
# ("72345") or a sender name ("ACME") can text in but cannot be texted back.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def is_phone_number(sender: str) -> bool:
    """Whether `sender` is an E.164 phone number rather than a short code or sender name."""
    return _E164.fullmatch(sender) is not None


class InvalidPhoneNumber(ValueError):
    """The text is not a number we can text; str() says why, in words."""


def parse_phone(text: str, *, region: str = "US") -> str:
    """Return the E.164 form of `text`, or raise InvalidPhoneNumber with the reason."""
    return phonenumbers.format_number(_parse_valid(text, region), PhoneNumberFormat.E164)


def parse_phone_with_terms(text: str, *, region: str = "US") -> tuple[str, list[str]]:
    """parse_phone and number_search_terms from one parse (an import parses millions)."""
    number = _parse_valid(text, region)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return e164, _terms(e164, number)


_SEPARATORS = re.compile(r"[\s().-]+")
_NANP = re.compile(r"(?:\+1|1)?([2-9][0-9]{9})")


def _parse_nanp(cleaned: str, region: str) -> phonenumbers.PhoneNumber | None:
    """A +1 number written as digits and separators ("+1 (202) 555-0123", or its ten
    digits in a +1 region) as phonenumbers.parse reads it, without its general parser,
    which takes a third of an import's time. None for any other text: phonenumbers.parse
    reads it."""
    found = _NANP.fullmatch(_SEPARATORS.sub("", cleaned))
    if found is None:
        return None
    if not cleaned.lstrip().startswith("+") and phonenumbers.country_code_for_region(region) != 1:
        return None
    return phonenumbers.PhoneNumber(country_code=1, national_number=int(found.group(1)))


def _parse_valid(text: str, region: str) -> phonenumbers.PhoneNumber:
    cleaned = text.strip()
    if not cleaned:
        raise InvalidPhoneNumber("no number was given")
    try:
        number = _parse_nanp(cleaned, region) or phonenumbers.parse(cleaned, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "it is not a phone number")
        raise InvalidPhoneNumber(f"{cleaned} is not a valid number: {reason}") from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible in _POSSIBLE_REASONS:
        raise InvalidPhoneNumber(f"{cleaned} is not a valid number: {_POSSIBLE_REASONS[possible]}")
    if not _is_valid(number):
        raise InvalidPhoneNumber(
            f"{cleaned} is not a valid number: no such number exists "
            f"in {phonenumbers.region_code_for_number(number) or region}"
        )
    return number


def _is_valid(number: phonenumbers.PhoneNumber) -> bool:
    # Most numbers belong to their country code's main region (US for +1): checking that
    # region first costs a third of is_valid_number, which finds the region first.
    main = phonenumbers.region_code_for_country_code(number.country_code or 0)
    return phonenumbers.is_valid_number_for_region(number, main) or phonenumbers.is_valid_number(
        number
    )


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
    national number (what people in the same country dial). None for a short code or
    sender name: its contact is found through its conversation."""
    if not is_phone_number(e164):
        return []
    return _terms(e164, phonenumbers.parse(e164, None))


def _terms(e164: str, number: phonenumbers.PhoneNumber) -> list[str]:
    return list(dict.fromkeys([e164.lstrip("+"), str(number.national_number)]))
