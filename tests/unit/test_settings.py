import re
from pathlib import Path

import pytest

from bot.settings import SettingsError, is_placeholder, load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "PUBLIC_URL",
        "DATABASE_URL",
        "DEFAULT_REGION",
        "SLACK_API_URL",
        "CONTACT_DIRECTORY",
        "SLACK_TEAM_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///textbot.db"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.default_region == "US"
    assert settings.contact_directory == "shared"
    assert not settings.uses_twilio and not settings.socket_mode


def test_the_env_file_is_read(tmp_path) -> None:
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_API_URL=http://127.0.0.1:9/api\n"
    )
    settings = load_settings()
    assert settings.slack_bot_token == "xoxb-from-file"
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"


def test_serving_needs_a_bot_token_and_says_how_to_get_one() -> None:
    with pytest.raises(SettingsError) as missing:
        load_settings().check_for_serving()
    assert str(missing.value).startswith("SLACK_BOT_TOKEN is not set: the Bot User OAuth Token")
    assert "\n" not in str(missing.value)


def test_with_only_the_bot_token_the_app_token_of_the_set_up_steps_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    with pytest.raises(SettingsError) as missing:
        load_settings().check_for_serving()
    assert str(missing.value).startswith(
        "SLACK_APP_TOKEN is not set (for Socket Mode, as in the set-up steps; or set "
        "SLACK_SIGNING_SECRET to receive Slack over HTTP instead): an app-level token (xapp-...)"
    )
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    load_settings().check_for_serving()
    monkeypatch.delenv("SLACK_APP_TOKEN")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    load_settings().check_for_serving()


@pytest.mark.parametrize("placeholder", ["xapp-...", "xapp-\u2026", " xapp-... "])
def test_a_placeholder_from_env_example_is_named_as_one(
    monkeypatch: pytest.MonkeyPatch, placeholder: str
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", placeholder)
    config = load_settings()
    assert config.slack_app_token is None
    assert not config.socket_mode
    with pytest.raises(
        SettingsError, match=r"^SLACK_APP_TOKEN is still the placeholder from \.env\.example \("
    ):
        config.check_for_serving()


def test_every_placeholder_in_env_example_is_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every value .env.example offers, uncommented as it is, reads as unset, not as a value
    that is malformed or, worse, used."""
    example = (PROJECT_ROOT / ".env.example").read_text()
    values = dict(
        line.lstrip("# ").split("=", 1)
        for line in example.splitlines()
        if re.match(r"#? ?[A-Z_]+=", line)
    )
    placeholders = {name: value for name, value in values.items() if is_placeholder(value)}
    assert {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"} <= set(placeholders)
    for name, value in placeholders.items():
        monkeypatch.setenv(name, value)
    config = load_settings()
    assert sorted(config.placeholders) == sorted(name.lower() for name in placeholders)
    for name in placeholders:
        assert getattr(config, name.lower()) is None


def test_half_configured_twilio_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "a" * 32)
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN is not set"):
        load_settings().check_for_serving()
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "t")
    with pytest.raises(SettingsError, match="PUBLIC_URL is not set"):
        load_settings().check_for_serving()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "SLACK_BOT_TOKEN",
            "xoxp-user-token",
            "SLACK_BOT_TOKEN is malformed (must start with xoxb-)",
        ),
        ("SLACK_APP_TOKEN", "xoxb-1", "SLACK_APP_TOKEN is malformed (must start with xapp-)"),
        (
            "TWILIO_ACCOUNT_SID",
            "AB123",
            "TWILIO_ACCOUNT_SID is malformed (must be AC followed by 32",
        ),
        ("DEFAULT_REGION", "XX", "DEFAULT_REGION is malformed ('XX' is not a region"),
        ("CONTACT_DIRECTORY", "everyone", "CONTACT_DIRECTORY is malformed (Input should be"),
    ],
)
def test_malformed_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as malformed:
        load_settings()
    assert str(malformed.value).startswith(message)


def test_the_contact_directory_can_be_limited_to_the_users_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTACT_DIRECTORY", "lines")
    assert load_settings().contact_directory == "lines"
