"""Splitting and packing text within Block Kit's limits, without losing or mangling any."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.limits import cut_mrkdwn, pack_rows, split_mrkdwn
from handlers.views.common import escape

# Customer text at its worst: markup characters, emoji, newlines, long words.
odd_text = st.lists(
    st.sampled_from([*"&<>ab \n", "😀", "👩\u200d👩\u200d👧", "é"]), max_size=2000
).map("".join)
_ENTITY_START = re.compile(r"&[a-z]*$")


def _cuts_an_entity(piece: str) -> bool:
    return bool(_ENTITY_START.search(piece))


@settings(max_examples=50, deadline=None)
@given(odd_text, st.integers(min_value=20, max_value=3000))
def test_split_pieces_fit_and_join_back(text: str, limit: int) -> None:
    escaped = escape(text)
    pieces = split_mrkdwn(escaped, limit)
    assert "".join(pieces) == escaped
    assert all(len(piece) <= limit for piece in pieces)
    assert not any(_cuts_an_entity(piece) for piece in pieces[:-1])


def test_a_1600_character_text_of_ampersands_needs_three_sections() -> None:
    pieces = split_mrkdwn(escape("&" * 1600))
    assert [len(p) for p in pieces] == [3000, 3000, 2000]
    assert all(p == "&amp;" * (len(p) // 5) for p in pieces)


def test_markup_is_not_cut() -> None:
    text = "x" * 2990 + "<https://example.com/a|a link>"
    pieces = split_mrkdwn(text, 3000)
    assert pieces == ["x" * 2990, "<https://example.com/a|a link>"]


@settings(max_examples=50, deadline=None)
@given(odd_text, st.integers(min_value=10, max_value=500))
def test_cut_fits_and_says_so(text: str, limit: int) -> None:
    escaped = escape(text)
    cut = cut_mrkdwn(escaped, limit)
    assert len(cut) <= limit
    assert cut == escaped or cut.endswith("…")


@settings(max_examples=50, deadline=None)
@given(st.lists(odd_text.map(escape), max_size=30), st.integers(min_value=50, max_value=3000))
def test_packed_rows_fit_and_keep_every_row(rows: list[str], limit: int) -> None:
    packed = pack_rows(rows, limit)
    assert all(len(text) <= limit for text in packed)
    assert "".join(packed).replace("\n", "") == "".join(rows).replace("\n", "")


def test_rows_are_not_cut_when_they_fit() -> None:
    rows = [f"• row {n} " + "x" * 90 for n in range(40)]
    packed = pack_rows(rows, 3000)
    assert len(packed) == 2
    assert [row for text in packed for row in text.split("\n")] == rows
