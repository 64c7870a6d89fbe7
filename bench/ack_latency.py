"""Acknowledgement latency of the Slack entry points, measured over loopback HTTP.

Run: uv run python -m bench.ack_latency [--requests N] [--database-url URL]

Starts the real ASGI app (with its workers) against the loopback fakes, then times signed
requests as Slack sends them: /text, an options request, a view submission. Prints p50,
p99 and max per entry point and concurrency, next to a bare ASGI app answering 200 on
the same server stack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from bot.db import create_db_engine, upgrade_database
from tests.conftest import make_settings
from tests.factories import make_contact, make_line
from tests.fakes.servers import BackgroundServer, bind_loopback
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.slack_driver import (
    SlackDriver,
    interaction_body,
    slash_command_body,
    submission_payload,
    suggestion_payload,
    wait_until,
)

USER = "U0BENCH"


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(client: httpx.AsyncClient, request: httpx.Request) -> float:
    start = time.perf_counter()
    response = await client.send(request)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    return elapsed * 1000


async def run_load(build, count: int, concurrency: int) -> list[float]:
    """`build(i)` makes the i-th request; `concurrency` clients send them."""
    samples: list[float] = []
    queue = list(range(count))
    async with httpx.AsyncClient(
        timeout=10, limits=httpx.Limits(max_connections=concurrency)
    ) as client:

        async def worker() -> None:
            while queue:
                samples.append(await timed(client, build(queue.pop())))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples


def report(name: str, concurrency: int, samples: list[float]) -> str:
    return (
        f"| {name} | {concurrency} | {len(samples)} | {statistics.median(samples):.1f} | "
        f"{percentile(samples, 99):.1f} | {max(samples):.1f} |"
    )


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    fake_slack, fake_twilio = FakeSlack(), FakeTwilio()
    slack_server = BackgroundServer(fake_slack.app).start()
    twilio_server = BackgroundServer(fake_twilio.app).start()
    fake_slack.url, fake_twilio.url = slack_server.url, twilio_server.url

    workdir = Path(tempfile.mkdtemp(prefix="textbot-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    upgrade_database(database_url)
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()
    settings = make_settings(database_url, fake_slack, fake_twilio, f"http://127.0.0.1:{port}")
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": settings.slack_bot_token or "",
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret or "",
        "SLACK_API_URL": settings.slack_api_url,
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid or "",
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token or "",
        "TWILIO_API_URL": settings.twilio_api_url,
        "PUBLIC_URL": settings.public_url or "",
        "DATABASE_URL": database_url,
    }
    # The bot in a process of its own, as in production, so the load client does not
    # share its interpreter.
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bot_url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(bot_url), timeout=30, what="the bot to serve")
    engine = create_db_engine(database_url)
    with Session(engine) as session, session.begin():
        line = make_line(session, grants=(USER,))
        line_id = str(line.id)
        for n in range(100):
            make_contact(session, phone=f"+120255501{n:02d}", name=f"Customer {n}")
    engine.dispose()

    bare = BackgroundServer(
        Starlette(routes=[Route("/slack/events", lambda r: Response("ok"), methods=["POST"])])
    ).start()

    def requests_for(url: str) -> dict[str, Callable[[int], httpx.Request]]:
        driver = SlackDriver(url, fake_slack)
        view = {"type": "modal", "callback_id": "new_conversation", "blocks": []}

        def signed(body_of: Callable[[int], str]) -> Callable[[int], httpx.Request]:
            return lambda i: driver.request(body_of(i))

        run = time.time_ns()
        return {
            "/text": signed(
                lambda i: slash_command_body(
                    "help", user=USER, channel="C0GENERAL", response_url=fake_slack.response_url()
                )
            ),
            "options": signed(lambda i: interaction_body(suggestion_payload("cust", user=USER))),
            "view submission": signed(
                lambda i: interaction_body(
                    submission_payload(
                        view,
                        user=USER,
                        line_id=line_id,
                        recipient=f"new:+12025550{100 + i % 100}",
                        message="Benchmark",
                        view_id=f"V{run}-{url[-5:]}-{i}",
                    )
                )
            ),
        }

    lines = [
        "| entry point | clients | requests | p50 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for concurrency in (1, 16, 64):
        for name, build in requests_for(bot_url).items():
            samples = asyncio.run(run_load(build, args.requests, concurrency))
            lines.append(report(name, concurrency, samples))
        bare_build = requests_for(bare.url)["/text"]
        lines.append(
            report(
                "bare ASGI 200 (baseline)",
                concurrency,
                asyncio.run(run_load(bare_build, args.requests, concurrency)),
            )
        )
    print("\n".join(lines))
    process.terminate()
    process.wait(10)
    bare.stop()
    slack_server.stop()
    twilio_server.stop()


if __name__ == "__main__":
    main()
