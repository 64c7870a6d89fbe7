"""Plain inbound texts, stored a batch at a time.

Most texts the router takes are a known contact's answer in the one open conversation
they have on the line: no keyword, no group, nothing for the team to be told, no away
reply. The per-text way in (models.inbound_flow) spends a dozen statements on each text;
a batch of such texts takes nine or so in all. A text that may call for anything more is
left to the per-text way, and so is every other text of its sender in the batch, so that a
sender's texts keep their order. Both ways store the same rows
(tests/unit/test_inbound_batch.py routes the same texts both ways and compares)."""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    bindparam,
    cast,
    insert,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlmodel import Session

from models.away import is_open
from models.inbound import (
    cleaned_media,
    inbound_dedupe_key,
    newest_texts,
    sender_phone,
    staged_sent_at,
    take_idempotency_keys,
)
from models.optouts import classify_keyword
from models.sql_lists import as_arrays, one_of, rows_of_arrays
from models.tables import (
    Broadcast,
    Contact,
    Conversation,
    ConversationKind,
    ConversationParticipant,
    ConversationStatus,
    Delivery,
    DeliveryStatus,
    InboundWebhook,
    Line,
    Message,
    MessageDirection,
    MessageOrigin,
)
from models.types import UTCDateTime, utcnow
from models.untrusted_text import strip_hidden_characters

logger = logging.getLogger(__name__)

_contact = Contact.__table__  # type: ignore[attr-defined]
_conversation = Conversation.__table__  # type: ignore[attr-defined]
_participant = ConversationParticipant.__table__  # type: ignore[attr-defined]
_delivery = Delivery.__table__  # type: ignore[attr-defined]
_message = Message.__table__  # type: ignore[attr-defined]
_broadcast = Broadcast.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Plain:
    """A text that may be plain, and what storing it takes."""

    text: InboundWebhook
    line: Line
    phone: str
    body: str


@dataclass(frozen=True)
class _Route:
    conversation_id: int
    last_message_at: datetime | None


def store_plain_texts(
    session: Session,
    texts: Sequence[tuple[InboundWebhook, Line]],
    *,
    now: datetime,
    default_region: str,
    cancel_scheduled_on_reply: bool,
) -> set[int]:
    """Store the plain texts among these staged texts (in arrival order, each with its line)
    in their conversations; the staged ids it took, stored or seen before. The others are
    for store_inbound_text, one by one."""
    maybe: list[_Plain] = []
    not_plain: set[tuple[int, str]] = set()
    for text, line in texts:
        plain = _maybe_plain(text, line, now=now, default_region=default_region)
        if plain is None:
            not_plain.add((line.id or 0, sender_phone(text, default_region)))
        else:
            maybe.append(plain)
    maybe = [p for p in maybe if (p.line.id or 0, p.phone) not in not_plain]
    if not maybe:
        return set()
    contacts = _contact_ids(session, {(p.line.team_id, p.phone) for p in maybe})
    senders = {
        (p.line.id or 0, contact_id)
        for p in maybe
        if (contact_id := contacts.get((p.line.team_id, p.phone))) is not None
    }
    routes = _sole_open_conversations(session, senders)
    if cancel_scheduled_on_reply:
        for sender in _with_scheduled_texts(session, routes):
            del routes[sender]
    routed = [
        (p, contacts[(p.line.team_id, p.phone)], route)
        for p in maybe
        if (route := routes.get((p.line.id or 0, contacts.get((p.line.team_id, p.phone), 0))))
    ]
    if not routed:
        return set()
    taken = take_idempotency_keys(
        session=session, keys=[inbound_dedupe_key(p.text.message_sid) for p, _, _ in routed]
    )
    stored = [
        (p, contact_id, route)
        for p, contact_id, route in routed
        if inbound_dedupe_key(p.text.message_sid) in taken
    ]
    _insert_messages(session, stored)
    return {p.text.id or 0 for p, _, _ in routed}


def _maybe_plain(
    text: InboundWebhook, line: Line, *, now: datetime, default_region: str
) -> _Plain | None:
    """The text, if nothing in it or its line calls for more than storing it."""
    if text.conversation_sid is not None or line.group_mms:
        return None
    if line.away_message and not is_open(line, now):
        return None
    body = strip_hidden_characters(text.body)
    if classify_keyword(body, text.opt_out_type) is not None:
        return None
    return _Plain(text, line, sender_phone(text, default_region), body)


def _contact_ids(session: Session, phones: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    by_team: dict[str, list[str]] = defaultdict(list)
    for team_id, phone in phones:
        by_team[team_id].append(phone)
    found: dict[tuple[str, str], int] = {}
    for team_id, team_phones in by_team.items():
        rows = session.execute(_CONTACTS, {"team_id": team_id, "phones": team_phones})
        found.update({(team_id, phone): contact_id for contact_id, phone in rows})
    return found


_CONTACTS = select(_contact.c.id, _contact.c.phone).where(
    _contact.c.team_id == bindparam("team_id"),
    one_of(_contact.c.phone, "phones"),
)


def _sole_open_conversations(
    session: Session, senders: set[tuple[int, int]]
) -> dict[tuple[int, int], _Route]:
    """For each (line id, contact id): its direct conversation on the line, if that is open
    and the only open conversation there that includes the contact or texted them (so an
    inbound text is routed to it, with no notice of other conversations)."""
    by_line: dict[int, list[int]] = defaultdict(list)
    for line_id, contact_id in senders:
        by_line[line_id].append(contact_id)
    routes: dict[tuple[int, int], _Route] = {}
    for line_id, contact_ids in by_line.items():
        params = {"line_id": line_id, "contact_ids": contact_ids}
        involved: dict[int, set[int]] = defaultdict(set)
        direct: dict[int, _Route] = {}
        for contact_id, conversation_id, kind, group_mms, last_message_at in session.execute(
            _OPEN_CONVERSATIONS_INCLUDING, params
        ):
            involved[contact_id].add(conversation_id)
            if kind == ConversationKind.DIRECT and not group_mms:
                direct[contact_id] = _Route(conversation_id, last_message_at)
        for contact_id, conversation_id in session.execute(_OPEN_CONVERSATIONS_TEXTING, params):
            involved[contact_id].add(conversation_id)
        for contact_id, route in direct.items():
            if involved[contact_id] == {route.conversation_id}:
                routes[(line_id, contact_id)] = route
    return routes


_OPEN_ON_LINE = (_conversation.c.line_id == bindparam("line_id")) & (
    _conversation.c.status == ConversationStatus.OPEN
)
_CONVERSATION_COLUMNS = (
    _conversation.c.id,
    _conversation.c.kind,
    _conversation.c.group_mms,
    _conversation.c.last_message_at,
)
# Open conversations on the line that include each contact: their direct one, and the
# groups they are in.
_OPEN_CONVERSATIONS_INCLUDING = union_all(
    select(_conversation.c.contact_id, *_CONVERSATION_COLUMNS).where(
        _OPEN_ON_LINE, one_of(_conversation.c.contact_id, "contact_ids")
    ),
    select(_participant.c.contact_id, *_CONVERSATION_COLUMNS)
    .join(_conversation, _conversation.c.id == _participant.c.conversation_id)
    .where(_OPEN_ON_LINE, one_of(_participant.c.contact_id, "contact_ids")),
)
# Open conversations on the line that texted each contact (models.inbound.route_inbound
# routes a text to the one that did last).
_OPEN_CONVERSATIONS_TEXTING = (
    select(_delivery.c.contact_id, _message.c.conversation_id)
    .join(_message, _message.c.id == _delivery.c.message_id)
    .join(_conversation, _conversation.c.id == _message.c.conversation_id)
    .where(_OPEN_ON_LINE, one_of(_delivery.c.contact_id, "contact_ids"))
    .distinct()
)


def _with_scheduled_texts(
    session: Session, routes: dict[tuple[int, int], _Route]
) -> set[tuple[int, int]]:
    """The senders whose conversation has texts scheduled to them (a reply cancels them,
    with a notice)."""
    if not routes:
        return set()
    line_of = {route.conversation_id: line_id for (line_id, _), route in routes.items()}
    rows = session.execute(
        _SCHEDULED,
        {
            "conversation_ids": list(line_of),
            "contact_ids": list({contact_id for _, contact_id in routes}),
        },
    )
    return {(line_of[conversation_id], contact_id) for conversation_id, contact_id in rows}


_SCHEDULED = (
    select(_message.c.conversation_id, _delivery.c.contact_id)
    .join(_message, _message.c.id == _delivery.c.message_id)
    .where(
        one_of(_message.c.conversation_id, "conversation_ids"),
        _message.c.scheduled_for.is_not(None),
        one_of(_delivery.c.contact_id, "contact_ids"),
        _delivery.c.status == DeliveryStatus.PENDING,
    )
    .distinct()
)


def _newest_stored_texts(
    session: Session, stored: list[tuple[_Plain, int, _Route]]
) -> dict[int, datetime]:
    """The newest text already stored in each conversation where it may be newer than a
    text of the batch (its last message is newer than the batch's earliest there)."""
    earliest: dict[int, datetime] = {}
    for plain, _, route in stored:
        sent_at = staged_sent_at(plain.text)
        if route.last_message_at is not None and route.last_message_at > sent_at:
            cid = route.conversation_id
            earliest[cid] = min(sent_at, earliest.get(cid, sent_at))
    return newest_texts(session=session, after=earliest)


def _insert_messages(session: Session, stored: list[tuple[_Plain, int, _Route]]) -> None:
    """The texts' messages, in order; their conversations marked for the mirror, and the
    broadcasts they answer marked as answered, as the per-text way does for each text."""
    if not stored:
        return
    created_at = utcnow()
    rows = []
    newest_stored = _newest_stored_texts(session, stored)
    newest_sent: dict[int, datetime] = {}
    for plain, contact_id, route in stored:
        conversation_id = route.conversation_id
        sent_at = staged_sent_at(plain.text)
        # Newer than this text: an earlier one of the batch, or one stored before it (as
        # has_newer_message finds it: none is newer than the conversation's last message).
        late = sent_at < newest_sent.get(conversation_id, sent_at) or (
            route.last_message_at is not None
            and route.last_message_at > sent_at
            and newest_stored.get(conversation_id, sent_at) > sent_at
        )
        newest_sent[conversation_id] = max(sent_at, newest_sent.get(conversation_id, sent_at))
        media = cleaned_media(plain.text.media)
        rows.append(
            {
                "conversation_id": conversation_id,
                "direction": MessageDirection.INBOUND,
                "origin": MessageOrigin.SMS,
                "body": plain.body,
                "contact_id": contact_id,
                "dedupe_key": inbound_dedupe_key(plain.text.message_sid),
                "media": media or None,
                "sent_at": sent_at,
                "received_late": late,
                "created_at": created_at,
            }
        )
    texts_in = Counter(route.conversation_id for _, _, route in stored)
    if session.get_bind().dialect.name == "postgresql":
        _insert_as_arrays(session, rows, texts_in, created_at)
    else:
        # A conversation's messages are shown in id order: SQLite runs the rows in order.
        session.execute(insert(_message), rows)
        session.execute(
            _MARK_FOR_MIRROR,
            [
                {"conversation_id": cid, "now": created_at, "texts": n}
                for cid, n in texts_in.items()
            ],
        )
    _note_replies(session, texts_in)
    for plain, _, route in stored:
        logger.info(
            "inbound text %s stored in conversation %s",
            plain.text.message_sid,
            route.conversation_id,
            extra={
                "message_sid": plain.text.message_sid,
                "conversation_id": route.conversation_id,
            },
        )


def _insert_as_arrays(
    session: Session, rows: list[dict[str, Any]], texts_in: Counter[int], created_at: datetime
) -> None:
    """PostgreSQL: the messages in one statement over an array a column, numbered in the
    order given (INSERT ... SELECT ... ORDER BY takes the ids in that order), and their
    conversations marked in another. As many rows of parameters, they cost a round trip and
    a conversion each, in a process where every other thread waits for the same lock."""
    columns = as_arrays(rows, _MESSAGE_ARRAYS)
    columns["media"] = [json.dumps(media) for media in columns["media"]]
    session.execute(_INSERT_MESSAGE_ARRAYS, {**columns, "created_at": created_at})
    session.execute(
        _MARK_FOR_MIRROR_ARRAYS,
        {"conversation_id": list(texts_in), "texts": list(texts_in.values()), "now": created_at},
    )


_MESSAGE_ARRAYS: dict[str, Any] = {
    "conversation_id": Integer,
    "direction": String,
    "origin": String,
    "body": String,
    "contact_id": Integer,
    "dedupe_key": String,
    "media": String,  # JSON text, as the JSON column would store it
    "sent_at": UTCDateTime,
    "received_late": Boolean,
}
_new_messages = rows_of_arrays(_MESSAGE_ARRAYS, place="place")
_INSERT_MESSAGE_ARRAYS = insert(_message).from_select(
    [*_MESSAGE_ARRAYS, "created_at", "slack_rev", "slack_synced_rev"],
    select(
        *(
            cast(_new_messages.c[name], JSON) if name == "media" else _new_messages.c[name]
            for name in _MESSAGE_ARRAYS
        ),
        bindparam("created_at", type_=UTCDateTime()),
        literal(_message.c.slack_rev.default.arg),
        literal(_message.c.slack_synced_rev.default.arg),
    ).order_by(_new_messages.c.place),
)
_marked = rows_of_arrays({"conversation_id": Integer, "texts": Integer})
_MARK_FOR_MIRROR_ARRAYS = (
    update(_conversation)
    .where(_conversation.c.id == _marked.c.conversation_id)
    .values(
        last_message_at=bindparam("now", type_=UTCDateTime()),
        mirror_pending=true(),
        mirror_seq=_conversation.c.mirror_seq + _marked.c.texts,
    )
)
_MARK_FOR_MIRROR = (
    update(_conversation)
    .where(_conversation.c.id == bindparam("conversation_id"))
    .values(
        last_message_at=bindparam("now"),
        mirror_pending=true(),
        mirror_seq=_conversation.c.mirror_seq + bindparam("texts"),
    )
)


def _note_replies(session: Session, texts_in: Counter[int]) -> None:
    """Each text marks the summaries of its conversation's broadcasts as changed."""
    answered: Counter[int] = Counter()
    for conversation_id, broadcast_id in session.execute(
        _BROADCASTS_OF, {"conversation_ids": list(texts_in)}
    ):
        answered[broadcast_id] += texts_in[conversation_id]
    if answered:
        session.execute(
            _MARK_SUMMARY_CHANGED,
            [{"broadcast_id": bid, "texts": n} for bid, n in answered.items()],
        )


_BROADCASTS_OF = (
    select(_message.c.conversation_id, _message.c.broadcast_id)
    .where(
        one_of(_message.c.conversation_id, "conversation_ids"),
        _message.c.broadcast_id.is_not(None),
    )
    .distinct()
)
_MARK_SUMMARY_CHANGED = (
    update(_broadcast)
    .where(_broadcast.c.id == bindparam("broadcast_id"))
    .values(summary_rev=_broadcast.c.summary_rev + bindparam("texts"))
)
