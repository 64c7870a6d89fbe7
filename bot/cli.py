"""The `textbot` command line."""

from __future__ import annotations

import errno
import logging
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session

from bot.db import (
    DatabaseNotReady,
    check_database_ready,
    create_db_engine,
    new_session,
    unreachable_database,
    upgrade_database,
)
from bot.logs import configure_logging, silenced
from bot.settings import (
    HOW_TO_GET,
    Settings,
    SettingsError,
    SlackNotSetUp,
    first_run_guide,
    load_settings,
)
from models.access import (
    InvalidPrincipal,
    InvalidTeamId,
    check_principal,
    check_team_id,
    is_usergroup,
    list_grants,
)
from models.contacts import (
    find_contact_by_phone,
    get_or_create_contact,
    rename_contact,
)
from models.lines import (
    LineError,
    describe_line_settings,
    find_line_by_number,
    list_lines,
)
from models.management import (
    LineChanges,
    add_line,
    change_line,
    list_audit,
    reconfigure_line,
)
from models.phone import InvalidPhoneNumber, format_phone, parse_phone
from models.tables import Line

logger = logging.getLogger("textbot")

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from twilio.rest.api.v2010.account.incoming_phone_number import IncomingPhoneNumberInstance

    from bot.mirror_process import MirrorProcess
    from bot.runtime import Runtime
    from bot.twilio_setup import TwilioAccount
    from models.contact_import import ImportTally

app = typer.Typer(
    help="Business texting from Slack.",
    no_args_is_help=True,
    add_completion=False,
    # An error the commands did not foresee is one line (main); --traceback shows Python's.
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
lines_app = typer.Typer(help="Lines: business numbers and who may use them.", no_args_is_help=True)
contacts_app = typer.Typer(help="Contacts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(lines_app, name="lines")
app.add_typer(contacts_app, name="contacts")

TRACEBACK_OPTION = "--traceback"

TeamOption = Annotated[
    str | None,
    typer.Option("--team", help="Slack team id (T...); default SLACK_TEAM_ID or the bot token's."),
]


# `serve`'s exit status on a first run (nothing set up): `make run` shows the set-up steps
# and stops there without calling it a failed build.
NOT_SET_UP = 3


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"textbot: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), 2)


def ready_database(config: Settings) -> None:
    """Stop with what to do when the database is missing, unreachable or not upgraded:
    a command on it would fail half-way (and SQLite would leave an empty file behind)."""
    try:
        check_database_ready(config.database_url)
    except DatabaseNotReady as exc:
        fail(str(exc))


def session(config: Settings) -> Session:
    ready_database(config)
    return new_session(create_db_engine(config.database_url))


def resolve_team(config: Settings, team: str | None) -> str:
    if team:
        try:
            return check_team_id(team)
        except InvalidTeamId as exc:
            fail(str(exc), 2)
    if config.slack_team_id:
        return config.slack_team_id
    if not config.slack_bot_token:
        fail("which Slack workspace? Pass --team T..., or set SLACK_TEAM_ID or SLACK_BOT_TOKEN", 2)
    from slack_sdk.errors import SlackApiError

    from bot.slack_app import build_web_client

    try:
        return str(build_web_client(config).auth_test()["team_id"])
    except SlackApiError as exc:
        fail(f"Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')}); pass --team T...")
    except Exception as exc:
        fail(f"could not reach Slack to learn the team id ({exc}); pass --team T...")


def phone_or_fail(text: str, config: Settings) -> str:
    try:
        return parse_phone(text, region=config.default_region)
    except InvalidPhoneNumber as exc:
        fail(str(exc))


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "0.0.0.0",
) -> None:
    """Serve Slack (HTTP, or Socket Mode when SLACK_APP_TOKEN is set) and the Twilio webhooks."""
    from bot.malloc_arenas import limit_malloc_arenas
    from bot.mirror_process import MirrorProcess
    from bot.mirror_process import wanted as mirror_process_wanted
    from bot.server import create_asgi_app, run_server

    limit_malloc_arenas()
    config = settings()
    try:
        config.check_for_serving()
    except SlackNotSetUp:
        fail(first_run_guide(port=port, simulator=not config.uses_twilio), NOT_SET_UP)
    except SettingsError as exc:
        fail(str(exc), 2)
    ready_database(config)
    # Checked before anything starts: uvicorn binds the port only after the app's workers
    # have started, and they would talk to whatever holds it.
    port_taken = listen_problem(host, port)
    if port_taken:
        fail(port_taken)
    configure_logging(config.log_format)
    # Forked before this process starts a thread (see bot/mirror_process.py).
    mirror_process = (
        MirrorProcess.fork(config, public_url=config.public_url or f"http://127.0.0.1:{port}")
        if mirror_process_wanted(config)
        else None
    )
    # Slack's SDK logs each failed attempt; what went wrong is said once, below.
    with silenced():
        runtime, socket_handler = connect_to_slack(config, port, mirror_process)
    if socket_handler is not None:
        logger.info("connected to Slack in Socket Mode")
    try:
        run_server(create_asgi_app(runtime), host=host, port=port, access_log=config.access_log)
    finally:
        if socket_handler is not None:
            socket_handler.close()


def connect_to_slack(
    config: Settings, port: int, mirror_process: MirrorProcess | None = None
) -> tuple[Runtime, SocketModeHandler | None]:
    """The runtime (Bolt checks the bot token with Slack), and in Socket Mode the open
    connection; or one line saying why not."""
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError, SlackClientError

    from bot.runtime import Runtime

    try:
        runtime = Runtime(config, port=port, mirror_process=mirror_process)
    except BoltError as exc:
        fail(f"Slack refused SLACK_BOT_TOKEN: {exc}", 2)
    except (SlackClientError, OSError) as exc:
        fail(slack_unreachable(config, exc))
    if not config.socket_mode:
        return runtime, None
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(runtime.bolt_app, config.slack_app_token)
    try:
        handler.connect()
    except SlackApiError as exc:
        fail(
            f"Slack refused SLACK_APP_TOKEN ({exc.response.get('error')}): "
            f"{HOW_TO_GET['slack_app_token']}",
            2,
        )
    except (SlackClientError, OSError) as exc:
        fail(slack_unreachable(config, exc))
    return runtime, handler


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the current schema (an empty one is created)."""
    config = settings()
    try:
        upgrade_database(config.database_url)
    except SQLAlchemyError as exc:
        fail(str(unreachable_database(config.database_url, exc)))
    typer.echo("Database is up to date.")


def listen_problem(host: str, port: int) -> str | None:
    """Why `textbot serve` could not listen on host:port, if it could not. The socket is
    made as uvicorn makes its own, SO_REUSEADDR included."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} is already in use (is textbot already running?): stop what "
                    "holds it, or pick another port: `textbot serve --port N` "
                    "(`make run PORT=N`)"
                )
            if exc.errno == errno.EACCES:
                return f"port {port} needs root: pick a port above 1023 with --port"
            return f"cannot listen on {host}:{port} ({exc.strerror}): check --host and --port"
    return None


def slack_unreachable(config: Settings, error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    return (
        f"cannot reach Slack at {config.slack_api_url} ({reason}): check this machine's "
        "network connection (and SLACK_API_URL, if set), then start again"
    )


def twilio_account_or_fail(config: Settings) -> tuple[TwilioAccount, str]:
    """The Twilio account and the URL its numbers' incoming texts must go to."""
    from bot.twilio_setup import (
        TwilioAccount,
        TwilioSetupError,
        check_public_url,
        inbound_webhook_url,
    )

    if not config.uses_twilio:
        fail(
            "configuring a number needs Twilio: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
            "(without them texts go to the built-in simulator, which needs no set-up)",
            2,
        )
    try:
        public_url = check_public_url(config.public_url)
        return TwilioAccount(config), inbound_webhook_url(public_url)
    except TwilioSetupError as exc:
        fail(str(exc), 2)


def twilio_number_or_fail(account: TwilioAccount, phone: str) -> IncomingPhoneNumberInstance:
    from bot.twilio_setup import TwilioSetupError

    try:
        return account.find_number(phone)
    except TwilioSetupError as exc:
        fail(str(exc))


def configure_number_or_fail(
    account: TwilioAccount, number: IncomingPhoneNumberInstance, url: str
) -> None:
    from bot.twilio_setup import TwilioSetupError, configure_number

    try:
        typer.echo(configure_number(account, number, url))
    except TwilioSetupError as exc:
        fail(str(exc))


@app.command()
def doctor() -> None:
    """Check the database, Slack, Twilio and every line; say what to fix, and how."""
    from bot.doctor import run_checks

    config = settings()
    problems = 0
    for finding in run_checks(config):
        typer.echo(finding.render())
        problems += finding.needs_fixing
    if problems:
        typer.echo(f"\n{problems} {'thing' if problems == 1 else 'things'} to fix.")
        raise typer.Exit(1)
    typer.echo("\nAll well.")


@lines_app.command("add")
def lines_add(
    number: str,
    name: Annotated[str, typer.Option(help="What people call the line, e.g. Sales.")],
    channel: Annotated[str, typer.Option(help="Slack channel id (C...) that mirrors it.")],
    team: TeamOption = None,
    configure_twilio: Annotated[
        bool,
        typer.Option(
            "--configure-twilio",
            help="Also point the number's incoming texts at PUBLIC_URL (through the Twilio "
            "API); nothing is added if that cannot be done.",
        ),
    ] = False,
) -> None:
    """Add a line: a business number mirrored into a Slack channel."""
    config = settings()
    phone = phone_or_fail(number, config)
    twilio: tuple[TwilioAccount, IncomingPhoneNumberInstance, str] | None = None
    if configure_twilio:
        account, inbound_url = twilio_account_or_fail(config)
        twilio = (account, twilio_number_or_fail(account, phone), inbound_url)
    team_id = resolve_team(config, team)
    # One transaction: when Twilio refuses the change, the line is not added either.
    with session(config) as db, db.begin():
        try:
            line = add_line(
                session=db,
                team_id=team_id,
                number=phone,
                name=name,
                channel_id=channel,
                actor="cli",
            )
        except LineError as exc:
            fail(str(exc))
        if twilio is not None:
            configure_number_or_fail(*twilio)
        typer.echo(f"Added line {line.name} ({format_phone(line.number)}) in {line.channel_id}.")


@lines_app.command("configure-twilio")
def lines_configure_twilio(number: str) -> None:
    """Point a line's Twilio number at this server: its incoming texts to PUBLIC_URL (and,
    for a line whose reply-all groups are group texts, the account's group texts too)."""
    config = settings()
    with session(config) as db:
        line = line_or_fail(db, number, config)
    account, inbound_url = twilio_account_or_fail(config)
    if line.group_mms:
        configure_group_texts_or_fail(account, config)
    if line.messaging_service_sid:
        fail(
            f"{line.name} texts through Messaging Service {line.messaging_service_sid}, whose "
            "incoming-message webhook serves all its numbers: set it in the Twilio console "
            "(`textbot doctor` says to what)"
        )
    configure_number_or_fail(account, twilio_number_or_fail(account, line.number), inbound_url)


def configure_group_texts_or_fail(account: TwilioAccount, config: Settings) -> None:
    from bot.twilio_setup import TwilioSetupError, configure_group_texts, group_texts_webhook_url

    try:
        url = group_texts_webhook_url(config.public_url or "")
        typer.echo(configure_group_texts(account, url))
    except TwilioSetupError as exc:
        fail(str(exc))


def line_or_fail(db: Session, number: str, config: Settings) -> Line:
    line = find_line_by_number(session=db, number=phone_or_fail(number, config))
    if line is None:
        fail(f"there is no line {number}; see `textbot lines list`")
    return line


@lines_app.command("grant")
def lines_grant(
    number: str,
    principals: Annotated[
        list[str], typer.Argument(help="Slack user ids (U...) or groups (S...).")
    ],
    manager: Annotated[
        bool,
        typer.Option(
            "--manager",
            help="The users may also manage the line in Slack (users who already have the "
            "line become managers).",
        ),
    ] = False,
) -> None:
    """Let users or user groups use a line (and, with --manager, manage it)."""
    config = settings()
    wanted = principals_or_fail(principals, managers=manager)
    with session(config) as db, db.begin():
        line = line_or_fail(db, number, config)
        current = {principal: is_manager for principal, is_manager in line_grants(db, line)}
        change_access_or_fail(
            db,
            line,
            LineChanges(
                users=users_of(current) | users_of(wanted),
                usergroups=groups_of(current) | groups_of(wanted),
                managers={p for p, m in current.items() if m} | (set(wanted) if manager else set()),
            ),
        )
    added = [p for p in wanted if p not in current]
    promoted = [p for p in wanted if manager and p in current and not current[p]]
    already = [p for p in wanted if p in current and p not in promoted]
    role = " as a manager" if manager and added else ""
    typer.echo(f"Granted {line.name} to {', '.join(added) or 'nobody new'}{role}.")
    if promoted:
        typer.echo(f"Now managing {line.name}: {', '.join(promoted)}.")
    if already:
        typer.echo(f"Already had it: {', '.join(already)}.")


@lines_app.command("revoke")
def lines_revoke(
    number: str,
    principals: Annotated[
        list[str], typer.Argument(help="Slack user ids (U...) or groups (S...).")
    ],
) -> None:
    """Take a line away from users or user groups (managers included)."""
    config = settings()
    unwanted = principals_or_fail(principals)
    with session(config) as db, db.begin():
        line = line_or_fail(db, number, config)
        current = dict(line_grants(db, line))
        change_access_or_fail(
            db,
            line,
            LineChanges(
                users=users_of(current) - set(unwanted),
                usergroups=groups_of(current) - set(unwanted),
                managers={p for p, m in current.items() if m} - set(unwanted),
            ),
        )
    removed = [p for p in unwanted if p in current]
    missing = [p for p in unwanted if p not in current]
    typer.echo(f"Revoked {line.name} from {', '.join(removed) or 'nobody'}.")
    if missing:
        typer.echo(f"Did not have it: {', '.join(missing)}.")


def principals_or_fail(principals: list[str], *, managers: bool = False) -> list[str]:
    """The principals checked, in the order given, each once."""
    try:
        checked = list(dict.fromkeys(check_principal(p) for p in principals))
    except InvalidPrincipal as exc:
        fail(str(exc))
    groups = groups_of(checked)
    if managers and groups:
        fail(
            f"{', '.join(sorted(groups))}: a user group cannot be a manager; only users can "
            "manage a line"
        )
    return checked


def users_of(principals: Iterable[str]) -> set[str]:
    return {p for p in principals if not is_usergroup(p)}


def groups_of(principals: Iterable[str]) -> set[str]:
    return {p for p in principals if is_usergroup(p)}


def line_grants(db: Session, line: Line) -> list[tuple[str, bool]]:
    """(principal, manages it) of each grant of the line."""
    return [(a.principal, a.manager) for a in list_grants(session=db, line=line)]


def change_access_or_fail(db: Session, line: Line, changes: LineChanges) -> None:
    # The same door as App Home's line settings: every change is in `textbot audit`.
    try:
        change_line(session=db, line=line, changes=changes, actor="cli")
    except (LineError, InvalidPrincipal) as exc:
        fail(str(exc))


@lines_app.command("configure")
def lines_configure(
    number: str,
    reply_delay: Annotated[
        float | None, typer.Option(help="Seconds a thread reply waits before it is sent (undo).")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Texts a second the line may send.")] = None,
    auto_close_days: Annotated[
        float | None,
        typer.Option(help="Close conversations with no text for this many days (0: never)."),
    ] = None,
    quiet_hours: Annotated[
        str | None,
        typer.Option(
            help="No texts between these hours of the recipient's day, e.g. 21-8; off: none."
        ),
    ] = None,
    away_message: Annotated[
        str | None,
        typer.Option(help='Texted back to a text outside business hours ("" turns it off).'),
    ] = None,
    business_hours: Annotated[
        str | None, typer.Option(help="Opening hours in the line's time zone, e.g. 09:00-17:00.")
    ] = None,
    time_zone: Annotated[
        str | None, typer.Option(help="The line's time zone, e.g. America/New_York.")
    ] = None,
    footer: Annotated[
        str | None,
        typer.Option(help='Added to a contact\'s first text, e.g. "Reply STOP to opt out".'),
    ] = None,
    no_footer: Annotated[bool, typer.Option("--no-footer", help="Remove the footer.")] = False,
    group_mms: Annotated[
        str | None,
        typer.Option(
            "--group-mms",
            help="on: reply-all groups are one group text (+1 long codes only); off: relayed.",
        ),
    ] = None,
) -> None:
    """Change a line's settings: reply delay, send rate, auto-close, quiet hours, away
    message with business hours and time zone, opt-out footer, group texts. Prints them
    all; the changes are recorded in `textbot audit`."""
    config = settings()
    changes: dict[str, object] = {
        "reply_delay_seconds": reply_delay,
        "sends_per_second": rate,
        "auto_close_days": auto_close_days,
        "business_hours": business_hours,
        "time_zone": time_zone,
    }
    if away_message is not None:
        changes["away_message"] = away_message
    if quiet_hours is not None:
        changes["quiet_hours"] = quiet_hours_or_fail(quiet_hours)
    if footer is not None or no_footer:
        changes["opt_out_footer"] = None if no_footer else footer
    if group_mms is not None:
        changes["group_mms"] = on_off_or_fail(group_mms, option="--group-mms")
    with session(config) as db, db.begin():
        line = line_or_fail(db, number, config)
        try:
            reconfigure_line(session=db, line=line, actor="cli", **changes)
        except LineError as exc:
            fail(str(exc))
        described = describe_line_settings(line)
    typer.echo(f"{line.name}: " + ", ".join(f"{k} {v}" for k, v in described.items()) + ".")
    if changes.get("group_mms") and config.uses_twilio:
        typer.echo(
            "Twilio posts members' texts to group texts to the account's Conversations "
            f"webhook: `textbot lines configure-twilio {line.number}` points it here."
        )


def on_off_or_fail(text: str, *, option: str) -> bool:
    value = text.strip().lower()
    if value not in ("on", "off"):
        fail(f"{option} is on or off, not {text!r}")
    return value == "on"


def quiet_hours_or_fail(text: str) -> tuple[int, int]:
    """'21-8' -> (21, 8); 'off' -> no quiet hours (start and end the same hour)."""
    if text.strip().lower() == "off":
        return (0, 0)
    start, _, end = text.partition("-")
    if not (start.strip().isdigit() and end.strip().isdigit()):
        fail(f"{text!r} is not two hours like 21-8 (or off)")
    return int(start), int(end)


@lines_app.command("list")
def lines_list() -> None:
    """List the lines with their channels, and who may use and manage each."""
    config = settings()
    with session(config) as db:
        rows = [(line, line_grants(db, line)) for line, _ in list_lines(session=db)]
    if not rows:
        typer.echo(
            "No lines yet. Add one with `textbot lines add NUMBER --name NAME --channel C...`."
        )
        return
    for line, grants in rows:
        state = "" if line.active else " (inactive)"
        state += "  group texts" if line.group_mms else ""
        access = ", ".join(p + (" (manager)" if m else "") for p, m in grants) or "nobody"
        typer.echo(
            f"{format_phone(line.number)}  {line.name}{state}  team {line.team_id}  "
            f"channel {line.channel_id}  access: {access}"
        )


@app.command()
def audit(
    team: Annotated[str | None, typer.Option("--team", help="Only this Slack team (T...).")] = None,
    limit: Annotated[int, typer.Option(help="How many of the latest entries.")] = 200,
) -> None:
    """Print the audit log of line and access changes: when, who, what."""
    config = settings()
    if team is not None:
        team = resolve_team(config, team)
    with session(config) as db:
        entries = list_audit(session=db, team_id=team, limit=limit)
    if not entries:
        typer.echo("No changes recorded yet.")
    for entry in entries:
        when = f"{entry.created_at:%Y-%m-%d %H:%M:%S}Z"
        typer.echo(f"{when}  {entry.actor}  {entry.action}  {entry.detail}")


@contacts_app.command("add")
def contacts_add(
    number: str,
    name: Annotated[
        str | None,
        typer.Option(help='The contact\'s name ("" removes it); without it a name is kept.'),
    ] = None,
    team: TeamOption = None,
) -> None:
    """Add a contact, or rename the one with this number."""
    config = settings()
    phone = phone_or_fail(number, config)
    team_id = resolve_team(config, team)
    with session(config) as db, db.begin():
        existing = find_contact_by_phone(session=db, team_id=team_id, phone=phone)
        if existing is None:
            contact, _ = get_or_create_contact(session=db, team_id=team_id, phone=phone, name=name)
            typer.echo(f"Added contact {format_phone(phone)}: {contact.name or '(no name)'}.")
        elif name is None:
            typer.echo(
                f"Contact {format_phone(phone)} is already there: {existing.name or '(no name)'} "
                "(unchanged; --name renames it)."
            )
        else:
            rename_contact(session=db, contact=existing, name=name)
            typer.echo(f"Updated contact {format_phone(phone)}: {existing.name or '(no name)'}.")


@contacts_app.command("import")
def contacts_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV with columns phone,name")
    ],
    team: TeamOption = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="The file's encoding, e.g. cp1252; default: told from the file."),
    ] = None,
) -> None:
    """Import contacts from a spreadsheet's CSV export (columns phone and name, separated
    by commas, semicolons or tabs): new numbers are added, known ones renamed; every row
    skipped is listed with its line and why."""
    from bot.contact_file import ContactFile, ContactFileError
    from bot.contact_import import import_contact_file

    config = settings()
    try:
        contacts = ContactFile(file, encoding=encoding)
    except ContactFileError as exc:
        fail(str(exc))
    ready_database(config)
    team_id = resolve_team(config, team)
    if encoding is None and contacts.encoding not in ("utf-8", "utf-8-sig"):
        typer.echo(
            f"Reading {file.name} as {contacts.encoding} (pass --encoding if names look wrong).",
            err=True,
        )
    engine = create_db_engine(config.database_url)
    try:
        with import_progress(contacts.size) as show:
            tally = import_contact_file(
                contacts,
                engine=engine,
                team_id=team_id,
                region=config.default_region,
                on_progress=show,
            )
    except KeyboardInterrupt:
        fail(
            "interrupted: the rows read so far are saved; import the file again for the rest "
            "(the saved ones then count as unchanged)",
            130,
        )
    finally:
        engine.dispose()
    for skipped in tally.skipped:
        typer.echo(f"  line {skipped.line}: {skipped.reason}")
    typer.echo(
        f"{file.name}: {tally.rows} {plural(tally.rows, 'row')}: {tally.added} added, "
        f"{tally.updated} updated, {tally.unchanged} unchanged, {len(tally.skipped)} skipped."
    )


def plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


@contextmanager
def import_progress(size: int) -> Iterator[Callable[[int, ImportTally], None]]:
    """A progress bar on a terminal's stderr with the counts so far; show(position, tally)
    moves it."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    with Progress(
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    ) as progress:
        task = progress.add_task("import", total=max(size, 1), counts="")

        def show(position: int, tally: ImportTally) -> None:
            progress.update(
                task,
                completed=position,
                counts=f"{tally.rows:,} rows: {tally.added:,} added, {tally.updated:,} updated, "
                f"{tally.unchanged:,} unchanged, {len(tally.skipped):,} skipped",
            )

        yield show


def main() -> None:
    try:
        app(prog_name="textbot")
    except OperationalError as exc:
        if TRACEBACK_OPTION in sys.argv:
            raise
        reason = " ".join(str(exc.orig or exc).split())
        typer.echo(
            f"textbot: the database failed ({reason}); if another process holds it (a busy "
            "SQLite file), try again",
            err=True,
        )
        sys.exit(1)
    except Exception as exc:
        if TRACEBACK_OPTION in sys.argv:
            raise
        reason = " ".join(str(exc).split()) or "no details"
        typer.echo(
            f"textbot: unexpected error ({type(exc).__name__}: {reason[:300]}); run the "
            f"command again with {TRACEBACK_OPTION} to see where, and please report it",
            err=True,
        )
        sys.exit(1)


@app.callback()
def root(
    traceback: Annotated[
        bool,
        typer.Option(TRACEBACK_OPTION, help="Show the Python traceback of an unexpected error."),
    ] = False,
) -> None:
    """Business texting from Slack."""


if __name__ == "__main__":
    main()
