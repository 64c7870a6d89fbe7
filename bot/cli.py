"""The `textbot` command line."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from twilio.rest.api.v2010.account.incoming_phone_number import IncomingPhoneNumberInstance

from bot.db import create_db_engine, current_revision, new_session, upgrade_database
from bot.logs import configure_logging
from bot.settings import (
    Settings,
    SettingsError,
    SlackNotSetUp,
    first_run_guide,
    load_settings,
)
from bot.twilio_setup import (
    TwilioAccount,
    TwilioSetupError,
    check_public_url,
    configure_number,
    inbound_webhook_url,
)
from models.access import InvalidPrincipal, grant_line, revoke_line
from models.contacts import find_contact_by_phone, get_or_create_contact, rename_contact
from models.lines import (
    LineError,
    configure_line,
    find_line_by_number,
    list_lines,
)
from models.management import add_line, audit_grants, list_audit
from models.phone import InvalidPhoneNumber, format_phone, parse_phone

app = typer.Typer(help="Business texting from Slack.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
lines_app = typer.Typer(help="Lines: business numbers and who may use them.", no_args_is_help=True)
contacts_app = typer.Typer(help="Contacts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(lines_app, name="lines")
app.add_typer(contacts_app, name="contacts")

TeamOption = Annotated[
    str | None,
    typer.Option("--team", help="Slack team id (T...); default SLACK_TEAM_ID or the bot token's."),
]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"textbot: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), 2)


def session(config: Settings) -> Session:
    return new_session(create_db_engine(config.database_url))


def resolve_team(config: Settings, team: str | None) -> str:
    if team or config.slack_team_id:
        return team or config.slack_team_id or ""
    if not config.slack_bot_token:
        fail("which Slack workspace? Pass --team T..., or set SLACK_TEAM_ID or SLACK_BOT_TOKEN", 2)
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
    from bot.runtime import Runtime
    from bot.server import create_asgi_app, run_server

    config = settings()
    try:
        config.check_for_serving()
    except SlackNotSetUp:
        fail(first_run_guide(port=port, simulator=not config.uses_twilio), 2)
    except SettingsError as exc:
        fail(str(exc), 2)
    configure_logging(config.log_format)
    engine = create_db_engine(config.database_url)
    try:
        revision = current_revision(engine)
    except OperationalError as exc:
        fail(f"cannot open the database {config.database_url}: {exc.orig}")
    if revision is None:
        fail("the database has no tables yet: run `textbot db upgrade` first")
    engine.dispose()
    try:
        runtime = Runtime(config, port=port)
    except BoltError as exc:
        fail(f"Slack refused SLACK_BOT_TOKEN: {exc}", 2)
    socket_handler = None
    if config.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(runtime.bolt_app, config.slack_app_token)
        socket_handler.connect()
        typer.echo("Connected to Slack in Socket Mode.", err=True)
    try:
        run_server(create_asgi_app(runtime), host=host, port=port, access_log=config.access_log)
    finally:
        if socket_handler is not None:
            socket_handler.close()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the current schema (an empty one is created)."""
    config = settings()
    try:
        upgrade_database(config.database_url)
    except OperationalError as exc:
        fail(f"cannot open the database {config.database_url}: {exc.orig}")
    typer.echo("Database is up to date.")


def twilio_account_or_fail(config: Settings) -> tuple[TwilioAccount, str]:
    """The Twilio account and the URL its numbers' incoming texts must go to."""
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
    try:
        return account.find_number(phone)
    except TwilioSetupError as exc:
        fail(str(exc))


def configure_number_or_fail(
    account: TwilioAccount, number: IncomingPhoneNumberInstance, url: str
) -> None:
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
    """Point a line's Twilio number at this server: its incoming texts to PUBLIC_URL."""
    config = settings()
    with session(config) as db:
        line = _line_or_fail(db, number, config)
    if line.messaging_service_sid:
        fail(
            f"{line.name} texts through Messaging Service {line.messaging_service_sid}, whose "
            "incoming-message webhook serves all its numbers: set it in the Twilio console "
            "(`textbot doctor` says to what)"
        )
    account, inbound_url = twilio_account_or_fail(config)
    configure_number_or_fail(account, twilio_number_or_fail(account, line.number), inbound_url)


def _line_or_fail(db: Session, number: str, config: Settings):  # type: ignore[no-untyped-def]
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
        bool, typer.Option("--manager", help="Users may also manage the line in Slack.")
    ] = False,
) -> None:
    """Let users or user groups use a line (and, with --manager, manage it)."""
    config = settings()
    with session(config) as db, db.begin():
        line = _line_or_fail(db, number, config)
        try:
            added = grant_line(
                session=db, line=line, principals=principals, granted_by="cli", manager=manager
            )
        except InvalidPrincipal as exc:
            fail(str(exc))
        audit_grants(session=db, line=line, principals=added, actor="cli", granted=True)
    already = [p for p in principals if p not in added]
    typer.echo(f"Granted {line.name} to {', '.join(added) or 'nobody new'}.")
    if already:
        typer.echo(f"Already had it: {', '.join(already)}.")


@lines_app.command("revoke")
def lines_revoke(
    number: str,
    principals: Annotated[
        list[str], typer.Argument(help="Slack user ids (U...) or groups (S...).")
    ],
) -> None:
    """Take a line away from users or user groups."""
    config = settings()
    with session(config) as db, db.begin():
        line = _line_or_fail(db, number, config)
        try:
            removed = revoke_line(session=db, line=line, principals=principals)
        except InvalidPrincipal as exc:
            fail(str(exc))
        audit_grants(session=db, line=line, principals=removed, actor="cli", granted=False)
    missing = [p for p in principals if p not in removed]
    typer.echo(f"Revoked {line.name} from {', '.join(removed) or 'nobody'}.")
    if missing:
        typer.echo(f"Did not have it: {', '.join(missing)}.")


@lines_app.command("configure")
def lines_configure(
    number: str,
    reply_delay: Annotated[
        float | None, typer.Option(help="Seconds a thread reply waits before it is sent (undo).")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Texts a second the line may send.")] = None,
    footer: Annotated[
        str | None,
        typer.Option(help='Added to a contact\'s first text, e.g. "Reply STOP to opt out".'),
    ] = None,
    no_footer: Annotated[bool, typer.Option("--no-footer", help="Remove the footer.")] = False,
    auto_close_days: Annotated[
        float | None, typer.Option(help="Close conversations idle this many days (0: never).")
    ] = None,
    away_message: Annotated[
        str | None, typer.Option(help='Texted back outside business hours ("" turns it off).')
    ] = None,
    business_hours: Annotated[
        str | None, typer.Option(help="Opening hours in the line's time zone, e.g. 09:00-17:00.")
    ] = None,
    time_zone: Annotated[
        str | None, typer.Option(help="The line's time zone, e.g. America/New_York.")
    ] = None,
    quiet_hours: Annotated[
        str | None,
        typer.Option(help="No texts between these hours, recipient's time, e.g. 21-8."),
    ] = None,
) -> None:
    """Change a line's reply delay, send rate or opt-out footer."""
    config = settings()
    with session(config) as db, db.begin():
        line = _line_or_fail(db, number, config)
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
            start, _, end = quiet_hours.partition("-")
            if not (start.strip().isdigit() and end.strip().isdigit()):
                fail(f"{quiet_hours!r} is not two hours like 21-8")
            changes["quiet_hours"] = (int(start), int(end))
        if footer is not None or no_footer:
            changes["opt_out_footer"] = None if no_footer else footer
        try:
            configure_line(session=db, line=line, **changes)  # type: ignore[arg-type]
        except LineError as exc:
            fail(str(exc))
        typer.echo(
            f"{line.name}: replies wait {line.reply_delay_seconds:g}s, up to "
            f"{line.sends_per_second:g} texts/s, idle conversations close after "
            f"{line.auto_close_days:g} days, footer: {line.opt_out_footer or 'none'}."
        )


@lines_app.command("list")
def lines_list() -> None:
    """List the lines with their channels and grants."""
    config = settings()
    with session(config) as db:
        rows = list_lines(session=db)
    if not rows:
        typer.echo(
            "No lines yet. Add one with `textbot lines add NUMBER --name NAME --channel C...`."
        )
        return
    for line, grants in rows:
        state = "" if line.active else " (inactive)"
        typer.echo(
            f"{format_phone(line.number)}  {line.name}{state}  team {line.team_id}  "
            f"channel {line.channel_id}  access: {', '.join(grants) or 'nobody'}"
        )


@app.command()
def audit(
    team: Annotated[str | None, typer.Option("--team", help="Only this Slack team (T...).")] = None,
    limit: Annotated[int, typer.Option(help="How many of the latest entries.")] = 200,
) -> None:
    """Print the audit log of line and access changes: when, who, what."""
    config = settings()
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
    name: Annotated[str | None, typer.Option(help="The contact's name.")] = None,
    team: TeamOption = None,
) -> None:
    """Add a contact, or rename the one with this number."""
    config = settings()
    phone = phone_or_fail(number, config)
    team_id = resolve_team(config, team)
    with session(config) as db, db.begin():
        existing = find_contact_by_phone(session=db, team_id=team_id, phone=phone)
        if existing is not None:
            rename_contact(session=db, contact=existing, name=name)
            typer.echo(f"Updated contact {format_phone(phone)}: {name or '(no name)'}.")
        else:
            get_or_create_contact(session=db, team_id=team_id, phone=phone, name=name)
            typer.echo(f"Added contact {format_phone(phone)}: {name or '(no name)'}.")


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: phone,name")],
    team: TeamOption = None,
) -> None:
    """Import contacts from a CSV file with columns phone,name; reports skipped rows."""
    config = settings()
    team_id = resolve_team(config, team)
    added = updated = 0
    skipped: list[str] = []
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower() for c in reader.fieldnames or []}
        if "phone" not in columns:
            fail(f"{file} has no 'phone' column; the first row must be: phone,name")
        with session(config) as db, db.begin():
            for row_number, raw in enumerate(reader, start=2):
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                try:
                    phone = parse_phone(row.get("phone", ""), region=config.default_region)
                except InvalidPhoneNumber as exc:
                    skipped.append(f"row {row_number}: {exc}")
                    continue
                name = row.get("name") or None
                existing = find_contact_by_phone(session=db, team_id=team_id, phone=phone)
                if existing is None:
                    get_or_create_contact(session=db, team_id=team_id, phone=phone, name=name)
                    added += 1
                elif name and name != existing.name:
                    rename_contact(session=db, contact=existing, name=name)
                    updated += 1
    typer.echo(f"Imported {added} new contact(s), updated {updated}, skipped {len(skipped)}.")
    for reason in skipped:
        typer.echo(f"  skipped {reason}")


def main() -> None:
    app(prog_name="textbot")


if __name__ == "__main__":
    main()
