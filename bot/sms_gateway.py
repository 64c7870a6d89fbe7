"""The SMS gateway: the real twilio SDK, pointed at Twilio, a proxy, a test server or the
built-in simulator by TWILIO_API_URL."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from models.error_codes import TRANSIENT_CODES, describe_error

logger = logging.getLogger(__name__)

TWILIO_API_HOST = "https://api.twilio.com"
# The other Twilio host the bot calls (Messaging Services); TWILIO_API_URL stands in for both.
TWILIO_HOSTS = (TWILIO_API_HOST, "https://messaging.twilio.com")


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


class _RedirectingHttpClient(TwilioHttpClient):
    """Sends what the SDK addresses to api.twilio.com or messaging.twilio.com to another
    base URL (their paths do not overlap: /2010-04-01/... and /v1/...)."""

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
        self._timeout = timeout
        self.client = Client(account_sid, auth_token, http_client=self._http)

    def send(
        self, *, to: str, body: str, from_number: str, messaging_service_sid: str | None = None
    ) -> Accepted:
        sender = (
            {"messaging_service_sid": messaging_service_sid}
            if messaging_service_sid
            else {"from_": from_number}
        )
        callback = {"status_callback": self.status_callback_url} if self.status_callback_url else {}
        try:
            message = self.client.messages.create(to=to, body=body, **sender, **callback)
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

    def find_sent(
        self, *, to: str, body: str, from_number: str, since: datetime
    ) -> Accepted | None:
        """A message this account sent to `to` with this body since `since`, if any: how a
        delivery whose send had no answer is reconciled instead of being sent twice."""
        skew = timedelta(minutes=2)
        for message in self.client.messages.list(to=to, from_=from_number, limit=50):
            created = message.date_created
            if message.body == body and (created is None or created >= since - skew):
                return Accepted(sid=str(message.sid), status=str(message.status or "queued"))
        return None

    def fetch_media(self, url: str) -> tuple[bytes, str]:
        """Download an inbound attachment (Twilio's media URLs need the account's auth)."""
        response = requests.get(
            self._http.redirect(url),
            auth=(self.account_sid, self._auth_token),
            timeout=self._timeout,
        )
        response.raise_for_status()
        return response.content, response.headers.get("Content-Type", "")

    def list_received(self, *, to: str, since: datetime, limit: int = 200) -> list[ReceivedText]:
        """Texts the account received at `to` since `since`, oldest first."""
        received = [
            ReceivedText(
                sid=str(m.sid),
                sender=str(m.from_),
                to=str(m.to),
                body=str(m.body or ""),
                sent_at=m.date_sent or m.date_created,
            )
            for m in self.client.messages.list(to=to, date_sent_after=since, limit=limit)
            if str(m.direction or "").startswith("inbound")
        ]
        # Twilio lists newest first, with times to the second: reverse, then sort stably.
        received.reverse()
        return sorted(received, key=lambda r: r.sent_at or since)
