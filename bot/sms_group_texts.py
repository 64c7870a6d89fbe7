"""The simulated carrier's group texts: the part of Twilio's Conversations API
(conversations.twilio.com/v1) that group texts (group MMS) use, as strict as Twilio:
ConversationWithParticipants, a conversation's messages (create and list) and its state. It
refuses what Twilio refuses: more than 10 participants (50436), a member that is not a +1
number (50407), a group with the very same numbers as an existing one (50438, naming it),
sending while the conversation initializes (50386), and group texting on an account without
it (50452). A member's text to the group (the dev phone's) is posted to the Conversations
webhook as onMessageAdded, signed as Twilio signs it."""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MAX_PARTICIPANTS = 10
_PLUS_ONE = re.compile(r"\+1[2-9][0-9]{9}")


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


def _meta(request: Request, key: str) -> dict[str, Any]:
    """A list's one page, as Twilio pages them."""
    url = str(request.url)
    return {
        "page": 0,
        "page_size": 50,
        "first_page_url": url,
        "previous_page_url": None,
        "url": url,
        "next_page_url": None,
        "key": key,
    }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class GroupMessage:
    sid: str
    index: int
    author: str
    body: str
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The members it reached (its author and the opted-out left out).
    delivered_to: list[str] = field(default_factory=list)
    # The carrier's revision when it was added or last changed (the dev phone follows it).
    revision: int = 0
    # For a member's text: how the Conversations webhook answered, or what went wrong.
    webhook_status: int | None = None
    webhook_problem: str | None = None


@dataclass
class GroupConversation:
    sid: str
    friendly_name: str
    addresses: list[str]  # the members' numbers (MessagingBinding.Address)
    projected_address: str  # the line (MessagingBinding.ProjectedAddress)
    state: str = "active"
    # Sends refused with 50386 before it becomes active (set by a test).
    initializing_sends: int = 0
    messages: list[GroupMessage] = field(default_factory=list)

    @property
    def numbers(self) -> frozenset[str]:
        return frozenset([*self.addresses, self.projected_address])

    def resource(self, account_sid: str) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "chat_service_sid": "IS" + "0" * 32,
            "messaging_service_sid": None,
            "friendly_name": self.friendly_name,
            "unique_name": None,
            "attributes": "{}",
            "state": self.state,
            "date_created": _iso(datetime.now(UTC)),
            "date_updated": _iso(datetime.now(UTC)),
            "timers": {},
            "bindings": None,
            "links": {},
            "url": f"https://conversations.twilio.com/v1/Conversations/{self.sid}",
        }

    def message_resource(self, message: GroupMessage, account_sid: str) -> dict[str, Any]:
        return {
            "sid": message.sid,
            "account_sid": account_sid,
            "conversation_sid": self.sid,
            "index": message.index,
            "author": message.author,
            "body": message.body,
            "media": None,
            "attributes": "{}",
            "participant_sid": None,
            "date_created": _iso(message.date_created),
            "date_updated": _iso(message.date_created),
            "delivery": None,
            "links": {},
            "url": f"https://conversations.twilio.com/v1/Conversations/{self.sid}/Messages/"
            f"{message.sid}",
        }


class SimulatedGroupTexts:
    """Group texts held by the simulated account. `authorized(request)` checks a request's
    credentials; `opted_out(phone, line)` says whether a member texted STOP to the line
    (Twilio leaves them out of the group's texts); `touch()` gives the carrier's next
    revision; `post_signed(url, params)` posts a webhook as Twilio does."""

    def __init__(
        self,
        *,
        account_sid: str,
        authorized: Callable[[Request], bool],
        opted_out: Callable[[str, str], bool],
        touch: Callable[[], int] = lambda: 0,
        post_signed: Callable[[str, dict[str, str]], Any] | None = None,
        webhook: str | None = None,
    ) -> None:
        self.account_sid = account_sid
        self._authorized = authorized
        self._opted_out = opted_out
        self._touch = touch
        self._post_signed = post_signed
        # The account's Conversations webhook: where, and for which events, Twilio posts.
        self.webhook = webhook
        self.webhook_filters = ["onMessageAdded"] if webhook else []
        self.enabled = True  # group texting on the account (else 50452)
        # Whether 50438's message names the conversation that exists (its wording is not
        # documented: the gateway also finds it by its members).
        self.names_existing_group = True
        self.conversations: dict[str, GroupConversation] = {}
        self.create_requests: list[list[dict[str, Any]]] = []
        self.send_requests: list[dict[str, str]] = []
        self.initializing_sends = 0  # given to each new conversation
        self._lock = threading.Lock()
        self.routes = [
            Route("/v1/ConversationWithParticipants", self._create, methods=["POST"]),
            Route("/v1/Conversations/{sid}", self._update, methods=["POST"]),
            Route("/v1/Conversations/{sid}/Messages", self._send, methods=["POST"]),
            Route("/v1/Conversations/{sid}/Messages", self._list, methods=["GET"]),
            Route("/v1/Configuration/Webhooks", self._webhooks, methods=["GET", "POST"]),
            Route("/v1/ParticipantConversations", self._of_address, methods=["GET"]),
            Route("/v1/Conversations/{sid}/Participants", self._participants, methods=["GET"]),
        ]

    def of(self, line: str) -> list[GroupConversation]:
        with self._lock:
            return [c for c in self.conversations.values() if c.projected_address == line]

    def received_by(self, phone: str) -> list[GroupMessage]:
        """The group texts that reached `phone`, in the order they were sent."""
        with self._lock:
            return [
                m
                for c in self.conversations.values()
                for m in c.messages
                if phone in m.delivered_to
            ]

    def add_from_member(self, sid: str, *, author: str, body: str) -> GroupMessage:
        """A member texts the group: the message as Twilio adds it (its webhook is posted by
        text_in, or by a test's driver)."""
        with self._lock:
            conversation = self.conversations[sid]
            return self._add(conversation, author=author, body=body)

    def text_in(self, sid: str, *, author: str, body: str) -> GroupMessage:
        """A member's phone texts the group: added, then posted to the Conversations webhook
        (onMessageAdded); what went wrong handing it over is noted on the message."""
        message = self.add_from_member(sid, author=author, body=body)
        status: int | None = None
        if (
            not self.webhook
            or "onMessageAdded" not in self.webhook_filters
            or self._post_signed is None
        ):
            problem: str | None = "no Conversations webhook is configured"
        else:
            params = {
                "EventType": "onMessageAdded",
                "AccountSid": self.account_sid,
                "ConversationSid": sid,
                "MessageSid": message.sid,
                "Index": str(message.index),
                "Author": author,
                "Body": body,
                "Source": "SMS",
                "Attributes": "{}",
                "DateCreated": _iso(message.date_created),
                "RetryCount": "0",
            }
            try:
                response = self._post_signed(self.webhook, params)
            except Exception as exc:  # requests' errors: the bot is not reachable
                problem = f"could not reach the bot's webhook: {exc}"
            else:
                status = response.status_code
                problem = None if response.ok else f"the bot answered {status}"
        with self._lock:
            message.webhook_status, message.webhook_problem = status, problem
            message.revision = self._touch()
        return message

    def member_of(self, phone: str) -> list[GroupConversation]:
        with self._lock:
            return [c for c in self.conversations.values() if phone in c.addresses]

    def changes_since(self, revision: int) -> list[tuple[GroupConversation, GroupMessage]]:
        """Group messages added or changed after `revision`, in the order they were made."""
        with self._lock:
            changed = [
                (c, m)
                for c in self.conversations.values()
                for m in c.messages
                if m.revision > revision
            ]
        return sorted(changed, key=lambda pair: pair[1].revision)

    def _add(self, conversation: GroupConversation, *, author: str, body: str) -> GroupMessage:
        message = GroupMessage(
            sid="IM" + secrets.token_hex(16),
            index=len(conversation.messages),
            author=author,
            body=body,
            delivered_to=[
                a
                for a in conversation.addresses
                if a != author and not self._opted_out(a, conversation.projected_address)
            ],
        )
        message.revision = self._touch()
        conversation.messages.append(message)
        return message

    async def _create(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        form = await request.form()
        participants = [json.loads(str(p)) for p in form.getlist("Participant")]
        with self._lock:
            self.create_requests.append(participants)
        if not self.enabled:
            return _error(400, 50452, "Group MMS is not enabled for this Account")
        if len(participants) > MAX_PARTICIPANTS:
            return _error(400, 50436, f"Group MMS participants limit ({MAX_PARTICIPANTS}) exceeded")
        addresses: list[str] = []
        projected: list[str] = []
        for participant in participants:
            binding = participant.get("messaging_binding") or {}
            if set(binding) - {"address", "projected_address"} or len(binding) != 1:
                return _error(400, 50435, "Group MMS activation failed")
            if "address" in binding:
                if not _PLUS_ONE.fullmatch(str(binding["address"])):
                    return _error(400, 50407, "Invalid messaging binding address")
                addresses.append(str(binding["address"]))
            else:
                projected.append(str(binding["projected_address"]))
        if len(projected) != 1 or len(addresses) < 2:
            return _error(400, 50435, "Group MMS activation failed")
        numbers = frozenset([*addresses, projected[0]])
        with self._lock:
            for existing in self.conversations.values():
                if existing.numbers == numbers:
                    named = f" as Conversation {existing.sid}" if self.names_existing_group else ""
                    return _error(
                        409,
                        50438,
                        f"Group MMS with given participant list already exists{named}",
                    )
            conversation = GroupConversation(
                sid="CH" + secrets.token_hex(16),
                friendly_name=str(form.get("FriendlyName", "")),
                addresses=addresses,
                projected_address=projected[0],
                state="initializing" if self.initializing_sends else "active",
                initializing_sends=self.initializing_sends,
            )
            self.conversations[conversation.sid] = conversation
        return JSONResponse(conversation.resource(self.account_sid), status_code=201)

    async def _webhooks(self, request: Request) -> Response:
        """The account's Conversations webhook, as GET shows it and POST changes it."""
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        form = await request.form()
        with self._lock:
            if "PostWebhookUrl" in form:
                self.webhook = str(form["PostWebhookUrl"]) or None
            if "Filters" in form:
                self.webhook_filters = [str(f) for f in form.getlist("Filters")]
            return JSONResponse(
                {
                    "account_sid": self.account_sid,
                    "method": "POST",
                    "filters": self.webhook_filters,
                    "pre_webhook_url": None,
                    "post_webhook_url": self.webhook,
                    "target": "webhook",
                    "url": "https://conversations.twilio.com/v1/Configuration/Webhooks",
                }
            )

    async def _update(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        form = await request.form()
        with self._lock:
            conversation = self.conversations.get(request.path_params["sid"])
            if conversation is None:
                return _error(404, 20404, "The requested resource was not found")
            if "State" in form:
                conversation.state = str(form["State"])
            return JSONResponse(conversation.resource(self.account_sid))

    async def _send(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        form = {k: str(v) for k, v in (await request.form()).items()}
        with self._lock:
            self.send_requests.append({"conversation": request.path_params["sid"], **form})
            conversation = self.conversations.get(request.path_params["sid"])
            if conversation is None:
                return _error(404, 20404, "The requested resource was not found")
            if conversation.initializing_sends > 0:
                conversation.initializing_sends -= 1
                if conversation.initializing_sends == 0:
                    conversation.state = "active"
                return _error(409, 50386, "Conversation is initializing")
            if conversation.state == "closed":
                return _error(409, 50426, "Conversation is closed")
            author = form.get("Author", "")
            if author not in conversation.numbers:
                return _error(400, 50513, "Message author should be among Group MMS participants")
            message = self._add(conversation, author=author, body=form.get("Body", ""))
            return JSONResponse(
                conversation.message_resource(message, self.account_sid), status_code=201
            )

    async def _of_address(self, request: Request) -> Response:
        """The conversations a phone number is a participant of."""
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        address = request.query_params.get("Address", "")
        with self._lock:
            found = [
                {
                    "account_sid": self.account_sid,
                    "chat_service_sid": "IS" + "0" * 32,
                    "participant_sid": "MB" + "0" * 32,
                    "participant_messaging_binding": {"type": "sms", "address": address},
                    "conversation_sid": c.sid,
                    "conversation_friendly_name": c.friendly_name,
                    "conversation_state": c.state,
                    "links": {},
                }
                for c in self.conversations.values()
                if address in c.addresses
            ]
        return JSONResponse({"conversations": found, "meta": _meta(request, "conversations")})

    async def _participants(self, request: Request) -> Response:
        conversation = self._named(request)
        if not isinstance(conversation, GroupConversation):
            return conversation
        bindings = [{"type": "sms", "address": a} for a in conversation.addresses]
        bindings.append({"type": "sms", "projected_address": conversation.projected_address})
        participants = [
            {
                "sid": f"MB{index:032x}",
                "account_sid": self.account_sid,
                "conversation_sid": conversation.sid,
                "identity": None,
                "attributes": "{}",
                "messaging_binding": binding,
                "url": f"https://conversations.twilio.com/v1/Conversations/{conversation.sid}/"
                f"Participants/MB{index:032x}",
            }
            for index, binding in enumerate(bindings)
        ]
        return JSONResponse({"participants": participants, "meta": _meta(request, "participants")})

    def _named(self, request: Request) -> GroupConversation | Response:
        """The conversation the path names, or Twilio's refusal."""
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        with self._lock:
            conversation = self.conversations.get(request.path_params["sid"])
        if conversation is None:
            return _error(404, 20404, "The requested resource was not found")
        return conversation

    async def _list(self, request: Request) -> Response:
        conversation = self._named(request)
        if not isinstance(conversation, GroupConversation):
            return conversation
        with self._lock:
            messages = list(conversation.messages)
        if request.query_params.get("Order") == "desc":
            messages.reverse()
        url = str(request.url)
        return JSONResponse(
            {
                "messages": [conversation.message_resource(m, self.account_sid) for m in messages],
                "meta": {
                    "page": 0,
                    "page_size": len(messages),
                    "first_page_url": url,
                    "previous_page_url": None,
                    "url": url,
                    "next_page_url": None,
                    "key": "messages",
                },
            }
        )
