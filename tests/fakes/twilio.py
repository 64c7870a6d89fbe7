"""The fake Twilio REST API for tests: the bot's own simulated carrier, on a port of its own,
with test credentials and status callbacks sent only when a test asks.

Besides Messages it holds what `textbot doctor` and `--configure-twilio` look at: the account,
the phone numbers it owns (`own_number`), which can be updated, and Messaging Services
(`add_messaging_service`)."""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bot.sms_simulator import SimulatedCarrier

ACCOUNT_SID = "AC" + "1234567890abcdef" * 2
AUTH_TOKEN = "test-twilio-auth-token"
ACCOUNT_PATH = "/2010-04-01/Accounts/{account_sid}"


@dataclass
class OwnedNumber:
    """An IncomingPhoneNumber: a number the account owns, and where its texts go."""

    sid: str
    phone_number: str
    sms_url: str | None = None
    sms_method: str = "POST"
    sms_application_sid: str | None = None
    # For voice calls: Twilio has no per-number setting for text status callbacks.
    status_callback: str | None = None
    mms: bool = True

    def resource(self) -> dict[str, object]:
        resource = asdict(self)
        del resource["mms"]
        return {
            **resource,
            "account_sid": ACCOUNT_SID,
            "friendly_name": self.phone_number,
            "capabilities": {"sms": True, "mms": self.mms, "voice": True},
            "status": "in-use",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/{self.sid}.json",
        }


@dataclass
class FakeMessagingService:
    sid: str
    friendly_name: str = "Textbot service"
    inbound_request_url: str | None = None
    inbound_method: str = "POST"
    status_callback: str | None = None
    use_inbound_webhook_on_number: bool = False

    def resource(self) -> dict[str, object]:
        return {
            **asdict(self),
            "account_sid": ACCOUNT_SID,
            "url": f"https://messaging.twilio.com/v1/Services/{self.sid}",
        }


@dataclass
class CreateCall:
    """One request to send a message: when it came in and when it was answered
    (time.monotonic()), and how."""

    to: str
    from_: str | None
    received: float
    answered: float
    status_code: int


def _twilio_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "status": status, "more_info": ""}, status_code=status
    )


class FakeTwilio(SimulatedCarrier):
    """`send_delay` (seconds) is how long it takes to answer a request to send, and
    `delay_sends_to(to, seconds)` sets it for one number; `hang_next_send_to` holds one
    request past the client's patience; `create_calls` records each request's timing. While
    `log_unavailable`, reading the message log answers 503 (Twilio's error 20503)."""

    def __init__(self, *, send_delay: float = 0.0) -> None:
        super().__init__(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, callback_delay=None)
        self.send_delay = send_delay
        self.send_delays: dict[str, float] = {}
        self.hangs: dict[str, list[tuple[float, bool]]] = {}
        self.create_calls: list[CreateCall] = []
        self.url = ""  # set when served
        self.media: dict[str, tuple[bytes, str]] = {}
        # (host, Authorization header or None) of every request for a media file.
        self.media_requests: list[tuple[str, str | None]] = []
        self.account_name = "Test account"
        self.account_status = "active"
        self.numbers: dict[str, OwnedNumber] = {}
        self.number_updates: list[dict[str, str]] = []
        self.messaging_services: dict[str, FakeMessagingService] = {}
        self.log_unavailable = False
        self._sends_held: threading.Event | None = None
        self.app.router.routes.extend(
            [
                Route(
                    ACCOUNT_PATH + "/Messages/{message_sid}/Media/{media_sid}",
                    self._media,
                    methods=["GET"],
                ),
                Route(ACCOUNT_PATH + ".json", self._account, methods=["GET"]),
                Route(
                    ACCOUNT_PATH + "/IncomingPhoneNumbers.json", self._list_numbers, methods=["GET"]
                ),
                Route(
                    ACCOUNT_PATH + "/IncomingPhoneNumbers/{sid}.json",
                    self._update_number,
                    methods=["POST"],
                ),
                Route("/v1/Services/{sid}", self._messaging_service, methods=["GET"]),
            ]
        )

    def delay_sends_to(self, to: str, seconds: float) -> None:
        """Take `seconds` to answer each request to send to `to`."""
        self.send_delays[to] = seconds

    def hold_sends(self) -> threading.Event:
        """Answer requests to send only once the returned event is set: shows whether a
        caller waits for the answers, whatever the machine's load."""
        self._sends_held = threading.Event()
        return self._sends_held

    def hang_next_send_to(self, to: str, seconds: float, *, logged: bool) -> None:
        """Hold the next request to send to `to` for `seconds` (longer than the client
        waits), then log the message as taken late (`logged`) or drop it, as a request that
        never reached the carrier."""
        self.hangs.setdefault(to, []).append((seconds, logged))

    async def _list(self, request: Request) -> JSONResponse:
        if self.log_unavailable:
            return _twilio_error(503, 20503, "Service unavailable")
        return await super()._list(request)

    async def _create(self, request: Request) -> JSONResponse:
        received = time.monotonic()
        form = await request.form()  # kept by the request for the handler
        to = str(form.get("To", ""))
        hangs = self.hangs.get(to)
        delay, logged = hangs.pop(0) if hangs else (self.send_delays.get(to, self.send_delay), True)
        if delay:
            await asyncio.sleep(delay)
        if self._sends_held is not None:
            await asyncio.to_thread(self._sends_held.wait)
        if logged:
            response = await super()._create(request)
        else:
            response = _twilio_error(504, 20504, "Gateway timeout")
        self.create_calls.append(
            CreateCall(
                to=to,
                from_=str(form["From"]) if "From" in form else None,
                received=received,
                answered=time.monotonic(),
                status_code=response.status_code,
            )
        )
        return response

    def own_number(
        self,
        phone_number: str,
        *,
        sms_url: str | None = None,
        sms_method: str = "POST",
        sms_application_sid: str | None = None,
    ) -> OwnedNumber:
        """Put a number in the account (as bought in the console), its texts going there."""
        number = OwnedNumber(
            "PN" + secrets.token_hex(16),
            phone_number,
            sms_url=sms_url,
            sms_method=sms_method,
            sms_application_sid=sms_application_sid,
        )
        self.numbers[number.sid] = number
        return number

    def add_messaging_service(
        self, *, inbound_request_url: str | None, use_inbound_webhook_on_number: bool = False
    ) -> FakeMessagingService:
        service = FakeMessagingService(
            "MG" + secrets.token_hex(16),
            inbound_request_url=inbound_request_url,
            use_inbound_webhook_on_number=use_inbound_webhook_on_number,
        )
        self.messaging_services[service.sid] = service
        return service

    def _authorized_for(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return (
            request.headers.get("authorization") == expected
            and request.path_params.get("account_sid", ACCOUNT_SID) == ACCOUNT_SID
        )

    async def _account(self, request: Request) -> Response:
        if not self._authorized_for(request):
            return _twilio_error(401, 20003, "Authenticate")
        return JSONResponse(
            {
                "sid": ACCOUNT_SID,
                "friendly_name": self.account_name,
                "status": self.account_status,
                "type": "Full",
                "owner_account_sid": ACCOUNT_SID,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}.json",
            }
        )

    async def _list_numbers(self, request: Request) -> Response:
        if not self._authorized_for(request):
            return _twilio_error(401, 20003, "Authenticate")
        wanted = request.query_params.get("PhoneNumber")
        found = [n for n in self.numbers.values() if wanted in (None, n.phone_number)]
        uri = str(request.url.path)
        return JSONResponse(
            {
                "incoming_phone_numbers": [n.resource() for n in found],
                "first_page_uri": uri,
                "next_page_uri": None,
                "previous_page_uri": None,
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": len(found),
                "uri": uri,
            }
        )

    async def _update_number(self, request: Request) -> Response:
        if not self._authorized_for(request):
            return _twilio_error(401, 20003, "Authenticate")
        number = self.numbers.get(request.path_params["sid"])
        if number is None:
            return _twilio_error(404, 20404, "The requested resource was not found")
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.number_updates.append(form)
        number.sms_url = form.get("SmsUrl", number.sms_url)
        number.sms_method = form.get("SmsMethod", number.sms_method)
        return JSONResponse(number.resource())

    async def _messaging_service(self, request: Request) -> Response:
        if not self._authorized_for(request):
            return _twilio_error(401, 20003, "Authenticate")
        service = self.messaging_services.get(request.path_params["sid"])
        if service is None:
            return _twilio_error(404, 20404, "The requested resource was not found")
        return JSONResponse(service.resource())

    def add_media(self, message_sid: str, content: bytes, content_type: str) -> str:
        """Host an inbound attachment; returns its URL as Twilio gives it (api.twilio.com)."""
        media_sid = "ME" + secrets.token_hex(16)
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}/Media/{media_sid}"
        self.media[path] = (content, content_type)
        return "https://api.twilio.com" + path

    async def _media(self, request: Request) -> Response:
        self.media_requests.append(
            (request.headers.get("host", ""), request.headers.get("authorization"))
        )
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

    def group_text(
        self, *, conversation_sid: str, sid: str, index: int, author: str, body: str
    ) -> httpx.Response:
        """Twilio's Conversations webhook for a member's text to a group text."""
        params = {
            "EventType": "onMessageAdded",
            "AccountSid": ACCOUNT_SID,
            "ChatServiceSid": "IS" + "0" * 32,
            "ConversationSid": conversation_sid,
            "MessageSid": sid,
            "Index": str(index),
            "Author": author,
            "Body": body,
            "ParticipantSid": "MB" + secrets.token_hex(16),
            "Source": "SMS",
            "Attributes": "{}",
            "DateCreated": "2026-11-30T16:00:00.000Z",
            "RetryCount": "0",
        }
        return self.post("/twilio/conversations", params)

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
