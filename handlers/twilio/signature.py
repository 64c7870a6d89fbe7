"""Checking X-Twilio-Signature on webhooks."""

from __future__ import annotations

import logging

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from twilio.request_validator import RequestValidator

from handlers.twilio.form import RefusedWebhook, read_form

logger = logging.getLogger(__name__)


def refusal(refused: RefusedWebhook, request: Request) -> Response:
    """The 4xx answer to a webhook refused before its fields were used (logged without them)."""
    logger.warning(
        "refused a Twilio webhook to %s (%s): %s", request.url.path, refused.status, refused.reason
    )
    return PlainTextResponse(refused.reason, status_code=refused.status)


class TwilioSignature:
    def __init__(self, *, auth_token: str, public_url: str):
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")

    def public_url_of(self, request: Request) -> str:
        """The URL Twilio signed: the public one, not what the proxy handed us."""
        url = self._public_url + request.url.path
        return f"{url}?{request.url.query}" if request.url.query else url

    async def verified_form(self, request: Request) -> FormData | Response:
        """The webhook's form if it is one and its signature is right; else the answer."""
        try:
            form = await read_form(request)
        except RefusedWebhook as refused:
            return refusal(refused, request)
        signature = request.headers.get("x-twilio-signature", "")
        if signature and self._validator.validate(self.public_url_of(request), form, signature):
            return form
        logger.warning(
            "rejected a Twilio webhook to %s with a %s signature",
            request.url.path,
            "wrong" if signature else "missing",
        )
        return PlainTextResponse("invalid signature", status_code=403)
