"""The one ASGI app: Slack's /slack/events, the Twilio webhooks and /healthz."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

import handlers.twilio
from bot.runtime import SIMULATOR_PATH, Runtime

logger = logging.getLogger(__name__)


def create_asgi_app(runtime: Runtime, *, start_workers: bool = True) -> Starlette:
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        # Bolt's App.dispatch is synchronous: run it off the event loop so one request
        # never stalls the others.
        bolt_response = await run_in_threadpool(
            runtime.bolt_app.dispatch, to_bolt_request(request, body)
        )
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        def database_answers() -> bool:
            try:
                with runtime.database.read_engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return True
            except Exception:
                logger.exception("health check: database unreachable")
                return False

        ok = await run_in_threadpool(database_answers)
        return JSONResponse({"ok": ok, "database": ok}, status_code=200 if ok else 503)

    routes: list[BaseRoute] = [
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    routes += handlers.twilio.routes(
        runtime.deps, auth_token=runtime.twilio_auth_token, public_url=runtime.public_url
    )
    if runtime.simulator is not None:
        routes.append(Mount(SIMULATOR_PATH, app=runtime.simulator.app))

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
