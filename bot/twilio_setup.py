"""The Twilio side of a deployment: the account, the numbers it owns, its Messaging Services,
and where their incoming texts go. `textbot doctor` checks it; `textbot lines add
--configure-twilio` and `textbot lines configure-twilio` point a number at this server.

Every call goes through the real twilio SDK client, built as the SMS gateway builds it (so
TWILIO_API_URL redirects it too)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.response import Response
from twilio.rest.api.v2010.account import AccountInstance
from twilio.rest.api.v2010.account.incoming_phone_number import IncomingPhoneNumberInstance
from twilio.rest.conversations.v1.configuration.webhook import WebhookInstance
from twilio.rest.messaging.v1.service import ServiceInstance

from bot.settings import HOW_TO_GET, Settings
from bot.sms_gateway import TwilioGateway
from models.phone import format_phone

INBOUND_PATH = "/twilio/messages"
GROUP_TEXTS_PATH = "/twilio/conversations"
GROUP_TEXT_EVENT = "onMessageAdded"
STATUS_PATH = "/twilio/status"
CONSOLE_KEYS = "the Account SID and Auth Token from the Twilio console (Account Info)"


class TwilioSetupError(Exception):
    """Something in the Twilio set-up needs fixing: `problem` says what, `fix` how."""

    def __init__(self, problem: str, fix: str):
        super().__init__(f"{problem}: {fix}")
        self.problem = problem
        self.fix = fix


def inbound_webhook_url(public_url: str) -> str:
    """Where Twilio must post a number's incoming texts."""
    return public_url + INBOUND_PATH


def group_texts_webhook_url(public_url: str) -> str:
    """Where Twilio must post the messages of group texts (its Conversations webhook)."""
    return public_url + GROUP_TEXTS_PATH


def check_group_texts_webhook(webhook: WebhookInstance, expected_url: str) -> None:
    """The account's Conversations webhook posts each group text's messages to
    `expected_url`; else TwilioSetupError with how to fix it."""
    posts_here = webhook.post_webhook_url == expected_url and (webhook.target or "webhook") == (
        "webhook"
    )
    if posts_here and GROUP_TEXT_EVENT in (webhook.filters or []):
        return
    where = (
        f"go to {webhook.post_webhook_url}, not {expected_url}"
        if webhook.post_webhook_url and webhook.post_webhook_url != expected_url
        else f"are not posted ({GROUP_TEXT_EVENT} is not among its events)"
        if webhook.post_webhook_url
        else "are not posted anywhere (no Conversations webhook is set)"
    )
    raise TwilioSetupError(
        f"members' texts to group texts {where}",
        "run `textbot lines configure-twilio NUMBER` for a group-text line, or in the Twilio "
        f"console (Conversations > Global webhooks) set the post-event URL to {expected_url} "
        f"with {GROUP_TEXT_EVENT}",
    )


def configure_group_texts(account: TwilioAccount, url: str) -> str:
    """Point the account's Conversations webhook at `url`, keeping the events it posts
    already; says what changed."""
    webhook = account.fetch_group_texts_webhook()
    try:
        check_group_texts_webhook(webhook, url)
    except TwilioSetupError:
        pass
    else:
        return f"Members' texts to group texts already come to {url}."
    before = webhook.post_webhook_url or "nowhere"
    filters = sorted({*(webhook.filters or []), GROUP_TEXT_EVENT})
    account.send_group_texts_to(url, filters=filters)
    return f"Members' texts to group texts now come to {url}; before, they went to {before}."


def check_public_url(public_url: str | None) -> str:
    """PUBLIC_URL, if Twilio can be given webhooks under it; else TwilioSetupError."""
    if not public_url:
        raise TwilioSetupError(
            "PUBLIC_URL is not set, so Twilio has no address for incoming texts and their status",
            f"set it to {HOW_TO_GET['public_url']}",
        )
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TwilioSetupError(
            f"PUBLIC_URL {public_url!r} is not an http(s) URL",
            f"set it to {HOW_TO_GET['public_url']}",
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise TwilioSetupError(
            f"PUBLIC_URL {public_url} is plain http, so customers' texts would cross the "
            "internet unencrypted",
            "serve textbot behind https and set PUBLIC_URL to its https address",
        )
    return public_url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_number_inbound(number: IncomingPhoneNumberInstance, expected_url: str) -> None:
    """TwilioSetupError unless the number posts its incoming texts to `expected_url`."""
    phone = format_phone(str(number.phone_number))
    if number.sms_application_sid:
        raise TwilioSetupError(
            f"the number's incoming texts go to the TwiML app {number.sms_application_sid}, "
            "which overrides the number's own webhook",
            f"remove the app from {phone} in the Twilio console (Phone Numbers > Manage > "
            f"Active numbers > {phone} > Messaging), then run `textbot lines configure-twilio "
            f"{number.phone_number}`",
        )
    if not _posts_to(expected_url, number.sms_url, number.sms_method):
        raise TwilioSetupError(
            f"the number's incoming texts go to {_webhook(number.sms_url, number.sms_method)}, "
            f"not {expected_url} (POST)",
            f"run `textbot lines configure-twilio {number.phone_number}`",
        )


def check_service_inbound(service: ServiceInstance, expected_url: str) -> None:
    """TwilioSetupError unless the Messaging Service posts incoming texts to `expected_url`
    (callers check the number instead when the service defers to its numbers' webhooks)."""
    if _posts_to(expected_url, service.inbound_request_url, service.inbound_method):
        return
    where = (
        "are dropped (the service has no incoming-message webhook)"
        if not service.inbound_request_url
        else f"go to {_webhook(service.inbound_request_url, service.inbound_method)}, not "
        f"{expected_url} (POST)"
    )
    raise TwilioSetupError(
        f"Messaging Service {service.sid}'s incoming texts {where}",
        f"in the Twilio console (Messaging > Services > {service.friendly_name} > "
        f'Integration), choose "Send a webhook" with {expected_url}, HTTP POST',
    )


def configure_number(account: TwilioAccount, number: IncomingPhoneNumberInstance, url: str) -> str:
    """Point the number's incoming texts at `url` (HTTP POST); says what changed."""
    phone = format_phone(str(number.phone_number))
    if number.sms_application_sid:
        check_number_inbound(number, url)  # raises: the app would still win over the webhook
    if _posts_to(url, number.sms_url, number.sms_method):
        return f"Incoming texts to {phone} already come to {url}."
    before = _webhook(number.sms_url, number.sms_method)
    account.send_incoming_texts_to(number, url)
    return f"Incoming texts to {phone} now come to {url} (POST); before, they went to {before}."


def _posts_to(expected_url: str, url: str | None, method: str | None) -> bool:
    return url == expected_url and (method or "POST").upper() == "POST"


def _webhook(url: str | None, method: str | None) -> str:
    return f"{url} ({(method or 'POST').upper()})" if url else "nowhere (no webhook is set)"


class TwilioAccount:
    """The Twilio account of TWILIO_ACCOUNT_SID, through the SMS gateway's SDK client."""

    def __init__(self, settings: Settings):
        missing = [
            name
            for name in ("twilio_account_sid", "twilio_auth_token")
            if not getattr(settings, name)
        ]
        if missing:
            name = missing[0]
            raise TwilioSetupError(f"{name.upper()} is not set", HOW_TO_GET[name])
        self.account_sid = settings.twilio_account_sid or ""
        self.api_url = settings.twilio_api_url
        client = TwilioGateway(
            account_sid=self.account_sid,
            auth_token=settings.twilio_auth_token or "",
            api_url=settings.twilio_api_url,
            status_callback_url=None,
            timeout=settings.twilio_timeout_seconds,
        ).client
        self._account = client.api.v2010.accounts(self.account_sid)
        self._messaging = client.messaging.v1
        self._conversations = client.conversations.v1

    def fetch(self) -> AccountInstance:
        """The account, once Twilio has accepted the credentials; TwilioSetupError if it
        refuses them or the account is not active."""
        with self._answering():
            account = self._account.fetch()
        if account.status != AccountInstance.Status.ACTIVE:
            raise TwilioSetupError(
                f"the Twilio account {account.friendly_name} ({self.account_sid}) is "
                f"{account.status}",
                "reactivate it in the Twilio console, or use an active account's credentials",
            )
        return account

    def find_number(self, e164: str) -> IncomingPhoneNumberInstance:
        """The account's IncomingPhoneNumber for `e164`; TwilioSetupError if it has none."""
        with self._answering():
            # Twilio treats PhoneNumber as a pattern: keep only the exact number.
            candidates = self._account.incoming_phone_numbers.list(phone_number=e164, limit=20)
        for number in candidates:
            if number.phone_number == e164:
                return number
        raise TwilioSetupError(
            f"{format_phone(e164)} does not belong to this Twilio account ({self.account_sid})",
            "buy or port the number into this account, or set TWILIO_ACCOUNT_SID and "
            "TWILIO_AUTH_TOKEN to the account that owns it",
        )

    def fetch_messaging_service(self, sid: str) -> ServiceInstance:
        missing = TwilioSetupError(
            f"Messaging Service {sid} is not in this Twilio account",
            "check the SID in the Twilio console (Messaging > Services)",
        )
        with self._answering(not_found=missing):
            return self._messaging.services(sid).fetch()

    def send_incoming_texts_to(
        self, number: IncomingPhoneNumberInstance, url: str
    ) -> IncomingPhoneNumberInstance:
        """Set the number's "A message comes in" webhook to `url` (HTTP POST)."""
        with self._answering():
            return self._account.incoming_phone_numbers(str(number.sid)).update(
                sms_url=url, sms_method="POST"
            )

    def fetch_group_texts_webhook(self) -> WebhookInstance:
        """The account's Conversations webhook (group texts' messages)."""
        with self._answering():
            return self._conversations.configuration.webhooks().fetch()

    def send_group_texts_to(self, url: str, *, filters: list[str]) -> WebhookInstance:
        with self._answering():
            return self._conversations.configuration.webhooks().update(
                post_webhook_url=url, method="POST", filters=filters, target="webhook"
            )

    @contextmanager
    def _answering(self, *, not_found: TwilioSetupError | None = None) -> Iterator[None]:
        """Turns the ways a Twilio call fails into TwilioSetupError (`not_found` for 404)."""
        try:
            yield
        except TwilioRestException as exc:
            detail = f"error {exc.code}: {exc.msg}"
            raise self._refusal(exc.status, detail, not_found=not_found) from exc
        except requests.RequestException as exc:
            reason = "no answer in time" if isinstance(exc, requests.Timeout) else "no connection"
            raise TwilioSetupError(
                f"could not reach Twilio at {self.api_url} ({reason})",
                "check the network, and TWILIO_API_URL if it is set",
            ) from exc
        except TwilioException as exc:
            # A list call Twilio refuses raises a bare TwilioException with the response.
            response = exc.args[1] if len(exc.args) > 1 else None
            if isinstance(response, Response):
                detail = response.text[:200]
                raise self._refusal(response.status_code, detail, not_found=not_found) from exc
            raise TwilioSetupError(f"Twilio failed: {exc}", "try again") from exc

    def _refusal(
        self, status: int, detail: str, *, not_found: TwilioSetupError | None
    ) -> TwilioSetupError:
        if status == 401:
            return TwilioSetupError(
                f"Twilio refused the credentials (TWILIO_ACCOUNT_SID {self.account_sid} with "
                "TWILIO_AUTH_TOKEN)",
                f"copy {CONSOLE_KEYS} into them",
            )
        if status == 404 and not_found is not None:
            return not_found
        return TwilioSetupError(
            f"Twilio answered {status} ({detail})",
            "try again; if it persists, see status.twilio.com",
        )
