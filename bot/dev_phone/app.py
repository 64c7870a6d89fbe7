"""The dev phone's page and its JSON API, over the simulated carrier's message log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot.dev_phone.guard import LoopbackOnly
from bot.sms_group_texts import GroupConversation, GroupMessage
from bot.sms_simulator import SimulatedCarrier, SimulatedMessage
from models.error_codes import describe_error
from models.phone import InvalidPhoneNumber, format_phone, parse_phone, try_parse_phone

PAGE_PATH = "/phone"
MAX_BODY = 1600


@dataclass(frozen=True)
class DevPhoneLine:
    """One of the bot's lines, a number the handsets can text."""

    number: str
    name: str
    active: bool = True


class BadText(ValueError):
    """A text the page may not send; str() says why, for the person at the page."""


class DevPhone:
    """The page at /phone and its API under /phone/api, both for loopback clients only
    (unless `allow_remote`)."""

    def __init__(
        self,
        *,
        carrier: SimulatedCarrier,
        lines: Callable[[], list[DevPhoneLine]],
        allow_remote: bool = False,
        default_region: str = "US",
    ):
        self.carrier = carrier
        self.lines = lines
        self.allow_remote = allow_remote
        self.default_region = default_region
        self._page = files("bot.dev_phone").joinpath("phone.html").read_text(encoding="utf-8")

    def routes(self) -> list[BaseRoute]:
        guard = [Middleware(LoopbackOnly, allow_remote=self.allow_remote)]
        api = [
            Route("/lines", self.list_lines, methods=["GET"]),
            Route("/handsets", self.list_handsets, methods=["GET"]),
            Route("/handsets/{number}/messages", self.list_messages, methods=["GET"]),
            Route("/changes", self.changes, methods=["GET"]),
            Route("/send", self.send, methods=["POST"]),
        ]
        return [
            Route(PAGE_PATH, self.page, methods=["GET"], middleware=guard),
            Mount(f"{PAGE_PATH}/api", routes=api, middleware=guard),
        ]

    async def page(self, _: Request) -> Response:
        """The handsets page: plain HTML, CSS and JavaScript, no build step."""
        return HTMLResponse(self._page, headers={"Cache-Control": "no-store"})

    async def list_lines(self, _: Request) -> Response:
        """The bot's lines, the numbers a handset can text."""
        lines = await run_in_threadpool(self.lines)
        return JSONResponse({"lines": [_line_json(line) for line in lines]})

    async def list_handsets(self, request: Request) -> Response:
        """One handset per number the carrier has texted or been texted by, latest first."""
        messages, _ = self.carrier.changes_since(0)
        return JSONResponse({"handsets": self._handsets(messages)})

    async def list_messages(self, request: Request) -> Response:
        """A handset's texts in order, each with its status."""
        number = try_parse_phone(request.path_params["number"], region=self.default_region)
        if number is None:
            return JSONResponse({"error": "not a phone number"}, status_code=400)
        messages, _ = self.carrier.changes_since(0)
        return JSONResponse(
            {
                "number": number,
                "messages": [self._message_json(m) for m in messages if m.phone == number],
            }
        )

    async def changes(self, request: Request) -> Response:
        """What changed since the page's cursor: texts new or moved on, and every handset
        (they are few); the page polls this."""
        after = request.query_params.get("after", "0")
        if not after.isdigit():
            return JSONResponse({"error": "after must be a revision number"}, status_code=400)
        changed, cursor = self.carrier.changes_since(int(after))
        # Group texts changed up to the cursor: one changed after it is in the next look.
        group_messages = self.carrier.group_texts.changes_since(int(after))
        everything, _ = self.carrier.changes_since(0)
        group_json = [
            item
            for conversation, message in group_messages
            if message.revision <= cursor
            for item in self._group_message_json(conversation, message)
        ]
        return JSONResponse(
            {
                "cursor": cursor,
                "messages": [self._message_json(m) for m in changed] + group_json,
                "handsets": self._handsets(everything),
            }
        )

    async def send(self, request: Request) -> Response:
        """Text the bot as this phone: the carrier logs the text and posts it, signed, to
        the bot's /twilio/messages."""
        # Asking for JSON keeps other sites' forms out: a cross-site JSON post needs a CORS
        # preflight, which this app never grants.
        if not request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"error": "send JSON"}, status_code=415)
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return JSONResponse({"error": "send a JSON object"}, status_code=400)
        if payload.get("group"):
            return await self._send_to_group(payload)
        lines = await run_in_threadpool(self.lines)
        try:
            sender, to, body = self._check_text(payload, lines)
        except BadText as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        message = await run_in_threadpool(self.carrier.text_in, sender=sender, to=to, body=body)
        return JSONResponse({"message": self._message_json(message)}, status_code=201)

    async def _send_to_group(self, payload: dict[str, Any]) -> Response:
        """A member's phone texts a group text it is in: the carrier adds it to the group and
        posts it, signed, to the bot's /twilio/conversations."""
        sender = try_parse_phone(str(payload.get("from") or ""), region=self.default_region)
        group = str(payload.get("group") or "")
        body = str(payload.get("body") or "")
        conversation = self.carrier.group_texts.conversations.get(group)
        if conversation is None or sender not in conversation.addresses:
            return JSONResponse({"error": "This phone is not in that group."}, status_code=400)
        if not body.strip():
            return JSONResponse({"error": "Write a message first."}, status_code=400)
        if len(body) > MAX_BODY:
            return JSONResponse(
                {"error": f"A text can be at most {MAX_BODY} characters."}, status_code=400
            )
        message = await run_in_threadpool(
            self.carrier.group_texts.text_in, group, author=sender, body=body
        )
        mine = [m for m in self._group_message_json(conversation, message) if m["from_handset"]]
        return JSONResponse({"message": mine[0]}, status_code=201)

    def _group_message_json(
        self, conversation: GroupConversation, message: GroupMessage
    ) -> list[dict[str, Any]]:
        """A group text's message as each member's phone shows it (one per member it
        reached, and its author's)."""
        members = [format_phone(a) for a in conversation.addresses]
        group = {
            "sid": conversation.sid,
            "line": conversation.projected_address,
            "members": conversation.addresses,
            "label": "Group: " + ", ".join(members),
        }
        problem = message.webhook_problem
        return [
            {
                "sid": f"{message.sid}:{phone}",
                "revision": message.revision,
                "handset": phone,
                "line": conversation.projected_address,
                "from_handset": message.author == phone,
                "author": message.author,
                "author_label": format_phone(message.author),
                "body": message.body,
                "media": [],
                "status": "delivered" if message.author != phone else "received",
                "error_code": None,
                "error": None,
                "webhook_status": message.webhook_status,
                "webhook_problem": problem,
                "at": message.date_created.isoformat(),
                "group": group,
            }
            for phone in conversation.addresses
            if phone == message.author or phone in message.delivered_to
        ]

    def _check_text(
        self, payload: dict[str, Any], lines: list[DevPhoneLine]
    ) -> tuple[str, str, str]:
        body = str(payload.get("body") or "")
        try:
            sender = parse_phone(str(payload.get("from") or ""), region=self.default_region)
        except InvalidPhoneNumber as exc:
            raise BadText(f"The phone's number: {exc}.") from None
        if not lines:
            raise BadText(
                "The bot has no lines yet: add one in Slack (textbot's Home tab > Manage "
                "lines) or with `textbot lines add`."
            )
        to = try_parse_phone(str(payload.get("to") or ""), region=self.default_region)
        numbers = {line.number for line in lines}
        if to not in numbers:
            raise BadText("Pick one of the bot's lines to text.")
        if sender in numbers:
            raise BadText(
                f"{format_phone(sender)} is one of the bot's own lines: text from a "
                "customer's number."
            )
        if sender in self.carrier.landlines:
            raise BadText(f"{format_phone(sender)} is a landline: it cannot send texts.")
        if not body.strip():
            raise BadText("Write a message first.")
        if len(body) > MAX_BODY:
            raise BadText(f"A text can be at most {MAX_BODY} characters.")
        return sender, str(to), body

    def _handsets(self, messages: list[SimulatedMessage]) -> list[dict[str, Any]]:
        latest: dict[str, SimulatedMessage] = {}
        for message in messages:
            if message.phone:
                latest[message.phone] = message
        ordered = sorted(latest.values(), key=lambda m: m.date_created, reverse=True)
        return [
            {
                "number": m.phone,
                "label": format_phone(m.phone),
                "landline": m.phone in self.carrier.landlines,
                "opted_out_of": self.carrier.opted_out(m.phone),
                "last_line": m.line,
            }
            for m in ordered
        ]

    def _message_json(self, message: SimulatedMessage) -> dict[str, Any]:
        code = message.error_code
        return {
            "sid": message.sid,
            "revision": message.revision,
            "handset": message.phone,
            "line": message.line,
            "from_handset": message.inbound,
            "body": message.body,
            "media": list(message.media_urls),
            "status": message.status,
            "error_code": code,
            "error": describe_error(code) if code else None,
            "webhook_status": message.webhook_status,
            "webhook_problem": message.webhook_problem,
            "at": message.date_created.isoformat(),
        }


def _line_json(line: DevPhoneLine) -> dict[str, Any]:
    return {
        "number": line.number,
        "label": format_phone(line.number),
        "name": line.name,
        "active": line.active,
    }
