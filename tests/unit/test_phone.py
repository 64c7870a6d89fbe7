import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from models.phone import (
    InvalidPhoneNumber,
    format_phone,
    is_phone_number,
    number_search_terms,
    parse_phone,
)


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("2025550123", "+12025550123"),
        ("(202) 555-0123", "+12025550123"),
        ("+1 202 555 0123", "+12025550123"),
        ("1-202-555-0123", "+12025550123"),
        ("+44 20 7946 0000", "+442079460000"),
    ],
)
def test_numbers_are_stored_as_e164(text: str, e164: str) -> None:
    assert parse_phone(text, region="US") == e164


def test_the_default_region_decides_national_numbers() -> None:
    assert parse_phone("020 7946 0000", region="GB") == "+442079460000"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no number was given"),
        ("hello", "it is not a phone number"),
        ("12", "it is too short"),
        ("555-0123", "it needs an area code"),
        ("202555012345", "it is too long"),
        ("+999 1234 5678", "its country code is unknown"),
        ("(202) 123-4567", "no such number exists in US"),
    ],
)
def test_bad_numbers_are_refused_with_their_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as refused:
        parse_phone(text, region="US")
    assert reason in str(refused.value)


def test_display_and_search_forms() -> None:
    assert format_phone("+12025550123") == "+1 202-555-0123"
    assert number_search_terms("+12025550123") == ["12025550123", "2025550123"]


@pytest.mark.parametrize(
    ("sender", "phone"),
    [
        ("+12025550123", True),
        ("+2905123", True),  # Saint Helena: seven digits in all
        ("72345", False),  # a short code
        ("ACME Bank", False),  # an alphanumeric sender
        ("+1202555012345678", False),  # over E.164's 15 digits
        ("+02025550123", False),
        ("+1 202 555 0123", False),  # Twilio gives E.164, never this
    ],
)
def test_senders_that_can_be_texted_back_are_e164_numbers(sender: str, phone: bool) -> None:
    assert is_phone_number(sender) is phone


def test_short_codes_and_sender_names_have_no_number_to_search() -> None:
    assert number_search_terms("72345") == []
    assert number_search_terms("ACME Bank") == []


def test_quiet_hours_follow_the_recipients_time_zone() -> None:
    from datetime import UTC, datetime

    from models.quiet_hours import quiet_time

    night_in_dc = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 23:00 EST, 20:00 PST
    quiet = quiet_time("+12025550123", night_in_dc)
    assert quiet is not None and quiet.local.hour == 23
    assert quiet.next_allowed == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # 8:00 EST
    assert quiet_time("+14155550123", night_in_dc) is None  # still 20:00 in San Francisco
    early = datetime(2026, 11, 25, 11, 30, tzinfo=UTC)  # 06:30 EST
    assert quiet_time("+12025550123", early).next_allowed == datetime(
        2026, 11, 25, 13, 0, tzinfo=UTC
    )
    assert quiet_time("+12025550123", datetime(2026, 11, 25, 15, 0, tzinfo=UTC)) is None


def _reference_parse(text: str, region: str) -> str:
    """What phonenumbers alone makes of `text`: its E.164 form, or "invalid"."""
    try:
        number = phonenumbers.parse(text.strip(), region)
    except phonenumbers.NumberParseException:
        return "invalid"
    # A number possible only locally (dialled without its area code) is refused, though
    # is_possible_number and is_valid_number take some: "310-0000" is valid in Canada.
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        return "invalid"
    if not phonenumbers.is_valid_number(number):
        return "invalid"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_separator = st.sampled_from(["", " ", "-", ".", "(", ")", "  "])
_typed_number = st.builds(
    lambda prefix, digits, seps: (
        prefix + "".join(d + s for d, s in zip(digits, seps + [""] * len(digits), strict=False))
    ),
    st.sampled_from(["", "+1", "1", "+1 ", "1-", "+", "+44", "0", " "]),
    st.text("0123456789", min_size=7, max_size=12),
    st.lists(_separator, max_size=12),
)


@settings(max_examples=3000, deadline=None)
@given(text=_typed_number, region=st.sampled_from(["US", "CA", "GB", "DE", "JM"]))
@example(text="3100000", region="US")  # Canada's 310-xxxx, only possible locally
def test_the_quick_reading_of_a_plain_number_agrees_with_phonenumbers(
    text: str, region: str
) -> None:
    try:
        ours = parse_phone(text, region=region)
    except InvalidPhoneNumber:
        ours = "invalid"
    assert ours == _reference_parse(text, region)


@pytest.mark.parametrize(
    ("text", "region"),
    [("+1 (202) 555-0123", "GB"), ("202.555.0123", "US"), ("1 202 555 0123", "CA")],
)
def test_a_plain_us_number_is_read_without_the_general_parser(text: str, region: str) -> None:
    from models.phone import _parse_nanp

    assert _parse_nanp(text, region) == phonenumbers.parse(text, region)
