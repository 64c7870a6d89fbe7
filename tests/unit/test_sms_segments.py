import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.sms_segments import GSM7_BASIC, GSM7_EXTENSION, SmsEncoding, count_segments

GSM_BASIC_TEXT = st.text(alphabet=sorted(GSM7_BASIC))
GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION))


def test_the_alphabets_are_3gpps() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes less the escape
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert "`" not in GSM7_BASIC | GSM7_EXTENSION  # a backtick sends a text as UCS-2


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("", SmsEncoding.GSM7, 0, 0),
        ("See you at 3", SmsEncoding.GSM7, 12, 1),
        ("a" * 160, SmsEncoding.GSM7, 160, 1),
        ("a" * 161, SmsEncoding.GSM7, 161, 2),
        ("a" * 306, SmsEncoding.GSM7, 306, 2),
        ("a" * 307, SmsEncoding.GSM7, 307, 3),
        ("€" * 80, SmsEncoding.GSM7, 160, 1),  # the extension table counts twice
        ("€" * 81, SmsEncoding.GSM7, 162, 2),
        ("a" * 152 + "€" + "a" * 10, SmsEncoding.GSM7, 164, 2),  # the escape is not split
        ("a" + "€" * 76 + "a" * 8, SmsEncoding.GSM7, 161, 2),
        ("Café crêpe", SmsEncoding.UCS2, 10, 1),  # ê is not GSM-7 (é and è are)
        ("é" * 160, SmsEncoding.GSM7, 160, 1),
        ("“Hi”", SmsEncoding.UCS2, 4, 1),  # curly quotes
        ("a" * 70, SmsEncoding.GSM7, 70, 1),
        ("👋" + "a" * 68, SmsEncoding.UCS2, 70, 1),  # an emoji is two UTF-16 units
        ("👋" + "a" * 69, SmsEncoding.UCS2, 71, 2),
        ("a" * 66 + "👋" + "a" * 10, SmsEncoding.UCS2, 78, 2),  # a surrogate pair stays whole
        ("a" * 65 + "👋" + "a" * 3, SmsEncoding.UCS2, 70, 1),
        ("a" * 133 + "😀", SmsEncoding.UCS2, 135, 3),
    ],
)
def test_segments(text: str, encoding: SmsEncoding, units: int, count: int) -> None:
    segments = count_segments(text)
    assert (segments.encoding, segments.units, segments.count) == (encoding, units, count)


def test_one_emoji_more_than_doubles_a_full_sms() -> None:
    text = "Your order #7 is ready for pick-up at the front desk. " * 2
    assert count_segments(text).count == 1
    assert count_segments(text + "👍").count == 2
    assert count_segments(text + "👍").not_gsm == ("👍",)


def test_names_what_made_it_ucs2_once_each_in_order() -> None:
    assert count_segments("“Hi” 👋 “there”").not_gsm == ("“", "”", "👋")
    assert count_segments("plain").not_gsm == ()


@given(GSM_BASIC_TEXT)
def test_gsm_basic_text_fills_153_a_segment(text: str) -> None:
    segments = count_segments(text)
    assert segments.encoding == SmsEncoding.GSM7 and segments.units == len(text)
    expected = 0 if not text else 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert segments.count == expected


@given(GSM_TEXT)
def test_gsm_extension_characters_count_twice(text: str) -> None:
    segments = count_segments(text)
    assert segments.encoding == SmsEncoding.GSM7
    assert segments.units == len(text) + sum(c in GSM7_EXTENSION for c in text)


@given(
    st.text(),
    st.characters(blacklist_categories=["Cs"]).filter(
        lambda c: c not in GSM7_BASIC | GSM7_EXTENSION
    ),
)
def test_one_character_outside_gsm_sends_it_all_as_utf16(text: str, other: str) -> None:
    message = text + other
    segments = count_segments(message)
    assert segments.encoding == SmsEncoding.UCS2
    assert segments.units == len(message.encode("utf-16-le")) // 2
    assert other in segments.not_gsm


@given(st.text(), st.text(min_size=1))
def test_more_text_never_takes_fewer_segments(text: str, more: str) -> None:
    assert count_segments(text + more).count >= count_segments(text).count


@given(st.text(min_size=1))
def test_the_segments_hold_the_text(text: str) -> None:
    segments = count_segments(text)
    single = {SmsEncoding.GSM7: 160, SmsEncoding.UCS2: 70}[segments.encoding]
    each = {SmsEncoding.GSM7: 153, SmsEncoding.UCS2: 67}[segments.encoding]
    assert segments.count >= 1
    if segments.count == 1:
        assert segments.units <= single
    else:
        assert segments.units > single
        # Full segments but for at most one unit lost at each boundary (a character kept whole).
        assert (segments.count - 1) * (each - 1) < segments.units <= segments.count * each
