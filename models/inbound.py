"""Inbound texts: which conversation they belong to, stored once per provider id."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    CompoundSelect,
    Connection,
    Integer,
    Row,
    String,
    bindparam,
    delete,
    func,
    literal,
    null,
    or_,
    union,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from models.broadcasts import note_reply
from models.contacts import get_or_create_contact
from models.conversations import insert_message, mark_for_mirror, open_or_reopen_conversation
from models.group_texts import find_same_group_text
from models.groups import count_other_open_conversations, relay_to_group
from models.optouts import Keyword, classify_keyword, opt_in, opt_out
from models.phone import format_phone, try_parse_phone
from models.scheduling import cancel_scheduled_to
from models.sql_lists import as_arrays, one_of, rows_of_arrays
from models.tables import (
    Contact,
    Conversation,
    ConversationKind,
    ConversationParticipant,
    ConversationStatus,
    Delivery,
    IdempotencyKey,
    InboundRefusal,
    InboundWebhook,
    Line,
    Message,
    MessageDirection,
    MessageOrigin,
)
from models.types import (
    UTCDateTime,
    dialect_insert,
    insert_ignoring_conflicts,
    inserted_keys,
    utcnow,
)
from models.untrusted_text import strip_hidden_characters

# A staged text whose routing failed this often waits for someone to look (it shows in
# /metrics) instead of being tried forever.
MAX_ROUTING_ATTEMPTS = 5
# Hashed with the schema's name: the first half of the keys of PostgreSQL's advisory locks
# that let one router at a time route a sender's texts (see take_staged_texts).
_ROUTING_LOCK_NAME = " textbot inbound routing"
# How many of the oldest staged texts a router on PostgreSQL looks at to share them out.
_SHARING_WINDOW = 4
# How long a member's text to a group text waits before it is routed (see _routable).
GROUP_TEXT_SETTLE = timedelta(seconds=1)
# The idempotency key (and message dedupe key) of an inbound text is this and its MessageSid.
_SMS_KEY = "sms:"


class RefusalReason(StrEnum):
    """Why the router refused a staged text (the label of textbot_inbound_refused_total)."""

    UNKNOWN_LINE = "unknown_line"  # sent to a number that is no line, nor in a line's service


# Twilio's log gives the second a text reached it, no finer.
_REST_OF_THE_SECOND = timedelta(seconds=1) - timedelta(microseconds=1)


def logged_arrival(logged_at: datetime) -> datetime:
    """The time to stage a text read back from Twilio's log with, which gives the second it
    arrived in: the last instant of that second, so that it is routed after any text the
    webhook brought within it. Which of the two came first is not known; the recovered
    one, sent at the second's start, is said to be late if the other one came after that."""
    return logged_at.replace(microsecond=0) + _REST_OF_THE_SECOND


def staged_sent_at(text: InboundWebhook) -> datetime:
    """When a staged text reached Twilio, as far as is known: the webhook's arrival, or the
    start of the second Twilio's log gives."""
    if text.logged_to_the_second:
        return text.received_at.replace(microsecond=0)
    return text.received_at


def sender_phone(text: InboundWebhook, default_region: str) -> str:
    """Who sent a staged text, as their contact's phone is stored: E.164 when it reads as a
    number (national numbers in `default_region`), else as given (a short code, a name)."""
    return _stored_phone(text.from_number, default_region)


# A backlog holds many texts from each sender: a number is read once, not once a text.
@lru_cache(maxsize=4096)
def _stored_phone(number: str, default_region: str) -> str:
    return strip_hidden_characters(try_parse_phone(number, region=default_region) or number)


def inbound_dedupe_key(message_sid: str) -> str:
    """The idempotency key, and the message's dedupe key, of an inbound text."""
    return _SMS_KEY + message_sid


def stage_inbound_texts(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Store webhooks as they came, in one statement; a MessageSid already staged is
    skipped (Twilio retried before the first copy was routed)."""
    insert = dialect_insert(connection.dialect.name)
    table = InboundWebhook.__table__  # type: ignore[attr-defined]
    # One statement for many rows needs the same columns in each (a group text has two more).
    rows = [{"conversation_sid": None, "conversation_index": None, **row} for row in rows]
    connection.execute(insert(table).on_conflict_do_nothing(index_elements=["message_sid"]), rows)


def stage_recovered_texts(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Stage texts read back from Twilio's log (message_sid, to_number, from_number, body,
    received_at, logged_to_the_second), in the order given, as stage_inbound_texts does.
    On PostgreSQL an outage's thousands go as one statement over arrays, one per column:
    as a row of parameters each, the process's other threads took the lock between the
    rows' round trips, and 5,000 texts took seconds to stage."""
    if connection.dialect.name != "postgresql":
        stage_inbound_texts(connection, rows)
        return
    connection.execute(_STAGE_RECOVERED, as_arrays(rows, _RECOVERED_COLUMNS))


_RECOVERED_COLUMNS: dict[str, Any] = {
    "message_sid": String,
    "to_number": String,
    "from_number": String,
    "body": String,
    "received_at": UTCDateTime,
    "logged_to_the_second": Boolean,
}
_recovered = rows_of_arrays(_RECOVERED_COLUMNS, place="place")
# Ids in the order given: texts logged in the same second are routed in id order.
_STAGE_RECOVERED = (
    postgresql.insert(InboundWebhook.__table__)  # type: ignore[attr-defined]
    .from_select(
        [*_RECOVERED_COLUMNS, "attempts"],
        sa_select(*(_recovered.c[name] for name in _RECOVERED_COLUMNS), literal(0)).order_by(
            _recovered.c.place
        ),
    )
    .on_conflict_do_nothing(index_elements=["message_sid"])
)


def stored_message_sids(*, session: Session, sids: list[str]) -> set[str]:
    """Which of these MessageSids are stored: staged for the router, or routed (their key
    taken). One statement, so a text the router moves from one to the other meanwhile is
    still seen."""
    keys = [_SMS_KEY + sid for sid in sids]
    return set(session.execute(_STORED_SIDS, {"sids": sids, "keys": keys}).scalars())


_STORED_SIDS = union(
    select(InboundWebhook.message_sid).where(one_of(InboundWebhook.message_sid, "sids")),
    select(func.substr(IdempotencyKey.key, len(_SMS_KEY) + 1)).where(
        one_of(IdempotencyKey.key, "keys")
    ),
)


def mark_inbound_checked(connection: Connection, *, line_id: int, until: datetime) -> None:
    """Note that the line's texts up to `until` are all stored (never moving it back)."""
    line = Line.__table__  # type: ignore[attr-defined]
    connection.execute(
        update(line)
        .where(
            line.c.id == line_id,
            or_(line.c.inbound_checked_until.is_(None), line.c.inbound_checked_until < until),
        )
        .values(inbound_checked_until=until)
    )


def hold_lines_for_recovery(connection: Connection, *, now: datetime) -> None:
    """A process starts: the webhook may have missed texts while none ran, so no active
    line's staged texts are routed until its log has been read back (see
    end_recovery_hold), else the texts recovered would follow newer ones."""
    line = Line.__table__  # type: ignore[attr-defined]
    connection.execute(
        update(line).where(line.c.active.is_(True)).values(inbound_recovery_pending_since=now)
    )


def end_recovery_hold(
    connection: Connection, *, line_id: int, pending_since: datetime | None
) -> None:
    """The line's log was read back, by a read that began when its hold was
    `pending_since`: its texts may be routed, unless a process started since (a newer hold
    asks for a newer read)."""
    if pending_since is None:
        return
    line = Line.__table__  # type: ignore[attr-defined]
    connection.execute(
        update(line)
        .where(line.c.id == line_id, line.c.inbound_recovery_pending_since == pending_since)
        .values(inbound_recovery_pending_since=None)
    )


def release_overdue_holds(*, session: Session, hold_cutoff: datetime) -> list[str]:
    """Stop holding the lines held since before `hold_cutoff` (their log could not be read
    back in time); their numbers."""
    released = session.execute(
        update(Line)
        .where(col(Line.inbound_recovery_pending_since) <= hold_cutoff)
        .values(inbound_recovery_pending_since=None)
        .returning(col(Line.number))
        .execution_options(synchronize_session=False)
    )
    return list(released.scalars())


# Staged texts the router may take: not parked after failing, and not to a line held for
# recovery since `hold_cutoff` or later. Built once (the router asks it every step); the
# parameters come from _routable_params.
_ROUTABLE = (
    (col(InboundWebhook.attempts) < MAX_ROUTING_ATTEMPTS)
    & ~(
        select(Line.id)
        .where(
            col(Line.number) == InboundWebhook.to_number,
            col(Line.inbound_recovery_pending_since)
            > bindparam("hold_cutoff", type_=UTCDateTime()),
        )
        .exists()
    )
    # A member's text to a group text waits a moment after it came, so that one whose
    # webhook came a little later with a lower Index goes first (in_group_text_order).
    & ~(
        col(InboundWebhook.conversation_sid).is_not(None)
        & (col(InboundWebhook.received_at) > bindparam("settling_since", type_=UTCDateTime()))
    )
)
_ANY_STAGED = select(InboundWebhook.id).where(_ROUTABLE).limit(1)
_STAGED = (
    select(InboundWebhook)
    .where(_ROUTABLE)
    .order_by(col(InboundWebhook.received_at), col(InboundWebhook.id))
    .limit(bindparam("limit", type_=Integer))
)
_STAGED_FOR_SHARES = _STAGED.with_only_columns(
    col(InboundWebhook.id),
    col(InboundWebhook.to_number),
    col(InboundWebhook.from_number),
    col(InboundWebhook.conversation_sid),
)


def _routable_params(hold_cutoff: datetime) -> dict[str, Any]:
    return {"hold_cutoff": hold_cutoff, "settling_since": utcnow() - GROUP_TEXT_SETTLE}


def next_group_text_due(*, session: Session) -> datetime | None:
    """When the first group text still settling may be routed, if one is."""
    first = session.exec(
        select(func.min(InboundWebhook.received_at)).where(
            col(InboundWebhook.conversation_sid).is_not(None),
            col(InboundWebhook.attempts) < MAX_ROUTING_ATTEMPTS,
        )
    ).first()
    return None if first is None else first + GROUP_TEXT_SETTLE


def take_staged_texts(
    *, session: Session, limit: int, hold_cutoff: datetime
) -> list[InboundWebhook] | None:
    """The oldest staged texts this transaction may route, in the order they reached
    Twilio; None when other routers hold them all.

    SQLite's write lock lets one router run at a time. On PostgreSQL routers run side by
    side, each with shares of its own: a sender's texts go together (a direct conversation
    is theirs alone); a sender in one of a line's open groups has their texts to that line
    go with all such texts of the line, and group MMS texts all go together, so that a
    group's texts keep their order among all its members. The transaction holds an advisory
    lock on each share it takes until it ends; another router takes the next shares."""
    if session.get_bind().dialect.name != "postgresql":
        return staged_texts(session=session, limit=limit, hold_cutoff=hold_cutoff)
    oldest = session.execute(
        _STAGED_FOR_SHARES, {**_routable_params(hold_cutoff), "limit": limit * _SHARING_WINDOW}
    ).all()
    if not oldest:
        return []
    whole_lines, group_mms_lines = _lines_routed_whole(session, oldest)
    share_of = {row.id: _share_key(row, whole_lines, group_mms_lines) for row in oldest}
    in_order = list(dict.fromkeys(share_of.values()))
    wanted = len(set(list(share_of.values())[:limit]))
    taken = set(session.execute(_TAKE_SHARES, {"keys": in_order, "wanted": wanted}).scalars())
    if not taken:
        return None
    ids = [staged_id for staged_id, key in share_of.items() if key in taken]
    texts = session.exec(_STAGED_BY_ID, params={"ids": ids, "limit": limit}).all()
    return in_group_text_order(list(texts))


_STAGED_BY_ID = (
    select(InboundWebhook)
    .where(one_of(InboundWebhook.id, "ids"))
    .order_by(col(InboundWebhook.received_at), col(InboundWebhook.id))
    .limit(bindparam("limit", type_=Integer))
)


def _lines_routed_whole(
    session: Session, staged: Sequence[Row[Any]]
) -> tuple[set[tuple[str, str]], set[str]]:
    """Among these staged texts' lines and senders: the (line number, sender) pairs of
    senders in an open group on the line, and the numbers of group MMS lines."""
    numbers = list({row.to_number for row in staged})
    senders = list({row.from_number for row in staged})
    rows = session.execute(_WHOLE_LINE_SENDERS, {"numbers": numbers, "senders": senders}).all()
    in_groups = {(number, phone) for number, phone in rows if phone is not None}
    return in_groups, {number for number, phone in rows if phone is None}


_WHOLE_LINE_SENDERS: CompoundSelect[tuple[str, str | None]] = union(
    select(Line.number, null()).where(one_of(Line.number, "numbers"), col(Line.group_mms)),
    select(Line.number, Contact.phone)
    .join(Conversation, col(Conversation.line_id) == Line.id)
    .join(ConversationParticipant, col(ConversationParticipant.conversation_id) == Conversation.id)
    .join(Contact, col(Contact.id) == ConversationParticipant.contact_id)
    .where(
        one_of(Line.number, "numbers"),
        Conversation.status == ConversationStatus.OPEN,
        one_of(Contact.phone, "senders"),
    ),
)


def _share_key(staged: Row[Any], in_groups: set[tuple[str, str]], group_mms_lines: set[str]) -> int:
    """The second half of the advisory lock key of a staged text's share (a signed 32-bit
    hash: two shares that collide are merely routed one after the other)."""
    if staged.conversation_sid is not None or staged.to_number in group_mms_lines:
        # Either webhook may bring a group MMS text first: both copies go together.
        name = "group MMS"
    elif (staged.to_number, staged.from_number) in in_groups:
        name = f"line {staged.to_number}"
    else:
        name = f"sender {staged.from_number}"
    digest = hashlib.blake2s(name.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


# Locks the first `wanted` shares no other router holds, oldest first. The scan of the
# keys stops at the limit, so no share past it is locked. Advisory locks belong to the
# whole database: the first half of the key names the schema, so that deployments in
# schemas of one database (the tests' workers among them) never wait for each other.
_TAKE_SHARES = sql_text(
    "SELECT share FROM unnest(CAST(:keys AS integer[])) AS share "
    f"WHERE pg_try_advisory_xact_lock(hashtext(current_schema() || '{_ROUTING_LOCK_NAME}'), "
    "share) LIMIT :wanted"
)


def any_staged(*, session: Session, hold_cutoff: datetime) -> bool:
    """Whether a text waits for the router (those parked after failing, or held for their
    line's recovery since `hold_cutoff` or later, do not)."""
    waiting = session.exec(_ANY_STAGED, params=_routable_params(hold_cutoff)).first()
    return waiting is not None


def staged_texts(*, session: Session, limit: int, hold_cutoff: datetime) -> list[InboundWebhook]:
    """The oldest staged texts the router may take, in the order they reached Twilio (a
    text recovered from its log goes before the newer ones the webhook brought first)."""
    texts = list(
        session.exec(_STAGED, params={**_routable_params(hold_cutoff), "limit": limit}).all()
    )
    return in_group_text_order(texts)


def in_group_text_order(texts: list[InboundWebhook]) -> list[InboundWebhook]:
    """The texts in the same order, except that the texts of one group text take the places
    they hold among themselves in the order of their Index (Twilio's order of the group's
    messages), whichever webhook came first."""
    places: dict[str, list[int]] = {}
    for place, text in enumerate(texts):
        if text.conversation_sid is not None and text.conversation_index is not None:
            places.setdefault(text.conversation_sid, []).append(place)
    ordered = list(texts)
    for group_places in places.values():
        by_index = sorted((texts[p] for p in group_places), key=lambda t: t.conversation_index or 0)
        for place, text in zip(group_places, by_index, strict=True):
            ordered[place] = text
    return ordered


def forget_staged(*, session: Session, staged_ids: list[int]) -> None:
    """Drop staged texts the router has put in their conversations."""
    if staged_ids:
        session.execute(_FORGET_STAGED, {"ids": staged_ids})


_FORGET_STAGED = (
    delete(InboundWebhook)
    .where(one_of(InboundWebhook.id, "ids"))
    .execution_options(synchronize_session=False)
)


def refuse_staged(*, session: Session, text: InboundWebhook, reason: RefusalReason) -> None:
    """Record a staged text as refused, once per MessageSid (Twilio may bring it again)."""
    insert_ignoring_conflicts(
        session,
        InboundRefusal,
        {
            "message_sid": text.message_sid,
            "reason": reason.value,
            "to_number": text.to_number,
            "from_number": text.from_number,
            "received_at": text.received_at,
        },
    )


def note_routing_failure(*, session: Session, staged_id: int, error: str) -> None:
    session.execute(
        update(InboundWebhook)
        .where(col(InboundWebhook.id) == staged_id)
        .values(attempts=InboundWebhook.attempts + 1, last_error=error[:500])
        .execution_options(synchronize_session=False)
    )


def take_idempotency_key(*, session: Session, key: str) -> bool:
    """True the first time a key is taken; False for every retry, even a concurrent one
    (it waits for the first transaction and then finds the key)."""
    return bool(insert_ignoring_conflicts(session, IdempotencyKey, {"key": key}))


def take_idempotency_keys(*, session: Session, keys: list[str]) -> set[str]:
    """The keys among these taken now (take_idempotency_key for many, in one statement)."""
    if session.get_bind().dialect.name == "postgresql":
        taken = session.execute(_TAKE_KEYS_OF_ARRAY, {"key": keys, "now": utcnow()})
        return set(taken.scalars())
    return set(inserted_keys(session, IdempotencyKey, [{"key": key} for key in keys]))


# The keys as one array parameter (see models.sql_lists): as a row of parameters each, a
# batch's 500 keys made a statement psycopg parsed anew every time.
_keys = rows_of_arrays({"key": String})
_TAKE_KEYS_OF_ARRAY = (
    postgresql.insert(IdempotencyKey.__table__)  # type: ignore[attr-defined]
    .from_select(
        ["key", "created_at"], sa_select(_keys.c.key, bindparam("now", type_=UTCDateTime()))
    )
    .on_conflict_do_nothing()
    .returning(IdempotencyKey.__table__.c.key)  # type: ignore[attr-defined]
)


def route_inbound(*, session: Session, line: Line, contact: Contact) -> tuple[Conversation, bool]:
    """The conversation an inbound text from `contact` to `line` belongs to: the open one on
    the line that most recently texted them (a group text texts all its members at once);
    else their direct conversation, reopened if closed; else a new one. True if new."""
    params = {"contact_id": contact.id, "line_id": line.id}
    found = session.exec(_MOST_RECENTLY_TEXTED, params=params).first()
    if line.group_mms:
        in_group = session.execute(_MOST_RECENT_GROUP_TEXT, params).first()
        if in_group is not None and (
            found is None or (in_group[1] or 0) > _last_delivery(session, found, contact)
        ):
            found = in_group[0]
    if found is not None:
        return found, False
    return open_or_reopen_conversation(session=session, line=line, contact=contact, user_id=None)


# Built once: every inbound text runs it.
_MOST_RECENTLY_TEXTED = (
    select(Conversation)
    .join(Message, col(Message.conversation_id) == Conversation.id)
    .join(Delivery, col(Delivery.message_id) == Message.id)
    .where(
        Delivery.contact_id == bindparam("contact_id"),
        Conversation.line_id == bindparam("line_id"),
        Conversation.status == ConversationStatus.OPEN,
    )
    .order_by(col(Delivery.id).desc())
    .limit(1)
)


# A group text's send is one delivery, kept in its first member's queue: its other members
# are found through the group's participants.
_MOST_RECENT_GROUP_TEXT = (
    select(Conversation, func.max(Delivery.id))
    .join(Delivery, col(Delivery.group_conversation_id) == Conversation.id)
    .join(ConversationParticipant, col(ConversationParticipant.conversation_id) == Conversation.id)
    .where(
        ConversationParticipant.contact_id == bindparam("contact_id"),
        Conversation.line_id == bindparam("line_id"),
        Conversation.status == ConversationStatus.OPEN,
    )
    .group_by(col(Conversation.id))
    .order_by(func.max(Delivery.id).desc())
    .limit(1)
)


def _last_delivery(session: Session, conversation: Conversation, contact: Contact) -> int:
    last = session.exec(
        select(func.max(Delivery.id))
        .join(Message, col(Message.id) == Delivery.message_id)
        .where(Message.conversation_id == conversation.id, Delivery.contact_id == contact.id)
    ).first()
    return int(last or 0)


def has_newer_message(
    *, session: Session, conversation_id: int, last_message_at: datetime | None, than: datetime
) -> bool:
    """Whether the conversation, whose last message is at `last_message_at`, has a text
    (either way) newer than `than`; notices do not count."""
    # No message is newer than the last one stored.
    if last_message_at is None or last_message_at <= than:
        return False
    found = session.exec(
        _NEWER_MESSAGE, params={"conversation_id": conversation_id, "than": than}
    ).first()
    return found is not None


def newest_texts(*, session: Session, after: dict[int, datetime]) -> dict[int, datetime]:
    """For each conversation id in `after` whose newest text (either way; notices do not
    count) is newer than the time given for it, that text's time: has_newer_message for a
    batch of texts in one statement."""
    if not after:
        return {}
    newest = session.execute(_NEWEST_TEXTS, params={"conversation_ids": list(after)}).all()
    return {cid: at for cid, at in newest if at is not None and at > after[cid]}


def cleaned_media(media: list[dict[str, str]] | None) -> list[dict[str, str]]:
    """A text's attachments as the customer's device sent them, without hidden characters."""
    return [{k: strip_hidden_characters(v) for k, v in item.items()} for item in media or []]


# A text's time, as ix_message_text_time holds it: the newest is read from the index's end.
_TEXT_TIME = func.coalesce(Message.sent_at, Message.created_at, type_=UTCDateTime())

# Built once: every inbound text may run them.
_NEWER_MESSAGE = (
    select(Message.id)
    .where(
        Message.conversation_id == bindparam("conversation_id"),
        Message.direction != MessageDirection.NOTICE,
        bindparam("than", type_=UTCDateTime()) < _TEXT_TIME,
    )
    .limit(1)
)


_NEWEST_TEXTS = select(
    Conversation.id,
    select(_TEXT_TIME)
    .where(
        Message.conversation_id == Conversation.id,
        Message.direction != MessageDirection.NOTICE,
    )
    .order_by(_TEXT_TIME.desc())
    .limit(1)
    .scalar_subquery(),
).where(one_of(Conversation.id, "conversation_ids"))


@dataclass(frozen=True)
class Received:
    conversation: Conversation
    contact: Contact
    message: Message
    conversation_created: bool
    keyword: Keyword | None
    opt_out_changed: bool
    relayed_to: list[Contact]
    other_open_conversations: int
    canceled_scheduled: list[Message]


def receive_text(
    *,
    session: Session,
    line: Line,
    from_phone: str,
    body: str,
    provider_sid: str,
    media: list[dict[str, str]] | None = None,
    opt_out_type: str | None = None,
    cancel_scheduled_on_reply: bool = True,
    sent_at: datetime | None = None,
    group_text: Conversation | None = None,
) -> Received | None:
    """Store an inbound text, sent at `sent_at` (now if not given); None if this provider
    id was stored before.

    The key is taken first, so a repeated webhook has no side effect at all. What the
    customer controls (the text, its attachments, the sender as shown) is kept without
    hidden characters. STOP and its synonyms opt the contact out of the line, START opts
    them back in. A text that comes after newer messages of its conversation is marked
    received late.
    """
    if not take_idempotency_key(session=session, key=inbound_dedupe_key(provider_sid)):
        return None
    body = strip_hidden_characters(body)
    from_phone = strip_hidden_characters(from_phone)
    media = cleaned_media(media)
    contact, _ = get_or_create_contact(session=session, team_id=line.team_id, phone=from_phone)
    if group_text is not None:  # the Conversations webhook says which group text it is
        conversation, created = group_text, False
    else:
        conversation, created = route_inbound(session=session, line=line, contact=contact)
    sent_at = sent_at or utcnow()
    if conversation.group_mms and find_same_group_text(
        session=session,
        line_id=line.id or 0,
        contact_id=contact.id or 0,
        body=body,
        at=utcnow(),
        key=_SMS_KEY + provider_sid,
    ):
        return None  # the same group text, brought by the other webhook first
    late = has_newer_message(
        session=session,
        conversation_id=conversation.id or 0,
        last_message_at=conversation.last_message_at,
        than=sent_at,
    )
    message, _ = insert_message(
        session=session,
        conversation=conversation,
        values={
            "direction": MessageDirection.INBOUND,
            "origin": MessageOrigin.SMS,
            "body": body,
            "contact_id": contact.id,
            "dedupe_key": _SMS_KEY + provider_sid,
            "media": media or None,
            "sent_at": sent_at,
            "received_late": late,
        },
    )
    keyword = classify_keyword(body, opt_out_type)
    changed = False
    if keyword == Keyword.STOP:
        changed = opt_out(session=session, line=line, contact=contact, keyword=body.strip()[:32])
    elif keyword == Keyword.START:
        changed = opt_in(session=session, line=line, contact=contact)
    if changed:
        mark_for_mirror(conversation, parent=True)  # a group's parent shows who opted out
        session.add(conversation)
    relayed_to: list[Contact] = []
    if conversation.kind == ConversationKind.GROUP and not conversation.group_mms and not keyword:
        relayed_to = relay_to_group(
            session=session,
            conversation=conversation,
            line=line,
            message=message,
            sender=contact,
            sender_label=contact.name or format_phone(contact.phone),
        )
    note_reply(session, conversation)
    canceled = (
        cancel_scheduled_to(session=session, conversation=conversation, contact=contact)
        if cancel_scheduled_on_reply
        else []
    )
    others = count_other_open_conversations(
        session=session, line=line, contact=contact, besides=conversation
    )
    return Received(
        conversation, contact, message, created, keyword, changed, relayed_to, others, canceled
    )
