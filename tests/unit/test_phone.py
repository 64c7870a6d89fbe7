import pytest

from models.phone import InvalidPhoneNumber, format_phone, number_search_terms, parse_phone


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
