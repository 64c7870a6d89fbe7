"""A simulated carrier speaking the part of Twilio's Messages REST API the bot uses.

With no Twilio credentials, the bot sends through the real twilio SDK to this API, served
in its own process, so the path is the same as in production. The test suite's fake
Twilio is this same class on a port of its own, with failures scripted by the tests.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from models.phone import try_parse_phone

SIMULATOR_ACCOUNT_SID = "AC" + "0" * 32
API_PREFIX = "/2010-04-01/Accounts/{account_sid}"


@dataclass
class SimulatedMessage:
    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status: str
    status_callback: str | None
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    error_code: int | None = None
    direction: str = "outbound-api"

    def resource(self, account_sid: str) -> dict[str, object]:
        created = format_datetime(self.date_created)
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": created,
            "date_updated": created,
            "date_sent": created if self.direction == "inbound" else None,
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(max(1, -(-len(self.body) // 160))),
            "price": None,
            "price_unit": "USD",
            "status": self.status,
            "subresource_uris": {},
            "to": self.to,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}.json",
        }


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


class SimulatedCarrier:
    """Holds the messages sent through it and answers like Twilio's REST API.

    `refuse(to, status, code, message)` scripts an error answer for a number; the status
    callbacks (sent, then delivered) are posted, signed, after `callback_delay` seconds.
    """

    def __init__(
        self,
        *,
        account_sid: str = SIMULATOR_ACCOUNT_SID,
        auth_token: str | None = None,
        callback_delay: float | None = 0.2,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token or secrets.token_hex(16)
        self.callback_delay = callback_delay
        self.messages: list[SimulatedMessage] = []
        self.requests: list[dict[str, str]] = []
        self._refusals: dict[str, list[tuple[int, int, str]]] = {}
        self._lock = threading.Lock()
        self.on_message: Callable[[SimulatedMessage], None] | None = None
        prefix = API_PREFIX
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/Messages.json", self._create, methods=["POST"]),
                Route(f"{prefix}/Messages.json", self._list, methods=["GET"]),
                Route(f"{prefix}/Messages/{{sid}}.json", self._fetch, methods=["GET"]),
            ]
        )

    def refuse(self, to: str, *, status: int, code: int, message: str, times: int = 1) -> None:
        with self._lock:
            self._refusals.setdefault(to, []).extend([(status, code, message)] * times)

    def sent_to(self, to: str) -> list[SimulatedMessage]:
        with self._lock:
            return [m for m in self.messages if m.to == to and m.direction != "inbound"]

    def receive(self, *, sender: str, to: str, body: str) -> SimulatedMessage:
        """A text from a phone to one of the account's numbers (as the account's message
        log would show it; delivering the webhook is up to the caller)."""
        message = SimulatedMessage(
            sid="SM" + secrets.token_hex(16),
            to=to,
            from_=sender,
            messaging_service_sid=None,
            body=body,
            status="received",
            status_callback=None,
            direction="inbound",
        )
        with self._lock:
            self.messages.append(message)
        return message

    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request) or request.path_params["account_sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        with self._lock:
            self.requests.append(params)
            scripted = self._refusals.get(params.get("To", ""))
            refusal = scripted.pop(0) if scripted else None
        if refusal:
            return _error(*refusal)
        to = params.get("To", "")
        if try_parse_phone(to) != to:
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not params.get("Body", "").strip():
            return _error(400, 21602, "Message body is required.")
        if len(params["Body"]) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        message = SimulatedMessage(
            sid="SM" + secrets.token_hex(16),
            to=to,
            from_=params.get("From"),
            messaging_service_sid=params.get("MessagingServiceSid"),
            body=params["Body"],
            status="queued",
            status_callback=params.get("StatusCallback"),
        )
        with self._lock:
            self.messages.append(message)
        if self.on_message:
            self.on_message(message)
        if message.status_callback and self.callback_delay is not None:
            threading.Thread(target=self._report_progress, args=(message,), daemon=True).start()
        return JSONResponse(message.resource(self.account_sid), status_code=201)

    async def _fetch(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        with self._lock:
            found = [m for m in self.messages if m.sid == request.path_params["sid"]]
        if not found:
            return _error(404, 20404, "The requested resource was not found")
        return JSONResponse(found[0].resource(self.account_sid))

    async def _list(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        to, from_ = request.query_params.get("To"), request.query_params.get("From")
        with self._lock:
            matching = [
                m
                for m in reversed(self.messages)
                if (to is None or m.to == to) and (from_ is None or m.from_ == from_)
            ]
        page_size = int(request.query_params.get("PageSize", 50))
        uri = str(request.url.path)
        return JSONResponse(
            {
                "messages": [m.resource(self.account_sid) for m in matching[:page_size]],
                "first_page_uri": uri,
                "next_page_uri": None,
                "previous_page_uri": None,
                "page": 0,
                "page_size": page_size,
                "start": 0,
                "end": min(len(matching), page_size),
                "uri": uri,
            }
        )

    def _report_progress(self, message: SimulatedMessage) -> None:
        for status in ("sent", "delivered"):
            time.sleep(self.callback_delay or 0)
            message.status = status
            self.post_status_callback(message)

    def post_status_callback(self, message: SimulatedMessage) -> None:
        if not message.status_callback:
            return
        params = {
            "AccountSid": self.account_sid,
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": message.status,
            "SmsStatus": message.status,
            "To": message.to,
            "From": message.from_ or "",
            "ApiVersion": "2010-04-01",
        }
        if message.error_code:
            params["ErrorCode"] = str(message.error_code)
        signature = RequestValidator(self.auth_token).compute_signature(
            message.status_callback, params
        )
        # Like Twilio, a callback that cannot be delivered is not retried.
        with contextlib.suppress(requests.RequestException):
            requests.post(
                message.status_callback,
                data=params,
                headers={"X-Twilio-Signature": signature},
                timeout=5,
            )
