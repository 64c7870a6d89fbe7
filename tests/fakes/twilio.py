"""The fake Twilio REST API for tests: the bot's own simulated carrier, on a port of its own,
with test credentials and status callbacks sent only when a test asks."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bot.sms_simulator import SimulatedCarrier

ACCOUNT_SID = "AC" + "1234567890abcdef" * 2
AUTH_TOKEN = "test-twilio-auth-token"


class FakeTwilio(SimulatedCarrier):
    def __init__(self) -> None:
        super().__init__(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, callback_delay=None)
        self.url = ""  # set when served
        self.media: dict[str, tuple[bytes, str]] = {}
        self.app.router.routes.append(
            Route(
                "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}",
                self._media,
                methods=["GET"],
            )
        )

    def add_media(self, message_sid: str, content: bytes, content_type: str) -> str:
        """Host an inbound attachment; returns its URL as Twilio gives it (api.twilio.com)."""
        media_sid = "ME" + secrets.token_hex(16)
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}/Media/{media_sid}"
        self.media[path] = (content, content_type)
        return "https://api.twilio.com" + path

    async def _media(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Response("Authenticate", status_code=401)
        found = self.media.get(request.url.path)
        if found is None:
            return Response("not found", status_code=404)
        return Response(found[0], media_type=found[1])

    def report(self, to: str, status: str, *, error_code: int | None = None) -> None:
        """Post a status callback for the last message sent to `to`, as Twilio would."""
        message = self.sent_to(to)[-1]
        message.status = status
        message.error_code = error_code
        self.post_status_callback(message)


class TwilioDriver:
    """Posts webhooks to the bot as Twilio does, signed with the account's auth token."""

    def __init__(self, bot_url: str, *, auth_token: str = AUTH_TOKEN):
        self.bot_url = bot_url
        self.validator = RequestValidator(auth_token)
        self.http = httpx.Client(timeout=10)

    def post(
        self, path: str, params: dict[str, str], *, signature: str | None = None
    ) -> httpx.Response:
        url = self.bot_url + path
        if signature is None:
            signature = self.validator.compute_signature(url, params)
        return self.http.post(
            url,
            content=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
        )

    def inbound_params(
        self,
        *,
        from_: str,
        to: str,
        body: str,
        sid: str | None = None,
        media: list[tuple[str, str]] = (),
        **extra: str,
    ) -> dict[str, str]:
        sid = sid or "SM" + secrets.token_hex(16)
        params = {
            "ToCountry": "US",
            "ToState": "DC",
            "SmsMessageSid": sid,
            "NumMedia": str(len(media)),
            "ToCity": "WASHINGTON",
            "FromZip": "20001",
            "SmsSid": sid,
            "FromState": "DC",
            "SmsStatus": "received",
            "FromCity": "WASHINGTON",
            "Body": body,
            "FromCountry": "US",
            "To": to,
            "ToZip": "20001",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": from_,
            "ApiVersion": "2010-04-01",
        }
        for index, (url, content_type) in enumerate(media):
            params[f"MediaUrl{index}"] = url
            params[f"MediaContentType{index}"] = content_type
        params.update(extra)
        return params

    def text(self, *, from_: str, to: str, body: str, **options) -> httpx.Response:  # type: ignore[no-untyped-def]
        return self.post(
            "/twilio/messages", self.inbound_params(from_=from_, to=to, body=body, **options)
        )

    def status(
        self, sid: str, status: str, *, to: str, from_: str, error_code: int | None = None
    ) -> httpx.Response:
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": to,
            "From": from_,
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return self.post("/twilio/status", params)
