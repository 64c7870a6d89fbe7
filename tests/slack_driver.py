"""Drives the bot as Slack does: signed HTTP requests with real-shaped payloads."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from handlers import ids
from tests.fakes.slack import TEAM_ID, FakeSlack

SIGNING_SECRET = "test-signing-secret"
APP_ID = "A0TEXTBOT"

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


class SlackDriver:
    def __init__(self, bot_url: str, fake_slack: FakeSlack, *, secret: str = SIGNING_SECRET):
        self.http = httpx.Client(base_url=bot_url, timeout=10)
        self.fake = fake_slack
        self.verifier = SignatureVerifier(secret)
        self._triggers = 0

    def post(
        self,
        body: str,
        *,
        content_type: str,
        signed: bool = True,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        timestamp = str(int(time.time()))
        all_headers = {"Content-Type": content_type, **(headers or {})}
        if signed:
            all_headers["X-Slack-Request-Timestamp"] = timestamp
            all_headers["X-Slack-Signature"] = self.verifier.generate_signature(
                timestamp=timestamp, body=body
            )
        return self.http.post("/slack/events", content=body, headers=all_headers)

    def _trigger_id(self) -> str:
        self._triggers += 1
        return f"{self._triggers}.1234.trigger"

    # --- slash commands -------------------------------------------------------------------
    def slash(self, text: str = "", *, user: str, channel: str = "C0GENERAL") -> httpx.Response:
        form = {
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
            "response_url": self.fake.response_url(f"{user}-{self._triggers}"),
            "trigger_id": self._trigger_id(),
        }
        return self.post(urlencode(form), content_type="application/x-www-form-urlencoded")

    def open_modal(self, *, user: str) -> dict[str, Any]:
        """/text, then the modal the bot opened with views.open."""
        before = len(self.fake.calls_to("views.open"))
        response = self.slash("", user=user)
        assert response.status_code == 200, response.text
        calls = wait_until(lambda: self.fake.calls_to("views.open")[before:], what="views.open")
        return calls[0].params["view"]

    # --- interactivity ----------------------------------------------------------------------
    def interact(self, payload: dict[str, Any]) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, content_type="application/x-www-form-urlencoded")

    def suggest(
        self, query: str, *, user: str, action_id: str = ids.RECIPIENT_ACTION
    ) -> list[dict[str, Any]]:
        response = self.interact(
            {
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
        )
        assert response.status_code == 200, response.text
        return response.json().get("options", [])

    def submit(
        self,
        view: dict[str, Any],
        *,
        user: str,
        line_id: str | None,
        recipient: str | None,
        message: str | None,
        view_id: str | None = None,
    ) -> httpx.Response:
        """Submit the new-conversation modal with these values (as a crafted client could)."""
        values: dict[str, Any] = {
            ids.LINE_BLOCK: {
                ids.LINE_ACTION: {
                    "type": "static_select",
                    "selected_option": {
                        "text": {"type": "plain_text", "text": "x"},
                        "value": line_id,
                    }
                    if line_id is not None
                    else None,
                }
            },
            ids.RECIPIENT_BLOCK: {
                ids.RECIPIENT_ACTION: {
                    "type": "external_select",
                    "selected_option": {
                        "text": {"type": "plain_text", "text": "x"},
                        "value": recipient,
                    }
                    if recipient is not None
                    else None,
                }
            },
            ids.MESSAGE_BLOCK: {ids.MESSAGE_ACTION: {"type": "plain_text_input", "value": message}},
        }
        submitted = {
            **view,
            "id": view_id or f"V0SUBMIT{self._trigger_id().split('.')[0]}",
            "team_id": TEAM_ID,
            "state": {"values": values},
            "hash": "123.abc",
        }
        return self.interact(
            {
                "type": "view_submission",
                "team": {"id": TEAM_ID, "domain": "test"},
                "user": {"id": user, "team_id": TEAM_ID},
                "api_app_id": APP_ID,
                "trigger_id": self._trigger_id(),
                "view": submitted,
                "response_urls": [],
            }
        )

    def click(
        self, action_id: str, value: str, *, user: str, channel: str, message_ts: str
    ) -> httpx.Response:
        return self.interact(
            {
                "type": "block_actions",
                "team": {"id": TEAM_ID, "domain": "test"},
                "user": {"id": user, "team_id": TEAM_ID},
                "api_app_id": APP_ID,
                "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
                "channel": {"id": channel, "name": "sales"},
                "message": {"ts": message_ts, "text": ""},
                "response_url": self.fake.response_url(f"click-{user}"),
                "trigger_id": self._trigger_id(),
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
        )
