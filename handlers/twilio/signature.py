"""Checking X-Twilio-Signature on webhooks."""

from __future__ import annotations

import logging

from starlette.datastructures import FormData
from starlette.requests import Request
from twilio.request_validator import RequestValidator

logger = logging.getLogger(__name__)


class TwilioSignature:
    def __init__(self, *, auth_token: str, public_url: str):
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")

    def public_url_of(self, request: Request) -> str:
        """The URL Twilio signed: the public one, not what the proxy handed us."""
        url = self._public_url + request.url.path
        return f"{url}?{request.url.query}" if request.url.query else url

    async def verified_form(self, request: Request) -> FormData | None:
        """The webhook's form if its signature is right; None for a forged or unsigned one."""
        form = await request.form()
        signature = request.headers.get("x-twilio-signature", "")
        if signature and self._validator.validate(self.public_url_of(request), form, signature):
            return form
        logger.warning(
            "rejected a Twilio webhook to %s with a %s signature",
            request.url.path,
            "wrong" if signature else "missing",
        )
        return None
