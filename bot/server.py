"""The one ASGI app: Slack's /slack/events, the Twilio webhooks, /healthz and /metrics, and
with no Twilio credentials the simulated carrier's API and the dev phone at /phone."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.starlette.handler import to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

import handlers.twilio
from bot.metrics import render_metrics
from bot.runtime import SIMULATOR_PATH, Runtime
from bot.slack_requests import DispatchLanes, SlackRequestGate
from models.stats import Stats, read_stats

logger = logging.getLogger(__name__)


def run_server(app: Starlette, *, host: str, port: int, access_log: bool) -> None:
    """Serve until stopped (the benchmarks' baseline app is served the same way)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)


def bearer_token_matches(request: Request, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>` (compared in constant
    time, so the answer's timing tells nothing about the token)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("latin-1"), token.encode()
    )


def create_asgi_app(runtime: Runtime, *, start_workers: bool = True) -> Starlette:
    slack_gate = SlackRequestGate(runtime.settings.slack_signing_secret)
    lanes = DispatchLanes()

    async def slack_events(request: Request) -> Response:
        bolt_request = await slack_gate.accept(request)
        if isinstance(bolt_request, Response):
            return bolt_request
        bolt_response = await lanes.dispatch(runtime.bolt_app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    def stats() -> Stats | None:
        try:
            with runtime.database.read_session() as session:
                return read_stats(session=session)
        except Exception:
            logger.exception("health check: database unreachable")
            return None

    async def healthz(_: Request) -> Response:
        """Database reachable, and how much work is waiting."""
        current = await run_in_threadpool(stats)
        if current is None:
            return JSONResponse({"ok": False, "database": False}, status_code=503)
        return JSONResponse(
            {
                "ok": True,
                "database": True,
                "inbound_backlog": current.inbound_backlog,
                "outbox_due": current.outbox_due,
                "unconfirmed_deliveries": current.unconfirmed_deliveries,
                "held_conversations": current.held_conversations,
                "mirror_backlog": current.mirror_backlog,
            }
        )

    async def readyz(_: Request) -> Response:
        """For a load balancer: 200 when this process can take work, else 503 and why."""
        checks = await run_in_threadpool(runtime.readiness)
        ready = all(checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    metrics_token = runtime.settings.metrics_token

    async def metrics(request: Request) -> Response:
        """Prometheus text format; with METRICS_TOKEN set, only for that bearer token."""
        if metrics_token and not bearer_token_matches(request, metrics_token):
            return PlainTextResponse(
                "a bearer token is required",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        current = await run_in_threadpool(stats)
        if current is None:
            return Response("database unreachable", status_code=503)
        return Response(render_metrics(current), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if runtime.settings.slack_over_http:
        # In Socket Mode alone nothing Slack-shaped is taken over HTTP: the port is public
        # for Twilio's webhooks, and an unverified request could text or read contacts.
        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    routes += handlers.twilio.routes(
        runtime.deps, auth_token=runtime.twilio_auth_token, public_url=runtime.public_url
    )
    if runtime.simulator is not None:
        routes.append(Mount(SIMULATOR_PATH, app=runtime.simulator.app))
    if runtime.dev_phone is not None:
        routes += runtime.dev_phone.routes()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if start_workers:
            runtime.start()
        try:
            yield
        finally:
            if start_workers:
                runtime.stop()

    return Starlette(routes=routes, lifespan=lifespan)
