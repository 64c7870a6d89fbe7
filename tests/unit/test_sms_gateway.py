"""The SMS gateway through the real twilio SDK: what counts as sent, retryable or final."""

import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.sms_gateway import SendFailed, TwilioGateway
from tests.fakes.servers import bind_loopback, refusing_port
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
    with refusing_port() as sock, pytest.raises(SendFailed) as failed:
        _gateway(f"http://127.0.0.1:{sock.getsockname()[1]}").send(
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
    gateway = _gateway(fake_twilio.url)
    sent = gateway.send(to="+12025550123", body="Hi", from_number="+12025550100")
    since = datetime.now(UTC) - timedelta(seconds=5)
    assert gateway.find_sent(
        to="+12025550123", body="Hi", from_number="+12025550100", since=since
    ) == [sent]
    assert (
        gateway.find_sent(to="+12025550123", body="Other", from_number="+12025550100", since=since)
        == []
    )
    # Another line's message with the same words is not this line's.
    assert (
        gateway.find_sent(to="+12025550123", body="Hi", from_number="+12025550199", since=since)
        == []
    )


def test_find_sent_finds_a_messaging_service_send_before_twilio_picks_its_sender(
    fake_twilio: FakeTwilio,
) -> None:
    gateway = _gateway(fake_twilio.url)
    service = "MG" + "a" * 32
    sent = gateway.send(
        to="+12025550123", body="Hi", from_number="+12025550100", messaging_service_sid=service
    )
    assert fake_twilio.sent_to("+12025550123")[0].from_ is None  # as when just accepted
    since = datetime.now(UTC) - timedelta(seconds=5)
    found = gateway.find_sent(
        to="+12025550123",
        body="Hi",
        from_number="+12025550100",
        messaging_service_sid=service,
        since=since,
    )
    assert found == [sent]


def test_find_sent_reads_back_only_to_the_attempt(fake_twilio: FakeTwilio) -> None:
    gateway = _gateway(fake_twilio.url)
    earlier = gateway.send(to="+12025550123", body="OK", from_number="+12025550100")
    fake_twilio.sent_to("+12025550123")[0].date_created -= timedelta(minutes=10)
    later = gateway.send(to="+12025550123", body="OK", from_number="+12025550100")
    found = gateway.find_sent(
        to="+12025550123",
        body="OK",
        from_number="+12025550100",
        since=datetime.now(UTC) - timedelta(seconds=5),
    )
    assert found == [later] and earlier not in found


SALES, JANE = "+12025550100", "+12025550123"


def _log_texts(fake: FakeTwilio, count: int, *, start: datetime) -> list[str]:
    """`count` texts from Jane to Sales, a second apart from `start`; their sids, oldest first."""
    return [
        fake.receive(sender=JANE, to=SALES, body=f"text {i}", at=start + timedelta(seconds=i)).sid
        for i in range(count)
    ]


def test_the_log_is_read_newest_first_a_page_at_a_time(fake_twilio: FakeTwilio) -> None:
    now = datetime.now(UTC)
    sids = _log_texts(fake_twilio, 120, start=now - timedelta(hours=1))
    fake_twilio.receive(sender=JANE, to="+12025550199", body="to another number")
    pages = _gateway(fake_twilio.url).received_pages(
        to=SALES, since=now - timedelta(hours=2), page_size=50
    )
    first = next(pages)
    assert [t.sid for t in first] == sids[::-1][:50]
    assert len(fake_twilio.list_requests) == 1  # the next page only when it is wanted
    # A text logged while the pages are read does not shift them: the next page resumes
    # after the last text read, as Twilio's PageToken does.
    fake_twilio.receive(sender=JANE, to=SALES, body="meanwhile")
    rest = [text.sid for page in pages for text in page]
    assert rest == sids[::-1][50:]
    assert [r.get("PageSize") for r in fake_twilio.list_requests] == ["50"] * 3
    assert [r.get("PageToken") for r in fake_twilio.list_requests] == [
        None,
        "PA" + sids[-50],
        "PA" + sids[-100],
    ]


def test_the_log_lists_fifty_a_page_unless_asked_and_a_thousand_at_most(
    fake_twilio: FakeTwilio,
) -> None:
    _log_texts(fake_twilio, 1100, start=datetime.now(UTC) - timedelta(hours=1))
    client = _gateway(fake_twilio.url).client
    assert len(list(client.messages.page(to=SALES))) == 50
    assert len(list(client.messages.page(to=SALES, page_size=5000))) == 1000


def test_the_log_filters_by_the_day_a_text_was_sent(fake_twilio: FakeTwilio) -> None:
    midnight = datetime(2026, 11, 25, tzinfo=UTC)
    _log_texts(fake_twilio, 1, start=midnight - timedelta(minutes=1))
    same_day = _log_texts(fake_twilio, 1, start=midnight + timedelta(minutes=1))
    # Twilio honours the day of DateSent> only: a text from before 09:00 that day comes too.
    pages = _gateway(fake_twilio.url).received_pages(to=SALES, since=midnight + timedelta(hours=9))
    assert [t.sid for page in pages for t in page] == same_day


def test_a_page_token_the_log_never_gave_is_refused(fake_twilio: FakeTwilio) -> None:
    from twilio.base.exceptions import TwilioException

    client = _gateway(fake_twilio.url).client
    with pytest.raises(TwilioException):
        client.messages.get_page(
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
            "?PageSize=50&Page=1&PageToken=PASMnothing"
        )
