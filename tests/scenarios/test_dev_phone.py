"""The dev phone in a real browser: the bot served with no Twilio credentials (its own
simulated carrier and /phone page), fake Slack, and Debian's headless Chromium driven by
Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.runtime import Runtime
from bot.server import create_asgi_app
from bot.settings import Settings
from bot.sms_gateway import SendFailed
from handlers import ids
from models.tables import Contact, Conversation, Delivery, DeliveryStatus, OptOut
from tests.factories import make_line
from tests.fakes.servers import BackgroundServer, bind_loopback
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.slack_driver import SIGNING_SECRET, SlackDriver, wait_until

CHROMIUM = Path(os.environ.get("TEXTBOT_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps dialling Google's hosts, which a
# closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 10_000

ALICE = "U0ALICE"
SALES = "+12025550100"
CHANNEL = "C0SALES"
JANE = "+12025550150"
LANDLINE = "+12025550199"  # the DEV_PHONE_LANDLINES default


def _no_browser(reason: str) -> None:
    if os.environ.get("TEXTBOT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"a browser is required (TEXTBOT_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(f"{reason} (`make test` installs Debian's chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module; each test opens its own page."""
    if not CHROMIUM.exists():
        _no_browser(f"there is no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@dataclass
class DevPhoneBot:
    url: str
    runtime: Runtime
    slack: SlackDriver
    fake_slack: FakeSlack
    line_id: int

    def session(self) -> Session:
        return self.runtime.database.session()

    def text_from_slack(self, recipient: str, message: str) -> dict[str, Any]:
        """Alice sends a text from the /text modal; returns Slack's answer to the submission."""
        view = self.slack.open_modal(user=ALICE)
        response = self.slack.submit(
            view, user=ALICE, line_id=str(self.line_id), recipient=recipient, message=message
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def thread(self) -> list[str]:
        """The texts in the first conversation's Slack thread, parent first."""
        with self.session() as session:
            conversation = session.exec(select(Conversation).order_by(Conversation.id)).first()
        if conversation is None or not conversation.slack_thread_ts:
            return []
        ts = conversation.slack_thread_ts
        return [m.all_text for m in self.fake_slack.thread(CHANNEL, ts)]


@pytest.fixture
def dev_bot(tmp_path: Path, sqlite_template: Path, fake_slack: FakeSlack) -> Iterator[DevPhoneBot]:
    """The real app on a loopback port with its workers, and no Twilio settings at all."""
    database = tmp_path / "textbot.db"
    shutil.copy(sqlite_template, database)
    sock = bind_loopback()
    port = sock.getsockname()[1]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.api_url,
        database_url=f"sqlite:///{database}",
        dispatcher_poll_seconds=0.2,
    )
    runtime = Runtime(settings, port=port)
    assert runtime.simulator is not None and runtime.dev_phone is not None
    with runtime.database.session() as session, session.begin():
        line_id = make_line(session, number=SALES, channel_id=CHANNEL, grants=(ALICE,)).id
    assert line_id is not None
    server = BackgroundServer(create_asgi_app(runtime), sock).start()
    yield DevPhoneBot(server.url, runtime, SlackDriver(server.url, fake_slack), fake_slack, line_id)
    server.stop()


@pytest.fixture
def page(browser: Any, dev_bot: DevPhoneBot) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{dev_bot.url}/phone")
    page.locator("#connection.live").wait_for()
    yield page
    context.close()


def _handset(page: Any, number: str) -> Any:
    return page.locator(f'.handset[data-phone="{number}"]')


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def test_a_text_from_slack_appears_on_the_handset_live(page, dev_bot: DevPhoneBot) -> None:
    expect = _expect()
    expect(page.locator("#empty")).to_be_visible()
    answer = dev_bot.text_from_slack(f"new:{JANE}", "Hi Jane, your order is ready")
    assert answer["response_action"] == "update", answer

    handset = _handset(page, JANE)
    expect(handset.locator(".number")).to_have_text("+1 202-555-0150")
    expect(handset.locator(".landline")).to_be_hidden()
    expect(handset.locator(".banner.optout")).to_be_hidden()
    bubble = handset.locator(".bubble.from-line")
    expect(bubble.locator(".body")).to_have_text("Hi Jane, your order is ready")
    expect(bubble.locator(".status")).to_have_text("delivered ✓", timeout=WAIT_MS)
    expect(page.locator("#empty")).to_be_hidden()


def test_a_reply_typed_on_the_page_reaches_the_slack_thread(page, dev_bot: DevPhoneBot) -> None:
    expect = _expect()
    dev_bot.text_from_slack(f"new:{JANE}", "Can we move your appointment to Friday?")
    handset = _handset(page, JANE)
    expect(handset.locator(".bubble.from-line .body")).to_have_count(1)

    handset.locator("input[name=body]").fill("Friday works, thanks!")
    handset.locator("input[name=body]").press("Enter")

    mine = handset.locator(".bubble.mine")
    expect(mine.locator(".body")).to_have_text("Friday works, thanks!")
    expect(mine.locator(".status")).to_have_text("✓ the bot got it")
    expect(handset.locator("input[name=body]")).to_have_value("")
    thread = wait_until(
        lambda: [t for t in dev_bot.thread() if "Friday works, thanks!" in t],
        what="the reply in the Slack thread",
    )
    assert len(thread) == 1


def test_stop_from_the_page_opts_the_contact_out(page, dev_bot: DevPhoneBot) -> None:
    expect = _expect()
    dev_bot.text_from_slack(f"new:{JANE}", "Our spring sale starts today")
    handset = _handset(page, JANE)
    expect(handset.locator(".bubble.from-line .body")).to_have_count(1)

    handset.locator("button.stop").click()

    expect(handset.locator(".bubble.mine .body")).to_have_text("STOP")
    expect(handset.locator(".banner.optout")).to_contain_text("Opted out of Sales")
    expect(handset.locator("button.stop")).to_have_text("START")

    def opted_out() -> bool:
        with dev_bot.session() as session:
            return session.exec(select(OptOut)).first() is not None

    wait_until(opted_out, what="the opt-out in the database")
    wait_until(
        lambda: any("is opted out of texts from Sales" in t for t in dev_bot.thread()),
        what="the thread to say so",
    )

    # A later send is refused: by the bot up front, and by the carrier if it got that far.
    with dev_bot.session() as session:
        jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()
    refused = dev_bot.text_from_slack(f"contact:{jane.id}", "Last chance!")
    assert refused["response_action"] == "errors"
    assert "has opted out of texts from Sales" in refused["errors"][ids.RECIPIENT_BLOCK]
    with pytest.raises(SendFailed) as carrier_refusal:
        dev_bot.runtime.gateway.send(to=JANE, body="Last chance!", from_number=SALES)
    assert carrier_refusal.value.code == 21610
    expect(handset.locator(".bubble.from-line")).to_have_count(1)


def test_a_landline_shows_undelivered_with_30006(page, dev_bot: DevPhoneBot) -> None:
    expect = _expect()
    dev_bot.text_from_slack(f"new:{LANDLINE}", "Your invoice is attached")
    handset = _handset(page, LANDLINE)
    expect(handset.locator(".landline")).to_be_visible()
    status = handset.locator(".bubble.from-line .status")
    expect(status).to_have_attribute("data-status", "undelivered")
    expect(status).to_contain_text("landline")
    expect(status).to_contain_text("30006")
    expect(handset.locator("input[name=body]")).to_be_disabled()

    def undelivered() -> bool:
        with dev_bot.session() as session:
            delivery = session.exec(select(Delivery)).first()
            return delivery is not None and delivery.status == DeliveryStatus.UNDELIVERED

    wait_until(undelivered, what="the delivery to be undelivered in the database")


def test_a_new_phone_texts_in_and_a_bad_number_is_explained(page, dev_bot: DevPhoneBot) -> None:
    expect = _expect()
    form = page.locator("#new-phone")
    expect(form.locator("select[name=to] option")).to_have_count(1)
    form.locator("input[name=from]").fill("555-01")
    form.locator("input[name=body]").fill("Hello?")
    form.locator("button[type=submit]").click()
    expect(form.locator(".error")).to_contain_text("555-01 is not a valid number")
    expect(page.locator(".handset")).to_have_count(0)

    form.locator("input[name=from]").fill("(202) 555-0142")
    form.locator("input[name=body]").press("Enter")
    handset = _handset(page, "+12025550142")
    expect(handset.locator(".bubble.mine .body")).to_have_text("Hello?")
    expect(form.locator(".error")).to_be_hidden()
    parent = wait_until(
        lambda: dev_bot.fake_slack.top_level(CHANNEL), what="a new conversation in Slack"
    )
    assert "202-555-0142" in parent[0].all_text
    wait_until(lambda: any("Hello?" in t for t in dev_bot.thread()), what="the text in Slack")
