"""POST /twilio/messages: a customer's text arrives."""

from __future__ import annotations

import logging

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from handlers.deps import HandlerDeps
from handlers.twilio.form import RefusedWebhook, number_field, text_field
from handlers.twilio.signature import TwilioSignature, refusal

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio's most attachments on one message.
MAX_MEDIA = 10


def _media(form: FormData) -> list[dict[str, str]]:
    count = number_field(form, "NumMedia", maximum=MAX_MEDIA) or 0
    return [
        {
            "url": text_field(form, f"MediaUrl{i}"),
            "content_type": text_field(form, f"MediaContentType{i}"),
        }
        for i in range(count)
        if text_field(form, f"MediaUrl{i}")
    ]


def routes(deps: HandlerDeps, signature: TwilioSignature) -> list[Route]:
    async def handle_inbound_sms(request: Request) -> Response:
        """Stage the text (committed before we answer), then answer empty TwiML; the
        inbound router puts it in its conversation and the Slack thread shows it shortly
        after."""
        form = await signature.verified_form(request)
        if isinstance(form, Response):
            return form
        try:
            media = _media(form)
        except RefusedWebhook as refused:
            return refusal(refused, request)
        sid = text_field(form, "MessageSid", "SmsSid")
        to = text_field(form, "To")
        sender = text_field(form, "From")
        if not sid or not sender or not to:
            return PlainTextResponse("MessageSid, From and To are required", status_code=400)
        await deps.stage_inbound(
            {
                "message_sid": sid,
                "to_number": to,
                "from_number": sender,
                "body": text_field(form, "Body"),
                "media": media or None,
                "messaging_service_sid": text_field(form, "MessagingServiceSid") or None,
                "opt_out_type": text_field(form, "OptOutType") or None,
            }
        )
        deps.after_inbound_stored()
        try:
            deps.inbound_staged()
        except Exception:  # the text is stored: never answer 5xx now
            logger.exception("could not wake the router after inbound %s", sid)
        return Response(EMPTY_TWIML, media_type="text/xml")

    return [Route("/twilio/messages", handle_inbound_sms, methods=["POST"])]
