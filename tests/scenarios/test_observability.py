"""/healthz and /metrics report the database and the work waiting in it."""

from __future__ import annotations

import httpx
from sqlmodel import select

from models.tables import Delivery
from tests.conftest import Bot
from tests.factories import make_line
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
        "mirror_backlog": 0,
    }

    bot.slack.slash("Sales 2025550150 Hello", user="U0ALICE")
    bot.twilio.text(from_="+12025550151", to="+12025550100", body="Hi!")

    def settled() -> bool:
        with bot.session() as session:
            delivery = session.exec(select(Delivery)).first()
        return delivery is not None and delivery.provider_sid is not None

    wait_until(settled, what="the text sent")
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
