"""POST /twilio/status: delivery status callbacks."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from handlers.deps import HandlerDeps
from handlers.twilio.form import RefusedWebhook, number_field, text_field
from handlers.twilio.signature import TwilioSignature, refusal
from models.deliveries import apply_provider_status
from models.error_codes import describe_error

logger = logging.getLogger(__name__)

# Twilio's error codes have five digits; the column is a 32-bit integer.
MAX_ERROR_CODE = 999_999


def routes(deps: HandlerDeps, signature: TwilioSignature) -> list[Route]:
    async def handle_status_callback(request: Request) -> Response:
        """Twilio reports a delivery's progress; it only ever moves forward."""
        form = await signature.verified_form(request)
        if isinstance(form, Response):
            return form
        sid = text_field(form, "MessageSid")
        status = text_field(form, "MessageStatus", "SmsStatus")
        try:
            code = number_field(form, "ErrorCode", maximum=MAX_ERROR_CODE)
        except RefusedWebhook as refused:
            return refusal(refused, request)
        if not sid or not status:
            return PlainTextResponse("MessageSid and MessageStatus are required", status_code=400)

        def apply() -> bool:
            with deps.session() as session:
                changed = apply_provider_status(
                    session=session,
                    provider_sid=sid,
                    status=status,
                    error_code=code,
                    error_text=describe_error(code) if code else None,
                )
            return changed is not None

        if await run_in_threadpool(apply):
            deps.work_queued()
        return Response(status_code=204)

    return [Route("/twilio/status", handle_status_callback, methods=["POST"])]
