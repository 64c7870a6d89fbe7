"""/healthz and /metrics report the database and the work waiting in it; /readyz says
whether the process can take work."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from alembic import command
from sqlmodel import select

from bot.db import alembic_config
from models.tables import Delivery
from tests.conftest import Bot, running_bot
from tests.factories import make_contact, make_line, make_text
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.slack_driver import wait_until


def test_healthz_and_metrics_follow_the_work(bot: Bot) -> None:
    with bot.session() as session, session.begin():
        make_line(session, grants=("U0ALICE",))
    health = httpx.get(f"{bot.url}/healthz").json()
    assert health == {
        "ok": True,
        "database": True,
        "inbound_backlog": 0,
        "outbox_due": 0,
        "unconfirmed_deliveries": 0,
        "held_conversations": 0,
        "mirror_backlog": 0,
    }

    bot.slack.slash("Sales 2025550150 Hello", user="U0ALICE")
    bot.twilio.text(from_="+12025550151", to="+12025550100", body="Hi!")

    def settled() -> bool:
        with bot.session() as session:
            delivery = session.exec(select(Delivery)).first()
        return delivery is not None and delivery.provider_sid is not None

    wait_until(settled, what="the text sent")
    bot.wait_routed()  # the customer's text is in its conversation
    wait_until(
        lambda: "textbot_mirror_backlog 0.0" in httpx.get(f"{bot.url}/metrics").text,
        what="mirrored",
    )
    metrics = httpx.get(f"{bot.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'textbot_deliveries{status="queued"} 1.0' in metrics.text
    assert "textbot_inbound_messages_total 1.0" in metrics.text
    assert "textbot_outbox_due 0.0" in metrics.text
    assert "textbot_mirror_lag_seconds 0.0" in metrics.text


METRICS_TOKEN = "metrics-s3cret"


@pytest.fixture
def guarded_bot(database_url: str, fake_slack: FakeSlack, fake_twilio: FakeTwilio) -> Iterator[Bot]:
    with running_bot(database_url, fake_slack, fake_twilio, metrics_token=METRICS_TOKEN) as bot:
        yield bot


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {METRICS_TOKEN}", "Bearer", f"Bearer {METRICS_TOKEN}x", "²"],
)
def test_metrics_with_a_token_refuse_requests_without_it(
    guarded_bot: Bot, authorization: str | None
) -> None:
    headers = {"Authorization": authorization.encode("latin-1")} if authorization else {}
    response = httpx.get(f"{guarded_bot.url}/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "textbot_" not in response.text


def test_metrics_with_a_token_answer_it_and_healthz_stays_open(guarded_bot: Bot) -> None:
    for scheme in ("Bearer", "bearer"):
        response = httpx.get(
            f"{guarded_bot.url}/metrics", headers={"Authorization": f"{scheme} {METRICS_TOKEN}"}
        )
        assert response.status_code == 200
        assert "textbot_outbox_due 0.0" in response.text
    assert httpx.get(f"{guarded_bot.url}/healthz").json()["ok"] is True


JANE = "+12025550123"


def test_healthz_counts_unconfirmed_sends_and_the_phones_waiting_behind_them(bot: Bot) -> None:
    bot.fake_twilio.hang_next_send_to(JANE, 3, logged=True)  # Twilio slow to answer
    with bot.session() as session, session.begin():
        line = make_line(session, grants=("U0ALICE",))
        jane = make_contact(session, phone=JANE)
        make_text(session, line=line, contact=jane, body="Your table is ready")
        make_text(session, line=line, contact=jane, body="It is by the window")
    bot.runtime.wake_workers()

    def health() -> dict[str, object]:
        return httpx.get(f"{bot.url}/healthz").json()  # type: ignore[no-any-return]

    waiting = wait_until(
        lambda: (h := health())["unconfirmed_deliveries"] and h, what="the send in flight"
    )
    assert waiting["unconfirmed_deliveries"] == 1
    assert waiting["held_conversations"] == 1  # the second text waits for the first
    assert waiting["outbox_due"] == 1
    settled = wait_until(
        lambda: (h := health())["outbox_due"] == 0 and not h["unconfirmed_deliveries"] and h,
        what="both texts sent",
    )
    assert settled["held_conversations"] == 0
    assert [m.body for m in bot.fake_twilio.sent_to(JANE)] == [
        "Your table is ready",
        "It is by the window",
    ]
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert "textbot_unconfirmed_deliveries 0.0" in metrics
    assert "textbot_held_conversations 0.0" in metrics


def test_readyz_says_whether_the_process_can_take_work(bot: Bot, database_url: str) -> None:
    ready = httpx.get(f"{bot.url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "database": True, "migrations": True, "workers": True}

    # A release deployed before `textbot db upgrade` ran: the database is behind it.
    config = alembic_config(database_url)
    command.stamp(config, "0011")
    try:
        behind = httpx.get(f"{bot.url}/readyz")
    finally:
        command.stamp(config, "head")
    assert behind.status_code == 503
    assert behind.json() == {"ready": False, "database": True, "migrations": False, "workers": True}

    bot.runtime.dispatcher_loop.stop()  # a worker that is not running
    stopped = httpx.get(f"{bot.url}/readyz")
    assert stopped.status_code == 503
    assert stopped.json()["workers"] is False
    assert httpx.get(f"{bot.url}/healthz").status_code == 200  # alive, if not ready
