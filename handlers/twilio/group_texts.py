"""POST /twilio/conversations: Twilio's Conversations webhook, for group texts (group MMS).

A member's text to a group text comes as onMessageAdded (form-encoded, signed like every
Twilio webhook): ConversationSid, MessageSid, Index, Author (the member's number) and Body.
It is staged like an inbound SMS and routed by the inbound router into the group's
conversation, in the order of its Index; the line's own messages (its Author) are ignored."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from handlers.deps import HandlerDeps
from handlers.twilio.form import RefusedWebhook, number_field, text_field
from handlers.twilio.signature import TwilioSignature, refusal

logger = logging.getLogger(__name__)

MESSAGE_ADDED = "onMessageAdded"
# A conversation's messages are numbered from 0; no group gets anywhere near this.
MAX_INDEX = 10**9


def routes(deps: HandlerDeps, signature: TwilioSignature) -> list[Route]:
    async def handle_conversation_event(request: Request) -> Response:
        """Stage a member's text to a group text (committed before we answer); other
        events are answered and ignored."""
        form = await signature.verified_form(request)
        if isinstance(form, Response):
            return form
        if text_field(form, "EventType") != MESSAGE_ADDED:
            return Response(status_code=200)
        try:
            index = number_field(form, "Index", maximum=MAX_INDEX)
        except RefusedWebhook as refused:
            return refusal(refused, request)
        conversation_sid = text_field(form, "ConversationSid")
        sid = text_field(form, "MessageSid")
        author = text_field(form, "Author")
        if not conversation_sid or not sid or not author:
            return PlainTextResponse(
                "ConversationSid, MessageSid and Author are required", status_code=400
            )
        await deps.stage_inbound(
            {
                "message_sid": sid,
                "to_number": "",  # the group's line: found through its conversation
                "from_number": author,
                "body": text_field(form, "Body"),
                "media": None,
                "messaging_service_sid": None,
                "opt_out_type": None,
                "conversation_sid": conversation_sid,
                "conversation_index": index,
            }
        )
        deps.after_inbound_stored()
        try:
            deps.inbound_staged()
        except Exception:  # the text is stored: never answer 5xx now
            logger.exception("could not wake the router after group text %s", sid)
        return Response(status_code=200)

    return [Route("/twilio/conversations", handle_conversation_event, methods=["POST"])]
