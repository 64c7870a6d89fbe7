"""Signed requests as Slack and Twilio send them, each distinct where the bot dedupes."""

from __future__ import annotations

import itertools
import secrets
import time
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from bench.wrk import SignedRequest
from tests.fakes.twilio import AUTH_TOKEN, TwilioDriver
from tests.slack_driver import (
    FORM,
    SIGNING_SECRET,
    event_body,
    interaction_body,
    message_event,
    slash_command_body,
    submission_payload,
    suggestion_payload,
)

SLACK_PATH = "/slack/events"
_run = itertools.count()


def slack_request(body: str, content_type: str = FORM) -> SignedRequest:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    return SignedRequest(
        SLACK_PATH,
        {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        },
        body,
    )


def slash_commands(count: int, *, user: str, response_url: str) -> list[SignedRequest]:
    """`/text` with no arguments: the modal opens (views.open runs after the answer)."""
    return [
        slack_request(
            slash_command_body("", user=user, channel="C0GENERAL", response_url=response_url)
        )
        for _ in range(count)
    ]


def suggestions(queries: list[str], count: int, *, user: str) -> list[SignedRequest]:
    """Options requests for the recipient field, cycling through `queries`."""
    return [
        slack_request(interaction_body(suggestion_payload(queries[i % len(queries)], user=user)))
        for i in range(count)
    ]


def submissions(
    count: int, *, user: str, line_id: int, recipients: list[str]
) -> list[SignedRequest]:
    """New-conversation form submissions, each with a view id of its own."""
    view = {"type": "modal", "callback_id": "new_conversation", "blocks": []}
    run = f"{next(_run)}{secrets.token_hex(3)}"
    return [
        slack_request(
            interaction_body(
                submission_payload(
                    view,
                    user=user,
                    line_id=str(line_id),
                    recipient=recipients[i % len(recipients)],
                    message="Benchmark text",
                    view_id=f"VB{run}{i}",
                )
            )
        )
        for i in range(count)
    ]


def thread_replies(count: int, *, user: str, channel: str, thread_ts: str) -> list[SignedRequest]:
    """Messages typed in a conversation's thread (Events API), each with its own ts."""
    base = time.time()
    requests = []
    for i in range(count):
        ts = f"{base + i / 1e5:.6f}"
        event = message_event(
            channel=channel, user=user, text=f"Reply {i}", ts=ts, thread_ts=thread_ts
        )
        requests.append(
            slack_request(
                event_body(event, event_id=f"EvB{secrets.token_hex(8)}"), "application/json"
            )
        )
    return requests


def inbound_texts(
    count: int, *, public_url: str, line_number: str, senders: list[str]
) -> list[SignedRequest]:
    """Texts to the line as Twilio posts them, each with a MessageSid of its own."""
    url = public_url + "/twilio/messages"
    validator = RequestValidator(AUTH_TOKEN)
    driver = TwilioDriver(public_url)
    requests = []
    for i in range(count):
        params = driver.inbound_params(
            from_=senders[i % len(senders)], to=line_number, body=f"Inbound {i}"
        )
        requests.append(
            SignedRequest(
                "/twilio/messages",
                {
                    "Content-Type": FORM,
                    "X-Twilio-Signature": validator.compute_signature(url, params),
                },
                urlencode(params),
            )
        )
    driver.http.close()
    return requests
