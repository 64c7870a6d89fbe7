"""Wires the running bot: engine, gateways, Bolt app, background workers, scheduler."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import col, select

from bot.db import Database, mark_background_thread
from bot.dev_phone import DevPhone, DevPhoneLine
from bot.dev_phone.app import PAGE_PATH as DEV_PHONE_PATH
from bot.dispatcher import Dispatcher
from bot.faults import crash_point
from bot.group_commit import GroupCommit
from bot.inbound_router import InboundRouter
from bot.mirror import SlackMirror
from bot.settings import Settings
from bot.slack_app import build_bolt_app, build_web_client
from bot.slack_pace import ChannelPace
from bot.sms_gateway import TwilioGateway
from bot.sms_simulator import SimulatedCarrier
from bot.workers import WorkerLoop
from handlers import texts
from handlers.deps import HandlerDeps
from handlers.slack.access import refresh_stale_usergroups
from handlers.twilio.inbound import store_inbound_text
from models.conversations import add_notice, close_idle_conversations
from models.inbound import stage_inbound_texts
from models.tables import Line
from models.types import utcnow

logger = logging.getLogger(__name__)

SIMULATOR_PATH = "/dev-phone/api"


class Runtime:
    """Everything one `textbot serve` process runs besides the HTTP server itself."""

    def __init__(self, settings: Settings, *, port: int):
        self.settings = settings
        local_url = f"http://127.0.0.1:{port}"
        self.public_url = settings.public_url or local_url
        self.database = Database(settings.database_url)

        self.simulator: SimulatedCarrier | None = None
        self.dev_phone: DevPhone | None = None
        if settings.uses_twilio:
            account_sid = settings.twilio_account_sid or ""
            auth_token = settings.twilio_auth_token or ""
            api_url = settings.twilio_api_url
        else:
            self.simulator = self._build_simulator(local_url)
            account_sid, auth_token = self.simulator.account_sid, self.simulator.auth_token
            api_url = local_url + SIMULATOR_PATH
            self.dev_phone = DevPhone(
                carrier=self.simulator,
                lines=self.dev_phone_lines,
                allow_remote=settings.dev_phone_allow_remote,
                default_region=settings.default_region,
            )
            logger.warning(
                "no Twilio credentials: texts go to the built-in SMS simulator; dev phone: %s%s",
                local_url,
                DEV_PHONE_PATH,
            )
        self.twilio_auth_token = auth_token
        self.gateway = TwilioGateway(
            account_sid=account_sid,
            auth_token=auth_token,
            api_url=api_url,
            status_callback_url=f"{self.public_url}/twilio/status",
            timeout=settings.twilio_timeout_seconds,
        )

        self.slack_client = build_web_client(settings)
        self.inbound_staging = GroupCommit(self._stage_inbound, name="inbound-staging")
        self.deps = HandlerDeps(
            new_session=self.database.session,
            new_read_session=self.database.read_session,
            default_region=settings.default_region,
            usergroup_max_age=timedelta(seconds=settings.usergroup_cache_seconds),
            work_queued=self.wake_workers,
            note_markers=settings.note_markers,
            max_multi_recipients=settings.max_multi_recipients,
            group_size=(settings.min_group_participants, settings.max_group_participants),
            team_url=lambda: self.mirror.team_url,
            cancel_scheduled_on_reply=settings.cancel_scheduled_on_reply,
            stage_inbound=self.inbound_staging.store,
            after_inbound_stored=lambda: crash_point("after_inbound_store"),
        )
        self.bolt_app = build_bolt_app(settings, self.slack_client, self.deps)

        self.dispatcher = Dispatcher(
            database=self.database,
            gateway=self.gateway,
            max_attempts=settings.max_send_attempts,
            on_change=self.wake_mirror,
            unconfirmed_after=timedelta(seconds=settings.reconcile_after_seconds),
        )
        self.mirror = SlackMirror(
            database=self.database,
            client=self.slack_client,
            fetch_media=self.gateway.fetch_media,
            lease=timedelta(seconds=settings.mirror_lease_seconds),
            pace=ChannelPace(settings.slack_post_interval_seconds),
        )
        self.inbound_router = InboundRouter(
            database=self.database, deps=self.deps, on_routed=self.wake_dispatcher_and_mirror
        )
        poll = settings.dispatcher_poll_seconds
        self.inbound_loop = WorkerLoop(
            "inbound-router", self.inbound_router.step, poll_seconds=poll
        )
        self.dispatcher_loop = WorkerLoop("dispatcher", self.dispatcher.step, poll_seconds=poll)
        self.mirror_loop = WorkerLoop("slack-mirror", self.mirror.step, poll_seconds=poll)
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={
                "default": ThreadPoolExecutor(
                    10, pool_kwargs={"initializer": mark_background_thread}
                )
            },
        )
        # Also at start: sends left unconfirmed by a crash are settled first thing.
        self.scheduler.add_job(
            self.dispatcher.reconcile,
            "interval",
            seconds=min(30.0, max(settings.reconcile_after_seconds / 2, 0.5)),
            id="reconcile",
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_job(
            self.reconcile_inbound,
            "interval",
            seconds=settings.inbound_reconcile_seconds,
            id="inbound-reconcile",
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_job(
            self.close_idle_conversations, "interval", minutes=5, id="auto-close", coalesce=True
        )
        self.scheduler.add_job(
            self.refresh_usergroups,
            "interval",
            seconds=max(settings.usergroup_cache_seconds // 2, 30),
            id="usergroups",
            coalesce=True,
        )

    def _build_simulator(self, local_url: str) -> SimulatedCarrier:
        public_url = self.public_url

        def reach(url: str) -> str:
            # The carrier lives in this process: it reaches the bot's own webhooks over
            # loopback, whatever PUBLIC_URL says, and signs them for PUBLIC_URL as Twilio does.
            return local_url + url.removeprefix(public_url) if url.startswith(public_url) else url

        return SimulatedCarrier(
            landlines=self.settings.dev_phone_landlines,
            inbound_webhook=f"{public_url}/twilio/messages",
            reach=reach,
        )

    def dev_phone_lines(self) -> list[DevPhoneLine]:
        """The lines a dev phone can text, read from the database."""
        with self.database.read_session() as session:
            rows = session.exec(select(Line).order_by(col(Line.name))).all()
            return [DevPhoneLine(number=r.number, name=r.name, active=r.active) for r in rows]

    def _stage_inbound(self, rows: list[dict[str, object]]) -> None:
        with self.database.engine.begin() as connection:
            stage_inbound_texts(connection, rows)

    def wake_workers(self) -> None:
        self.inbound_loop.wake()
        self.wake_dispatcher_and_mirror()

    def wake_dispatcher_and_mirror(self) -> None:
        self.dispatcher_loop.wake()
        self.mirror_loop.wake()

    def wake_mirror(self) -> None:
        self.mirror_loop.wake()

    def refresh_usergroups(self) -> None:
        with self.database.read_session() as session:
            teams = set(session.exec(select(Line.team_id).distinct()).all())
        for team_id in teams:
            refresh_stale_usergroups(deps=self.deps, client=self.slack_client, team_id=team_id)

    def close_idle_conversations(self, now: datetime | None = None) -> int:
        """Close conversations idle past their line's period, saying so in each thread."""
        with self.database.session() as session, session.begin():
            closed = close_idle_conversations(session=session, now=now or utcnow())
            for conversation in closed:
                line = session.get_one(Line, conversation.line_id)
                add_notice(
                    session=session,
                    conversation=conversation,
                    text=texts.AUTO_CLOSED.format(days=f"{line.auto_close_days:g}"),
                )
        if closed:
            self.wake_mirror()
        return len(closed)

    def reconcile_inbound(self) -> int:
        """Import, once and in order, texts Twilio received that the webhook never brought."""
        since = utcnow() - timedelta(hours=self.settings.inbound_lookback_hours)
        with self.database.read_session() as session:
            lines = list(session.exec(select(Line).where(col(Line.active).is_(True))).all())
        imported = 0
        for line in lines:
            try:
                texts_received = self.gateway.list_received(to=line.number, since=since)
            except Exception:
                logger.exception("could not list texts received by %s", line.number)
                continue
            for text in texts_received:
                with self.database.session() as session, session.begin():
                    if store_inbound_text(
                        session,
                        self.deps,
                        line=line,
                        sid=text.sid,
                        sender=text.sender,
                        body=text.body,
                    ):
                        imported += 1
                        logger.warning("imported text %s that the webhook missed", text.sid)
        if imported:
            self.wake_workers()
        return imported

    def start(self) -> None:
        self.inbound_loop.start()
        self.dispatcher_loop.start()
        self.mirror_loop.start()
        self.scheduler.start()

    def stop(self) -> None:
        self.mirror.stop_claiming()
        self.scheduler.shutdown(wait=False)
        self.inbound_staging.close()
        self.inbound_loop.stop()
        self.dispatcher_loop.stop()
        self.mirror_loop.stop()
        self.dispatcher.close()
        self.mirror.close()
        self.database.dispose()
