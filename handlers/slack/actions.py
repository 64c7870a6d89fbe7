"""Buttons on a conversation's parent message: Close and Reopen."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from handlers import ids, texts
from handlers.deps import HandlerDeps
from models.access import can_use_line
from models.conversations import close_conversation, reopen_conversation
from models.deliveries import retry_failed_deliveries
from models.tables import Broadcast, Conversation, Line


def register(app: App, deps: HandlerDeps) -> None:
    def change_status(body: dict[str, Any], *, close: bool) -> str | None:
        """Close or reopen the conversation the button belongs to; a refusal in words."""
        user_id = body["user"]["id"]
        value = body["actions"][0].get("value", "")
        with deps.session() as session:
            conversation = session.get(Conversation, int(value)) if value.isdigit() else None
            if conversation is None or conversation.team_id != body["team"]["id"]:
                return texts.CONVERSATION_GONE
            line = session.get(Line, conversation.line_id)
            assert line is not None
            if not can_use_line(session=session, line=line, user_id=user_id):
                return texts.NOT_ALLOWED_ON_CONVERSATION.format(line=line.name)
            if close:
                close_conversation(session=session, conversation=conversation, user_id=user_id)
            else:
                reopen_conversation(session=session, conversation=conversation)
        deps.work_queued()
        return None

    def ack_close(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        """Close clicked: the parent message is updated by the mirror."""
        context["refusal"] = change_status(body, close=True)
        ack()

    def ack_reopen(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        """Reopen clicked: same thread, status open again."""
        context["refusal"] = change_status(body, close=False)
        ack()

    def explain_refusal(context: dict[str, Any], respond: Respond) -> None:
        if context.get("refusal"):
            respond(text=context["refusal"], response_type="ephemeral", replace_original=False)

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
    app.action(ids.CLOSE_CONVERSATION_ACTION)(ack=ack_close, lazy=[explain_refusal])
    app.action(ids.REOPEN_CONVERSATION_ACTION)(ack=ack_reopen, lazy=[explain_refusal])
