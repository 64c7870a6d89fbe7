"""Submission of the /text modal, in its three kinds: a conversation, a multi-recipient
message, a reply-all group."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App
from sqlmodel import Session

from handlers import ids, texts
from handlers.blocks import (
    build_queued_confirmation,
    build_sent_confirmation,
    contact_label,
    slack_date,
)
from handlers.deps import HandlerDeps
from models.access import can_use_line, find_usable_line
from models.broadcasts import create_broadcast
from models.contacts import find_contact_by_phone, get_or_create_contact, rename_contact
from models.conversations import (
    InvalidMessageBody,
    check_message_body,
    mark_for_mirror,
    open_or_reopen_conversation,
    send_text,
)
from models.groups import conversations_showing, create_group_conversation
from models.inbound import take_idempotency_key
from models.merge_fields import DEFAULT_FALLBACK
from models.optouts import find_opted_out
from models.phone import InvalidPhoneNumber, format_phone, parse_phone
from models.quiet_hours import quiet_time
from models.scheduling import InvalidSendTime, check_send_time
from models.tables import Contact, Conversation, Line, SavedReply

logger = logging.getLogger(__name__)


@dataclass
class NewConversationForm:
    kind: str
    line_id: str | None
    recipients: list[str]
    message: str | None
    saved_reply_id: str | None = None
    send_at: int | None = None
    quiet_ok: bool = False

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> NewConversationForm:
        values = view.get("state", {}).get("values", {})

        def state(block: str, action: str) -> dict[str, Any]:
            return values.get(block, {}).get(action) or {}

        kind = json.loads(view.get("private_metadata") or "{}").get("kind")
        single = (
            state(ids.RECIPIENT_BLOCK, ids.RECIPIENT_ACTION).get("selected_option") or {}
        ).get("value")
        several = state(ids.RECIPIENTS_BLOCK, ids.RECIPIENTS_ACTION).get("selected_options") or []
        return cls(
            kind=kind if kind in ids.KINDS else ids.KIND_CONVERSATION,
            line_id=(state(ids.LINE_BLOCK, ids.LINE_ACTION).get("selected_option") or {}).get(
                "value"
            ),
            recipients=[single] if single else [o.get("value", "") for o in several],
            message=state(ids.MESSAGE_BLOCK, ids.MESSAGE_ACTION).get("value"),
            saved_reply_id=(
                state(ids.SAVED_REPLY_BLOCK, ids.SAVED_REPLY_ACTION).get("selected_option") or {}
            ).get("value"),
            send_at=state(ids.SEND_AT_BLOCK, ids.SEND_AT_ACTION).get("selected_date_time"),
            quiet_ok=bool(state(ids.QUIET_OK_BLOCK, ids.QUIET_OK_ACTION).get("selected_options")),
        )

    @property
    def recipients_block(self) -> str:
        return ids.RECIPIENT_BLOCK if self.kind == ids.KIND_CONVERSATION else ids.RECIPIENTS_BLOCK


@dataclass
class Recipient:
    """A chosen recipient: an existing contact, or a valid number that is not one yet."""

    label: str
    contact: Contact | None = None
    new_phone: str | None = None

    def contact_in(self, session: Session, team_id: str) -> Contact:
        if self.contact is not None:
            return self.contact
        assert self.new_phone is not None
        contact, _ = get_or_create_contact(session=session, team_id=team_id, phone=self.new_phone)
        return contact


def _resolve_recipient(session: Session, *, team_id: str, value: str, region: str) -> Recipient:
    """Turn an option value into a recipient, trusting nothing in it; raises ValueError."""
    if value.startswith(ids.CONTACT_OPTION_PREFIX):
        contact_id = value.removeprefix(ids.CONTACT_OPTION_PREFIX)
        contact = session.get(Contact, int(contact_id)) if contact_id.isdigit() else None
        if contact is None or contact.team_id != team_id:
            raise ValueError(texts.UNKNOWN_CONTACT)
        return Recipient(label=contact_label(contact), contact=contact)
    number = value.removeprefix(ids.NEW_NUMBER_OPTION_PREFIX)
    try:
        phone = parse_phone(number, region=region)
    except InvalidPhoneNumber as exc:
        raise ValueError(f"{str(exc).capitalize()}.") from None
    # A number typed again after it became a contact is that contact.
    known = find_contact_by_phone(session=session, team_id=team_id, phone=phone)
    if known is not None:
        return Recipient(label=contact_label(known), contact=known)
    return Recipient(label=format_phone(phone), new_phone=phone)


@dataclass
class CheckedForm:
    line: Line
    text: str
    recipients: list[Recipient]
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"label", "reason"}
    merge_fallback: str = DEFAULT_FALLBACK
    send_at: datetime | None = None


def _count_error(form: NewConversationForm, deps: HandlerDeps) -> str | None:
    count = len(form.recipients)
    if form.kind == ids.KIND_CONVERSATION:
        return texts.PICK_RECIPIENT if count != 1 else None
    if form.kind == ids.KIND_MULTI:
        low, high, what = 1, deps.max_multi_recipients, "A multi-recipient message"
    else:
        (low, high), what = deps.group_size, "A reply-all group"
    if count < low:
        return texts.TOO_FEW_RECIPIENTS.format(what=what, low=low)
    if count > high:
        return texts.TOO_MANY_RECIPIENTS.format(what=what, high=high, count=count)
    return None


def _check_form(
    session: Session, form: NewConversationForm, *, team_id: str, user_id: str, deps: HandlerDeps
) -> dict[str, str] | CheckedForm:
    """What to send, or the field errors to show (by block id). Whatever the payload says,
    the line must be one the user may use and every recipient is checked again."""
    errors: dict[str, str] = {}
    line = find_usable_line(session=session, team_id=team_id, user_id=user_id, line_id=form.line_id)
    if line is None:
        chosen = session.get(Line, int(form.line_id)) if (form.line_id or "").isdigit() else None
        turned_off = chosen is not None and chosen.team_id == team_id and not chosen.active
        errors[ids.LINE_BLOCK] = texts.LINE_GONE if turned_off else texts.NO_ACCESS_TO_LINE
    reply = _chosen_reply(session, form, line, errors)
    text = ""
    try:
        text = check_message_body(reply.body if reply else form.message)
    except InvalidMessageBody as exc:
        errors.setdefault(ids.MESSAGE_BLOCK, str(exc))
    send_at = None
    if form.send_at:
        try:
            send_at = check_send_time(
                datetime.fromtimestamp(int(form.send_at), UTC), now=deps.clock()
            )
        except (InvalidSendTime, ValueError, OverflowError) as exc:
            errors[ids.SEND_AT_BLOCK] = (
                str(exc) if isinstance(exc, InvalidSendTime) else texts.BAD_TIME
            )
    count_error = _count_error(form, deps)
    if count_error:
        errors[form.recipients_block] = count_error
    if errors or line is None:
        return errors

    recipients: list[Recipient] = []
    skipped: list[dict[str, str]] = []
    seen: set[str] = set()
    for value in form.recipients:
        try:
            recipient = _resolve_recipient(
                session, team_id=team_id, value=value, region=deps.default_region
            )
        except ValueError as exc:
            if form.kind != ids.KIND_MULTI:
                return {form.recipients_block: str(exc)}
            skipped.append({"label": value.split(":", 1)[-1], "reason": str(exc).rstrip(".")})
            continue
        key = recipient.contact.phone if recipient.contact else recipient.new_phone or ""
        if key in seen:
            continue
        seen.add(key)
        if recipient.contact and find_opted_out(
            session=session, line_id=line.id or 0, contacts=[recipient.contact]
        ):
            reason = texts.RECIPIENT_OPTED_OUT.format(who=recipient.label, line=line.name)
            if form.kind == ids.KIND_CONVERSATION:
                return {form.recipients_block: reason}
            skipped.append({"label": recipient.label, "reason": "opted out (texted STOP)"})
            if form.kind == ids.KIND_MULTI:
                continue
        recipients.append(recipient)
    textable = len(recipients) - (len(skipped) if form.kind == ids.KIND_GROUP else 0)
    if textable < 1:
        return {form.recipients_block: texts.NOBODY_TO_TEXT}
    if not form.quiet_ok:
        night = _in_quiet_hours(recipients, send_at or deps.clock(), line)
        if night:
            return {ids.SEND_AT_BLOCK: night}
    return CheckedForm(
        line=line,
        text=text,
        recipients=recipients,
        skipped=skipped,
        merge_fallback=reply.fallback_name if reply else DEFAULT_FALLBACK,
        send_at=send_at,
    )


def _in_quiet_hours(recipients: list[Recipient], at: datetime, line: Line) -> str | None:
    """Why the text would arrive in someone's quiet hours (the line's), or None."""
    for recipient in recipients:
        phone = recipient.contact.phone if recipient.contact else recipient.new_phone or ""
        quiet = quiet_time(phone, at, start=line.quiet_start_hour, end=line.quiet_end_hour)
        if quiet is not None:
            return texts.QUIET_HOURS.format(
                start=_hour(line.quiet_start_hour),
                end=_hour(line.quiet_end_hour),
                who=recipient.label,
                local=f"{quiet.local:%H:%M} ({quiet.local.tzname()})",
                when=f"{quiet.next_allowed.astimezone(quiet.local.tzinfo):%a %H:%M} their time",
            )
    return None


def _hour(hour: int) -> str:
    return f"{hour % 12 or 12}{'am' if hour < 12 else 'pm'}"


def _chosen_reply(
    session: Session, form: NewConversationForm, line: Line | None, errors: dict[str, str]
) -> SavedReply | None:
    """The saved reply picked in the form, if it is one of the chosen line's."""
    if not form.saved_reply_id:
        return None
    reply_id = form.saved_reply_id
    reply = session.get(SavedReply, int(reply_id)) if reply_id.isdigit() else None
    if reply is None or line is None or reply.line_id != line.id:
        errors[ids.SAVED_REPLY_BLOCK] = texts.SAVED_REPLY_OTHER_LINE
        return None
    if (form.message or "").strip():
        errors[ids.MESSAGE_BLOCK] = texts.REPLY_OR_MESSAGE
    return reply


def register(app: App, deps: HandlerDeps) -> None:
    @app.view(ids.NEW_CONVERSATION_VIEW)
    def handle_new_conversation_submission(
        ack: Ack, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        """Validate everything on the server, then write contacts, conversations, messages
        and deliveries in one transaction and answer; texts and Slack threads follow."""
        team_id = body["team"]["id"]
        user_id = body["user"]["id"]
        form = NewConversationForm.from_view(view)
        with deps.session() as session:
            checked = _check_form(session, form, team_id=team_id, user_id=user_id, deps=deps)
            if isinstance(checked, dict):
                ack(response_action="errors", errors=checked)
                return
            start = {
                ids.KIND_CONVERSATION: _start_conversation,
                ids.KIND_MULTI: _start_multi,
                ids.KIND_GROUP: _start_group,
            }[form.kind]
            confirmation = start(
                session, checked, team_id=team_id, user_id=user_id, view_id=view["id"]
            )
        deps.work_queued()
        ack(response_action="update", view=confirmation)

    register_contact_edit(app, deps)


def register_contact_edit(app: App, deps: HandlerDeps) -> None:
    @app.view(ids.EDIT_CONTACT_VIEW)
    def handle_contact_edit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Rename the contact of the conversation the form was opened from; every parent
        message showing them is redrawn."""
        metadata = json.loads(view.get("private_metadata") or "{}")
        values = view.get("state", {}).get("values", {})
        name = (values.get(ids.CONTACT_NAME_BLOCK, {}).get(ids.CONTACT_NAME_ACTION) or {}).get(
            "value"
        )
        with deps.session() as session:
            conversation = session.get(Conversation, int(metadata.get("conversation_id") or 0))
            line = session.get(Line, conversation.line_id) if conversation else None
            if (
                conversation is None
                or line is None
                or conversation.team_id != body["team"]["id"]
                or conversation.contact_id is None
                or not can_use_line(session=session, line=line, user_id=body["user"]["id"])
            ):
                ack(
                    response_action="errors",
                    errors={ids.CONTACT_NAME_BLOCK: texts.NO_ACCESS_TO_CONTACT},
                )
                return
            contact = session.get_one(Contact, conversation.contact_id)
            rename_contact(session=session, contact=contact, name=name)
            for shown in conversations_showing(session=session, contact=contact):
                mark_for_mirror(shown, parent=True)
                session.add(shown)
        deps.work_queued()
        ack()


def _queue_direct_text(
    session: Session,
    checked: CheckedForm,
    *,
    contact: Contact,
    user_id: str,
    dedupe_key: str,
    broadcast_id: int | None = None,
) -> tuple[Conversation, bool]:
    """Open (or reopen) the contact's conversation on the form's line and queue the text."""
    conversation, created = open_or_reopen_conversation(
        session=session, line=checked.line, contact=contact, user_id=user_id
    )
    send_text(
        session=session,
        conversation=conversation,
        line=checked.line,
        recipients=[contact],
        body=checked.text,
        author_user_id=user_id,
        dedupe_key=dedupe_key,
        broadcast_id=broadcast_id,
        merge_fallback=checked.merge_fallback,
        scheduled_for=checked.send_at,
    )
    return conversation, created


def _start_conversation(
    session: Session, checked: CheckedForm, *, team_id: str, user_id: str, view_id: str
) -> dict[str, Any]:
    line = checked.line
    contact = checked.recipients[0].contact_in(session, team_id)
    conversation, created = _queue_direct_text(
        session, checked, contact=contact, user_id=user_id, dedupe_key=f"view:{view_id}"
    )
    logger.info(
        "text queued: conversation=%s line=%s created=%s",
        conversation.id,
        line.id,
        created,
        extra={"conversation_id": conversation.id, "line_id": line.id},
    )
    if checked.send_at:
        when = slack_date(checked.send_at)
        text = texts.SCHEDULED_QUEUED.format(who=contact_label(contact), when=when)
        return build_queued_confirmation(line=line, text=text)
    return build_sent_confirmation(line=line, contact=contact, created=created)


def _skipped_lines(skipped: list[dict[str, str]]) -> str:
    return "".join(f"\n• Not sent to {s['label']}: {s['reason']}" for s in skipped)


def _start_multi(
    session: Session, checked: CheckedForm, *, team_id: str, user_id: str, view_id: str
) -> dict[str, Any]:
    line = checked.line
    broadcast = create_broadcast(
        session=session,
        team_id=team_id,
        line_id=line.id or 0,
        user_id=user_id,
        body=checked.text,
        skipped=checked.skipped,
        dedupe_key=f"view:{view_id}",
    )
    if broadcast is not None:  # else: the same submission again, already queued
        for recipient in checked.recipients:
            contact = recipient.contact_in(session, team_id)
            _queue_direct_text(
                session,
                checked,
                contact=contact,
                user_id=user_id,
                dedupe_key=f"view:{view_id}:{contact.id}",
                broadcast_id=broadcast.id,
            )
        logger.info("broadcast %s queued to %s recipients", broadcast.id, len(checked.recipients))
    summary = texts.MULTI_QUEUED.format(count=len(checked.recipients))
    return build_queued_confirmation(line=line, text=summary + _skipped_lines(checked.skipped))


def _start_group(
    session: Session, checked: CheckedForm, *, team_id: str, user_id: str, view_id: str
) -> dict[str, Any]:
    line = checked.line
    if take_idempotency_key(session=session, key=f"view:{view_id}"):
        contacts = [r.contact_in(session, team_id) for r in checked.recipients]
        conversation = create_group_conversation(
            session=session, line=line, contacts=contacts, user_id=user_id
        )
        send_text(
            session=session,
            conversation=conversation,
            line=line,
            recipients=contacts,
            body=checked.text,
            author_user_id=user_id,
            skip_opted_out=True,
            merge_fallback=checked.merge_fallback,
            scheduled_for=checked.send_at,
        )
        logger.info("group conversation %s started with %s", conversation.id, len(contacts))
    summary = texts.GROUP_QUEUED.format(count=len(checked.recipients), channel=line.channel_id)
    return build_queued_confirmation(line=line, text=summary + _skipped_lines(checked.skipped))
