import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.slack_text import phone_text

NAMES = {"U0BOB": "Bob", "U0ALICE": "Alice Smith", "C0123": "sales", "S0TEAM": "support"}


def _phone(text: str, blocks: list[dict[str, Any]] | None = None) -> str:
    message: dict[str, Any] = {"text": text}
    if blocks is not None:
        message["blocks"] = blocks
    return phone_text(message, NAMES.get).text


def _rich(*elements: dict[str, Any]) -> list[dict[str, Any]]:
    """A composer's rich_text block holding one section with these elements."""
    return [
        {
            "type": "rich_text",
            "block_id": "b1",
            "elements": [{"type": "rich_text_section", "elements": list(elements)}],
        }
    ]


def _escape(text: str) -> str:
    """What Slack does to typed text in a message's text field."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the text field, one example of the issue each -----------------------------------------


@pytest.mark.parametrize(
    ("slack", "phone"),
    [
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("<https://example.com/o/7|example.com/o/7>", "https://example.com/o/7"),
        ("<mailto:a@b.c|a@b.c>", "a@b.c"),
        ("Ask <@U0BOB>", "Ask @Bob"),
        ("In <#C0123|sales>", "In #sales"),
        ("<!here> lunch", "@here lunch"),
        (":wave:", "👋"),
        ("*bold*", "bold"),
        ("_italic_", "italic"),
        ("~strike~", "strike"),
    ],
)
def test_the_issues_examples(slack: str, phone: str) -> None:
    assert _phone(slack) == phone


@pytest.mark.parametrize(
    ("slack", "phone"),
    [
        ("&lt;b&gt; &amp;lt; stays", "<b> &lt; stays"),  # decoded once
        ("<https://example.com/o/7|your order>", "your order (https://example.com/o/7)"),
        ("<https://example.com/o/7>", "https://example.com/o/7"),
        ("<https://example.com/o/7|https://example.com/o/7>", "https://example.com/o/7"),
        ("<http://example.com|example.com>", "http://example.com"),
        ("<https://x.example/?a=1&amp;b=2|the form>", "the form (https://x.example/?a=1&b=2)"),
        ("<mailto:a@b.c|write us>", "write us (a@b.c)"),
        ("<tel:+12025550123|+12025550123>", "+12025550123"),
        ("<@U0BOB|bob>", "@bob"),  # a name Slack wrote itself
        ("<#C0123>", "#sales"),
        ("<!channel> <!everyone>", "@channel @everyone"),
        ("<!subteam^S0TEAM|@team>", "@team"),
        ("<!subteam^S0TEAM>", "@support"),
        ("<!date^1392734382^{date_short}|Feb 18, 2014>", "Feb 18, 2014"),
        (":wave::skin-tone-2:", "👋🏻"),
        (":thumbsup: :+1: :white_check_mark:", "👍 👍 ✅"),
        (":flag-fr:", "🇫🇷"),
        (":partyparrot: and :some-custom_one:", ":partyparrot: and :some-custom_one:"),
        (":partyparrot::skin-tone-3:", ":partyparrot::skin-tone-3:"),
        ("at 10:30:45", "at 10:30:45"),
        ("*bold _and italic_*", "bold and italic"),
        ("_*both*_ ~*all*~", "both all"),
        ("*<https://example.com|the link>*", "the link (https://example.com)"),
        ("Only *$5*!", "Only $5!"),
        ("`code *stays*` and ```a block :wave:```", "code *stays* and a block :wave:"),
        ("&gt; quoted", "> quoted"),
    ],
)
def test_the_text_field(slack: str, phone: str) -> None:
    assert _phone(slack) == phone


@pytest.mark.parametrize(
    "text",
    [
        "a*b*c",
        "2*3*4 = 24",
        "a * b * c",
        "snake_case_words",
        "__init__",
        "file_name_v2.txt",
        "~5 to ~10 people",
        "*not closed",
        "* not bold*",
        "*two\nlines*",
    ],
)
def test_marks_that_slack_does_not_read_as_formatting_stay(text: str) -> None:
    assert _phone(text) == text


def test_a_mention_nobody_knows_reads_as_someone_and_is_reported() -> None:
    converted = phone_text({"text": "Ask <@U0NEW> or <#C0NEW>"}, lambda _: None)
    assert converted.text == "Ask @someone or #channel"
    assert converted.unresolved == {"U0NEW", "C0NEW"}
    assert phone_text({"text": "Ask <@U0BOB>"}, NAMES.get).unresolved == frozenset()


def test_typed_keeps_what_the_author_saw() -> None:
    converted = phone_text(
        {"text": "*Hi* <@U0BOB> :wave: <https://example.com/o/7|example.com/o/7> &amp; co"},
        NAMES.get,
    )
    assert converted.typed == "*Hi* @Bob :wave: example.com/o/7 & co"
    assert converted.text == "Hi @Bob 👋 https://example.com/o/7 & co"
    assert converted.differs
    plain = phone_text({"text": "Tom &amp; Jerry, ask <@U0BOB> in <#C0123|sales>"}, NAMES.get)
    assert plain.text == plain.typed == "Tom & Jerry, ask @Bob in #sales"
    assert not plain.differs


# --- the rich_text block -------------------------------------------------------------------


def test_the_rich_text_block_is_preferred() -> None:
    text = "Hi <@U0BOB> :wave: see <https://example.com/o/7|example.com/o/7> &amp; *thanks*"
    blocks = _rich(
        {"type": "text", "text": "Hi "},
        {"type": "user", "user_id": "U0BOB"},
        {"type": "text", "text": " "},
        {"type": "emoji", "name": "wave", "unicode": "1f44b"},
        {"type": "text", "text": " see "},
        {"type": "link", "url": "https://example.com/o/7", "text": "example.com/o/7"},
        {"type": "text", "text": " & "},
        {"type": "text", "text": "thanks", "style": {"bold": True}},
    )
    assert _phone(text, blocks) == "Hi @Bob 👋 see https://example.com/o/7 & thanks"
    # The block wins where the two disagree (an edit's text field can lag behind).
    assert _phone("old text", blocks).startswith("Hi @Bob")


@pytest.mark.parametrize(
    ("element", "phone"),
    [
        ({"type": "text", "text": "a < b & c"}, "a < b & c"),  # not escaped in blocks
        ({"type": "text", "text": "x", "style": {"italic": True, "strike": True}}, "x"),
        ({"type": "text", "text": "ls -la", "style": {"code": True}}, "ls -la"),
        ({"type": "link", "url": "https://example.com/o/7"}, "https://example.com/o/7"),
        ({"type": "link", "url": "https://e.com", "text": "here"}, "here (https://e.com)"),
        ({"type": "link", "url": "mailto:a@b.c", "text": "a@b.c"}, "a@b.c"),
        ({"type": "user", "user_id": "U0ALICE"}, "@Alice Smith"),
        ({"type": "channel", "channel_id": "C0123"}, "#sales"),
        ({"type": "usergroup", "usergroup_id": "S0TEAM"}, "@support"),
        ({"type": "broadcast", "range": "channel"}, "@channel"),
        ({"type": "emoji", "name": "wave"}, "👋"),
        ({"type": "emoji", "name": "wave", "unicode": "1f44b", "skin_tone": 3}, "👋🏼"),
        ({"type": "emoji", "name": "wave::skin-tone-2", "unicode": "1f44b-1f3fb"}, "👋🏻"),
        ({"type": "emoji", "name": "partyparrot"}, ":partyparrot:"),
        ({"type": "date", "timestamp": 1720710212, "fallback": "July 11"}, "July 11"),
        ({"type": "date", "timestamp": 1720710212, "format": "{date}"}, "2024-07-11 15:03 UTC"),
        ({"type": "color", "value": "#F405B3"}, "#F405B3"),
    ],
)
def test_rich_text_elements(element: dict[str, Any], phone: str) -> None:
    assert _phone("(the text field)", _rich(element)) == phone


def test_rich_text_lists_quotes_and_code() -> None:
    blocks = [
        {
            "type": "rich_text",
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "Options:"}]},
                {
                    "type": "rich_text_list",
                    "style": "bullet",
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": "A"}]},
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": "B"}]},
                    ],
                },
                {
                    "type": "rich_text_list",
                    "style": "ordered",
                    "indent": 1,
                    "offset": 2,
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": "C"}]}
                    ],
                },
                {
                    "type": "rich_text_quote",
                    "elements": [{"type": "text", "text": "said\nthis"}],
                },
                {
                    "type": "rich_text_preformatted",
                    "elements": [{"type": "text", "text": "code *here*"}],
                },
            ],
        }
    ]
    assert _phone("x", blocks) == "Options:\n• A\n• B\n  3. C\n> said\n> this\ncode *here*"


def test_a_block_of_another_shape_falls_back_to_the_text_field() -> None:
    broken = [{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [{}]}]}]
    assert _phone("Tom &amp; Jerry", broken) == "Tom & Jerry"
    odd = _rich({"type": "emoji", "name": "wave", "unicode": "not-hex"})
    assert _phone("Hi :wave:", odd) == "Hi 👋"
    assert _phone("Hi :wave:", [{"type": "section", "text": {"type": "mrkdwn", "text": "?"}}]) == (
        "Hi 👋"
    )


def test_a_rich_text_channel_takes_its_name_from_the_text_field() -> None:
    blocks = _rich({"type": "text", "text": "in "}, {"type": "channel", "channel_id": "C0NEW"})
    converted = phone_text({"text": "in <#C0NEW|new-sales>", "blocks": blocks}, lambda _: None)
    assert converted.text == "in #new-sales" and converted.unresolved == frozenset()


# --- properties ----------------------------------------------------------------------------

MENTION_IDS = st.from_regex(r"[UWCS][0-9A-Z]{2,10}", fullmatch=True)
TYPED = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
# Typed text with no < or > of its own, so that any left in the output came from markup.
TYPED_WITHOUT_ANGLES = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="<>"), max_size=40
)


@st.composite
def markup(draw: st.DrawFn) -> str:
    """A text field as Slack could send it: escaped typed text between tokens of markup."""
    pieces = draw(
        st.lists(
            st.one_of(
                TYPED_WITHOUT_ANGLES.map(_escape),
                MENTION_IDS.map(lambda i: f"<@{i}>"),
                MENTION_IDS.map(lambda i: f"<#{i}|{i.lower()}>"),
                MENTION_IDS.map(lambda i: f"<!subteam^{i}>"),
                st.sampled_from(["<!here>", "<!channel>", "<!everyone|everyone>"]),
                st.tuples(
                    st.from_regex(r"https://[a-z]{1,8}\.example/[a-z0-9]*", fullmatch=True),
                    TYPED_WITHOUT_ANGLES,
                ).map(lambda p: f"<{p[0]}|{_escape(p[1]).replace('|', '')}>"),
                st.sampled_from([":wave:", ":wave::skin-tone-4:", ":custom:", "*", "_", "~", "`"]),
            ),
            max_size=12,
        )
    )
    return "".join(pieces)


@given(markup())
def test_no_mention_or_broadcast_markup_reaches_the_phone(text: str) -> None:
    converted = phone_text({"text": text}, lambda _: None)
    for leftover in ("<@", "<#", "<!"):
        assert leftover not in converted.text and leftover not in converted.typed


@given(TYPED.filter(lambda t: ":" not in t))
def test_typed_text_comes_back_as_typed_less_formatting_marks(typed: str) -> None:
    """Whatever was typed (without emoji codes), the phone gets the same characters, its
    &, < and > decoded (no `&amp;` that came from escaping) and at most marks dropped."""
    converted = phone_text({"text": _escape(typed)}, lambda _: None)

    def unmarked(text: str) -> str:
        return re.sub(r"[*_~`]", "", text)

    # Blank space around the text goes before marks do: "*\r0" keeps its "\r" as "\r0".
    assert unmarked(converted.text).strip() == unmarked(typed).strip()
    assert converted.typed == typed.strip()


@given(
    st.lists(
        st.one_of(
            TYPED.map(lambda t: {"type": "text", "text": t}),
            MENTION_IDS.map(lambda i: {"type": "user", "user_id": i}),
            MENTION_IDS.map(lambda i: {"type": "channel", "channel_id": i}),
            MENTION_IDS.map(lambda i: {"type": "usergroup", "usergroup_id": i}),
            st.sampled_from(["here", "channel", "everyone"]).map(
                lambda r: {"type": "broadcast", "range": r}
            ),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_rich_text_keeps_every_text_and_no_markup(elements: list[dict[str, Any]]) -> None:
    """Each element in its place: texts as they are, mentions by name, never as markup."""
    shown = {
        "text": lambda e: e["text"],
        "user": lambda e: "@someone",
        "channel": lambda e: "#channel",
        "usergroup": lambda e: "@group",
        "broadcast": lambda e: "@" + e["range"],
    }
    converted = phone_text({"text": "", "blocks": _rich(*elements)}, lambda _: None)
    assert converted.text == "".join(shown[e["type"]](e) for e in elements).strip()
    mentioned = {e.get("user_id") or e.get("channel_id") or e.get("usergroup_id") for e in elements}
    assert converted.unresolved == mentioned - {None}
