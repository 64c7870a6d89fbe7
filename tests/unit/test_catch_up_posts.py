"""Catch-up posts: a conversation's backlog of a contact's texts shares posts, everything
else is posted one message at a time, in order."""

from itertools import groupby

from hypothesis import given
from hypothesis import strategies as st

from models.mirroring import (
    CATCH_UP_AFTER,
    CATCH_UP_CHARACTERS,
    CATCH_UP_MOST,
    CATCH_UP_TEXT_MOST,
    joins_catch_up,
    plan_posts,
)
from models.tables import Message, MessageDirection, MessageOrigin


def _text(message_id: int, *, contact_id: int = 1, body: str = "hi", **fields) -> Message:
    return Message(
        id=message_id,
        conversation_id=1,
        line_id=1,
        contact_id=contact_id,
        direction=fields.pop("direction", MessageDirection.INBOUND),
        body=body,
        **fields,
    )


def _texts(count: int, **fields) -> list[Message]:
    return [_text(n, **fields) for n in range(1, count + 1)]


def _sizes(posts: list[list[Message]]) -> list[int]:
    return [len(post) for post in posts]


def test_a_few_texts_are_posted_one_by_one() -> None:
    assert _sizes(plan_posts(_texts(CATCH_UP_AFTER - 1), relayed=())) == [1, 1, 1]


def test_a_backlog_shares_posts_of_at_most_twenty() -> None:
    assert _sizes(plan_posts(_texts(CATCH_UP_AFTER), relayed=())) == [CATCH_UP_AFTER]
    assert _sizes(plan_posts(_texts(45), relayed=())) == [CATCH_UP_MOST, CATCH_UP_MOST, 5]


def test_long_texts_fill_a_post_by_characters() -> None:
    body = "x" * CATCH_UP_TEXT_MOST
    per_post = CATCH_UP_CHARACTERS // CATCH_UP_TEXT_MOST
    posts = plan_posts(_texts(per_post + 1, body=body), relayed=())
    assert _sizes(posts) == [per_post, 1]


def test_what_changes_after_posting_is_posted_alone() -> None:
    """Relayed texts (their delivery states follow), attachments (uploaded below the text),
    outbound texts and replies typed in Slack, texts too long for one section, and texts
    posted already: each is a post of its own, and it cuts the run."""
    alone = [
        _text(5, media=[{"url": "https://api.twilio.com/m.jpg"}]),
        _text(5, direction=MessageDirection.OUTBOUND),
        _text(5, origin=MessageOrigin.SLACK),
        _text(5, body="x" * (CATCH_UP_TEXT_MOST + 1)),
        _text(5, slack_ts="1.000001"),
    ]
    for message in alone:
        messages = [*_texts(4), message, *[_text(n) for n in range(6, 10)]]
        assert _sizes(plan_posts(messages, relayed=())) == [4, 1, 4], message
    relayed = [*_texts(9)]
    assert _sizes(plan_posts(relayed, relayed={5})) == [4, 1, 4]


def test_a_post_holds_one_contacts_texts() -> None:
    messages = [*_texts(4, contact_id=1), *[_text(n, contact_id=2) for n in range(5, 8)]]
    assert _sizes(plan_posts(messages, relayed=())) == [4, 1, 1, 1]


_MESSAGES = st.lists(
    st.builds(
        lambda contact_id, direction, body_length, media, posted: _text(
            0,
            contact_id=contact_id,
            direction=direction,
            body="y" * body_length,
            media=[{"url": "https://api.twilio.com/m"}] if media else None,
            slack_ts="1.1" if posted else None,
        ),
        st.sampled_from([1, 2]),
        st.sampled_from([MessageDirection.INBOUND] * 4 + [MessageDirection.OUTBOUND]),
        st.one_of(st.integers(0, 40), st.integers(CATCH_UP_TEXT_MOST - 5, CATCH_UP_TEXT_MOST + 5)),
        st.integers(0, 9).map(lambda n: n == 0),
        st.integers(0, 9).map(lambda n: n == 0),
    ),
    max_size=120,
)


@given(_MESSAGES, st.sets(st.integers(1, 80), max_size=5))
def test_every_message_is_posted_once_in_order_within_the_limits(
    messages: list[Message], relayed: set[int]
) -> None:
    for number, message in enumerate(messages, 1):
        message.id = number
    posts = plan_posts(messages, relayed=relayed)
    assert [m.id for post in posts for m in post] == [m.id for m in messages]
    for post in posts:
        if len(post) > 1:
            assert all(joins_catch_up(m, has_deliveries=m.id in relayed) for m in post)
            assert len({m.contact_id for m in post}) == 1
            assert len(post) <= CATCH_UP_MOST
            assert sum(len(m.body) for m in post) <= CATCH_UP_CHARACTERS
    # A run long enough to catch up shares posts; a short one goes text by text.
    joinable = [
        (m.contact_id if joins_catch_up(m, has_deliveries=m.id in relayed) else None, m)
        for m in messages
    ]
    post_of = {m.id: index for index, post in enumerate(posts) for m in post}
    for contact_id, group in groupby(joinable, key=lambda pair: pair[0]):
        run = [m for _, m in group]
        run_posts = {post_of[m.id] for m in run}
        if contact_id is None or len(run) < CATCH_UP_AFTER:
            assert len(run_posts) == len(run)
        else:
            assert len(run_posts) < len(run)
