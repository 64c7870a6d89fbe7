"""The cache of mentioned names, against the fake Slack Web API with the real client."""

from slack_sdk import WebClient

from handlers.names import SlackNames, display_name
from tests.fakes.slack import BOT_TOKEN, FakeSlack


def _client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)


def test_a_name_is_known_only_once_looked_up_and_known_never_calls_slack(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.display_names["U0BOB"] = "Bob"
    fake_slack.add_channel("C0SALES", "sales")
    fake_slack.usergroups["S0TEAM"] = ["U0BOB"]
    names = SlackNames()
    assert names.known("U0BOB") is None and names.known("C0SALES") is None
    assert fake_slack.calls == []
    names.look_up(_client(fake_slack), ["U0BOB", "C0SALES", "S0TEAM"])
    assert (names.known("U0BOB"), names.known("C0SALES"), names.known("S0TEAM")) == (
        "Bob",
        "sales",
        "s0team",
    )
    calls = len(fake_slack.calls)
    names.look_up(_client(fake_slack), ["U0BOB", "C0SALES"])  # known: not asked again
    assert len(fake_slack.calls) == calls


def test_a_name_is_forgotten_after_its_time() -> None:
    now = [0.0]
    names = SlackNames(max_age_seconds=60, clock=lambda: now[0])
    names.remember("U0BOB", "Bob")
    now[0] = 59
    assert names.known("U0BOB") == "Bob"
    now[0] = 61
    assert names.known("U0BOB") is None


def test_the_cache_keeps_at_most_its_size() -> None:
    names = SlackNames(max_size=2)
    for user in ("U1", "U2", "U3"):
        names.remember(user, user.lower())
    assert [names.known(u) for u in ("U1", "U2", "U3")] == [None, "u2", "u3"]


def test_a_name_slack_will_not_give_stays_unknown(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("users.info", status=200, error="user_not_found")
    names = SlackNames()
    assert names.lookup_with(_client(fake_slack))("U0GONE") is None
    assert names.known("U0GONE") is None


def test_display_name_falls_back_to_the_full_name() -> None:
    assert display_name({"profile": {"display_name": "bobby", "real_name": "Bob B"}}) == "bobby"
    assert display_name({"profile": {"display_name": "", "real_name": "Bob B"}}) == "Bob B"
    assert display_name({"name": "bob"}) == "bob"
    assert display_name({}) is None
