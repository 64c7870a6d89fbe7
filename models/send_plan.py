"""A new text, planned once for every way in (the form, quick send): who may use the line,
the recipients and their count, opt-outs, quiet hours, the time, the body and its pictures.

`plan_text` returns a `SendPlan` or the refusals by field; `carry_out` writes the plan (the
conversations, the message, the outbox) under one idempotency key. Each surface words the
refusals its own way (modal field errors, ephemeral notes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from models.broadcasts import create_broadcast
from models.contacts import contact_label, find_contact_by_phone, get_or_create_contact
from models.conversations import (
    InvalidMessageBody,
    check_message_body,
    open_or_reopen_conversation,
    reopen_conversation,
    send_text,
)
from models.directory import ContactDirectory, Viewer, can_see_contact, with_usable_lines
from models.group_texts import find_group_text, group_text_refusal
from models.groups import conversation_contacts, create_group_conversation
from models.inbound import take_idempotency_key
from models.merge_fields import DEFAULT_FALLBACK
from models.optouts import find_opted_out
from models.outbound_media import MediaRefused, OutboundFile, check_outbound_files
from models.phone import InvalidPhoneNumber, format_phone, parse_phone
from models.scheduling import InvalidSendTime, check_send_time
from models.sending import LineRefusal, QuietHours, line_refusal, quiet_hours_refusal
from models.sms_segments import SmsSegments, count_segments
from models.tables import Contact, Conversation, ConversationKind, Line, SavedReply


class Kind(StrEnum):
    CONVERSATION = "conversation"  # one recipient, their own conversation
    MULTI = "multi"  # each recipient in a conversation of their own
    GROUP = "group"  # one conversation everyone sees


class Field(StrEnum):
    """The part of a request a refusal is about."""

    LINE = "line"
    RECIPIENTS = "recipients"
    MESSAGE = "message"
    SAVED_REPLY = "saved_reply"
    SEND_AT = "send_at"
    PICTURES = "pictures"


@dataclass(frozen=True)
class RecipientInput:
    """A recipient as the entry point read it: a contact's id, or a number as typed."""

    contact_id: int | None = None
    number: str | None = None

    @property
    def shown(self) -> str:
        return self.number if self.number is not None else f"contact {self.contact_id}"


@dataclass(frozen=True)
class TextRequest:
    team_id: str
    user_id: str
    kind: Kind
    line_id: int | None
    recipients: Sequence[RecipientInput]
    body: str | None
    saved_reply_id: int | None = None
    saved_reply_chosen: bool = False  # a reply was picked, even if its id is not readable
    files: Sequence[OutboundFile] = ()
    send_at: datetime | None = None
    send_at_unreadable: bool = False
    quiet_ok: bool = False  # the author chose to send in quiet hours
    relay_group: bool = False  # a reply-all group relayed by the line, even on an MMS line


@dataclass(frozen=True)
class SendRules:
    """The settings the policy follows."""

    region: str
    directory: ContactDirectory
    max_multi_recipients: int
    group_size: tuple[int, int]


# Refusals, each typed so that every surface can word it.
@dataclass(frozen=True)
class RecipientCount:
    kind: Kind
    count: int
    low: int
    high: int


@dataclass(frozen=True)
class UnknownContact:
    pass


@dataclass(frozen=True)
class BadNumber:
    reason: str  # the number's own problem, in words


@dataclass(frozen=True)
class NobodyToText:
    pass


@dataclass(frozen=True)
class NotForGroupText:
    reason: str  # why these recipients cannot be a group text, in words


@dataclass(frozen=True)
class NoPicturesInGroupText:
    pass


@dataclass(frozen=True)
class BadBody:
    reason: str


@dataclass(frozen=True)
class BadPictures:
    reason: str


@dataclass(frozen=True)
class BadSendTime:
    reason: str | None  # None: not a time at all


@dataclass(frozen=True)
class RecipientOptedOut:
    shown: str  # the recipient as the author may see them
    line: Line


@dataclass(frozen=True)
class QuietFor:
    quiet: QuietHours
    shown: str  # the recipient it would wake


@dataclass(frozen=True)
class SavedReplyRefusal:
    other_line: bool  # not one of the line's replies (else: a message was typed as well)


Refusal = (
    LineRefusal
    | RecipientCount
    | UnknownContact
    | BadNumber
    | RecipientOptedOut
    | NobodyToText
    | NotForGroupText
    | NoPicturesInGroupText
    | BadBody
    | BadPictures
    | BadSendTime
    | SavedReplyRefusal
    | QuietFor
)
Refusals = dict[Field, Refusal]


@dataclass(frozen=True)
class PlannedRecipient:
    """A contact (`contact`) or a valid number that is not one yet (`contact` None)."""

    phone: str
    contact: Contact | None
    visible: bool = True  # a contact the author may not see is shown by number alone

    @property
    def label(self) -> str:
        if self.contact is not None and self.visible:
            return contact_label(self.contact)
        return format_phone(self.phone)


@dataclass(frozen=True)
class Skipped:
    shown: str  # the recipient as the author knows them
    refusal: Refusal


@dataclass
class SendPlan:
    kind: Kind
    line: Line
    text: str
    recipients: list[PlannedRecipient]
    skipped: list[Skipped] = field(default_factory=list)
    merge_fallback: str = DEFAULT_FALLBACK
    send_at: datetime | None = None
    media: Sequence[OutboundFile] = ()
    group_text: bool = False  # a reply-all group as one group text (group MMS)

    @property
    def segments(self) -> SmsSegments:
        """The SMS the text takes (before merge fields are filled in for each recipient)."""
        return count_segments(self.text)


def plan_text(
    session: Session, request: TextRequest, *, rules: SendRules, now: datetime
) -> SendPlan | Refusals:
    """Check a new text against every rule, trusting nothing the entry point read: the plan
    to carry out, or the refusals by field (those found before recipients are read, or the
    first recipients' refusal)."""
    refusals: Refusals = {}
    line = _usable_line(session, request, refusals)
    reply = _chosen_reply(session, request, line, refusals)
    text = _checked_body(reply.body if reply else request.body, request, refusals)
    send_at = _checked_time(request, now, refusals)
    count = _count_refusal(request.kind, len(request.recipients), rules)
    if count is not None:
        refusals[Field.RECIPIENTS] = count
    if refusals or line is None:
        return refusals
    planned = _plan_recipients(session, request, line, rules)
    if not isinstance(planned, tuple):
        return {Field.RECIPIENTS: planned}
    recipients, skipped = planned
    group_text = request.kind == Kind.GROUP and line.group_mms and not request.relay_group
    if group_text:
        labels = {r.phone: r.label for r in recipients}
        reason = group_text_refusal(line=line, phones=list(labels), labels=labels)
        if reason:
            return {Field.RECIPIENTS: NotForGroupText(reason)}
        if request.files:
            return {Field.PICTURES: NoPicturesInGroupText()}
    if not request.quiet_ok:
        labels = {r.phone: r.label for r in recipients}
        quiet = quiet_hours_refusal(line=line, phones=list(labels), at=send_at or now)
        if quiet is not None:
            return {Field.SEND_AT: QuietFor(quiet, labels[quiet.phone])}
    return SendPlan(
        kind=request.kind,
        line=line,
        text=text,
        recipients=recipients,
        skipped=skipped,
        merge_fallback=reply.fallback_name if reply else DEFAULT_FALLBACK,
        send_at=send_at,
        media=request.files,
        group_text=group_text,
    )


def _usable_line(session: Session, request: TextRequest, refusals: Refusals) -> Line | None:
    line = session.get(Line, request.line_id) if request.line_id is not None else None
    refused = line_refusal(
        session=session, line=line, team_id=request.team_id, user_id=request.user_id
    )
    if refused is not None:
        refusals[Field.LINE] = refused
        return None
    return line


def _chosen_reply(
    session: Session, request: TextRequest, line: Line | None, refusals: Refusals
) -> SavedReply | None:
    """The saved reply picked, if it is one of the chosen line's."""
    if not request.saved_reply_chosen and request.saved_reply_id is None:
        return None
    reply = session.get(SavedReply, request.saved_reply_id) if request.saved_reply_id else None
    if reply is None or line is None or reply.line_id != line.id:
        refusals[Field.SAVED_REPLY] = SavedReplyRefusal(other_line=True)
        return None
    if (request.body or "").strip():
        refusals[Field.MESSAGE] = SavedReplyRefusal(other_line=False)
    return reply


def _checked_body(body: str | None, request: TextRequest, refusals: Refusals) -> str:
    text = ""
    try:
        text = check_message_body(body, allow_empty=bool(request.files))
    except InvalidMessageBody as exc:
        refusals.setdefault(Field.MESSAGE, BadBody(str(exc)))
    try:
        check_outbound_files(list(request.files))
    except MediaRefused as exc:
        refusals[Field.PICTURES] = BadPictures(str(exc))
    return text


def _checked_time(request: TextRequest, now: datetime, refusals: Refusals) -> datetime | None:
    if request.send_at_unreadable:
        refusals[Field.SEND_AT] = BadSendTime(None)
        return None
    if request.send_at is None:
        return None
    try:
        return check_send_time(request.send_at, now=now)
    except InvalidSendTime as exc:
        refusals[Field.SEND_AT] = BadSendTime(str(exc))
        return None


def _count_refusal(kind: Kind, count: int, rules: SendRules) -> RecipientCount | None:
    if kind == Kind.CONVERSATION:
        low, high = 1, 1
    elif kind == Kind.MULTI:
        low, high = 1, rules.max_multi_recipients
    else:
        low, high = rules.group_size
    return None if low <= count <= high else RecipientCount(kind, count, low, high)


def _plan_recipients(
    session: Session, request: TextRequest, line: Line, rules: SendRules
) -> tuple[list[PlannedRecipient], list[Skipped]] | Refusal:
    """Each recipient read again (a number typed twice counts once). A recipient who cannot
    be texted is skipped in a multi-recipient message, refuses the others; one who opted
    out stays a member of a group, untexted."""
    # The user's usable lines are read once for all the recipients' visibility checks.
    viewer = with_usable_lines(
        session=session, viewer=Viewer(request.team_id, request.user_id, rules.directory)
    )
    recipients: list[PlannedRecipient] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for given in request.recipients:
        recipient = _resolve(session, viewer, given, rules.region)
        if not isinstance(recipient, PlannedRecipient):
            if request.kind != Kind.MULTI:
                return recipient
            skipped.append(Skipped(given.shown, recipient))
            continue
        if recipient.phone in seen:
            continue
        seen.add(recipient.phone)
        if recipient.contact is not None and find_opted_out(
            session=session, line_id=line.id or 0, contacts=[recipient.contact]
        ):
            opted_out = RecipientOptedOut(recipient.label, line)
            if request.kind == Kind.CONVERSATION:
                return opted_out
            skipped.append(Skipped(recipient.label, opted_out))
            if request.kind == Kind.MULTI:
                continue
        recipients.append(recipient)
    textable = len(recipients) - (len(skipped) if request.kind == Kind.GROUP else 0)
    if textable < 1:
        return NobodyToText()
    return recipients, skipped


def _resolve(
    session: Session, viewer: Viewer, given: RecipientInput, region: str
) -> PlannedRecipient | UnknownContact | BadNumber:
    """A contact is taken by id only if the author may see it; a typed number that is a
    contact they may not see is that contact, shown by its number alone."""
    if given.contact_id is not None:
        if not can_see_contact(session=session, viewer=viewer, contact_id=given.contact_id):
            return UnknownContact()
        contact = session.get_one(Contact, given.contact_id)
        return PlannedRecipient(contact.phone, contact)
    try:
        phone = parse_phone(given.number or "", region=region)
    except InvalidPhoneNumber as exc:
        return BadNumber(f"{str(exc).capitalize()}.")
    known = find_contact_by_phone(session=session, team_id=viewer.team_id, phone=phone)
    if known is None:
        return PlannedRecipient(phone, None)
    visible = can_see_contact(session=session, viewer=viewer, contact_id=known.id or 0)
    return PlannedRecipient(phone, known, visible=visible)


@dataclass(frozen=True)
class Carried:
    """What carrying out a plan wrote: the conversation(s) and whether the first was new
    (False also when the same request was carried out before)."""

    conversations: list[Conversation]
    contacts: list[Contact]
    created: bool


def carry_out(
    session: Session,
    plan: SendPlan,
    *,
    team_id: str,
    user_id: str,
    key: str,
    skipped_as_listed: Sequence[dict[str, str]] = (),
) -> Carried:
    """Write the plan in the caller's transaction: new numbers become contacts, each kind
    opens (or reopens) its conversations and queues the text. `key` is the request's one
    idempotency key: carried out again, it writes nothing more. A multi-recipient message's
    summary lists the skipped recipients as `skipped_as_listed` words them ({label, reason})."""
    contacts = [_contact(session, r, team_id) for r in plan.recipients]
    if plan.kind == Kind.GROUP:
        return _carry_out_group(session, plan, contacts, user_id=user_id, key=key)
    broadcast_id = None
    if plan.kind == Kind.MULTI:
        broadcast = create_broadcast(
            session=session,
            team_id=team_id,
            line_id=plan.line.id or 0,
            user_id=user_id,
            body=plan.text,
            skipped=list(skipped_as_listed),
            dedupe_key=key,
        )
        if broadcast is None:  # the same request again, already queued
            return Carried([], contacts, created=False)
        broadcast_id = broadcast.id
    conversations, created = [], False
    for contact in contacts:
        conversation, opened = open_or_reopen_conversation(
            session=session, line=plan.line, contact=contact, user_id=user_id
        )
        send_text(
            session=session,
            conversation=conversation,
            line=plan.line,
            recipients=[contact],
            body=plan.text,
            author_user_id=user_id,
            dedupe_key=key if plan.kind == Kind.CONVERSATION else f"{key}:{contact.id}",
            broadcast_id=broadcast_id,
            merge_fallback=plan.merge_fallback,
            scheduled_for=plan.send_at,
            media=plan.media,
        )
        conversations.append(conversation)
        created = created or opened
    return Carried(conversations, contacts, created=created)


def _carry_out_group(
    session: Session, plan: SendPlan, contacts: list[Contact], *, user_id: str, key: str
) -> Carried:
    if not take_idempotency_key(session=session, key=key):
        return Carried([], contacts, created=False)
    # The same group text again is the same group on every phone: reopen it.
    existing = (
        find_group_text(session=session, line=plan.line, contacts=contacts)
        if plan.group_text
        else None
    )
    if existing is not None:
        reopen_conversation(session=session, conversation=existing)
        conversation = existing
    else:
        conversation = create_group_conversation(
            session=session,
            line=plan.line,
            contacts=contacts,
            user_id=user_id,
            group_mms=plan.group_text,
        )
    send_text(
        session=session,
        conversation=conversation,
        line=plan.line,
        recipients=contacts,
        body=plan.text,
        author_user_id=user_id,
        skip_opted_out=True,
        merge_fallback=plan.merge_fallback,
        scheduled_for=plan.send_at,
        media=plan.media,
    )
    return Carried([conversation], contacts, created=existing is None)


def _contact(session: Session, recipient: PlannedRecipient, team_id: str) -> Contact:
    if recipient.contact is not None:
        return recipient.contact
    contact, _ = get_or_create_contact(session=session, team_id=team_id, phone=recipient.phone)
    return contact


def reply_refusal(
    session: Session,
    *,
    conversation: Conversation,
    line: Line,
    text: str,
    files: Sequence[OutboundFile] = (),
) -> BadPictures | BadBody | RecipientOptedOut | None:
    """Why a reply typed in a conversation's thread cannot be texted (its line checked
    first, by line_refusal, since a thread takes notes whatever the line), or None."""
    try:
        check_outbound_files(list(files))
    except MediaRefused as exc:
        return BadPictures(str(exc))
    try:
        check_message_body(text, allow_empty=bool(files))
    except InvalidMessageBody as exc:
        return BadBody(str(exc))
    recipients = conversation_contacts(session=session, conversation=conversation)
    opted_out = find_opted_out(session=session, line_id=line.id or 0, contacts=recipients)
    # A group texts whoever is still in; a direct conversation needs its one contact.
    if opted_out and (
        conversation.kind != ConversationKind.GROUP or len(opted_out) == len(recipients)
    ):
        shown = ", ".join(PlannedRecipient(c.phone, c).label for c in opted_out)
        return RecipientOptedOut(shown, line)
    return None
