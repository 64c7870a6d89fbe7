"""The SMS gateway through the real twilio SDK: what counts as sent, retryable or final."""

import socket
import threading

import pytest

from bot.sms_gateway import SendFailed, TwilioGateway
from tests.fakes.servers import bind_loopback
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio


def _gateway(url: str, timeout: float = 5) -> TwilioGateway:
    return TwilioGateway(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_url=url,
        status_callback_url="https://bot.example/twilio/status",
        timeout=timeout,
    )


def test_accepted(fake_twilio: FakeTwilio) -> None:
    accepted = _gateway(fake_twilio.url).send(
        to="+12025550123", body="Hi", from_number="+12025550100"
    )
    assert accepted.status == "queued" and accepted.sid.startswith("SM")
    assert fake_twilio.requests == [
        {
            "To": "+12025550123",
            "Body": "Hi",
            "From": "+12025550100",
            "StatusCallback": "https://bot.example/twilio/status",
        }
    ]


def test_a_messaging_service_sends_instead_of_a_number(fake_twilio: FakeTwilio) -> None:
    _gateway(fake_twilio.url).send(
        to="+12025550123", body="Hi", from_number="+12025550100", messaging_service_sid="MG1"
    )
    assert (
        fake_twilio.requests[0]["MessagingServiceSid"] == "MG1"
        and "From" not in fake_twilio.requests[0]
    )


@pytest.mark.parametrize(
    ("status", "code", "transient", "words"),
    [
        (400, 21211, False, "the number is not a valid phone number (error 21211)"),
        (400, 21610, False, "opted out"),
        (429, 20429, True, "rate limiting"),
        (503, 20503, True, "error 20503"),
    ],
)
def test_refusals_are_classified(fake_twilio: FakeTwilio, status, code, transient, words) -> None:
    fake_twilio.refuse("+12025550123", status=status, code=code, message="Service unavailable")
    with pytest.raises(SendFailed) as failed:
        _gateway(fake_twilio.url).send(to="+12025550123", body="Hi", from_number="+12025550100")
    assert failed.value.code == code and failed.value.transient is transient
    assert not failed.value.maybe_sent and words in failed.value.text


def test_a_provider_that_cannot_be_reached_is_retryable_and_surely_not_sent() -> None:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there
    with pytest.raises(SendFailed) as failed:
        _gateway(f"http://127.0.0.1:{port}").send(
            to="+12025550123", body="Hi", from_number="+12025550100"
        )
    assert failed.value.transient and not failed.value.maybe_sent


def test_a_provider_that_takes_the_request_and_never_answers_may_have_sent_it() -> None:
    listener = bind_loopback()
    listener.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with pytest.raises(SendFailed) as failed:
        _gateway(url, timeout=0.5).send(to="+12025550123", body="Hi", from_number="+12025550100")
    assert failed.value.maybe_sent
    listener.close()


def test_find_sent_looks_the_message_up(fake_twilio: FakeTwilio) -> None:
    from datetime import UTC, datetime, timedelta

    gateway = _gateway(fake_twilio.url)
    sent = gateway.send(to="+12025550123", body="Hi", from_number="+12025550100")
    since = datetime.now(UTC) - timedelta(seconds=5)
    assert (
        gateway.find_sent(to="+12025550123", body="Hi", from_number="+12025550100", since=since)
        == sent
    )
    assert (
        gateway.find_sent(to="+12025550123", body="Other", from_number="+12025550100", since=since)
        is None
    )
