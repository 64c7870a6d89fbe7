"""Buttons: on a conversation's parent message (Close, Reopen, Claim, Unassign, Edit
contact) and on a multi-recipient summary (Retry failed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from sqlmodel import Session

from handlers import ids, texts
from handlers.slack.guard import (
    access_of,
    deps_of,
    editable_contact,
    usable_broadcast,
    usable_conversation,
    usable_message,
)
from handlers.views.modal import build_edit_contact_modal
from models.conversations import (
    assign_conversation,
    close_conversation,
    reopen_conversation,
)
from models.deliveries import retry_failed_deliveries
from models.scheduling import cancel_scheduled
from models.tables import Contact, Conversation

# What a button does to its conversation, given the session and the clicking user.
Change = Callable[[Session, Conversation, str], object]

CHANGES: dict[str, Change] = {
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


def _value(body: dict[str, Any]) -> object:
    return body["actions"][0].get("value")


def handle_conversation_button(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
    """A parent-message button: change the conversation; the mirror redraws the parent."""
    deps = deps_of(context)
    action_id = body["actions"][0]["action_id"]
    with deps.session() as session:
        conversation, refusal = usable_conversation(session, access_of(context), _value(body))
        if conversation is not None:
            CHANGES[action_id](session, conversation, body["user"]["id"])
    context["refusal"] = refusal
    if refusal is None:
        deps.work_queued()
    ack()


def explain_refusal(context: dict[str, Any], respond: Respond | None) -> None:
    """After the ack: tell the clicking user privately why nothing happened (where the click
    came with a response_url: a message's buttons do, a modal's do not)."""
    if context.get("refusal") and respond is not None:
        respond(text=context["refusal"], response_type="ephemeral", replace_original=False)


def handle_edit_contact(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
    with deps_of(context).read_session() as session:
        contact, refusal = editable_contact(session, access_of(context), _value(body))
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


def handle_retry(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
    """Retry clicked on a multi-recipient summary: failed texts go back to the outbox."""
    deps = deps_of(context)
    with deps.session() as session:
        broadcast, context["refusal"] = usable_broadcast(session, access_of(context), _value(body))
        if broadcast is not None:
            retry_failed_deliveries(session=session, broadcast_id=broadcast.id or 0)
    deps.work_queued()
    ack()


def handle_cancel_scheduled(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
    """Cancel clicked on a scheduled text in its thread."""
    deps = deps_of(context)
    with deps.session() as session:
        message, context["refusal"] = usable_message(session, access_of(context), _value(body))
        if message is not None and not cancel_scheduled(session=session, message=message):
            context["refusal"] = texts.SCHEDULED_ALREADY_LEFT
    deps.work_queued()
    ack()
