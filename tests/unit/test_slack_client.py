"""The Slack client keeps its connections open, and Slack's answers (errors, rate limits,
no answer at all) reach the SDK's handling as they did when each call had its own."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.slack_client import KeepAliveWebClient
from tests.fakes.slack import BOT_TOKEN, FakeSlack


def client_of(fake_slack: FakeSlack, **options: object) -> KeepAliveWebClient:
    return KeepAliveWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url, **options)


def test_calls_share_one_kept_connection(fake_slack: FakeSlack) -> None:
    client = client_of(fake_slack)
    for _ in range(5):
        assert client.auth_test()["ok"]
    pool = client.connections.connection_from_url(fake_slack.url)
    assert (pool.num_connections, pool.num_requests) == (1, 5)
    assert len(fake_slack.calls_to("auth.test")) == 5


def test_slacks_error_answers_are_the_sdks_errors(fake_slack: FakeSlack) -> None:
    client = client_of(fake_slack)
    fake_slack.fail_next("auth.test", status=200, error="invalid_auth")
    with pytest.raises(SlackApiError) as refused:
        client.auth_test()
    assert refused.value.response["error"] == "invalid_auth"

    fake_slack.fail_next("auth.test", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        client.auth_test()
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert client.auth_test()["ok"]  # the connection is still good after an error


def test_a_rate_limited_call_is_retried_by_the_sdks_handler(fake_slack: FakeSlack) -> None:
    client = client_of(fake_slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    fake_slack.fail_next("auth.test", status=429, retry_after=0)
    assert client.auth_test()["ok"]
    assert len(fake_slack.calls_to("auth.test")) == 2


def test_no_answer_in_time_is_a_timeout(fake_slack: FakeSlack) -> None:
    client = client_of(fake_slack, timeout=1)
    fake_slack.delay("auth.test", 2)
    with pytest.raises(TimeoutError):
        client.auth_test()


def test_no_server_is_a_url_error(fake_slack: FakeSlack) -> None:
    client = KeepAliveWebClient(token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/")
    with pytest.raises(Exception) as failed:
        client.auth_test()
    assert type(failed.value).__name__ == "URLError"
    assert str(failed.value) == "<urlopen error [Errno 111] Connection refused>"
