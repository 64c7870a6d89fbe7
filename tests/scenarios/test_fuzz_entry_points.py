"""Property-based fuzz of every HTTP entry point: real-shaped Slack and Twilio requests,
mutated at random and correctly signed, against the real app. Whatever arrives: no 500, no
traceback in the log, the process stays healthy, and a refused request stores nothing.

TEXTBOT_FUZZ_EXAMPLES sets the examples per entry point and database (100 by default; more on
demand)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from handlers import ids
from models.tables import (
    Contact,
    Conversation,
    Delivery,
    IdempotencyKey,
    InboundWebhook,
    Line,
    LineAccess,
    Message,
    OptOut,
    SavedReply,
)
from tests.conftest import Bot
from tests.factories import make_contact, make_line, make_text
from tests.fakes.slack import TEAM_ID
from tests.fakes.twilio import ACCOUNT_SID
from tests.slack_driver import (
    APP_ID,
    FORM,
    SIGNING_SECRET,
    event_body,
    message_event,
    slash_command_body,
    submission_payload,
    suggestion_payload,
)

EXAMPLES = int(os.environ.get("TEXTBOT_FUZZ_EXAMPLES", "100"))
ALICE, MALLORY = "U0ALICE", "U0MALLORY"
SALES, JANE = "+12025550100", "+12025550123"
STORED = (
    Contact,
    Conversation,
    Delivery,
    IdempotencyKey,
    InboundWebhook,
    Line,
    LineAccess,
    Message,
    OptOut,
    SavedReply,
)

# Hypothesis runs all of an entry point's examples in one test: more than the suite's
# per-test timeout allows.
pytestmark = pytest.mark.timeout(1200)

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- what arrives: real shapes, mutated ------------------------------------------------------

# Values that have broken parsers before: digits that are not ASCII, huge numbers, markup,
# control and bidi characters, very long text.
NASTY_TEXT = st.sampled_from(
    [
        "",
        "²",
        "٣",
        "1" * 30,
        "-1",
        "1e309",
        "NaN",
        "null",
        "<!channel>",
        "<https://evil.example|bank>",
        "&amp;&lt;",
        "\x00\x1b\u202e",
        "+12025550123",
        "+1202555012",
        "%s%n",
        "' OR 1=1 --",
        "x" * 5000,
        "word " * 1200,
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    NASTY_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """`value` with some of its parts replaced, dropped or added to, at any depth."""
    if draw(st.integers(0, 7)) == 0:
        return draw(JSON_VALUES)
    if isinstance(value, dict) and depth < 6:
        result = {}
        for key, item in value.items():
            if draw(st.integers(0, 9)) == 0:
                continue  # a field dropped
            result[key] = draw(mutated(item, depth + 1))
        if draw(st.integers(0, 9)) == 0:
            result[draw(st.text(max_size=10))] = draw(JSON_VALUES)
        return result
    if isinstance(value, list) and depth < 6:
        return [draw(mutated(item, depth + 1)) for item in value]
    return value


@st.composite
def mutated_form(draw: st.DrawFn, form: dict[str, str]) -> dict[str, str]:
    """A form post's fields: some values replaced by odd text, some dropped, some added."""
    result = {}
    for key, value in form.items():
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue
        result[key] = draw(st.one_of(NASTY_TEXT, st.text(max_size=60))) if choice < 3 else value
    for _ in range(draw(st.integers(0, 2))):
        result[draw(st.sampled_from(["NumMedia", "MediaUrl0", "ErrorCode", "Extra"]))] = draw(
            st.one_of(NASTY_TEXT, st.text(max_size=30))
        )
    return result


def _view(callback_id: str, values: dict[str, Any], metadata: str) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID},
        "user": {"id": ALICE, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "trigger_id": "1.2.fuzz",
        "view": {
            "id": "V0FUZZ",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {"values": values},
        },
    }


def _action(action_id: str, value: str, response_url: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "test"},
        "user": {"id": ALICE, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "trigger_id": "1.2.fuzz",
        "container": {"type": "message", "channel_id": "C0SALES", "message_ts": "1.1"},
        "channel": {"id": "C0SALES"},
        "message": {"ts": "1.1", "text": "x"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button"}],
    }


def _interactions(conversation_id: int, line_id: int, response_url: str) -> list[dict[str, Any]]:
    field = {ids.FIELD_ACTION: {"type": "plain_text_input", "value": "Support"}}
    new_conversation = submission_payload(
        {"type": "modal", "callback_id": ids.NEW_CONVERSATION_VIEW, "blocks": []},
        user=ALICE,
        line_id=str(line_id),
        recipient=f"new:{JANE}",
        message="Hello",
    )
    return [
        new_conversation,
        suggestion_payload("jan", user=ALICE),
        suggestion_payload("555", user=MALLORY),
        _view(
            ids.EDIT_CONTACT_VIEW,
            {ids.CONTACT_NAME_BLOCK: {ids.CONTACT_NAME_ACTION: {"value": "Jane"}}},
            json.dumps({"conversation_id": conversation_id}),
        ),
        _view(
            ids.ADD_LINE_VIEW,
            {ids.LINE_NAME_BLOCK: field, ids.LINE_NUMBER_BLOCK: field},
            "{}",
        ),
        _view(ids.LINE_SETTINGS_VIEW, {ids.LINE_NAME_BLOCK: field}, json.dumps({"line_id": 1})),
        _view(ids.SAVED_REPLIES_VIEW, {ids.REPLY_NAME_BLOCK: field}, json.dumps({"line_id": 1})),
        *(
            _action(action, str(conversation_id), response_url)
            for action in (
                ids.CLOSE_CONVERSATION_ACTION,
                ids.REOPEN_CONVERSATION_ACTION,
                ids.RETRY_FAILED_ACTION,
                ids.CLAIM_CONVERSATION_ACTION,
                ids.UNASSIGN_CONVERSATION_ACTION,
                ids.EDIT_CONTACT_ACTION,
                ids.CANCEL_SCHEDULED_ACTION,
                ids.LINE_SETTINGS_ACTION,
                ids.KIND_ACTION,
            )
        ),
        {
            "type": "message_action",
            "callback_id": ids.TEXT_THIS_SHORTCUT,
            "team": {"id": TEAM_ID},
            "user": {"id": ALICE},
            "trigger_id": "1.2.fuzz",
            "channel": {"id": "C0SALES"},
            "message": {"ts": "1.1", "text": "Tom &amp; Jerry <@U0BOB>"},
            "response_url": response_url,
        },
    ]


def _events(thread_ts: str) -> list[dict[str, Any]]:
    reply = message_event(
        channel="C0SALES", user=ALICE, text="On my way", ts="1800000000.000100", thread_ts=thread_ts
    )
    return [
        reply,
        {**reply, "subtype": "message_changed", "message": dict(reply), "previous_message": reply},
        {
            **reply,
            "subtype": "message_deleted",
            "deleted_ts": reply["ts"],
            "previous_message": reply,
        },
        {**reply, "subtype": "file_share", "files": [{"id": "F1", "name": "a.png"}]},
        {"type": "app_home_opened", "user": ALICE, "channel": "D0ALICE", "tab": "home"},
    ]


def _inbound_form(sid: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": JANE,
        "To": SALES,
        "Body": "Hi there",
        "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1",
        "MediaContentType0": "image/jpeg",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


def _status_form(sid: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "MessageStatus": "undelivered",
        "ErrorCode": "30006",
        "To": JANE,
        "From": SALES,
        "AccountSid": ACCOUNT_SID,
    }


# --- the bot under fire ----------------------------------------------------------------------


@pytest.fixture
def target(bot: Bot, caplog: pytest.LogCaptureFixture) -> Iterator[tuple[Bot, dict[str, Any]]]:
    """A line Alice may use, Jane's conversation on it with a sent text; afterwards the bot
    must still be healthy, with nothing logged as an error."""
    with bot.session() as session, session.begin():
        line = make_line(session, grants=(ALICE,))
        jane = make_contact(session, phone=JANE, name="Jane Doe")
        conversation, _ = make_text(session, line=line, contact=jane)
        conversation.slack_thread_ts = "1700000000.000100"
        facts = {
            "line_id": line.id,
            "conversation_id": conversation.id,
            "thread_ts": conversation.slack_thread_ts,
        }
    caplog.set_level(logging.WARNING)
    yield bot, facts
    time.sleep(0.5)  # listeners that run after the answer finish
    health = bot.slack.http.get("/healthz")
    assert health.status_code == 200 and health.json()["ok"] is True
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [f"{r.name}: {r.getMessage()}" for r in errors][:5]


def _counts(session: Session) -> dict[str, int]:
    return {
        table.__name__: session.exec(select(func.count()).select_from(table)).one()
        for table in STORED
    }


def _check(bot: Bot, send: Callable[[], Any]) -> None:
    """One request: never a 500, and a refusal changes nothing."""
    bot.wait_routed()  # the router is done with the texts of earlier examples
    with bot.runtime.database.read_session() as session:
        before = _counts(session)
    response = send()
    assert response.status_code < 500, response.text[:500]
    if 400 <= response.status_code < 500:
        with bot.runtime.database.read_session() as session:
            assert _counts(session) == before


def _post_slack(bot: Bot, body: str | bytes, content_type: str = FORM) -> Any:
    """Posted as Slack posts: signed over the exact bytes, whatever their encoding."""
    raw = body.encode() if isinstance(body, str) else body
    timestamp = str(int(time.time()))
    digest = hmac.new(
        SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + raw, hashlib.sha256
    ).hexdigest()
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    return bot.slack.http.post("/slack/events", content=raw, headers=headers)


@fuzz
@given(data=st.data())
def test_slash_commands(target, data: st.DataObject) -> None:
    bot, _ = target
    text = data.draw(
        st.one_of(
            NASTY_TEXT,
            st.text(max_size=200),
            st.sampled_from(["contacts jan", "multi", "group", "help", "lines"]),
            st.builds(
                lambda line, to, body: f"{line} {to} {body}",
                st.sampled_from(["Sales", SALES, "'Sales'", ""]),
                st.sampled_from([JANE, "'Jane Doe'", "Jane", "²", "1" * 30]),
                NASTY_TEXT,
            ),
        )
    )
    user = data.draw(st.sampled_from([ALICE, MALLORY, "", "W0", "<@U0>"]))
    body = slash_command_body(
        text, user=user, channel="C0GENERAL", response_url=bot.fake_slack.response_url()
    )
    extra = data.draw(mutated_form({"team_id": TEAM_ID, "command": ids.TEXT_COMMAND}))
    _check(bot, lambda: _post_slack(bot, body + "&" + urlencode(extra)))


@fuzz
@given(data=st.data())
def test_interactivity_and_options(target, data: st.DataObject) -> None:
    bot, facts = target
    templates = _interactions(
        facts["conversation_id"], facts["line_id"], bot.fake_slack.response_url()
    )
    template = data.draw(st.sampled_from(templates))
    payload = data.draw(mutated(template))
    if isinstance(payload, dict) and "response_url" in payload and "response_url" in template:
        # Signed by Slack, a response_url is Slack's: it answers.
        payload["response_url"] = template["response_url"]
    body = data.draw(
        st.one_of(
            st.just(urlencode({"payload": json.dumps(payload)})),
            st.builds(lambda t: urlencode({"payload": t}), st.one_of(NASTY_TEXT, st.text())),
        )
    )
    _check(bot, lambda: _post_slack(bot, body))


@fuzz
@given(data=st.data())
def test_events(target, data: st.DataObject) -> None:
    bot, facts = target
    event = data.draw(mutated(data.draw(st.sampled_from(_events(facts["thread_ts"])))))
    body = data.draw(
        st.one_of(
            st.just(event_body(event if isinstance(event, dict) else {"x": event})),
            st.builds(json.dumps, JSON_VALUES),
        )
    )
    _check(bot, lambda: _post_slack(bot, body, content_type="application/json"))


@fuzz
@given(body=st.binary(max_size=300), content_type=st.sampled_from([FORM, "application/json"]))
def test_slack_bodies_of_any_bytes(target, body: bytes, content_type: str) -> None:
    bot, _ = target
    _check(bot, lambda: _post_slack(bot, body, content_type))


@fuzz
@given(data=st.data())
def test_twilio_inbound(target, data: st.DataObject) -> None:
    bot, _ = target
    sid = "SM" + data.draw(st.text("0123456789abcdef", min_size=32, max_size=32))
    form = data.draw(mutated_form(_inbound_form(sid)))
    _check(bot, lambda: bot.twilio.post("/twilio/messages", form))


@fuzz
@given(data=st.data())
def test_twilio_status(target, data: st.DataObject) -> None:
    bot, _ = target
    sid = data.draw(st.sampled_from(["SM" + "0" * 32, "SM1", ""]))
    form = data.draw(mutated_form(_status_form(sid)))
    _check(bot, lambda: bot.twilio.post("/twilio/status", form))
