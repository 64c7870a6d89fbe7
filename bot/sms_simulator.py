"""A simulated carrier speaking the part of Twilio's Messages REST API the bot uses.

With no Twilio credentials, the bot sends through the real twilio SDK to this API, served
in its own process, so the path is the same as in production; the dev phone page shows
what it carries and texts in through it. The test suite's fake Twilio is this same class
on a port of its own, with failures scripted by the tests.

Like Twilio's default handling, a phone that texts STOP to a number is refused texts from
it (error 21610) until it texts START; texts to a landline end undelivered (error 30006).
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bot.sms_group_texts import SimulatedGroupTexts
from models.error_codes import OPTED_OUT
from models.optouts import Keyword, classify_keyword
from models.phone import try_parse_phone

SIMULATOR_ACCOUNT_SID = "AC" + "0" * 32
API_PREFIX = "/2010-04-01/Accounts/{account_sid}"
LANDLINE = 30006  # "Landline or unreachable carrier", reported with status undelivered
INVALID_PAGE_TOKEN = 21481
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000


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
    # Bumped on every change, so a watcher can ask for what changed since it last looked.
    revision: int = 0
    # For a text from a phone: how the webhook answered (None until it did), and what went
    # wrong handing it over, if anything.
    webhook_status: int | None = None
    webhook_problem: str | None = None
    # An MMS: the MediaUrl it was sent with (the carrier fetches them from there).
    media_urls: list[str] = field(default_factory=list)

    @property
    def inbound(self) -> bool:
        return self.direction == "inbound"

    @property
    def phone(self) -> str:
        """The handset's number: who sent it, or who it is for."""
        return (self.from_ or "") if self.inbound else self.to

    @property
    def line(self) -> str:
        """The account's side: the number (or messaging service) it is from or to."""
        return self.to if self.inbound else (self.from_ or self.messaging_service_sid or "")

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
            "num_media": str(len(self.media_urls)),
            "num_segments": str(max(1, -(-len(self.body) // 160))),
            "price": None,
            "price_unit": "USD",
            "status": self.status,
            "subresource_uris": {},
            "to": self.to,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}.json",
        }


def _sent_on_or_after(value: str | None) -> datetime | None:
    """The start of a `DateSent>` filter. Twilio documents it as a day (YYYY-MM-DD, GMT) and
    lists from midnight of that day, so the time of a full timestamp is not honoured."""
    if value is None:
        return None
    return datetime.fromisoformat(value[:10]).replace(tzinfo=UTC)


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
    `inbound_webhook` is the URL Twilio would post a phone's text to (the number's "A
    message comes in" webhook); `reach` turns a public URL into the one this process posts
    to (the signature is always for the public one, as Twilio signs what it is configured
    with).
    """

    def __init__(
        self,
        *,
        account_sid: str = SIMULATOR_ACCOUNT_SID,
        auth_token: str | None = None,
        callback_delay: float | None = 0.2,
        landlines: Iterable[str] = (),
        inbound_webhook: str | None = None,
        reach: Callable[[str], str] | None = None,
        conversations_webhook: str | None = None,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token or secrets.token_hex(16)
        self.callback_delay = callback_delay
        self.landlines = frozenset(landlines)
        self.inbound_webhook = inbound_webhook
        self._reach = reach or (lambda url: url)
        self.messages: list[SimulatedMessage] = []
        self.requests: list[dict[str, str]] = []
        # The query of each request to list messages (one per page read).
        self.list_requests: list[dict[str, str]] = []
        self._refusals: dict[str, list[tuple[int, int, str]]] = {}
        # (phone, account number) pairs where the phone texted STOP and not START since;
        # checked against a send's From (a Messaging Service's sends are not checked).
        self._opted_out: set[tuple[str, str]] = set()
        self._revision = 0
        self._lock = threading.Lock()
        self.on_message: Callable[[SimulatedMessage], None] | None = None
        # Group texts (group MMS): Twilio's Conversations API, as group-text lines use it.
        self.group_texts = SimulatedGroupTexts(
            account_sid=account_sid,
            authorized=self._authorized,
            opted_out=lambda phone, line: line in self.opted_out(phone),
            touch=self._next_revision,
            post_signed=self._post_signed,
            webhook=conversations_webhook,
        )
        prefix = API_PREFIX
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/Messages.json", self._create, methods=["POST"]),
                Route(f"{prefix}/Messages.json", self._list, methods=["GET"]),
                Route(f"{prefix}/Messages/{{sid}}.json", self._fetch, methods=["GET"]),
                *self.group_texts.routes,
            ]
        )

    def refuse(self, to: str, *, status: int, code: int, message: str, times: int = 1) -> None:
        with self._lock:
            self._refusals.setdefault(to, []).extend([(status, code, message)] * times)

    def sent_to(self, to: str) -> list[SimulatedMessage]:
        with self._lock:
            return [m for m in self.messages if m.to == to and m.direction != "inbound"]

    def opted_out(self, phone: str) -> list[str]:
        """The account's numbers that `phone` has opted out of (texted STOP, not START)."""
        with self._lock:
            return sorted(number for who, number in self._opted_out if who == phone)

    def changes_since(self, revision: int) -> tuple[list[SimulatedMessage], int]:
        """Messages added or changed after `revision`, in the order they were made, and the
        revision to ask from next time."""
        with self._lock:
            changed = [m for m in self.messages if m.revision > revision]
            return changed, self._revision

    def receive(
        self, *, sender: str, to: str, body: str, at: datetime | None = None
    ) -> SimulatedMessage:
        """A text from a phone to one of the account's numbers (as the account's message
        log would show it; delivering the webhook is `deliver_inbound`'s job), received
        now or `at`."""
        message = SimulatedMessage(
            sid="SM" + secrets.token_hex(16),
            to=to,
            from_=sender,
            messaging_service_sid=None,
            body=body,
            status="received",
            status_callback=None,
            direction="inbound",
            date_created=at or datetime.now(UTC),
        )
        keyword = classify_keyword(body)
        with self._lock:
            if keyword == Keyword.STOP:
                self._opted_out.add((sender, to))
            elif keyword == Keyword.START:
                self._opted_out.discard((sender, to))
            self._add(message)
        return message

    def text_in(self, *, sender: str, to: str, body: str) -> SimulatedMessage:
        """A phone texts one of the account's numbers: logged, then posted to the webhook."""
        message = self.receive(sender=sender, to=to, body=body)
        self.deliver_inbound(message)
        return message

    def deliver_inbound(self, message: SimulatedMessage) -> None:
        """Post a received text to the inbound webhook, signed, as Twilio does; a failure is
        noted on the message (the text stays in the log, where the bot's reconciliation
        finds it)."""
        answer: int | None = None
        if not self.inbound_webhook:
            problem: str | None = "no inbound webhook is configured"
        else:
            params = {
                "MessageSid": message.sid,
                "SmsSid": message.sid,
                "SmsMessageSid": message.sid,
                "AccountSid": self.account_sid,
                "From": message.from_ or "",
                "To": message.to,
                "Body": message.body,
                "NumMedia": "0",
                "NumSegments": str(max(1, -(-len(message.body) // 160))),
                "SmsStatus": "received",
                "ApiVersion": "2010-04-01",
            }
            try:
                response = self._post_signed(self.inbound_webhook, params)
            except requests.RequestException as exc:
                problem = f"could not reach the bot's webhook: {exc}"
            else:
                answer = response.status_code
                problem = (
                    None if response.ok else f"the bot answered {answer}: {response.text[:300]}"
                )
        with self._lock:
            message.webhook_status, message.webhook_problem = answer, problem
            self._touch(message)

    def _add(self, message: SimulatedMessage) -> None:
        """Log a new message; call with the lock held."""
        self.messages.append(message)
        self._touch(message)

    def _next_revision(self) -> int:
        with self._lock:
            self._revision += 1
            return self._revision

    def changes_revision(self) -> int:
        with self._lock:
            return self._revision

    def _touch(self, message: SimulatedMessage) -> None:
        """Mark the message changed; call with the lock held."""
        self._revision += 1
        message.revision = self._revision

    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request) or request.path_params["account_sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        media_urls = [str(url) for url in form.getlist("MediaUrl")]
        with self._lock:
            self.requests.append(params)
            scripted = self._refusals.get(params.get("To", ""))
            refusal = scripted.pop(0) if scripted else None
        if refusal:
            return _error(*refusal)
        to = params.get("To", "")
        if try_parse_phone(to) != to:
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not params.get("Body", "").strip() and not media_urls:
            return _error(400, 21602, "Message body is required.")
        if len(media_urls) > 10:
            return _error(400, 21623, "Number of media files exceeds allowed limit.")
        if len(params.get("Body", "")) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        with self._lock:
            unsubscribed = (to, params.get("From") or "") in self._opted_out
        if unsubscribed:
            return _error(400, OPTED_OUT, "Attempt to send to unsubscribed recipient")
        message = SimulatedMessage(
            sid="SM" + secrets.token_hex(16),
            to=to,
            from_=params.get("From"),
            messaging_service_sid=params.get("MessagingServiceSid"),
            body=params.get("Body", ""),
            status="queued",
            status_callback=params.get("StatusCallback"),
            media_urls=media_urls,
        )
        with self._lock:
            self._add(message)
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
        """A page of the message log, newest first, as Twilio pages it: PageSize records (50
        unless asked, at most 1,000) and a next_page_uri whose PageToken resumes after the
        page's last record, so texts logged meanwhile do not shift the pages."""
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        query = dict(request.query_params)
        with self._lock:
            self.list_requests.append(query)
        try:
            page_size = min(max(int(query.get("PageSize", DEFAULT_PAGE_SIZE)), 1), MAX_PAGE_SIZE)
            page = int(query.get("Page", 0))
            sent_after = _sent_on_or_after(query.get("DateSent>"))
        except ValueError:
            return _error(400, 20001, "Invalid paging or date parameter")
        with self._lock:
            log = self._newest_first(query.get("To"), query.get("From"), sent_after)
        token = query.get("PageToken")
        if token is None:
            start = page * page_size
        else:
            after = next((i for i, m in enumerate(log) if "PA" + m.sid == token), None)
            if after is None:
                return _error(400, INVALID_PAGE_TOKEN, "Invalid PageToken")
            start = after + 1
        records = log[start : start + page_size]
        path = API_PREFIX.format(account_sid=self.account_sid) + "/Messages.json"
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(page: int, token: str | None = None) -> str:
            paging = {"PageSize": str(page_size), "Page": str(page)}
            if token:
                paging["PageToken"] = token
            return f"{path}?{urlencode({**filters, **paging})}"

        more = start + page_size < len(log)
        return JSONResponse(
            {
                "messages": [m.resource(self.account_sid) for m in records],
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1, "PA" + records[-1].sid) if more else None,
                "previous_page_uri": None,
                "page": page,
                "page_size": page_size,
                "start": start,
                "end": start + max(len(records) - 1, 0),
                "uri": uri(page, token),
            }
        )

    def _newest_first(
        self, to: str | None, from_: str | None, sent_after: datetime | None
    ) -> list[SimulatedMessage]:
        """The log's messages that match, newest first; call with the lock held."""
        matching = [
            m
            for m in reversed(self.messages)  # the later of two logged in the same instant first
            if (to is None or m.to == to)
            and (from_ is None or m.from_ == from_)
            and (sent_after is None or (m.inbound and m.date_created >= sent_after))
        ]
        return sorted(matching, key=lambda m: m.date_created, reverse=True)

    def _report_progress(self, message: SimulatedMessage) -> None:
        final = ("undelivered", LANDLINE) if message.to in self.landlines else ("delivered", None)
        for status, error_code in (("sent", None), final):
            time.sleep(self.callback_delay or 0)
            with self._lock:
                message.status, message.error_code = status, error_code
                self._touch(message)
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
        # Like Twilio, a callback that cannot be delivered is not retried.
        with contextlib.suppress(requests.RequestException):
            self._post_signed(message.status_callback, params)

    def _post_signed(self, url: str, params: dict[str, str]) -> requests.Response:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return requests.post(
            self._reach(url), data=params, headers={"X-Twilio-Signature": signature}, timeout=10
        )
