"""Buttons: on a conversation's parent message (Close, Reopen, Claim, Unassign, Edit
contact) and on a multi-recipient summary (Retry failed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlmodel import Session

from handlers import ids, texts
from handlers.blocks import build_edit_contact_modal
from handlers.deps import HandlerDeps
from models.access import can_use_line
from models.conversations import (
    assign_conversation,
    close_conversation,
    reopen_conversation,
)
from models.deliveries import retry_failed_deliveries
from models.scheduling import cancel_scheduled
from models.tables import Broadcast, Contact, Conversation, Line, Message

# What a button does to its conversation, given the session and the clicking user.
Change = Callable[[Session, Conversation, str], object]

_CHANGES: dict[str, Change] = {
    ids.CLOSE_CONVERSATION_ACTION: lambda s, c, u: close_conversation(
        session=s, conversation=c, user_id=u
    ),
    ids.REOPEN_CONVERSATION_ACTION: lambda s, c, u: reopen_conversation(session=s, conversation=c),
    ids.CLAIM_CONVERSATION_ACTION: lambda s, c, u: assign_conversation(
        session=s, conversation=c, user_id=u
    ),
    ids.UNASSIGN_CONVERSATION_ACTION: lambda s, c, u: assign_conversation(
        session=s, conversation=c, user_id=None
    ),
}


def _usable_conversation(
    session: Session, body: dict[str, Any]
) -> tuple[Conversation | None, str | None]:
    """The conversation a button names, if the clicking user may use its line; else the
    refusal in words."""
    value = body["actions"][0].get("value", "")
    conversation = session.get(Conversation, int(value)) if value.isdigit() else None
    if conversation is None or conversation.team_id != body["team"]["id"]:
        return None, texts.CONVERSATION_GONE
    line = session.get_one(Line, conversation.line_id)
    if not can_use_line(session=session, line=line, user_id=body["user"]["id"]):
        return None, texts.NOT_ALLOWED_ON_CONVERSATION.format(line=line.name)
    return conversation, None


def register(app: App, deps: HandlerDeps) -> None:
    def ack_conversation_button(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        """A parent-message button: change the conversation; the mirror redraws the parent."""
        action_id = body["actions"][0]["action_id"]
        with deps.session() as session:
            conversation, refusal = _usable_conversation(session, body)
            if conversation is not None:
                _CHANGES[action_id](session, conversation, body["user"]["id"])
        context["refusal"] = refusal
        if refusal is None:
            deps.work_queued()
        ack()

    def explain_refusal(context: dict[str, Any], respond: Respond) -> None:
        if context.get("refusal"):
            respond(text=context["refusal"], response_type="ephemeral", replace_original=False)

    for action_id in _CHANGES:
        app.action(action_id)(ack=ack_conversation_button, lazy=[explain_refusal])

    def ack_edit_contact(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        with deps.read_session() as session:
            conversation, refusal = _usable_conversation(session, body)
            contact = (
                session.get(Contact, conversation.contact_id)
                if conversation and conversation.contact_id
                else None
            )
        context["refusal"] = refusal
        context["contact"] = contact.model_dump() if contact else None
        ack()

    def open_edit_contact(
        context: dict[str, Any], body: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        """Edit contact clicked: a small form for the contact's name."""
        if context.get("refusal") or not context.get("contact"):
            explain_refusal(context, respond)
            return
        client.views_open(
            trigger_id=body["trigger_id"],
            view=build_edit_contact_modal(
                contact=Contact(**context["contact"]),
                conversation_id=int(body["actions"][0]["value"]),
            ),
        )

    app.action(ids.EDIT_CONTACT_ACTION)(ack=ack_edit_contact, lazy=[open_edit_contact])

    def ack_retry(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        """Retry clicked on a multi-recipient summary: failed texts go back to the outbox."""
        value = body["actions"][0].get("value", "")
        user_id = body["user"]["id"]
        with deps.session() as session:
            broadcast = session.get(Broadcast, int(value)) if value.isdigit() else None
            line = session.get(Line, broadcast.line_id) if broadcast else None
            if broadcast is None or line is None or broadcast.team_id != body["team"]["id"]:
                context["refusal"] = texts.CONVERSATION_GONE
            elif not can_use_line(session=session, line=line, user_id=user_id):
                context["refusal"] = texts.NOT_ALLOWED_ON_CONVERSATION.format(line=line.name)
            else:
                retry_failed_deliveries(session=session, broadcast_id=broadcast.id or 0)
        deps.work_queued()
        ack()

    app.action(ids.RETRY_FAILED_ACTION)(ack=ack_retry, lazy=[explain_refusal])

    def ack_cancel_scheduled(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        """Cancel clicked on a scheduled text in its thread."""
        value = body["actions"][0].get("value", "")
        with deps.session() as session:
            message = session.get(Message, int(value)) if value.isdigit() else None
            conversation = session.get(Conversation, message.conversation_id) if message else None
            line = session.get(Line, conversation.line_id) if conversation else None
            if (
                message is None
                or conversation is None
                or line is None
                or conversation.team_id != body["team"]["id"]
            ):
                context["refusal"] = texts.CONVERSATION_GONE
            elif not can_use_line(session=session, line=line, user_id=body["user"]["id"]):
                context["refusal"] = texts.NOT_ALLOWED_ON_CONVERSATION.format(line=line.name)
            elif not cancel_scheduled(session=session, message=message):
                context["refusal"] = texts.SCHEDULED_ALREADY_LEFT
        deps.work_queued()
        ack()

    app.action(ids.CANCEL_SCHEDULED_ACTION)(ack=ack_cancel_scheduled, lazy=[explain_refusal])
