"""Fixtures: databases (SQLite always, PostgreSQL when it answers), the loopback fakes of
Slack and Twilio, and the real bot served over HTTP as in production."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import Session, SQLModel, select

from bot.db import create_db_engine, upgrade_database
from bot.runtime import Runtime
from bot.server import create_asgi_app
from bot.settings import Settings
from models.tables import InboundWebhook
from tests.fakes.servers import BackgroundServer, bind_loopback
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, TwilioDriver
from tests.slack_driver import SIGNING_SECRET, SlackDriver, wait_until

POSTGRES_URL = os.environ.get(
    "TEXTBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("TEXTBOT_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A schema of its own in the PostgreSQL test database, migrated once."""
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(plain, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (TEXTBOT_REQUIRE_POSTGRES=1) but: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    schema = f"textbot_test_{os.getpid()}"
    admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    upgrade_database(url)
    yield url
    admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "textbot.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_schema_url")
    engine = create_db_engine(url)
    with engine.begin() as connection:
        tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    server = BackgroundServer(fake.app).start()
    fake.url = server.url
    yield fake
    server.stop()
    # Slack refusing a payload is a bug even when the test's own checks pass; a test that
    # provokes a refusal takes it (fake.take_refusals()).
    refused = fake.take_refusals()
    assert not refused, f"Slack refused what the bot sent: {refused}"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    server = BackgroundServer(fake.app).start()
    fake.url = server.url
    yield fake
    server.stop()


@dataclass
class Bot:
    url: str
    runtime: Runtime
    slack: SlackDriver
    fake_slack: FakeSlack
    fake_twilio: FakeTwilio
    twilio: TwilioDriver

    def session(self) -> Session:
        return self.runtime.database.session()

    def wait_routed(self) -> None:
        """Until the inbound router has taken every staged text (the webhook only stages)."""

        def nothing_staged() -> bool:
            with self.runtime.database.read_session() as session:
                return session.exec(select(func.count()).select_from(InboundWebhook)).one() == 0

        wait_until(nothing_staged, what="the inbound texts routed")


def make_settings(
    database_url: str,
    fake_slack: FakeSlack,
    fake_twilio: FakeTwilio,
    public_url: str,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake_slack.api_url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_api_url": fake_twilio.url,
        "public_url": public_url,
        "database_url": database_url,
        "dispatcher_poll_seconds": 0.2,
        "slack_post_interval_seconds": 0,
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


@contextmanager
def running_bot(
    database_url: str, fake_slack: FakeSlack, fake_twilio: FakeTwilio, **settings: Any
) -> Iterator[Bot]:
    """The real ASGI app on a loopback port, its workers running, talking to the fakes;
    `settings` override the test settings."""
    sock = bind_loopback()
    port = sock.getsockname()[1]
    runtime = Runtime(
        make_settings(
            database_url, fake_slack, fake_twilio, f"http://127.0.0.1:{port}", **settings
        ),
        port=port,
    )
    server = BackgroundServer(create_asgi_app(runtime), sock).start()
    try:
        yield Bot(
            server.url,
            runtime,
            SlackDriver(server.url, fake_slack),
            fake_slack,
            fake_twilio,
            TwilioDriver(server.url),
        )
    finally:
        server.stop()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Settings the bot fixture runs with besides the test defaults; override to change."""
    return {}


@pytest.fixture
def bot(
    database_url: str,
    fake_slack: FakeSlack,
    fake_twilio: FakeTwilio,
    settings_overrides: dict[str, object],
) -> Iterator[Bot]:
    """The real ASGI app on a loopback port, its workers running, talking to the fakes."""
    with running_bot(database_url, fake_slack, fake_twilio, **settings_overrides) as bot:
        yield bot
