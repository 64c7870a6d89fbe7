"""The Bolt app: Slack clients, listeners, and the one error handler."""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

import handlers.slack
from bot.db import mark_background_thread
from bot.settings import Settings
from bot.slack_client import KeepAliveWebClient
from handlers.deps import HandlerDeps

logger = logging.getLogger(__name__)


def build_web_client(settings: Settings) -> WebClient:
    return KeepAliveWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


class _WithoutTokenUnusedWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and, given a client (built
    from that same token), warns at every start that the token is unused: true, and no
    news to anyone."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


BOLT_LOGGER = logging.getLogger("slack_bolt")
BOLT_LOGGER.addFilter(_WithoutTokenUnusedWarning())


def build_bolt_app(settings: Settings, client: WebClient, deps: HandlerDeps) -> App:
    app = App(
        # Without a name Bolt takes its caller's file name from inspect.stack(), which reads
        # the source of every frame: 0.27 s of every start.
        name="textbot",
        client=client,
        # Bolt's loggers take their level from this one (the SDKs log warnings only, see
        # bot.logs), not from the root logger as they otherwise would.
        logger=BOLT_LOGGER,
        # Verification stays on in every mode: Bolt skips it only for Socket Mode envelopes,
        # and with no signing secret (Socket Mode alone) an unknowable one refuses anything
        # that arrives over HTTP, should the route ever be served.
        signing_secret=settings.slack_signing_secret or secrets.token_urlsafe(32),
        # Listeners answer from the request thread (no 10 ms ack polling); the slow part
        # of a listener runs as a lazy listener on the executor after the response.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(
            16, thread_name_prefix="slack-lazy", initializer=mark_background_thread
        ),
    )
    handlers.slack.register(app, deps)

    @app.error
    def handle_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        logger.exception("Slack listener failed (%s)", body.get("type"), exc_info=error)
        return BoltResponse(status=500, body="")

    return app
