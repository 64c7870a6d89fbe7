"""What /slack/events checks before Bolt sees a request: its size, its signature, and that
its body is what Slack sends (UTF-8; a JSON object, or a form whose `payload` is one).

Bolt would answer 500 to a body it cannot decode or parse, and its own signature check
logs the whole body of every unsigned request at INFO. Here nothing of the body is logged,
and only a signed, well-formed request reaches Bolt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from handlers.request_body import BodyTooLarge, read_body
from handlers.slack.payload_shape import shape_problem

logger = logging.getLogger(__name__)

# Options requests (suggestions as a user types) come in bursts and are nothing but
# Bolt's dispatch and a read, about a millisecond of CPU: more threads running them at once
# only queue for the GIL and make each one slower (docs/benchmarks.md, section 1). The
# other requests write, or wait for Slack's views.open, and keep the shared thread pool.
SUGGESTION_THREADS = 2

# Slack's own requests are far smaller (a modal's whole state is a few hundred KB at most).
MAX_SLACK_BODY_BYTES = 1024 * 1024
_TIMESTAMP_DIGITS = 12


def _refuse(status: int, reason: str) -> Response:
    logger.warning("refused a request to /slack/events (%s): %s", status, reason)
    return JSONResponse({"error": reason}, status_code=status)


class SlackRequestGate:
    def __init__(self, signing_secret: str | None):
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None

    async def accept(self, request: Request) -> BoltRequest | Response:
        """The request for Bolt, or the 4xx answer it gets instead."""
        try:
            body = await read_body(request, limit=MAX_SLACK_BODY_BYTES)
        except BodyTooLarge:
            return _refuse(413, f"the body is over {MAX_SLACK_BODY_BYTES} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "the body is not UTF-8")
        if not self._signed(text, request):
            return _refuse(401, "invalid request signature")
        try:
            # Bolt parses the body here, and reads ids out of it as out of a JSON object.
            bolt_request = BoltRequest(
                body=text,
                query=request.query_params,  # type: ignore[arg-type]
                headers=request.headers,  # type: ignore[arg-type]
            )
        except Exception as exc:  # the body is signed: what fails here is its shape
            return _refuse(400, f"the body is not a Slack request ({type(exc).__name__})")
        if not isinstance(bolt_request.body, dict):
            return _refuse(400, "the body is not a Slack request (not a JSON object)")
        problem = shape_problem(bolt_request.body)
        if problem:
            return _refuse(400, f"the body is not a Slack request ({problem})")
        return bolt_request

    def _signed(self, body: str, request: Request) -> bool:
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if self._verifier is None or not signature:
            return False
        # The verifier raises on a timestamp that is not an integer.
        if not (
            timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _TIMESTAMP_DIGITS
        ):
            return False
        return self._verifier.is_valid(body, timestamp, signature)


def is_suggestion(body: dict[str, Any]) -> bool:
    return body.get("type") == "block_suggestion"


class DispatchLanes:
    """Runs Bolt's (synchronous) dispatch off the event loop: options requests a few at a
    time in a lane of their own, the others in the shared thread pool."""

    def __init__(self) -> None:
        self._suggestions: CapacityLimiter | None = None

    async def dispatch(
        self, dispatch: Callable[[BoltRequest], BoltResponse], request: BoltRequest
    ) -> BoltResponse:
        if not is_suggestion(request.body):
            return await anyio.to_thread.run_sync(dispatch, request)
        if self._suggestions is None:  # made in the event loop that uses it
            self._suggestions = CapacityLimiter(SUGGESTION_THREADS)
        return await anyio.to_thread.run_sync(dispatch, request, limiter=self._suggestions)
