import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from models.untrusted_text import strip_hidden_characters

BIDI_CONTROLS = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def _hidden(char: str) -> bool:
    """What the rule drops, said another way: Unicode's control category (Cc) but newline
    and tab, and the bidi controls."""
    return (unicodedata.category(char) == "Cc" and char not in "\n\t") or char in BIDI_CONTROLS


def test_drops_controls_and_bidi_overrides_and_keeps_the_rest() -> None:
    hostile = "Pay\x00 at \u202egro.knab\u202c\x1b[31m\x85 now\r\n\tthanks\x7f\u2066é😀\u2069"
    assert strip_hidden_characters(hostile) == "Pay at gro.knab[31m now\n\tthanksé😀"


def test_leaves_slack_markup_to_the_escaping() -> None:
    text = "<!channel> call me back <https://evil.example|your bank> <@U0ADMIN> & more"
    assert strip_hidden_characters(text) == text


@given(st.text())
def test_nothing_hidden_is_left(text: str) -> None:
    assert not any(_hidden(char) for char in strip_hidden_characters(text))


@given(st.text())
def test_only_hidden_characters_go_and_the_order_stays(text: str) -> None:
    assert strip_hidden_characters(text) == "".join(c for c in text if not _hidden(c))


@given(st.text())
def test_cleaning_twice_changes_nothing_more(text: str) -> None:
    once = strip_hidden_characters(text)
    assert strip_hidden_characters(once) == once
