"""Slack mirror bookkeeping: which conversations have something to show in Slack, and a
lease so that exactly one worker (in any process) handles a conversation at a time, in
arrival order."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, bindparam, func, or_, update
from sqlmodel import Session, col, select

from models.sql_lists import rows_of_arrays
from models.tables import Conversation, Line, Message, MessageDirection, MessageOrigin

# Slack errors a retry cannot get past (the same call gets the same answer). About the
# payload: that one message is parked, once a plain fallback was refused too. About the
# channel or the token: the conversation is parked until it has new work, and its
# unposted messages wait for it (moved, unarchived or invited, the channel takes them).
PAYLOAD_REFUSALS = frozenset(
    {
        "invalid_blocks",
        "invalid_arguments",
        "msg_too_long",
        "msg_blocks_too_long",
        "no_text",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
    }
)
CHANNEL_REFUSALS = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "team_access_not_granted",
    }
)


def _free(now: datetime):  # type: ignore[no-untyped-def]
    return (
        col(Conversation.mirror_pending).is_(True)
        & or_(
            col(Conversation.mirror_lease_until).is_(None),
            col(Conversation.mirror_lease_until) < now,
        )
        & or_(
            col(Conversation.mirror_not_before).is_(None),
            col(Conversation.mirror_not_before) <= now,
        )
    )


def find_conversations_to_mirror(*, session: Session, now: datetime, limit: int = 50) -> list[int]:
    rows = session.exec(
        select(Conversation.id).where(_free(now)).order_by(col(Conversation.id)).limit(limit)
    ).all()
    return [row for row in rows if row is not None]


@dataclass(frozen=True)
class MirrorClaim:
    seq: int  # the work sequence number seen: finish_mirror tells if more arrived since
    # The previous worker's lease ran out before it finished (it died, most likely): it may
    # have posted to Slack without recording the post.
    taken_over: bool


def claim_conversation_for_mirror(
    *, session: Session, conversation_id: int, now: datetime, lease: timedelta
) -> MirrorClaim | None:
    """Lease the conversation's mirror work; None if another worker has it or there is
    nothing to do."""
    # Read before the update, which overwrites the lease. A sequence number read early is
    # at worst older: finish_mirror then leaves the work pending, to be looked at again.
    seq, previous_lease = session.exec(
        select(Conversation.mirror_seq, Conversation.mirror_lease_until).where(
            Conversation.id == conversation_id
        )
    ).one()
    result = session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, _free(now))
        .values(mirror_lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return MirrorClaim(seq=seq, taken_over=previous_lease is not None)


def renew_mirror_leases(
    *, session: Session, conversation_ids: Collection[int], until: datetime
) -> None:
    """A live worker keeps the conversations it is working on (a lease still held)."""
    if conversation_ids:
        session.execute(
            update(Conversation)
            .where(
                col(Conversation.id).in_(conversation_ids),
                col(Conversation.mirror_lease_until).is_not(None),
            )
            .values(mirror_lease_until=until)
            .execution_options(synchronize_session=False)
        )


def finish_mirror(*, session: Session, conversation_id: int, seq: int) -> bool:
    """Release the lease; the work is done unless more arrived since the claim."""
    result = session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.mirror_seq) == seq)
        .values(mirror_pending=False, mirror_lease_until=None, mirror_not_before=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    release_mirror(session=session, conversation_id=conversation_id)
    return False


def release_mirror(
    *, session: Session, conversation_id: int, not_before: datetime | None = None
) -> None:
    """Give the work back, still pending (after an error, or to wait for Slack's pace)."""
    session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id)
        .values(mirror_lease_until=None, mirror_not_before=not_before)
        .execution_options(synchronize_session=False)
    )


def find_messages_to_mirror(*, session: Session, conversation_id: int) -> list[Message]:
    return list(session.exec(_UNMIRRORED, params={"conversation_id": conversation_id}).all())


# Read through ix_message_unmirrored, which holds only these: a conversation's length does
# not slow its mirror down.
_UNMIRRORED = (
    select(Message)
    .where(
        Message.conversation_id == bindparam("conversation_id", type_=Integer),
        col(Message.slack_rev) > col(Message.slack_synced_rev),
    )
    .order_by(col(Message.id))
)


# A conversation's backlog of texts from its contact (the bot was down, or Slack's pace of a
# post a second per channel fell behind the texts) is posted in catch-up posts of several
# texts each: at Slack's pace, 5,000 texts in one channel would take an hour and a half one
# by one. A run shorter than CATCH_UP_AFTER is posted text by text, as ever.
CATCH_UP_AFTER = 4
CATCH_UP_MOST = 20  # texts in one post: two blocks each, within Slack's 50
CATCH_UP_CHARACTERS = 4_000  # so that the post's notification text holds them all
# Longer texts post alone: escaped (`&` is 5 characters) a text of 600 fills one section.
CATCH_UP_TEXT_MOST = 600


def joins_catch_up(message: Message, *, has_deliveries: bool) -> bool:
    """A text that can share a post: a contact's text, new to Slack, that nothing changes
    once posted (no relays to follow, no attachments to upload below it)."""
    return (
        message.slack_ts is None
        and message.direction == MessageDirection.INBOUND
        and message.origin != MessageOrigin.SLACK
        and not message.media
        and not has_deliveries
        and len(message.body) <= CATCH_UP_TEXT_MOST
    )


def plan_posts(messages: list[Message], *, relayed: Collection[int]) -> list[list[Message]]:
    """The messages to mirror (in order) as the posts to make: one message each, except a
    run of CATCH_UP_AFTER or more texts from one contact that can share posts (`relayed`:
    the ids of messages with deliveries, which cannot)."""
    posts: list[list[Message]] = []
    run: list[Message] = []
    for message in [*messages, None]:
        joins = message is not None and joins_catch_up(
            message, has_deliveries=message.id in relayed
        )
        if run and not (joins and message is not None and message.contact_id == run[-1].contact_id):
            posts.extend(_catch_up_posts(run))
            run = []
        if joins and message is not None:
            run.append(message)
        elif message is not None:
            posts.append([message])
    return posts


def _catch_up_posts(run: list[Message]) -> list[list[Message]]:
    """A run of texts as posts: one by one when short, else in catch-up posts of at most
    CATCH_UP_MOST texts and CATCH_UP_CHARACTERS characters."""
    if len(run) < CATCH_UP_AFTER:
        return [[message] for message in run]
    posts: list[list[Message]] = [[]]
    for message in run:
        post = posts[-1]
        characters = sum(len(m.body) for m in post) + len(message.body)
        if post and (len(post) == CATCH_UP_MOST or characters > CATCH_UP_CHARACTERS):
            posts.append([message])
        else:
            post.append(message)
    return posts


def record_message_mirrored(
    *, session: Session, message_id: int, rev: int, slack_ts: str, mark: str | None = None
) -> None:
    session.execute(
        update(Message)
        .where(col(Message.id) == message_id, col(Message.slack_synced_rev) < rev)
        .values(slack_synced_rev=rev, slack_ts=slack_ts, slack_mark=mark)
        .execution_options(synchronize_session=False)
    )


def record_messages_mirrored(
    *, session: Session, posted: list[tuple[int, int]], slack_ts: str
) -> None:
    """Several messages shown by one post (message id, rev as posted), in one statement."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        message_ids, revs = zip(*posted, strict=True)
        connection.execute(
            _RECORD_POSTED_ARRAYS, {"message_id": message_ids, "rev": revs, "ts": slack_ts}
        )
        return
    connection.execute(
        _RECORD_POSTED,
        [{"message_id": message_id, "rev": rev, "ts": slack_ts} for message_id, rev in posted],
    )


_message_table = Message.__table__  # type: ignore[attr-defined]
_RECORD_POSTED = (
    update(_message_table)
    .where(
        _message_table.c.id == bindparam("message_id"),
        _message_table.c.slack_synced_rev < bindparam("rev"),
    )
    .values(slack_synced_rev=bindparam("rev"), slack_ts=bindparam("ts"), slack_mark=None)
)
# On PostgreSQL the post's messages as two arrays: one round trip, not one a message.
_posted = rows_of_arrays({"message_id": Integer, "rev": Integer})
_RECORD_POSTED_ARRAYS = (
    update(_message_table)
    .where(
        _message_table.c.id == _posted.c.message_id,
        _message_table.c.slack_synced_rev < _posted.c.rev,
    )
    .values(slack_synced_rev=_posted.c.rev, slack_ts=bindparam("ts"), slack_mark=None)
)


def record_parent_mirrored(
    *, session: Session, conversation_id: int, rev: int, channel_id: str, thread_ts: str
) -> None:
    session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.parent_synced_rev) < rev)
        .values(parent_synced_rev=rev, slack_channel_id=channel_id, slack_thread_ts=thread_ts)
        .execution_options(synchronize_session=False)
    )


def record_found_parent(
    *, session: Session, conversation_id: int, channel_id: str, thread_ts: str
) -> None:
    """A parent message found in Slack after a takeover (a worker posted it and died before
    recording it): kept at once, so that whatever becomes of this attempt it is updated
    from now on, never posted again."""
    session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.slack_thread_ts).is_(None))
        .values(slack_channel_id=channel_id, slack_thread_ts=thread_ts)
        .execution_options(synchronize_session=False)
    )


def record_found_posts(*, session: Session, slack_ts_by_message: dict[int, str]) -> None:
    """Thread posts found in Slack after a takeover, kept at once (see record_found_parent)."""
    for message_id, slack_ts in slack_ts_by_message.items():
        session.execute(
            update(Message)
            .where(col(Message.id) == message_id, col(Message.slack_ts).is_(None))
            .values(slack_ts=slack_ts)
            .execution_options(synchronize_session=False)
        )


def park_conversation_mirror(*, session: Session, conversation_id: int, error: str) -> None:
    """Slack refuses the conversation's posts for good: record why. The mirror's work is
    finished as usual, so it is tried again only when the conversation has new work."""
    session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id)
        .values(slack_error=error)
        .execution_options(synchronize_session=False)
    )


def clear_parked_conversation(*, session: Session, conversation_id: int) -> None:
    session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.slack_error).is_not(None))
        .values(slack_error=None)
        .execution_options(synchronize_session=False)
    )


def park_message(
    *, session: Session, message_id: int, rev: int, error: str, slack_ts: str | None
) -> None:
    """Slack refuses this message even in plain text: record why, and move on to the next.
    `slack_ts`: where it was posted, when it was and only an update of it was refused."""
    session.execute(
        update(Message)
        .where(col(Message.id) == message_id, col(Message.slack_synced_rev) < rev)
        .values(slack_synced_rev=rev, slack_error=error, slack_ts=slack_ts)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class ParkedPosts:
    """What Slack refused for good, by error."""

    conversations: int
    messages: int
    error: str
    channel_id: str | None  # the channel, for conversations parked for their channel


def find_parked_posts(*, session: Session) -> list[ParkedPosts]:
    channel = func.coalesce(Conversation.slack_channel_id, Line.channel_id)
    conversations = session.exec(
        select(Conversation.slack_error, channel, func.count())
        .join(Line, col(Line.id) == Conversation.line_id)
        .where(col(Conversation.slack_error).is_not(None))
        .group_by(Conversation.slack_error, channel)
    ).all()
    messages = session.exec(
        select(Message.slack_error, func.count())
        .where(col(Message.slack_error).is_not(None))
        .group_by(Message.slack_error)
    ).all()
    parked = [ParkedPosts(int(n), 0, str(e), str(c)) for e, c, n in conversations]
    parked += [ParkedPosts(0, int(n), str(e), None) for e, n in messages]
    return sorted(parked, key=lambda p: (p.error, p.channel_id or ""))
