"""The one settings object: environment variables, and a `.env` file beside the process."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal

import phonenumbers
from pydantic import (
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from bot.db import normalize_url
from handlers.limits import DEFAULT_GROUP_SIZE, DEFAULT_MAX_MULTI_RECIPIENTS
from models.access import InvalidTeamId, check_team_id
from models.directory import SHARED, ContactDirectory
from models.phone import parse_phone

SLACK_APP_HELP = (
    "create the Slack app from manifest.yml (api.slack.com/apps > Create New App > From a "
    "manifest), install it to your workspace and put the value in .env"
)

# What to tell an operator for each setting that is missing or malformed.
HOW_TO_GET = {
    "slack_bot_token": f"the Bot User OAuth Token (xoxb-...): {SLACK_APP_HELP}",
    "slack_signing_secret": f"the app's Signing Secret (Basic Information page): {SLACK_APP_HELP}",
    "slack_app_token": "an app-level token (xapp-...) with connections:write, from the app's "
    "Basic Information page",
    "twilio_account_sid": "the Account SID (AC...) from the Twilio console, or leave both "
    "Twilio settings unset to use the built-in SMS simulator",
    "twilio_auth_token": "the Auth Token from the Twilio console, or leave both Twilio "
    "settings unset to use the built-in SMS simulator",
    "public_url": "the external https URL Twilio reaches this server at, e.g. "
    "https://textbot.example.com",
    "database_url": "a SQLAlchemy URL such as sqlite:///textbot.db or "
    "postgresql://user:password@host/db",
    "default_region": "a two-letter ISO country code such as US or GB",
    "slack_team_id": "the workspace's id (T...), or leave it unset to read it from SLACK_BOT_TOKEN",
    "contact_directory": "shared (whoever has a line sees every contact) or lines (only "
    "contacts with a conversation on their lines)",
}


# Settings whose .env.example value is a placeholder such as "xoxb-...": one still there
# was copied, not filled in, and counts as unset.
PLACEHOLDER_SETTINGS = (
    "slack_bot_token",
    "slack_app_token",
    "slack_signing_secret",
    "slack_team_id",
    "twilio_account_sid",
    "twilio_auth_token",
    "public_url",
)


def is_placeholder(value: object) -> bool:
    return isinstance(value, str) and value.strip().endswith(("...", "\u2026"))


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line an operator can act on."""


class SlackNotSetUp(SettingsError):
    """No Slack setting at all: a first run, which gets the set-up steps, not one line."""


def first_run_guide(*, port: int, simulator: bool) -> str:
    """The steps from nothing to a working /text, for someone who runs the bot first."""
    try_it = (
        f"     Texts go to a simulated phone: open http://127.0.0.1:{port}/phone to answer them."
        if simulator
        else "     Texts go out through your Twilio account."
    )
    return "\n".join(
        [
            "Slack is not set up yet. To try textbot in your workspace:",
            "  1. Create the Slack app from manifest.yml: https://api.slack.com/apps >"
            " Create New App > From a manifest, then install it to your workspace.",
            "  2. Copy .env.example to .env and put in the app's two tokens:",
            "       SLACK_BOT_TOKEN=xoxb-...  (OAuth & Permissions > Bot User OAuth Token)",
            "       SLACK_APP_TOKEN=xapp-...  (Basic Information > App-Level Tokens,"
            " scope connections:write)",
            "  3. Run `make run` again. In Slack: textbot's Home tab > Add a line, then /text.",
            try_it,
        ]
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_team_id: str | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    twilio_timeout_seconds: float = 10.0

    public_url: str | None = None
    database_url: str = "sqlite:///textbot.db"
    log_format: Literal["text", "json"] = "text"
    # One log line per HTTP request (uvicorn's access log); the bot logs its own events.
    access_log: bool = False
    # When set, GET /metrics answers only `Authorization: Bearer <this token>`.
    metrics_token: str | None = None
    default_region: str = "US"

    # A thread reply starting with one of these (any case) is an internal note.
    note_markers: tuple[str, ...] = ("note:", "//")
    # A scheduled text is canceled when its recipient texts in before it leaves.
    cancel_scheduled_on_reply: bool = True
    max_multi_recipients: int = DEFAULT_MAX_MULTI_RECIPIENTS
    min_group_participants: int = DEFAULT_GROUP_SIZE[0]
    max_group_participants: int = DEFAULT_GROUP_SIZE[1]
    usergroup_cache_seconds: int = 300
    # Who sees which contacts, among those with a usable line (nobody else sees any):
    # "shared", the workspace's whole directory; "lines", only contacts with a conversation
    # on one of their lines.
    contact_directory: ContactDirectory = SHARED
    dispatcher_poll_seconds: float = 1.0
    max_send_attempts: int = 8
    # The lease on a send in hand, renewed by its process every fifth of it however slow
    # Twilio is. A send whose lease ran out (its process died, or its request timed out)
    # is looked up in Twilio's log and sent again only if it is not there. Meanwhile the
    # texts behind it to the same phone wait, so shorter settles sooner; it must be long
    # enough for Twilio's log to show a message whose request was cut.
    reconcile_after_seconds: float = 5.0
    # The lease on a conversation's Slack work, renewed by its process every fifth of it
    # while it works: after a crash, another process takes the thread over once it ran out,
    # so short. Long enough for a renewal stalled by a busy machine (0.9 s seen in CI).
    mirror_lease_seconds: float = 3.0
    # On PostgreSQL with Twilio, `textbot serve` runs the Slack mirror in a child process,
    # on a core of its own (bot/mirror_process.py); false keeps it in a thread.
    mirror_process: bool = True
    # Slack takes about one message a second per channel: the mirror posts a little slower
    # (a post that reaches Slack a hair early costs a 429 and a second or two).
    slack_post_interval_seconds: float = 1.05
    # Texts the webhook missed (e.g. while the bot was down) are imported from Twilio's log:
    # at start, then this often, back to the line's previous check (its first check looks
    # back this far).
    inbound_reconcile_seconds: float = 300.0
    inbound_lookback_hours: float = 24.0
    # At start, texts to a line wait for that read (the older texts it finds go first) this
    # long at most, e.g. while Twilio cannot be reached; a text recovered later is shown as
    # received late.
    inbound_recovery_wait_seconds: float = 30.0

    # The dev phone (only with no Twilio credentials): the page at /phone answers only on
    # loopback unless this allows other machines, and texts to these numbers (a JSON list)
    # fail as a landline does: undelivered, error 30006.
    dev_phone_allow_remote: bool = False
    dev_phone_landlines: tuple[str, ...] = ("+12025550199",)

    _placeholders: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _placeholders_are_unset(
        cls, data: Any, handler: ModelWrapValidatorHandler[Settings]
    ) -> Settings:
        found: tuple[str, ...] = ()
        if isinstance(data, dict):
            found = tuple(name for name in PLACEHOLDER_SETTINGS if is_placeholder(data.get(name)))
            data = {name: value for name, value in data.items() if name not in found}
        settings = handler(data)
        settings._placeholders = found
        return settings

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Settings still holding .env.example's placeholder (taken as unset)."""
        return self._placeholders

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # WebClient joins base_url and method name without adding a slash.
        return value if value.endswith("/") else value + "/"

    @field_validator("twilio_api_url", "public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        # Checked here so that every command says so in one line; the URL itself is not
        # repeated, since it may hold a password.
        try:
            backend = make_url(normalize_url(value)).get_backend_name()
        except ArgumentError:
            raise ValueError("it is not a database URL") from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"textbot works with SQLite or PostgreSQL, not {backend}")
        return value

    @field_validator("slack_team_id")
    @classmethod
    def _team_id_shape(cls, value: str | None) -> str | None:
        if value:
            try:
                return check_team_id(value)
            except InvalidTeamId:
                raise ValueError("not a Slack workspace id such as T0123ABCD") from None
        return value or None

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: str | None) -> str | None:
        if value and not value.startswith("xoxb-"):
            raise ValueError("must start with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: str | None) -> str | None:
        if value and not value.startswith("xapp-"):
            raise ValueError("must start with xapp-")
        return value

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid_shape(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
            raise ValueError("must be AC followed by 32 hexadecimal characters")
        return value

    @field_validator("dev_phone_landlines")
    @classmethod
    def _landlines_e164(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        region = info.data.get("default_region", "US")
        return tuple(parse_phone(number, region=region) for number in value)

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows")
        return region

    @cached_property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @cached_property
    def slack_over_http(self) -> bool:
        """Whether /slack/events is served. In Socket Mode Slack never calls it, so it is
        served only when a signing secret is also set to verify what arrives there."""
        return not self.socket_mode or bool(self.slack_signing_secret)

    @cached_property
    def uses_twilio(self) -> bool:
        return bool(self.twilio_account_sid or self.twilio_auth_token)

    def check_for_serving(self) -> None:
        """Raise SettingsError naming the first setting `textbot serve` cannot run without."""
        if not (self.slack_bot_token or self.slack_app_token or self.slack_signing_secret):
            raise SlackNotSetUp(self._missing("slack_bot_token"))
        if not self.slack_bot_token:
            raise self._missing("slack_bot_token")
        if not self.socket_mode and not self.slack_signing_secret:
            # The set-up steps use Socket Mode; HTTP mode is the alternative.
            raise self._missing(
                "slack_app_token",
                "for Socket Mode, as in the set-up steps; or set SLACK_SIGNING_SECRET "
                "to receive Slack over HTTP instead",
            )
        if self.uses_twilio:
            for name in ("twilio_account_sid", "twilio_auth_token", "public_url"):
                if not getattr(self, name):
                    raise self._missing(name, "needed with Twilio")

    def _missing(self, name: str, why: str = "") -> SettingsError:
        state = (
            "is still the placeholder from .env.example"
            if name in self.placeholders
            else "is not set"
        )
        return SettingsError(
            f"{name.upper()} {state}" + (f" ({why})" if why else "") + f": {HOW_TO_GET[name]}"
        )


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation failure into one actionable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        reason = error["msg"].removeprefix("Value error, ")
        hint = HOW_TO_GET.get(name, "")
        raise SettingsError(
            f"{name.upper()} is malformed ({reason})" + (f": expected {hint}" if hint else "")
        ) from None
