"""What a benchmark runs against: the fakes on loopback, databases, `textbot serve`
processes, and the bare ASGI app that is every figure's baseline."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.db import upgrade_database
from tests.fakes.servers import BackgroundServer, bind_loopback
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.processes import BotProcess
from tests.slack_driver import wait_until

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_SCHEMA = "textbot_bench"


class PacedSlack(FakeSlack):
    """Slack's pace for posting: about one message per second per channel; faster posts get
    429 with Retry-After, as Slack answers."""

    def __init__(self, per_channel_interval: float | None = None) -> None:
        super().__init__()
        self.interval = per_channel_interval
        self._next_post: dict[str, float] = {}
        self.rate_limited = 0

    async def _api(self, request: Request) -> Response:
        if self.interval and request.path_params["method"] == "chat.postMessage":
            channel = (await self._params(request)).get("channel", "")
            now = time.monotonic()
            allowed = self._next_post.get(channel, 0.0)
            if now < allowed:
                self.rate_limited += 1
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"},
                    status_code=429,
                    headers={"Retry-After": str(max(1, round(allowed - now)))},
                )
            self._next_post[channel] = now + self.interval
        return await super()._api(request)


class SlowTwilio(FakeTwilio):
    """Twilio taking `delay` seconds to accept each message, and noting when it did."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.accepted_at: list[float] = []

    async def _create(self, request: Request) -> JSONResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        response = await super()._create(request)
        if response.status_code == 201:
            self.accepted_at.append(time.monotonic())
        return response


@dataclass
class Fakes:
    slack: FakeSlack
    twilio: FakeTwilio
    servers: list[BackgroundServer] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def serve(
        cls, slack: FakeSlack | None = None, twilio: FakeTwilio | None = None
    ) -> Iterator[Fakes]:
        fakes = cls(slack or FakeSlack(), twilio or FakeTwilio())
        for fake in (fakes.slack, fakes.twilio):
            server = BackgroundServer(fake.app).start()
            fake.url = server.url
            fakes.servers.append(server)
        try:
            yield fakes
        finally:
            for server in fakes.servers:
                server.stop()


def sqlite_database(workdir: Path, name: str = "bench") -> str:
    url = f"sqlite:///{workdir / f'{name}.db'}"
    upgrade_database(url)
    return url


def postgres_available() -> bool:
    try:
        psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def postgres_database() -> str:
    """A fresh schema of its own in the `test` database."""
    with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {BENCH_SCHEMA} CASCADE")
        admin.execute(f"CREATE SCHEMA {BENCH_SCHEMA}")
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{BENCH_SCHEMA}"
    upgrade_database(url)
    return url


def drop_postgres_schema() -> None:
    with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {BENCH_SCHEMA} CASCADE")


@contextlib.contextmanager
def bots(
    workdir: Path, database_url: str, fakes: Fakes, count: int = 1, **settings: str
) -> Iterator[list[BotProcess]]:
    """`count` processes of `textbot serve` on one database, each with its own port."""
    started: list[BotProcess] = []
    try:
        for _ in range(count):
            started.append(BotProcess(workdir, database_url, fakes.slack, fakes.twilio, **settings))
        yield started
    finally:
        for bot in started:
            bot.stop()


@contextlib.contextmanager
def bare_app() -> Iterator[str]:
    """The baseline: an ASGI app that answers 200 to any POST, on the same server stack
    (uvicorn, same options) in a process of its own."""
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.post(url + "/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=20, what="the bare app")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def resident_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def json_of(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()
