"""Socket Mode: Slack talks over the socket, so nothing Slack-shaped is taken over HTTP,
where the port is public for Twilio's webhooks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import func, select

from models.tables import Contact, Delivery, Message
from tests.conftest import Bot, running_bot
from tests.factories import make_contact, make_line
from tests.fakes.slack import APP_TOKEN
from tests.slack_driver import (
    interaction_body,
    slash_command_body,
    suggestion_payload,
)

ALICE = "U0ALICE"
MALLORY = "U0MALLORY"


@pytest.fixture
def socket_mode_bot(database_url, fake_slack, fake_twilio) -> Iterator[Bot]:
    """Socket Mode with no signing secret: the usual set-up of "Try it"."""
    with running_bot(
        database_url, fake_slack, fake_twilio, slack_app_token=APP_TOKEN, slack_signing_secret=None
    ) as bot:
        yield bot


@pytest.fixture
def socket_mode_bot_with_secret(database_url, fake_slack, fake_twilio) -> Iterator[Bot]:
    with running_bot(database_url, fake_slack, fake_twilio, slack_app_token=APP_TOKEN) as bot:
        yield bot


def _directory_with_a_customer(bot: Bot) -> None:
    with bot.session() as session, session.begin():
        make_line(session, grants=(ALICE,))
        make_contact(session, phone="+12025550123", name="Carol Customer")


def _requests(bot: Bot) -> dict[str, str]:
    """What an attacker would post: a quick send, a directory listing, suggestions."""
    quick_send = "+12025550100 +12025550177 hello"
    return {
        "quick send": _slash(bot, quick_send),
        "contacts": _slash(bot, "contacts 555"),
        "suggestions": interaction_body(suggestion_payload("555", user=MALLORY)),
    }


def _slash(bot: Bot, text: str) -> str:
    return slash_command_body(
        text, user=MALLORY, channel="C0GENERAL", response_url=bot.fake_slack.response_url()
    )


def _nothing_happened(bot: Bot) -> None:
    with bot.session() as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == 0
        assert session.exec(select(func.count()).select_from(Delivery)).one() == 0
        assert session.exec(select(func.count()).select_from(Contact)).one() == 1
    assert bot.fake_twilio.create_calls == []
    assert bot.fake_slack.calls_to("chat.postMessage") == []
    assert bot.fake_slack.responses == []


@pytest.mark.parametrize("what", ["quick send", "contacts", "suggestions"])
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_socket_mode_alone_serves_no_slack_route_over_http(
    socket_mode_bot: Bot, what: str, signed: bool
) -> None:
    bot = socket_mode_bot
    _directory_with_a_customer(bot)
    response = bot.slack.post(_requests(bot)[what], signed=signed)
    assert response.status_code == 404
    assert "Carol" not in response.text and "555" not in response.text
    _nothing_happened(bot)
    # The Twilio webhooks stay served (and signed).
    reply = bot.twilio.text(from_="+12025550123", to="+12025550100", body="still here")
    assert reply.status_code == 200


@pytest.mark.parametrize("what", ["quick send", "contacts", "suggestions"])
def test_socket_mode_with_a_signing_secret_verifies_what_comes_over_http(
    socket_mode_bot_with_secret: Bot, what: str
) -> None:
    bot = socket_mode_bot_with_secret
    _directory_with_a_customer(bot)
    unsigned = bot.slack.post(_requests(bot)[what], signed=False)
    assert unsigned.status_code == 401
    assert "Carol" not in unsigned.text
    _nothing_happened(bot)


def test_socket_mode_with_a_signing_secret_takes_signed_requests(
    socket_mode_bot_with_secret: Bot,
) -> None:
    bot = socket_mode_bot_with_secret
    _directory_with_a_customer(bot)
    response = bot.slack.post(interaction_body(suggestion_payload("Carol", user=ALICE)))
    assert response.status_code == 200
    assert "Carol Customer" in response.text
