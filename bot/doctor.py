"""`textbot doctor`: checks each part of a deployment in turn (the database, Slack, Twilio,
every line) and says in plain words what is fine and how to fix what is not."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError
from twilio.rest.api.v2010.account.incoming_phone_number import IncomingPhoneNumberInstance

from bot.db import (
    DatabaseNotReady,
    check_database_ready,
    create_db_engine,
    new_session,
    normalize_url,
)
from bot.settings import HOW_TO_GET, Settings
from bot.slack_app import build_web_client
from bot.twilio_setup import (
    INBOUND_PATH,
    STATUS_PATH,
    TwilioAccount,
    TwilioSetupError,
    check_group_texts_webhook,
    check_number_inbound,
    check_public_url,
    check_service_inbound,
    group_texts_webhook_url,
    inbound_webhook_url,
)
from models.group_texts import group_texting_refused_at
from models.lines import group_mms_refusal, list_lines
from models.mirroring import ParkedPosts, find_parked_posts
from models.phone import format_phone
from models.tables import Line

# The bot token scopes the app asks for: manifest.yml's oauth_config.scopes.bot (a unit test
# keeps the two equal).
BOT_SCOPES = (
    "channels:history",
    "channels:join",
    "channels:read",
    "chat:write",
    "chat:write.customize",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "groups:read",
    "reactions:write",
    "usergroups:read",
    "users:read",
)

MANAGE_LINES = "App Home > Manage lines"


class Verdict(StrEnum):
    OK = "ok"
    INFO = "info"  # worth knowing, nothing to fix
    FIX = "FIX"


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    subject: str
    text: str
    fix: str | None = None

    @property
    def needs_fixing(self) -> bool:
        return self.verdict is Verdict.FIX

    def render(self) -> str:
        line = f"{self.verdict.value:<5}{self.subject}: {self.text}"
        return f"{line} — {self.fix}" if self.fix else line


def _ok(subject: str, text: str) -> Finding:
    return Finding(Verdict.OK, subject, text)


def _info(subject: str, text: str) -> Finding:
    return Finding(Verdict.INFO, subject, text)


def _fix(subject: str, problem: str, fix: str) -> Finding:
    return Finding(Verdict.FIX, subject, problem, fix)


def _twilio_fix(subject: str, error: TwilioSetupError) -> Finding:
    return _fix(subject, error.problem, error.fix)


@dataclass(frozen=True)
class SlackBot:
    """Who the bot token says it is, and the scopes Slack says it has (None: not said)."""

    team: str
    team_id: str
    name: str
    scopes: frozenset[str] | None


def run_checks(settings: Settings) -> Iterator[Finding]:
    """Every check, one finding at a time, in the order an operator would fix things."""
    database = check_database(settings.database_url)
    yield database
    slack = build_web_client(settings) if settings.slack_bot_token else None
    token, bot = check_slack_token(settings, slack)
    yield token
    if bot is not None:
        yield check_slack_scopes(bot.scopes)
    yield check_slack_requests(settings)
    yield check_open_routes(settings)
    account, twilio = check_twilio_account(settings)
    yield account
    public_url = None
    if settings.uses_twilio:
        webhooks, public_url = check_twilio_webhooks(settings.public_url)
        yield webhooks
    if database.needs_fixing:
        yield _info("Lines", "not checked until the database is fixed")
        return
    yield from check_lines(
        load_lines(settings.database_url),
        group_refusals=load_group_refusals(settings.database_url),
        slack=slack if bot is not None else None,
        bot_name=bot.name if bot is not None else "",
        twilio=twilio,
        public_url=public_url,
    )
    yield check_parked_posts(load_parked_posts(settings.database_url))


# --- the database ---------------------------------------------------------------------------


def check_database(url: str) -> Finding:
    subject = "Database"
    try:
        shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return _fix(
            subject, f"DATABASE_URL {url!r} is not a database URL", HOW_TO_GET["database_url"]
        )
    try:
        latest = check_database_ready(url)
    except DatabaseNotReady as exc:
        return _fix(subject, exc.problem, exc.fix)
    return _ok(subject, f"{shown} is at the latest migration ({latest})")


def load_group_refusals(url: str) -> dict[int, datetime]:
    """Lines whose last group text Twilio refused for the account (50452), and when."""
    engine = create_db_engine(url)
    try:
        with new_session(engine) as session:
            refusals = {
                line.id or 0: group_texting_refused_at(session=session, line_id=line.id or 0)
                for line, _ in list_lines(session=session)
                if line.group_mms
            }
    finally:
        engine.dispose()
    return {line_id: when for line_id, when in refusals.items() if when is not None}


def load_lines(url: str) -> list[Line]:
    engine = create_db_engine(url)
    try:
        with new_session(engine) as session:
            return [line for line, _ in list_lines(session=session)]
    finally:
        engine.dispose()


# --- Slack -----------------------------------------------------------------------------------


def check_slack_token(
    settings: Settings, slack: WebClient | None
) -> tuple[Finding, SlackBot | None]:
    subject = "Slack token"
    if slack is None:
        return _fix(subject, "SLACK_BOT_TOKEN is not set", HOW_TO_GET["slack_bot_token"]), None
    try:
        response = slack.auth_test()
    except SlackApiError as exc:
        return _fix(
            subject,
            f"Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')})",
            "copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page "
            "into SLACK_BOT_TOKEN (install the app again if it was removed)",
        ), None
    except (SlackClientError, OSError) as exc:
        return _unreachable_slack(subject, settings, exc), None
    bot = SlackBot(
        team=str(response.get("team")),
        team_id=str(response.get("team_id")),
        name=str(response.get("user")),
        scopes=_granted_scopes(response.headers),
    )
    return _ok(subject, f"workspace {bot.team} ({bot.team_id}), bot @{bot.name}"), bot


def _granted_scopes(headers: Mapping[str, str]) -> frozenset[str] | None:
    # Header names are case-insensitive, and the SDK keeps them as the server sent them.
    for name, value in headers.items():
        if name.lower() == "x-oauth-scopes":
            return frozenset(scope.strip() for scope in value.split(",") if scope.strip())
    return None


def _unreachable_slack(subject: str, settings: Settings, exc: Exception) -> Finding:
    return _fix(
        subject,
        f"could not reach Slack at {settings.slack_api_url} ({exc})",
        "check the network, and SLACK_API_URL if it is set",
    )


def check_slack_scopes(granted: frozenset[str] | None) -> Finding:
    subject = "Slack scopes"
    if granted is None:
        return _info(subject, "Slack did not say which scopes the bot token has; not checked")
    missing = [scope for scope in BOT_SCOPES if scope not in granted]
    if missing:
        return _fix(
            subject,
            f"the bot token lacks {', '.join(missing)}",
            "add them under the app's OAuth & Permissions > Bot Token Scopes (manifest.yml "
            "lists every scope textbot needs), then reinstall the app to the workspace",
        )
    return _ok(subject, f"the bot token has all {len(BOT_SCOPES)} scopes manifest.yml asks for")


def check_slack_requests(settings: Settings) -> Finding:
    """How Slack's requests reach textbot: Socket Mode with a working app-level token, or
    HTTP with a signing secret to verify them."""
    subject = "Slack requests"
    if settings.slack_app_token:
        client = WebClient(token=settings.slack_app_token, base_url=settings.slack_api_url)
        try:
            client.apps_connections_open(app_token=settings.slack_app_token)
        except SlackApiError as exc:
            return _fix(
                subject,
                f"Slack refused SLACK_APP_TOKEN ({exc.response.get('error')})",
                f"set it to {HOW_TO_GET['slack_app_token']}, with Socket Mode turned on",
            )
        except (SlackClientError, OSError) as exc:
            return _unreachable_slack(subject, settings, exc)
        if settings.slack_over_http:
            return _ok(
                subject,
                "Socket Mode: SLACK_APP_TOKEN opens a connection; /slack/events is served over "
                "HTTP as well, and only requests signed with SLACK_SIGNING_SECRET are taken",
            )
        return _ok(
            subject,
            "Socket Mode: SLACK_APP_TOKEN opens a connection; /slack/events is not served "
            "over HTTP",
        )
    if settings.slack_signing_secret:
        return _ok(
            subject,
            "HTTP mode: /slack/events takes only requests signed with SLACK_SIGNING_SECRET "
            "(only a request from Slack can prove its value; the app's request URLs must be "
            "PUBLIC_URL/slack/events)",
        )
    return _fix(
        subject,
        "neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode) is set, so "
        "textbot cannot take Slack's requests",
        f"set SLACK_APP_TOKEN to {HOW_TO_GET['slack_app_token']}; or, for HTTP mode, set "
        f"SLACK_SIGNING_SECRET to {HOW_TO_GET['slack_signing_secret']}",
    )


def check_open_routes(settings: Settings) -> Finding:
    """What anyone who reaches the HTTP port can use without proving who they are."""
    subject = "Open routes"
    if settings.dev_phone_allow_remote and not settings.uses_twilio:
        return _fix(
            subject,
            "the dev phone at /phone answers any machine (DEV_PHONE_ALLOW_REMOTE), so anyone "
            "who reaches the port can text the bot as any customer",
            "unset DEV_PHONE_ALLOW_REMOTE and open /phone on this machine (or over an SSH tunnel)",
        )
    if not settings.metrics_token:
        return _info(
            subject,
            "GET /metrics (counts, no customer data) answers anyone who reaches the port; set "
            "METRICS_TOKEN to ask for a bearer token. Every other route checks a signature",
        )
    return _ok(
        subject,
        "only /healthz is open; /metrics asks for METRICS_TOKEN, and Slack's and Twilio's "
        "routes check signatures",
    )


# --- Twilio ----------------------------------------------------------------------------------


def check_twilio_account(settings: Settings) -> tuple[Finding, TwilioAccount | None]:
    subject = "Twilio"
    if not settings.uses_twilio:
        return _info(
            subject,
            "no credentials, so texts go to the built-in SMS simulator (set "
            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to text through Twilio)",
        ), None
    try:
        twilio = TwilioAccount(settings)
        account = twilio.fetch()
    except TwilioSetupError as exc:
        return _twilio_fix(subject, exc), None
    return _ok(subject, f"account {account.friendly_name} ({account.sid}) is active"), twilio


def check_twilio_webhooks(public_url: str | None) -> tuple[Finding, str | None]:
    """PUBLIC_URL, the base of both Twilio webhooks. The status webhook is asked for on every
    text textbot sends (Twilio has no per-number setting for text status), so a usable
    PUBLIC_URL is all it needs; each number's incoming-text webhook is checked per line."""
    subject = "Twilio webhooks"
    try:
        url = check_public_url(public_url)
    except TwilioSetupError as exc:
        return _twilio_fix(subject, exc), None
    return _ok(
        subject,
        f"every text textbot sends asks Twilio for its status at {url}{STATUS_PATH}; "
        f"incoming texts must come to {url}{INBOUND_PATH}",
    ), url


def load_parked_posts(url: str) -> list[ParkedPosts]:
    engine = create_db_engine(url)
    try:
        with new_session(engine) as session:
            return find_parked_posts(session=session)
    finally:
        engine.dispose()


# What to do about a post Slack refused for good, by its error.
_PARKED_FIXES = {
    "not_in_channel": "invite the bot to the channel (/invite @bot in it)",
    "channel_not_found": "invite the bot to the private channel, or move the line "
    f"({MANAGE_LINES})",
    "is_archived": f"unarchive the channel, or move the line to another one ({MANAGE_LINES})",
    "invalid_auth": "set a valid SLACK_BOT_TOKEN (reinstall the app if it was revoked)",
    "account_inactive": "the app was uninstalled or its token revoked: reinstall it",
    "token_revoked": "reinstall the app and set its new SLACK_BOT_TOKEN",
    "missing_scope": "reinstall the app from manifest.yml so the token has every scope",
    "restricted_action": "a workspace setting stops the bot posting there: allow it, or move "
    "the line",
}
_PAYLOAD_FIX = "a bug in textbot: report it with the log lines that name the message"


def check_parked_posts(parked: list[ParkedPosts]) -> Finding:
    """Posts Slack refused for good: what they are, why, and what to do."""
    subject = "Slack posts"
    if not parked:
        return _ok(subject, "Slack took every post")
    problems, fixes = [], []
    for posts in parked:
        if posts.conversations:
            where = f" in channel {posts.channel_id}" if posts.channel_id else ""
            problems.append(
                f"{posts.conversations} conversation(s){where} wait for Slack ({posts.error})"
            )
        if posts.messages:
            problems.append(f"{posts.messages} message(s) refused ({posts.error})")
        fix = _PARKED_FIXES.get(posts.error, _PAYLOAD_FIX)
        if fix not in fixes:
            fixes.append(fix)
    return _fix(
        subject,
        "; ".join(problems),
        "; ".join(fixes) + ". A waiting conversation is posted with its next text",
    )


# --- lines -----------------------------------------------------------------------------------


def check_lines(
    lines: list[Line],
    *,
    slack: WebClient | None,
    bot_name: str,
    twilio: TwilioAccount | None,
    public_url: str | None,
    group_refusals: Mapping[int, datetime] | None = None,
) -> Iterator[Finding]:
    """Each line's channel (when the Slack token works) and Twilio number (when Twilio
    accepts the credentials); `group_refusals`: when Twilio last refused a line's group
    text for the account (50452)."""
    if not lines:
        yield _info(
            "Lines", "none yet: add one with `textbot lines add NUMBER --name NAME --channel C...`"
        )
        return
    if slack is None:
        yield _info("Lines' channels", "not checked until the Slack token works")
    for line in lines:
        if not line.active:
            yield _info(_line_subject(line), "turned off, so not checked")
            continue
        if slack is not None:
            yield check_line_channel(line, slack, bot_name)
        if twilio is not None:
            refused_at = (group_refusals or {}).get(line.id or 0)
            yield check_line_number(line, twilio, public_url, group_refused_at=refused_at)


def _line_subject(line: Line) -> str:
    return f"Line {format_phone(line.number)} ({line.name})"


def check_line_channel(line: Line, slack: WebClient, bot_name: str) -> Finding:
    """The line's channel exists, is not archived, and the bot is in it."""
    subject = _line_subject(line)
    try:
        channel = slack.conversations_info(channel=line.channel_id)["channel"]
    except SlackApiError as exc:
        return _channel_lookup_failed(subject, line.channel_id, exc.response, bot_name)
    except (SlackClientError, OSError) as exc:
        return _fix(
            subject,
            f"could not reach Slack to look up channel {line.channel_id} ({exc})",
            "check the network and run the doctor again",
        )
    name = f"#{channel.get('name')}"
    label = f"{name} ({line.channel_id})"
    if channel.get("is_archived"):
        return _fix(
            subject,
            f"channel {label} is archived",
            f"unarchive it, or move the line to another channel ({MANAGE_LINES})",
        )
    if not channel.get("is_member"):
        return _fix(
            subject,
            f"the bot is not in channel {label}",
            f"invite it: type /invite @{bot_name} in {name}",
        )
    return _ok(subject, f"channel {label}, and the bot is in it")


def _channel_lookup_failed(
    subject: str, channel_id: str, response: Mapping[str, object], bot_name: str
) -> Finding:
    error = response.get("error")
    if error == "channel_not_found":
        return _fix(
            subject,
            f"channel {channel_id} was not found",
            f"if it is a private channel, invite the bot to it (/invite @{bot_name}; Slack "
            "hides private channels from bots outside them); otherwise move the line to an "
            f"existing channel ({MANAGE_LINES})",
        )
    if error == "missing_scope":
        return _fix(
            subject,
            f"could not look up channel {channel_id}: the bot token lacks {response.get('needed')}",
            "grant it as Slack scopes above says",
        )
    return _fix(
        subject,
        f"could not look up channel {channel_id}: Slack answered {error}",
        "run the doctor again; if it persists, check the channel in Slack",
    )


def check_line_number(
    line: Line,
    twilio: TwilioAccount,
    public_url: str | None,
    *,
    group_refused_at: datetime | None = None,
) -> Finding:
    """The line's number belongs to the account, and its incoming texts come to PUBLIC_URL;
    a line whose reply-all groups are group texts can send them (Twilio has no way to ask
    whether the account may, short of trying: a refusal of its last one is shown)."""
    subject = _line_subject(line)
    try:
        number = twilio.find_number(line.number)
        if public_url is None:
            return _info(
                subject,
                f"Twilio number {number.sid} is in the account; where its incoming texts go "
                "is checked once PUBLIC_URL is fixed",
            )
        where = _check_inbound(line, number, twilio, inbound_webhook_url(public_url))
    except TwilioSetupError as exc:
        return _twilio_fix(subject, exc)
    if line.group_mms:
        cannot = group_mms_refusal(line.number)
        if cannot is None and not (number.capabilities or {}).get("mms"):
            cannot = f"Twilio number {number.sid} cannot send MMS"
        turn_off = f"turn them off: `textbot lines configure {line.number} --group-mms off`"
        if cannot:
            return _fix(subject, f"its reply-all groups are group texts, but {cannot}", turn_off)
        if group_refused_at is not None:
            return _fix(
                subject,
                "Twilio refused its last group text: group texting (group MMS) is not enabled "
                f"on the account (error 50452, {group_refused_at:%Y-%m-%d %H:%M} UTC)",
                f"ask Twilio support to enable group MMS on the account, or {turn_off}",
            )
        try:
            expected = group_texts_webhook_url(public_url)
            check_group_texts_webhook(twilio.fetch_group_texts_webhook(), expected)
        except TwilioSetupError as exc:
            return _twilio_fix(subject, exc)
        where += f"; reply-all groups are group texts (group MMS), their texts come to {expected}"
    return _ok(subject, f"Twilio number {number.sid}: {where}")


def _check_inbound(
    line: Line, number: IncomingPhoneNumberInstance, twilio: TwilioAccount, expected: str
) -> str:
    """Where the line's incoming texts go, once checked to be `expected`: the Messaging
    Service's webhook, unless the service defers to its numbers' own."""
    if line.messaging_service_sid:
        service = twilio.fetch_messaging_service(line.messaging_service_sid)
        if not service.use_inbound_webhook_on_number:
            check_service_inbound(service, expected)
            return f"incoming texts come to {expected} through Messaging Service {service.sid}"
    check_number_inbound(number, expected)
    return f"incoming texts come to {expected}"
