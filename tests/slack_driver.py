"""Drives the bot as Slack does: signed HTTP requests with real-shaped payloads.

The payload builders are plain functions so that benchmarks can build the same requests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from handlers import ids
from tests.fakes.slack import (
    TEAM_ID,
    FakeSlack,
    issue_trigger_id,
    rich_text_block,
    slack_escape,
)

SIGNING_SECRET = "test-signing-secret"
APP_ID = "A0TEXTBOT"
FORM = "application/x-www-form-urlencoded"

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def trigger_id() -> str:
    """A trigger as Slack issues it with a request: it opens a view for 3 seconds."""
    return issue_trigger_id()


def shown_modal(fake: FakeSlack, *, before: int = 0, timeout: float = 10.0) -> dict[str, Any]:
    """The modal the bot opened with the first views.open after the `before` first ones, as
    the person sees it: once its loading view (if any) was replaced."""
    opened = wait_until(lambda: fake.calls_to("views.open")[before:], what="views.open")[0]
    answer = wait_until(lambda: opened.answer, what="views.open answered")
    assert answer["ok"], f"views.open failed: {answer}"
    view_id = answer["view"]["id"]

    def shown() -> dict[str, Any] | None:
        view = fake.views.get(view_id)
        return view if view and view.get("callback_id") != ids.LOADING_VIEW else None

    return wait_until(shown, timeout=timeout, what="the modal's content")


def slash_command_body(text: str, *, user: str, channel: str, response_url: str) -> str:
    return urlencode(
        {
            "token": "legacy-token",
            "team_id": TEAM_ID,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": ids.TEXT_COMMAND,
            "text": text,
            "api_app_id": APP_ID,
            "response_url": response_url,
            "trigger_id": trigger_id(),
        }
    )


def interaction_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def suggestion_payload(
    query: str, *, user: str, action_id: str = ids.RECIPIENT_ACTION
) -> dict[str, Any]:
    return {
        "type": "block_suggestion",
        "user": {"id": user, "team_id": TEAM_ID},
        "team": {"id": TEAM_ID, "domain": "test"},
        "api_app_id": APP_ID,
        "action_id": action_id,
        "block_id": ids.RECIPIENT_BLOCK,
        "value": query,
        "container": {"type": "view", "view_id": "V0"},
        "view": {"id": "V0", "callback_id": ids.NEW_CONVERSATION_VIEW},
    }


def _selected(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"text": {"type": "plain_text", "text": "x"}, "value": value}


def submission_payload(
    view: dict[str, Any],
    *,
    user: str,
    line_id: str | None,
    recipient: str | None,
    message: str | None,
    view_id: str | None = None,
    quiet_ok: bool = True,
    files: list[dict[str, Any]] | None = None,
    kind: str | None = None,
    recipients: list[str] | None = None,
    send_at: int | None = None,
) -> dict[str, Any]:
    """A view_submission of the new-conversation modal with these values (as a crafted
    client could send them). Quiet hours are waived unless a test asks (quiet_ok=False),
    so that tests pass at any hour; their own test sets the clock. `files`: the pictures
    attached (file objects, as FakeSlack.add_file gives them). `kind` (multi, group) with
    its `recipients` (option values); `send_at`: a Unix time to send at."""
    values = {
        ids.LINE_BLOCK: {
            ids.LINE_ACTION: {"type": "static_select", "selected_option": _selected(line_id)}
        },
        ids.RECIPIENT_BLOCK: {
            ids.RECIPIENT_ACTION: {
                "type": "external_select",
                "selected_option": _selected(recipient),
            }
        },
        ids.MESSAGE_BLOCK: {ids.MESSAGE_ACTION: {"type": "plain_text_input", "value": message}},
        ids.QUIET_OK_BLOCK: {
            ids.QUIET_OK_ACTION: {
                "type": "checkboxes",
                "selected_options": [{"value": "yes"}] if quiet_ok else [],
            }
        },
    }
    if files is not None:
        values[ids.PICTURES_BLOCK] = {ids.PICTURES_ACTION: {"type": "file_input", "files": files}}
    if recipients is not None:
        values[ids.RECIPIENTS_BLOCK] = {
            ids.RECIPIENTS_ACTION: {
                "type": "multi_external_select",
                "selected_options": [o for v in recipients if (o := _selected(v))],
            }
        }
    if send_at is not None:
        values[ids.SEND_AT_BLOCK] = {
            ids.SEND_AT_ACTION: {"type": "datetimepicker", "selected_date_time": send_at}
        }
    if kind is not None:
        view = {**view, "private_metadata": json.dumps({"kind": kind})}
    trigger = trigger_id()
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "test"},
        "user": {"id": user, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "trigger_id": trigger,
        "view": {
            **view,
            "id": view_id or f"V0SUBMIT{trigger.split('.')[0]}",
            "team_id": TEAM_ID,
            "state": {"values": values},
            "hash": "123.abc",
        },
        "response_urls": [],
    }


def button_payload(
    action_id: str, value: str, *, user: str, channel: str, message_ts: str, response_url: str
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "test"},
        "user": {"id": user, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "channel": {"id": channel, "name": "sales"},
        "message": {"ts": message_ts, "text": ""},
        "response_url": response_url,
        "trigger_id": trigger_id(),
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b",
                "value": value,
                "action_ts": str(time.time()),
            }
        ],
    }


class SlackDriver:
    def __init__(self, bot_url: str, fake_slack: FakeSlack, *, secret: str = SIGNING_SECRET):
        self.http = httpx.Client(base_url=bot_url, timeout=10)
        self.fake = fake_slack
        self.verifier = SignatureVerifier(secret)

    def request(
        self,
        body: str,
        *,
        content_type: str = FORM,
        signed: bool = True,
        headers: dict[str, str] | None = None,
    ) -> httpx.Request:
        """The HTTP request Slack would send with this body, signed as Slack signs."""
        all_headers = {"Content-Type": content_type, **(headers or {})}
        if signed:
            timestamp = str(int(time.time()))
            all_headers["X-Slack-Request-Timestamp"] = timestamp
            all_headers["X-Slack-Signature"] = self.verifier.generate_signature(
                timestamp=timestamp, body=body
            )
        return self.http.build_request("POST", "/slack/events", content=body, headers=all_headers)

    def post(self, body: str, **options: Any) -> httpx.Response:
        return self.http.send(self.request(body, **options))

    def slash(self, text: str = "", *, user: str, channel: str = "C0GENERAL") -> httpx.Response:
        response_url = self.fake.response_url(f"{user}-{time.monotonic_ns()}")
        return self.post(
            slash_command_body(text, user=user, channel=channel, response_url=response_url)
        )

    def open_modal(self, *, user: str) -> dict[str, Any]:
        """/text, then the modal the bot opened with views.open (as it shows once loaded)."""
        before = len(self.fake.calls_to("views.open"))
        response = self.slash("", user=user)
        assert response.status_code == 200, response.text
        return shown_modal(self.fake, before=before)

    def interact(self, payload: dict[str, Any]) -> httpx.Response:
        return self.post(interaction_body(payload))

    def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> httpx.Response:
        """Deliver an Events API callback; `retry` sets X-Slack-Retry-Num as Slack's retries do."""
        headers = (
            {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
            if retry
            else {}
        )
        return self.post(
            event_body(event, event_id=event_id), content_type="application/json", headers=headers
        )

    def suggest(
        self, query: str, *, user: str, action_id: str = ids.RECIPIENT_ACTION
    ) -> list[dict[str, Any]]:
        response = self.interact(suggestion_payload(query, user=user, action_id=action_id))
        assert response.status_code == 200, response.text
        return response.json().get("options", [])

    def submit(self, view: dict[str, Any], **fields: Any) -> httpx.Response:
        return self.interact(submission_payload(view, **fields))

    def click(
        self, action_id: str, value: str, *, user: str, channel: str, message_ts: str
    ) -> httpx.Response:
        response_url = self.fake.response_url(f"click-{user}")
        return self.interact(
            button_payload(
                action_id,
                value,
                user=user,
                channel=channel,
                message_ts=message_ts,
                response_url=response_url,
            )
        )


def message_event(
    *,
    channel: str,
    user: str,
    text: str,
    ts: str,
    thread_ts: str | None,
    subtype: str | None = None,
    markup: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A message event as Slack sends it for what a person typed (`text`): its `text`
    escaped, with the composer's rich_text block. What escaping alone does not give (links,
    mentions, emoji, marks) is Slack's `markup` for the text field, with the `blocks` Slack
    sends beside it (the rich_text block's elements; `blocks=[]` for a message without)."""
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": slack_escape(text) if markup is None else markup,
        "blocks": [rich_text_block(text)] if text else [],
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
        "team": TEAM_ID,
        "client_msg_id": f"{ts}-client",
        **fields,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    if subtype:
        event["subtype"] = subtype
    return event


def file_share_event(
    *,
    channel: str,
    user: str,
    text: str,
    ts: str,
    thread_ts: str | None,
    files: list[dict[str, Any]],
) -> dict[str, Any]:
    """A person shares files (from FakeSlack.add_file) with an optional comment, `text`, in
    a channel or thread: Slack's message event of subtype file_share."""
    return message_event(
        channel=channel,
        user=user,
        text=text,
        ts=ts,
        thread_ts=thread_ts,
        subtype="file_share",
        upload=False,
        display_as_bot=False,
        files=files,
    )


def unfurl_edit_event(original: dict[str, Any], *, url: str) -> dict[str, Any]:
    """The message_changed Slack sends when it unfurls a link in a message: the text is the
    same, an attachment with the preview is added (no `edited` mark: nobody edited it)."""
    message = {
        key: original[key]
        for key in ("type", "user", "text", "blocks", "ts", "thread_ts", "team", "client_msg_id")
        if key in original
    }
    message["attachments"] = [
        {"from_url": url, "original_url": url, "title": "Preview", "fallback": "Preview", "id": 1}
    ]
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": original["channel"],
        "ts": f"{float(original['ts']) + 0.5:.6f}",
        "event_ts": f"{float(original['ts']) + 0.5:.6f}",
        "channel_type": "channel",
        "message": message,
        "previous_message": {k: v for k, v in message.items() if k != "attachments"},
    }


def event_body(event: dict[str, Any], *, event_id: str | None = None) -> str:
    return json.dumps(
        {
            "token": "legacy-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0BOT", "is_bot": True}],
        }
    )
