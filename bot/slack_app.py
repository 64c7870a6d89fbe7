"""The Bolt app: Slack clients, listeners, and the one error handler."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

import handlers.slack
from bot.db import mark_background_thread
from bot.settings import Settings
from handlers.deps import HandlerDeps

logger = logging.getLogger(__name__)


def build_web_client(settings: Settings) -> WebClient:
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_bolt_app(settings: Settings, client: WebClient, deps: HandlerDeps) -> App:
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "socket-mode-has-no-signing",
        # Listeners answer from the request thread (no 10 ms ack polling); the slow part
        # of a listener runs as a lazy listener on the executor after the response.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(
            16, thread_name_prefix="slack-lazy", initializer=mark_background_thread
        ),
        request_verification_enabled=not settings.socket_mode,
    )
    handlers.slack.register(app, deps)

    @app.error
    def handle_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        logger.exception("Slack listener failed (%s)", body.get("type"), exc_info=error)
        return BoltResponse(status=500, body="")

    return app
