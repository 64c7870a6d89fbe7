"""What every surface's builders share: escaping, labels, dates, links, menus, long text."""

from __future__ import annotations

from datetime import UTC, datetime

from handlers.limits import MESSAGE_BLOCKS, SECTION_TEXT, SELECT_OPTIONS
from handlers.views.common import (
    contact_label,
    contact_mrkdwn,
    escape,
    line_label,
    option,
    section_blocks,
    segments_summary,
    select_or_search,
    slack_date,
    thread_link,
)
from models.sms_segments import count_segments
from tests.view_checks import LONG_CONTACT_NAME, contact, line, valid_message, valid_options


def test_escape() -> None:
    assert escape("<a & b>") == "&lt;a &amp; b&gt;"


def test_labels_name_and_number_and_mrkdwn_ones_are_escaped() -> None:
    assert contact_label(contact(3, name="Jane <Doe>")) == "Jane <Doe> (+1 202-555-0103)"
    assert contact_mrkdwn(contact(3, name="Jane <Doe>")) == "Jane &lt;Doe&gt; (+1 202-555-0103)"
    assert contact_label(contact(3, name=None)) == "+1 202-555-0103"
    assert line_label(line(1, name="Sales")) == "Sales (+1 202-555-0101)"


def test_segments_summary_says_why_a_text_costs_more() -> None:
    assert segments_summary(count_segments("See you at 3")) == "1 SMS"
    assert segments_summary(count_segments("a" * 161)) == "2 SMS segments"
    assert segments_summary(count_segments("Hi 👋")) == (
        "1 SMS: 👋 makes it Unicode, 70 characters an SMS instead of 160"
    )
    assert segments_summary(count_segments("“<b>”\t" + "a" * 70)) == (
        "2 SMS segments: “ ” U+0009 make it Unicode, 67 characters a segment instead of 153"
    )
    assert segments_summary(count_segments("ÂÊÎÔÛ")).endswith(
        ": Â Ê Î … make it Unicode, 70 characters an SMS instead of 160"
    )


def test_a_date_shows_in_each_readers_time_zone_with_a_fallback() -> None:
    moment = datetime(2026, 3, 2, 10, 42, tzinfo=UTC)
    assert slack_date(moment) == (
        f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|2026-03-02 10:42 UTC>"
    )


def test_a_thread_link_needs_the_workspace_the_channel_and_the_thread() -> None:
    assert thread_link("https://acme.slack.com/", "C0SALES", "1700000000.000123") == (
        "https://acme.slack.com/archives/C0SALES/p1700000000000123"
    )
    assert thread_link("", "C0SALES", "1700000000.000123") is None
    assert thread_link("https://acme.slack.com", "C0SALES", None) is None


def test_a_menu_lists_up_to_100_options_and_searches_past_that() -> None:
    options = [option(f"{LONG_CONTACT_NAME} {n}", str(n)) for n in range(SELECT_OPTIONS + 1)]
    valid_options(options[:SELECT_OPTIONS])
    listed = select_or_search("pick", options[:SELECT_OPTIONS], "Choose")
    assert listed["type"] == "static_select" and len(listed["options"]) == SELECT_OPTIONS
    searched = select_or_search("pick", options, "Choose", multi=True)
    assert searched["type"] == "multi_external_select" and "options" not in searched
    assert searched["placeholder"]["text"] == "Choose (type to search)"


def test_text_longer_than_a_message_holds_says_how_much_was_left_out() -> None:
    text = "word " * (SECTION_TEXT * (MESSAGE_BLOCKS + 5) // 5)
    blocks = section_blocks(text)
    valid_message("long", blocks)
    assert len(blocks) == MESSAGE_BLOCKS
    kept = "".join(b["text"]["text"] for b in blocks[:-1])
    assert text.startswith(kept)
    assert blocks[-1]["text"]["text"] == f"_… and {len(text) - len(kept)} more characters_"
