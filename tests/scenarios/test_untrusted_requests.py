"""Requests nobody should trust: unsigned, malformed or oversized posts to /slack/events
and the Twilio webhooks get a 4xx, never a 500, store nothing, and none of their body
reaches the logs."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.slack_requests import MAX_SLACK_BODY_BYTES
from handlers.twilio.form import MAX_WEBHOOK_BYTES
from models.tables import EarlyStatus, IdempotencyKey, InboundWebhook, Message
from tests.conftest import Bot
from tests.factories import make_line
from tests.slack_driver import FORM, SIGNING_SECRET, slash_command_body

# Every malformed body carries this: it must never show up in a log line.
MARKER = "do-not-log-me"
SALES = "+12025550100"
JANE = "+12025550123"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """INFO and up, as the bot logs in production. Tests ask for it before `bot`: Bolt's
    loggers take the root level when the app is built."""
    caplog.set_level(logging.INFO)
    yield caplog


def _assert_quiet(logs: pytest.LogCaptureFixture) -> None:
    """No traceback, and nothing of the request's body, in what the bot logged."""
    for record in logs.records:
        assert record.exc_info is None, record.getMessage()
        assert MARKER not in record.getMessage(), record.getMessage()


def _stored(bot: Bot) -> dict[str, int]:
    with bot.session() as session:
        return {
            table.__name__: session.exec(select(func.count()).select_from(table)).one()
            for table in (IdempotencyKey, InboundWebhook, Message, EarlyStatus)
        }


def _slack_signature(body: bytes, timestamp: str) -> str:
    """Slack's scheme over the raw bytes (slack_sdk's signer only takes UTF-8)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


def _slack_headers(body: bytes, *, timestamp: str | None = None, content_type: str = FORM):
    timestamp = timestamp if timestamp is not None else str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": _slack_signature(body, timestamp),
    }


def _slash(text: str) -> bytes:
    return slash_command_body(
        text, user="U0ALICE", channel="C0GENERAL", response_url="http://127.0.0.1:9/r"
    ).encode()


SLASH = _slash(f"Sales 2025550123 {MARKER}")

# name: a request made when the test runs (a signature made at import would be stale by
# the time a long suite reaches it): (body, headers, expected status)
SLACK_CASES: dict[str, Callable[[], tuple[bytes, dict, int]]] = {
    "unsigned": lambda: (SLASH, {"Content-Type": FORM}, 401),
    "wrong signature": lambda: (
        SLASH,
        {**_slack_headers(SLASH), "X-Slack-Signature": "v0=" + "0" * 64},
        401,
    ),
    "signature of a stale timestamp": lambda: (
        SLASH,
        _slack_headers(SLASH, timestamp="1000000000"),
        401,
    ),
    "non-numeric timestamp": lambda: (SLASH, _slack_headers(SLASH, timestamp="soon"), 401),
    "superscript timestamp": lambda: (
        SLASH,
        {
            **_slack_headers(SLASH, timestamp="²"),
            "X-Slack-Request-Timestamp": "²".encode("latin-1"),
        },
        401,
    ),
    "5000-digit timestamp": lambda: (SLASH, _slack_headers(SLASH, timestamp="9" * 5000), 401),
    "invalid UTF-8, signed": lambda: (
        b"text=" + MARKER.encode() + b"\xff\xfe",
        _slack_headers(b"text=" + MARKER.encode() + b"\xff\xfe"),
        400,
    ),
    "invalid UTF-8, unsigned": lambda: (
        b"text=" + MARKER.encode() + b"\xff\xfe",
        {"Content-Type": FORM},
        400,
    ),
    "payload that is not JSON": lambda: (
        urlencode({"payload": "{" + MARKER}).encode(),
        _slack_headers(urlencode({"payload": "{" + MARKER}).encode()),
        400,
    ),
    "payload that is a JSON list": lambda: (
        urlencode({"payload": f'["{MARKER}"]'}).encode(),
        _slack_headers(urlencode({"payload": f'["{MARKER}"]'}).encode()),
        400,
    ),
    "JSON body that is not JSON": lambda: (
        b"{" + MARKER.encode(),
        _slack_headers(b"{" + MARKER.encode(), content_type="application/json"),
        400,
    ),
    "JSON body that is a number": lambda: (
        b"12345",
        _slack_headers(b"12345", content_type="application/json"),
        400,
    ),
}


def _signed_payload(payload: dict) -> tuple[bytes, dict[str, str], int]:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return body, _slack_headers(body), 400


def _signed_form(body: bytes) -> tuple[bytes, dict[str, str], int]:
    return body, _slack_headers(body), 400


def _signed_event(event: object) -> tuple[bytes, dict[str, str], int]:
    body = json.dumps({"type": "event_callback", "team_id": "T0TEST", "event": event}).encode()
    return body, _slack_headers(body, content_type="application/json"), 400


# Signed, but not shaped as Slack shapes them: Bolt's matchers would fail inside.
SLACK_CASES |= {
    "a view submission whose view is null": lambda: _signed_payload(
        {"type": "view_submission", "view": None, "user": {"id": MARKER}}
    ),
    "a callback id that is a number": lambda: _signed_payload(
        {"type": "view_submission", "view": {"callback_id": 7}, "user": {"id": MARKER}}
    ),
    "actions that are not a list": lambda: _signed_payload(
        {"type": "block_actions", "actions": MARKER, "user": {"id": "U0ALICE"}}
    ),
    "no actions": lambda: _signed_payload(
        {"type": "block_actions", "actions": [], "user": {"id": "U0ALICE"}}
    ),
    "an attachment action whose actions are null": lambda: _signed_payload(
        {
            "type": "interactive_message",
            "actions": None,
            "user": {"id": "U0ALICE"},
            "team": {"id": "T0TEST"},
        }
    ),
    "an action with no action id": lambda: _signed_payload(
        {"type": "block_actions", "actions": [{"value": MARKER}], "user": {"id": "U0ALICE"}}
    ),
    "a view submission whose view has no type": lambda: _signed_payload(
        {
            "type": "view_submission",
            "user": {"id": "U0ALICE", "team_id": "T0TEST"},
            "team": {"id": "T0TEST"},
            "view": {"id": "V0", "callback_id": "edit_contact"},
        }
    ),
    "a user that is a list": lambda: _signed_payload(
        {"type": "block_suggestion", "user": [MARKER]}
    ),
    "an input value that is a number": lambda: _signed_payload(
        {
            "type": "view_submission",
            "user": {"id": "U0ALICE"},
            "view": {
                "callback_id": "new_conversation",
                "state": {"values": {"message": {"message_input": {"value": 12345}}}},
            },
        }
    ),
    # A NUL in an id: PostgreSQL refuses even to look it up (the fuzz suite found a 500).
    "a command whose team id is not a Slack id": lambda: _signed_form(
        _slash("Sales +12025550123 hi").replace(b"team_id=T", b"team_id=%00T")
    ),
    "a command whose user id is not a Slack id": lambda: _signed_form(
        _slash("Sales +12025550123 hi").replace(b"user_id=U0ALICE", b"user_id=%3C%40U0%3E")
    ),
    "an interaction whose team id is not a Slack id": lambda: _signed_payload(
        {
            "type": "block_suggestion",
            "user": {"id": "U0ALICE"},
            "team": {"id": "T0\u0000"},
            "action_id": "recipient",
            "value": "jan",
        }
    ),
    "an event whose channel is not a Slack id": lambda: _signed_event(
        {"type": "message", "channel": "C0 ;--", "user": "U0ALICE", "text": "hi", "ts": "1.2"}
    ),
    "an event with no object": lambda: _signed_event(None),
    "an edit whose message is null": lambda: _signed_event(
        {"type": "message", "subtype": "message_changed", "message": None, "text": MARKER}
    ),
}


@pytest.mark.parametrize("case", list(SLACK_CASES))
def test_slack_events_refuses_unsigned_and_malformed_requests(
    logs: pytest.LogCaptureFixture, bot: Bot, case: str
) -> None:
    body, headers, expected = SLACK_CASES[case]()
    with bot.session() as session, session.begin():
        make_line(session, grants=("U0ALICE",))
    before = _stored(bot)
    calls_before = len(bot.fake_slack.calls)

    response = httpx.post(f"{bot.url}/slack/events", content=body, headers=headers)

    assert response.status_code == expected, response.text
    assert _stored(bot) == before
    assert len(bot.fake_slack.calls) == calls_before
    _assert_quiet(logs)


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("sent_as", ["with Content-Length", "chunked"])
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_slack_events_refuses_a_body_over_1_mib_unread_and_unlogged(
    logs: pytest.LogCaptureFixture, bot: Bot, sent_as: str, signed: bool
) -> None:
    body = _slash(MARKER * (MAX_SLACK_BODY_BYTES // len(MARKER) + 1))
    assert len(body) > MAX_SLACK_BODY_BYTES
    headers = _slack_headers(body) if signed else {"Content-Type": FORM}
    content = body if sent_as == "with Content-Length" else _chunks(body)

    response = httpx.post(f"{bot.url}/slack/events", content=content, headers=headers)

    assert response.status_code == 413
    assert len(bot.fake_slack.calls_to("views.open")) == 0
    _assert_quiet(logs)


def test_slack_events_takes_a_signed_request_of_exactly_1_mib(bot: Bot) -> None:
    with bot.session() as session, session.begin():
        make_line(session, grants=("U0ALICE",))
    prefix = _slash("Sales 2025550123 Hello")
    body = prefix + b"&padding=" + b"x" * (MAX_SLACK_BODY_BYTES - len(prefix) - 9)
    assert len(body) == MAX_SLACK_BODY_BYTES

    response = httpx.post(f"{bot.url}/slack/events", content=body, headers=_slack_headers(body))

    assert response.status_code == 200, response.text


# --- Twilio webhooks -----------------------------------------------------------------------


def _twilio_form(bot: Bot, path: str, params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A body and headers as Twilio would post them, correctly signed."""
    signature = bot.twilio.validator.compute_signature(bot.url + path, params)
    return urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }


def _inbound(bot: Bot, **extra: str) -> tuple[bytes, dict[str, str]]:
    params = bot.twilio.inbound_params(from_=JANE, to=SALES, body=MARKER, **extra)
    return _twilio_form(bot, "/twilio/messages", params)


def _status(bot: Bot, **extra: str) -> tuple[bytes, dict[str, str]]:
    params = {
        "MessageSid": "SM" + "c" * 32,
        "MessageStatus": "undelivered",
        "To": JANE,
        "From": SALES,
        "AccountSid": "AC" + "0" * 32,
        **extra,
    }
    return _twilio_form(bot, "/twilio/status", params)


def _multipart(bot: Bot) -> tuple[bytes, dict[str, str]]:
    request = httpx.Request(
        "POST",
        bot.url,
        data={"From": JANE, "To": SALES, "MessageSid": "SM" + "d" * 32},
        files={"Body": ("note.txt", MARKER.encode(), "text/plain")},
    )
    return request.read(), {
        "Content-Type": request.headers["Content-Type"],
        "X-Twilio-Signature": "c2lnbmVk",
    }


def _invalid_utf8(bot: Bot) -> tuple[bytes, dict[str, str]]:
    body, headers = _inbound(bot)
    return body + b"&Extra=%FF%FE" + MARKER.encode(), headers


def _raw_invalid_utf8(bot: Bot) -> tuple[bytes, dict[str, str]]:
    body, headers = _inbound(bot)
    return body + b"&Extra=\xff\xfe" + MARKER.encode(), headers


# name: (path, build(bot) -> (body, headers), expected status)
TWILIO_CASES = {
    "multipart with a file part": ("/twilio/messages", _multipart, 415),
    "percent-encoded invalid UTF-8": ("/twilio/messages", _invalid_utf8, 400),
    "raw invalid UTF-8": ("/twilio/messages", _raw_invalid_utf8, 400),
    "NumMedia ²": ("/twilio/messages", lambda bot: _inbound(bot, NumMedia="²"), 400),
    "NumMedia of 30 digits": (
        "/twilio/messages",
        lambda bot: _inbound(bot, NumMedia="9" * 30),
        400,
    ),
    "NumMedia 11": ("/twilio/messages", lambda bot: _inbound(bot, NumMedia="11"), 400),
    "NumMedia -1": ("/twilio/messages", lambda bot: _inbound(bot, NumMedia="-1"), 400),
    "ErrorCode ²": ("/twilio/status", lambda bot: _status(bot, ErrorCode="²"), 400),
    "ErrorCode of 30 digits": ("/twilio/status", lambda bot: _status(bot, ErrorCode="9" * 30), 400),
}


@pytest.mark.parametrize("case", list(TWILIO_CASES))
def test_twilio_webhooks_refuse_malformed_posts(
    logs: pytest.LogCaptureFixture, bot: Bot, case: str
) -> None:
    path, build, expected = TWILIO_CASES[case]
    with bot.session() as session, session.begin():
        make_line(session, number=SALES)
    body, headers = build(bot)
    before = _stored(bot)

    response = httpx.post(f"{bot.url}{path}", content=body, headers=headers)

    assert response.status_code == expected, response.text
    assert _stored(bot) == before
    _assert_quiet(logs)


def test_twilio_webhook_takes_ten_media_and_a_status_with_an_error_code(bot: Bot) -> None:
    """The bounds let through what Twilio sends."""
    with bot.session() as session, session.begin():
        make_line(session, number=SALES)
    media = [(f"https://api.twilio.com/2010-04-01/m/ME{i}", "image/png") for i in range(10)]
    assert bot.twilio.text(from_=JANE, to=SALES, body="Photos", media=media).status_code == 200
    body, headers = _status(bot, ErrorCode="30007")
    assert httpx.post(f"{bot.url}/twilio/status", content=body, headers=headers).status_code == 204


@pytest.mark.parametrize("sent_as", ["with Content-Length", "chunked"])
def test_twilio_webhook_refuses_a_body_over_its_cap(
    logs: pytest.LogCaptureFixture, bot: Bot, sent_as: str
) -> None:
    params = bot.twilio.inbound_params(
        from_=JANE, to=SALES, body=MARKER * (MAX_WEBHOOK_BYTES // len(MARKER) + 1)
    )
    body, headers = _twilio_form(bot, "/twilio/messages", params)
    content = body if sent_as == "with Content-Length" else _chunks(body)

    response = httpx.post(f"{bot.url}/twilio/messages", content=content, headers=headers)

    assert response.status_code == 413
    assert _stored(bot)["InboundWebhook"] == 0
    _assert_quiet(logs)
