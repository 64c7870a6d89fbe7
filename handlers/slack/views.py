"""Submission of the /text modal."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App
from sqlmodel import Session

from handlers import ids, texts
from handlers.blocks import build_sent_confirmation, contact_label
from handlers.deps import HandlerDeps
from models.access import find_usable_line
from models.contacts import get_or_create_contact
from models.conversations import (
    InvalidMessageBody,
    check_message_body,
    open_or_reopen_conversation,
    send_text,
)
from models.optouts import find_opted_out
from models.phone import InvalidPhoneNumber, parse_phone
from models.tables import Contact, Line

logger = logging.getLogger(__name__)


@dataclass
class NewConversationForm:
    line_id: str | None
    recipient: str | None
    message: str | None

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> NewConversationForm:
        values = view.get("state", {}).get("values", {})

        def selected(block: str, action: str) -> str | None:
            option = values.get(block, {}).get(action, {}).get("selected_option") or {}
            return option.get("value")

        message = values.get(ids.MESSAGE_BLOCK, {}).get(ids.MESSAGE_ACTION, {}).get("value")
        return cls(
            line_id=selected(ids.LINE_BLOCK, ids.LINE_ACTION),
            recipient=selected(ids.RECIPIENT_BLOCK, ids.RECIPIENT_ACTION),
            message=message,
        )


@dataclass
class Recipient:
    """A chosen recipient: an existing contact, or a valid number that is not one yet."""

    contact: Contact | None = None
    new_phone: str | None = None


def _resolve_recipient(
    session: Session, *, team_id: str, value: str | None, region: str
) -> Recipient:
    """Turn an option value into a recipient, trusting nothing in it; raises ValueError."""
    if not value:
        raise ValueError(texts.PICK_RECIPIENT)
    if value.startswith(ids.CONTACT_OPTION_PREFIX):
        contact_id = value.removeprefix(ids.CONTACT_OPTION_PREFIX)
        contact = session.get(Contact, int(contact_id)) if contact_id.isdigit() else None
        if contact is None or contact.team_id != team_id:
            raise ValueError(texts.UNKNOWN_CONTACT)
        return Recipient(contact=contact)
    number = value.removeprefix(ids.NEW_NUMBER_OPTION_PREFIX)
    try:
        return Recipient(new_phone=parse_phone(number, region=region))
    except InvalidPhoneNumber as exc:
        raise ValueError(f"{str(exc).capitalize()}.") from None


def register(app: App, deps: HandlerDeps) -> None:
    @app.view(ids.NEW_CONVERSATION_VIEW)
    def handle_new_conversation_submission(
        ack: Ack, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        """Validate everything on the server, then write contact, conversation, message and
        delivery in one transaction and answer; the SMS and the Slack thread follow."""
        team_id = body["team"]["id"]
        user_id = body["user"]["id"]
        form = NewConversationForm.from_view(view)
        with deps.session() as session:
            checked = _check_form(session, form, team_id=team_id, user_id=user_id, deps=deps)
            if isinstance(checked, dict):
                ack(response_action="errors", errors=checked)
                return
            line, recipient, body_text = checked
            confirmation = _start_conversation(
                session,
                line=line,
                recipient=recipient,
                body=body_text,
                user_id=user_id,
                dedupe_key=f"view:{view['id']}",
            )
        deps.work_queued()
        ack(response_action="update", view=confirmation)


def _check_form(
    session: Session, form: NewConversationForm, *, team_id: str, user_id: str, deps: HandlerDeps
) -> dict[str, str] | tuple[Line, Recipient, str]:
    """The line, recipient and text to send, or the field errors to show (by block id)."""
    errors: dict[str, str] = {}
    line = find_usable_line(session=session, team_id=team_id, user_id=user_id, line_id=form.line_id)
    if line is None:
        errors[ids.LINE_BLOCK] = texts.NO_ACCESS_TO_LINE
    recipient = Recipient()
    try:
        recipient = _resolve_recipient(
            session, team_id=team_id, value=form.recipient, region=deps.default_region
        )
    except ValueError as exc:
        errors[ids.RECIPIENT_BLOCK] = str(exc)
    text = ""
    try:
        text = check_message_body(form.message)
    except InvalidMessageBody as exc:
        errors[ids.MESSAGE_BLOCK] = str(exc)
    contact = recipient.contact
    if (
        line is not None
        and contact is not None
        and find_opted_out(session=session, line_id=line.id or 0, contacts=[contact])
    ):
        errors[ids.RECIPIENT_BLOCK] = texts.RECIPIENT_OPTED_OUT.format(
            who=contact_label(contact), line=line.name
        )
    if errors or line is None:
        return errors
    return line, recipient, text


def _start_conversation(
    session: Session, *, line: Line, recipient: Recipient, body: str, user_id: str, dedupe_key: str
) -> dict[str, Any]:
    if recipient.contact is not None:
        contact = recipient.contact
    else:
        assert recipient.new_phone is not None
        contact, _ = get_or_create_contact(
            session=session, team_id=line.team_id, phone=recipient.new_phone
        )
    conversation, created = open_or_reopen_conversation(
        session=session, line=line, contact=contact, user_id=user_id
    )
    send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=[contact],
        body=body,
        author_user_id=user_id,
        dedupe_key=dedupe_key,
    )
    logger.info(
        "text queued: conversation=%s line=%s created=%s", conversation.id, line.id, created
    )
    return build_sent_confirmation(line=line, contact=contact, created=created)
