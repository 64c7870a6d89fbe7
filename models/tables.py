"""The tables. Every row belongs to one Slack workspace (team) through its line or its own
team_id, so one deployment can serve several workspaces."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from models.types import SearchTerm, UTCDateTime, utcnow


def _timestamp(*, nullable: bool = False, index: bool = False) -> Field:  # type: ignore[valid-type]
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=index))
    return Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )


def _foreign_key(target: str, *, nullable: bool = False, index: bool = True) -> Field:  # type: ignore[valid-type]
    return Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey(target, ondelete="CASCADE"), nullable=nullable, index=index
        ),
    )


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class ConversationStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class MessageDirection(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"
    NOTE = "note"  # typed in the thread with a note marker: never texted
    NOTICE = "notice"  # something textbot tells the team in the thread (an opt-out, ...)


class MessageOrigin(StrEnum):
    APP = "app"  # written by textbot (the modal, a notice): the mirror posts it
    SLACK = "slack"  # typed in the Slack thread: already there, the mirror marks it
    SMS = "sms"  # received by text: the mirror posts it


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # in our outbox, not yet handed to the provider
    SENDING = "sending"  # claimed by a dispatcher; the provider may or may not have it
    QUEUED = "queued"  # accepted by the provider
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"


class Line(SQLModel, table=True):
    # Quick send and people pick a line by its name (compared ignoring case, which
    # models.lines checks): one name, one line, in each workspace.
    __table_args__ = (UniqueConstraint("team_id", "name", name="uq_line_team_name"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    number: str = Field(unique=True)
    name: str
    channel_id: str
    messaging_service_sid: str | None = Field(default=None, index=True)
    active: bool = True
    sends_per_second: float = 1.0
    # Thread replies wait this long before they are sent, so they can be deleted or edited.
    reply_delay_seconds: float = 5.0
    # Open conversations with no text for this long are closed (0: never).
    auto_close_days: float = 7.0
    # Quiet hours in the recipient's local time: no texts from quiet_start to quiet_end.
    quiet_start_hour: int = 21
    quiet_end_hour: int = 8
    # Away message: texted back to an inbound text outside business hours (in time_zone).
    away_message: str | None = None
    business_hours: str = "09:00-17:00"
    time_zone: str = "America/New_York"
    # Added to the first text a contact receives from this line, e.g. "Reply STOP to opt out".
    opt_out_footer: str | None = None
    # Reply-all groups as one group text (group MMS through Twilio Conversations) instead of
    # relayed one to one: only a +1 long code can (models.lines.group_mms_refusal).
    group_mms: bool = False
    next_send_at: datetime | None = _timestamp(nullable=True)
    # Twilio's log of texts to the line has been checked against the stored texts up to
    # here: the next check reads the log back to this point and no further.
    inbound_checked_until: datetime | None = _timestamp(nullable=True)
    # Set when a process starts (the webhook may have missed texts while none ran): the
    # line's staged texts are not routed until Twilio's log has been read back, so the texts
    # it recovers go first. Cleared by that read, or given up INBOUND_RECOVERY_WAIT_SECONDS
    # after this time.
    inbound_recovery_pending_since: datetime | None = _timestamp(nullable=True)
    created_at: datetime = _timestamp()


class LineAccess(SQLModel, table=True):
    """A grant of a line to a Slack user (U.../W...) or user group (S...)."""

    __tablename__ = "line_access"
    __table_args__ = (UniqueConstraint("line_id", "principal"),)

    id: int | None = Field(default=None, primary_key=True)
    line_id: int = _foreign_key("line.id")
    principal: str = Field(index=True)
    # Managers (users only) may change the line: rename, move, turn off, grant and revoke.
    manager: bool = False
    granted_by: str | None = None
    created_at: datetime = _timestamp()


class UsergroupMember(SQLModel, table=True):
    """Who is in a Slack user group, as last read from Slack (see UsergroupSync)."""

    __tablename__ = "usergroup_member"

    team_id: str = Field(primary_key=True)
    usergroup_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True, index=True)


class UsergroupSync(SQLModel, table=True):
    __tablename__ = "usergroup_sync"

    team_id: str = Field(primary_key=True)
    usergroup_id: str = Field(primary_key=True)
    synced_at: datetime = _timestamp()


class Usergroup(SQLModel, table=True):
    """A Slack user group of the workspace, as last listed by Slack (usergroups.list): its
    handle answers the line settings' search without a Slack call."""

    team_id: str = Field(primary_key=True)
    usergroup_id: str = Field(primary_key=True)
    handle: str
    listed_at: datetime = _timestamp()


class Contact(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("team_id", "phone"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str
    phone: str
    name: str | None = None
    created_at: datetime = _timestamp()


class ContactSearchTerm(SQLModel, table=True):
    """Lower-case name words and number digits of a contact, for prefix suggestions."""

    __tablename__ = "contact_search_term"
    # A contact's terms in order: checks a further word of a query per contact, and reads
    # the terms of the few contacts a "lines" directory shows, from the index alone.
    __table_args__ = (Index("ix_contact_search_term_contact_term", "contact_id", "term"),)

    team_id: str = Field(primary_key=True)
    term: str = Field(primary_key=True, sa_type=SearchTerm)
    # Not a foreign key: the terms are derived from the contacts, written with them, and
    # read through a join to them; checking each term's contact cost a third of a big
    # import's time on PostgreSQL (four terms a contact).
    contact_id: int = Field(primary_key=True)


class Conversation(SQLModel, table=True):
    # NULLs are distinct in a unique key, so group conversations (no contact_id) are not
    # constrained while there is at most one direct conversation per (line, contact).
    __table_args__ = (
        UniqueConstraint("line_id", "contact_id", name="uq_conversation_direct"),
        Index("ix_conversation_mirror_pending", "mirror_pending"),
        Index("ix_conversation_thread", "slack_channel_id", "slack_thread_ts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    line_id: int = _foreign_key("line.id", index=False)
    contact_id: int | None = _foreign_key("contact.id", nullable=True)
    kind: ConversationKind = Field(default=ConversationKind.DIRECT, sa_type=String(16))
    status: ConversationStatus = Field(default=ConversationStatus.OPEN, sa_type=String(16))
    created_by: str | None = None
    created_at: datetime = _timestamp()
    closed_at: datetime | None = _timestamp(nullable=True)
    closed_by: str | None = None
    assigned_to: str | None = Field(default=None, index=True)  # a Slack user who claimed it
    last_message_at: datetime | None = _timestamp(nullable=True)

    # The parent message in the line's channel; the thread of every message.
    slack_channel_id: str | None = None
    slack_thread_ts: str | None = Field(default=None)
    # A group texted as one group MMS (its line had group_mms when it started): Twilio's
    # conversation (CH...), once created. Membership is fixed once started.
    group_mms: bool = False
    provider_conversation_sid: str | None = Field(default=None, unique=True)
    # Mirror bookkeeping: a revision is bumped whenever what Slack shows must change, and
    # the mirror records which revision it last rendered.
    parent_rev: int = 1
    parent_synced_rev: int = 0
    mirror_pending: bool = True
    mirror_seq: int = 1
    mirror_lease_until: datetime | None = _timestamp(nullable=True)
    mirror_not_before: datetime | None = _timestamp(nullable=True)
    # Slack's error when it refused the conversation's posts for good (an archived channel,
    # one the bot may not join): parked, tried again only when there is new work.
    slack_error: str | None = None


def _only(condition: str) -> dict[str, Any]:
    """A partial index's condition, on both databases."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


class Message(SQLModel, table=True):
    # A conversation can hold years of texts: every read of one conversation that routing
    # or mirroring makes per text goes through an index that holds only what it wants, so
    # its cost does not grow with the conversation (50,000 texts: 11-17 ms a read without).
    __table_args__ = (
        Index("ix_message_conversation_order", "conversation_id", "id"),
        Index(
            "ix_message_unmirrored",
            "conversation_id",
            "id",
            **_only("slack_rev > slack_synced_rev"),
        ),
        Index(
            "ix_message_broadcast",
            "conversation_id",
            "broadcast_id",
            **_only("broadcast_id IS NOT NULL"),
        ),
        Index("ix_message_text_time", "conversation_id", text("coalesce(sent_at, created_at)")),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = _foreign_key("conversation.id", index=False)
    direction: MessageDirection = Field(sa_type=String(16))
    body: str
    author_user_id: str | None = None
    contact_id: int | None = _foreign_key("contact.id", nullable=True)
    broadcast_id: int | None = _foreign_key("broadcast.id", nullable=True)
    # Idempotency key of whatever created it: a modal's view id, a Slack (channel, ts),
    # a provider MessageSid. A retry finds the key taken and creates nothing.
    dedupe_key: str | None = Field(default=None, unique=True)
    created_at: datetime = _timestamp()
    # Inbound: when the text reached Twilio (its log's time for a recovered text, the
    # webhook's arrival otherwise); received_late: the conversation already had a newer
    # message when it came, so its thread shows it after them, saying when it was sent.
    sent_at: datetime | None = _timestamp(nullable=True)
    received_late: bool = False

    origin: MessageOrigin = Field(default=MessageOrigin.APP, sa_type=String(16))
    # "Send later": when its deliveries are due (they wait in the outbox until then).
    scheduled_for: datetime | None = _timestamp(nullable=True)
    # Inbound MMS: [{"url": ..., "content_type": ...}] as the provider gave them.
    media: list[dict[str, str]] | None = Field(default=None, sa_type=JSON)

    slack_ts: str | None = None
    slack_rev: int = 1
    slack_synced_rev: int = 0
    # For messages typed in Slack: the state the reaction on it shows ("sent", "failed", ...).
    slack_mark: str | None = None
    # Slack's error when it refused this message even in plain text: parked, not retried.
    slack_error: str | None = None


class Delivery(SQLModel, table=True):
    """One SMS to one phone for an outbound message: the outbox row."""

    __table_args__ = (
        Index("ix_delivery_due", "status", "next_attempt_at"),
        # A phone's texts from a line leave one at a time, in order: the claim looks here
        # for an earlier one still unresolved.
        Index("ix_delivery_phone_queue", "line_id", "contact_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = _foreign_key("message.id")
    line_id: int = _foreign_key("line.id")
    contact_id: int = _foreign_key("contact.id")
    to_phone: str
    # A text to a group text (group MMS): one send to the whole group's Twilio conversation,
    # kept in the queue of its first member (contact_id). None: an SMS to to_phone.
    group_conversation_id: int | None = _foreign_key("conversation.id", nullable=True)
    body: str  # exactly what this phone is sent (the message, plus a footer or merge fields)
    status: DeliveryStatus = Field(default=DeliveryStatus.PENDING, sa_type=String(16))
    provider_sid: str | None = Field(default=None, unique=True)
    error_code: int | None = None
    error_text: str | None = None
    attempts: int = 0
    next_attempt_at: datetime = _timestamp()
    claimed_at: datetime | None = _timestamp(nullable=True)
    # While sending: the claiming process renews this while its send is in hand; once it
    # has passed (the process died, or the send timed out), reconcile asks Twilio.
    lease_until: datetime | None = _timestamp(nullable=True)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class OutboundMedia(SQLModel, table=True):
    """A picture sent with an outbound message (MMS): the Slack file it came from, its bytes
    once fetched, and the unguessable token of the URL Twilio fetches it from. Kept with
    the message, so a send retried or settled after a crash sends the same URL; the URL
    answers until `expires_at` (each send pushes it on)."""

    __tablename__ = "outbound_media"
    __table_args__ = (Index("ix_outbound_media_message", "message_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = _foreign_key("message.id", index=False)
    position: int = 0
    token: str = Field(unique=True)
    slack_file_id: str
    name: str = ""
    source_url: str | None = None  # Slack's url_private_download, when the event had it
    content_type: str = ""
    size: int = 0
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    fetched_at: datetime | None = _timestamp(nullable=True)
    expires_at: datetime | None = _timestamp(nullable=True, index=True)
    created_at: datetime = _timestamp()


class OptOut(SQLModel, table=True):
    """A contact who replied STOP to a line: nothing more is sent to them from it."""

    __tablename__ = "opt_out"

    line_id: int = Field(
        sa_column=Column(Integer, ForeignKey("line.id", ondelete="CASCADE"), primary_key=True)
    )
    contact_id: int = Field(
        sa_column=Column(Integer, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True)
    )
    keyword: str
    created_at: datetime = _timestamp()


class IdempotencyKey(SQLModel, table=True):
    """Keys of requests already handled (an inbound MessageSid, a Slack channel+ts), taken
    before any side effect so that a retry, even a concurrent one, does nothing."""

    __tablename__ = "idempotency_key"

    key: str = Field(primary_key=True)
    created_at: datetime = _timestamp()


class InboundWebhook(SQLModel, table=True):
    """A customer's text as Twilio's webhook brought it (or as recovery read it from
    Twilio's log), stored before the webhook is answered and routed into its conversation by
    the inbound router soon after, in the order the texts reached Twilio (received_at, then
    id). Deleted in the transaction that routes it."""

    __tablename__ = "inbound_webhook"
    __table_args__ = (Index("ix_inbound_webhook_arrival", "received_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    message_sid: str = Field(unique=True)
    to_number: str
    from_number: str
    body: str = ""
    media: list[dict[str, str]] | None = Field(default=None, sa_type=JSON)
    messaging_service_sid: str | None = None
    opt_out_type: str | None = None
    # A member's text to a group text, as the Conversations webhook brought it: Twilio's
    # conversation (its line and group) and the message's Index in it (their order).
    conversation_sid: str | None = None
    conversation_index: int | None = None
    # When the text reached Twilio: the webhook's arrival; or, for a text read back from
    # Twilio's log (`logged_to_the_second`), the last instant of the second the log gives
    # (it may have come after any text the webhook brought within that second).
    received_at: datetime = _timestamp()
    logged_to_the_second: bool = False
    attempts: int = 0  # failed routing attempts; see models.inbound.MAX_ROUTING_ATTEMPTS
    last_error: str | None = None


class InboundRefusal(SQLModel, table=True):
    """An inbound text the router could not take (see models.inbound.RefusalReason), kept
    by its MessageSid (find it in Twilio's log) and counted in /metrics."""

    __tablename__ = "inbound_refusal"

    message_sid: str = Field(primary_key=True)
    reason: str
    to_number: str
    from_number: str
    received_at: datetime = _timestamp()
    refused_at: datetime = _timestamp()


class EarlyStatus(SQLModel, table=True):
    """A status callback that arrived before the send that caused it was recorded."""

    __tablename__ = "early_status"

    provider_sid: str = Field(primary_key=True)
    status: str
    error_code: int | None = None
    created_at: datetime = _timestamp()


class ConversationParticipant(SQLModel, table=True):
    """A contact in a group (reply-all) conversation."""

    __tablename__ = "conversation_participant"

    conversation_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
        )
    )
    contact_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )


class Broadcast(SQLModel, table=True):
    """A multi-recipient message: one text sent on its own to each recipient, and the
    progress summary its sender gets in a direct message."""

    id: int | None = Field(default=None, primary_key=True)
    team_id: str
    line_id: int = _foreign_key("line.id")
    user_id: str
    body: str
    # Recipients that could not be texted: [{"label": ..., "reason": ...}]
    skipped: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = _timestamp()
    dedupe_key: str | None = Field(default=None, unique=True)

    slack_channel_id: str | None = None
    slack_ts: str | None = None
    summary_rev: int = 1
    summary_synced_rev: int = 0
    summary_not_before: datetime | None = _timestamp(nullable=True)


class AuditEntry(SQLModel, table=True):
    """Who changed what about lines and access, and when."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    actor: str  # a Slack user id, or "cli"
    action: str  # e.g. "line.add", "line.rename", "access.grant"
    line_id: int | None = Field(default=None, index=True)
    detail: str
    created_at: datetime = _timestamp()


class SlackUser(SQLModel, table=True):
    """What Slack last said about a user's role, so permission checks need no API call."""

    __tablename__ = "slack_user"

    team_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)
    is_admin: bool = False
    checked_at: datetime = _timestamp()


class SavedReply(SQLModel, table=True):
    """A line's canned text; {first_name} and {name} are filled per recipient."""

    __tablename__ = "saved_reply"
    __table_args__ = (UniqueConstraint("line_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    line_id: int = _foreign_key("line.id")
    name: str
    body: str
    # What {first_name} and {name} become for a contact with no name.
    fallback_name: str = "there"
    created_by: str | None = None
    created_at: datetime = _timestamp()
