"""The SMS gateway: the real twilio SDK, pointed at Twilio, a proxy, a test server or the
built-in simulator by TWILIO_API_URL."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.base.page import Page
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from models.error_codes import (
    GROUP_CLOSED,
    GROUP_EXISTS,
    GROUP_INITIALIZING,
    TRANSIENT_CODES,
    describe_error,
)

logger = logging.getLogger(__name__)

TWILIO_API_HOST = "https://api.twilio.com"
# The other Twilio hosts the bot calls (Messaging Services, Conversations for group texts);
# TWILIO_API_URL stands in for all of them.
TWILIO_HOSTS = (
    TWILIO_API_HOST,
    "https://messaging.twilio.com",
    "https://conversations.twilio.com",
)
# A Twilio conversation's SID, as an error names it (50438: the group exists already).
_CONVERSATION_SID = re.compile(r"\bCH[0-9a-fA-F]{32}\b")
# A new group text is `initializing` for a moment: a send waits this long for it, a few times,
# before it is left to the outbox's retry.
GROUP_INITIALIZING_WAITS = (0.2, 0.5, 1.0)
# Twilio's largest page of a list: the fewest requests to read a long log.
MAX_LIST_PAGE_SIZE = 1000
# Where an inbound text's MediaUrlN may point for the account's credentials to go with it:
# Twilio's Media resources live on its API host, which redirects to a short-lived CDN URL
# that needs none (requests drops the credentials on a redirect to another host). A URL
# on the host of TWILIO_API_URL (a proxy, a test server) is taken too.
TWILIO_MEDIA_ORIGINS = (TWILIO_API_HOST,)
# Looking for one recent send: its phone's latest few messages are enough.
LOOKUP_PAGE_SIZE = 20
# How far Twilio's clock (a message's date_created) may be behind ours.
LOG_CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class ReceivedText:
    sid: str
    sender: str
    to: str
    body: str
    sent_at: datetime | None


@dataclass(frozen=True)
class Accepted:
    sid: str
    status: str


class SendFailed(Exception):
    """The provider refused or could not be reached.

    transient: worth trying again later. maybe_sent: the request may have reached the
    provider (a timeout after sending), so it must be reconciled, never blindly resent.
    """

    def __init__(
        self, text: str, *, code: int | None = None, transient: bool, maybe_sent: bool = False
    ):
        super().__init__(text)
        self.text = text
        self.code = code
        self.transient = transient
        self.maybe_sent = maybe_sent


class MediaRefused(Exception):
    """A media URL on a host that is not Twilio's: it is not fetched with credentials."""


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


class _RedirectingHttpClient(TwilioHttpClient):
    """Sends what the SDK addresses to api.twilio.com, messaging.twilio.com or
    conversations.twilio.com to another base URL (the paths the bot calls do not overlap:
    /2010-04-01/..., /v1/Services/... and /v1/Conversations..., /v1/ConversationWith...)."""

    def __init__(self, api_url: str, *, timeout: float):
        super().__init__(timeout=timeout)
        self.api_url = api_url.rstrip("/")

    def redirect(self, url: str) -> str:
        if self.api_url == TWILIO_API_HOST:
            return url
        for host in TWILIO_HOSTS:
            if url.startswith(host):
                return self.api_url + url.removeprefix(host)
        return url

    def request(self, method: str, url: str, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def, override]
        return super().request(method, self.redirect(url), *args, **kwargs)


def _never_reached_provider(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = str(exc)
    return isinstance(exc, requests.ConnectionError) and (
        "Connection refused" in reason
        or "Failed to establish a new connection" in reason
        or "Name or service not known" in reason
    )


class TwilioGateway:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_url: str,
        status_callback_url: str | None,
        timeout: float = 10.0,
    ):
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.status_callback_url = status_callback_url
        self._http = _RedirectingHttpClient(api_url, timeout=timeout)
        self._twilio_media_origins = {_origin(url) for url in TWILIO_MEDIA_ORIGINS}
        self._api_origin = _origin(api_url)
        self._timeout = timeout
        self.client = Client(account_sid, auth_token, http_client=self._http)

    def send(
        self,
        *,
        to: str,
        body: str,
        from_number: str,
        messaging_service_sid: str | None = None,
        media_urls: Sequence[str] = (),
    ) -> Accepted:
        sender = (
            {"messaging_service_sid": messaging_service_sid}
            if messaging_service_sid
            else {"from_": from_number}
        )
        callback = {"status_callback": self.status_callback_url} if self.status_callback_url else {}
        media = {"media_url": list(media_urls)} if media_urls else {}
        try:
            message = self.client.messages.create(to=to, body=body, **sender, **callback, **media)
        except TwilioRestException as exc:
            transient = exc.status == 429 or exc.status >= 500 or exc.code in TRANSIENT_CODES
            raise SendFailed(
                describe_error(exc.code, exc.msg), code=exc.code, transient=transient
            ) from exc
        except requests.RequestException as exc:
            if _never_reached_provider(exc):
                raise SendFailed(f"could not reach the provider: {exc}", transient=True) from exc
            raise SendFailed(
                f"no answer from the provider: {exc}", transient=True, maybe_sent=True
            ) from exc
        except TwilioException as exc:
            raise SendFailed(f"the provider failed: {exc}", transient=True) from exc
        return Accepted(sid=str(message.sid), status=str(message.status or "queued"))

    def _failed(self, exc: Exception) -> SendFailed:
        """A SendFailed for an exception of the SDK (or of requests under it)."""
        if isinstance(exc, TwilioRestException):
            transient = exc.status == 429 or exc.status >= 500 or exc.code in TRANSIENT_CODES
            return SendFailed(describe_error(exc.code, exc.msg), code=exc.code, transient=transient)
        if isinstance(exc, requests.RequestException):
            if _never_reached_provider(exc):
                return SendFailed(f"could not reach the provider: {exc}", transient=True)
            return SendFailed(
                f"no answer from the provider: {exc}", transient=True, maybe_sent=True
            )
        return SendFailed(f"the provider failed: {exc}", transient=True)

    def create_group(self, *, line_number: str, members: Sequence[str], name: str) -> str:
        """The Twilio conversation (CH...) of a group text between the line and `members`:
        created with its participants in one request (each member by its address only, the
        line as the projected address, so everyone is in one group thread), or, when a group
        with the very same numbers exists (50438, which names it), that one. A crash between
        creating it and recording it therefore never makes a second one."""
        participants = [json.dumps({"messaging_binding": {"address": m}}) for m in members]
        participants.append(json.dumps({"messaging_binding": {"projected_address": line_number}}))
        try:
            created = self.client.conversations.v1.conversation_with_participants.create(
                friendly_name=name[:256], participant=participants
            )
        except TwilioRestException as exc:
            if exc.code != GROUP_EXISTS:
                raise self._failed(exc) from exc
            named = _CONVERSATION_SID.search(exc.msg or "")
            existing = named.group(0) if named else self._find_group(line_number, members)
            if existing is None:
                raise self._failed(exc) from exc
            logger.info("group text of %s exists already: %s", line_number, existing)
            return existing
        except (requests.RequestException, TwilioException) as exc:
            raise self._failed(exc) from exc
        return str(created.sid)

    def _find_group(self, line_number: str, members: Sequence[str]) -> str | None:
        """The conversation whose participants are exactly `members` and the line (as its
        projected address), among the first member's: for a 50438 that does not name it."""
        wanted = frozenset(members)
        conversations = self.client.conversations.v1
        try:
            for entry in conversations.participant_conversations.stream(
                address=members[0], page_size=LOOKUP_PAGE_SIZE
            ):
                sid = str(entry.conversation_sid)
                participants = conversations.conversations(sid).participants.list(limit=50)
                bindings = [p.messaging_binding or {} for p in participants]
                addresses = frozenset(str(b["address"]) for b in bindings if b.get("address"))
                lines = {b.get("projected_address") for b in bindings if not b.get("address")}
                if addresses == wanted and lines == {line_number}:
                    return sid
        except (requests.RequestException, TwilioException) as exc:
            raise self._failed(exc) from exc
        return None

    def send_to_group(self, *, conversation_sid: str, author: str, body: str) -> Accepted:
        """One message to everyone in a group text, written by the line (Author is its
        number). While the conversation is still initializing (50386) it waits a moment and
        tries again; a closed one (50426/50427) is made active again first."""
        waits = list(GROUP_INITIALIZING_WAITS)
        reopened = False
        conversation = self.client.conversations.v1.conversations(conversation_sid)
        while True:
            try:
                message = conversation.messages.create(author=author, body=body)
            except TwilioRestException as exc:
                if exc.code == GROUP_INITIALIZING and waits:
                    time.sleep(waits.pop(0))
                    continue
                if exc.code in GROUP_CLOSED and not reopened:
                    reopened = True
                    try:
                        conversation.update(state="active")
                    except (requests.RequestException, TwilioException) as again:
                        raise self._failed(again) from again
                    continue
                raise self._failed(exc) from exc
            except (requests.RequestException, TwilioException) as exc:
                raise self._failed(exc) from exc
            return Accepted(sid=str(message.sid), status="sent")

    def find_sent_to_group(
        self, *, conversation_sid: str, author: str, body: str, since: datetime
    ) -> list[Accepted]:
        """The group text's messages by `author` with this body since `since`, oldest first:
        how a send to a group that had no answer is settled instead of being sent twice."""
        found: list[Accepted] = []
        messages = self.client.conversations.v1.conversations(conversation_sid).messages
        for message in messages.stream(order="desc", page_size=LOOKUP_PAGE_SIZE):
            created = message.date_created
            if created is not None and created < since - LOG_CLOCK_SKEW:
                break
            if message.author == author and message.body == body:
                found.append(Accepted(sid=str(message.sid), status="sent"))
        return found[::-1]

    def find_sent(
        self,
        *,
        to: str,
        body: str,
        from_number: str,
        messaging_service_sid: str | None = None,
        since: datetime,
    ) -> list[Accepted]:
        """The messages this account sent from the line (its number, or its Messaging
        Service before Twilio picks a sender) to `to` with this body since `since`, oldest
        first: how a send that had no answer is settled instead of being sent twice.

        Listed by To alone, newest first, back to `since`: Twilio's DateSent filter is a
        day, and leaves out a message still queued (it has no date sent yet)."""
        found: list[Accepted] = []
        for message in self.client.messages.stream(to=to, page_size=LOOKUP_PAGE_SIZE):
            created = message.date_created
            if created is not None and created < since - LOG_CLOCK_SKEW:
                break
            ours = message.from_ == from_number or (
                messaging_service_sid is not None
                and message.messaging_service_sid == messaging_service_sid
            )
            if ours and message.body == body and not str(message.direction).startswith("inbound"):
                found.append(Accepted(sid=str(message.sid), status=str(message.status or "queued")))
        return found[::-1]

    def fetch_media(self, url: str) -> tuple[bytes, str]:
        """Download an inbound attachment (Twilio's media URLs need the account's auth);
        MediaRefused if the URL is not on Twilio's media host or TWILIO_API_URL's."""
        origin = _origin(url)
        if origin in self._twilio_media_origins:
            url = self._http.redirect(url)
        elif origin is None or origin != self._api_origin:
            host = origin[1] if origin else "no host"
            raise MediaRefused(f"media on {host}, not Twilio's media host: not fetched")
        response = requests.get(
            url,
            auth=(self.account_sid, self._auth_token),
            timeout=self._timeout,
        )
        response.raise_for_status()
        return response.content, response.headers.get("Content-Type", "")

    def received_pages(
        self, *, to: str, since: datetime, page_size: int = MAX_LIST_PAGE_SIZE
    ) -> Iterator[list[ReceivedText]]:
        """The texts the account received at `to`, a page at a time, newest first as Twilio
        lists them; a page is asked for only when the caller wants it. Twilio filters by the
        day of `since` only, so texts from earlier that day come too."""
        page: Page | None = self.client.messages.page(
            to=to, date_sent_after=since, page_size=page_size
        )
        while page is not None:
            yield [
                ReceivedText(
                    sid=str(m.sid),
                    sender=str(m.from_),
                    to=str(m.to),
                    body=str(m.body or ""),
                    sent_at=m.date_sent or m.date_created,
                )
                for m in page
                if str(m.direction or "").startswith("inbound")
            ]
            page = page.next_page()
