"""Wires the running bot: engine, gateways, Bolt app, background workers, scheduler."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import col, select

from bot.db import Database, current_revision, latest_revision, mark_background_thread
from bot.dev_phone import DevPhone, DevPhoneLine
from bot.dev_phone.app import PAGE_PATH as DEV_PHONE_PATH
from bot.dispatcher import Dispatcher
from bot.faults import crash_point
from bot.group_commit import GroupCommit
from bot.inbound_recovery import InboundRecovery
from bot.inbound_router import InboundRouter
from bot.mirror import SlackMirror
from bot.mirror_process import MirrorProcess
from bot.outbound_media import OutboundPictures, SlackFiles
from bot.settings import Settings
from bot.slack_app import build_bolt_app, build_web_client
from bot.slack_pace import ChannelPace
from bot.sms_gateway import TwilioGateway
from bot.sms_simulator import SimulatedCarrier
from bot.workers import Worker, WorkerLoop, retry_pause
from handlers import texts
from handlers.deps import HandlerDeps
from handlers.slack.access import refresh_stale_usergroups, refresh_usergroup_handles
from models.clock import Clock
from models.conversations import add_notice, close_idle_conversations
from models.inbound import stage_inbound_texts
from models.outbound_media import purge_expired_media
from models.tables import Line

logger = logging.getLogger(__name__)

SIMULATOR_PATH = "/dev-phone/api"
INBOUND_RETRY_FIRST = timedelta(seconds=1)
INBOUND_RETRY_MAX = timedelta(minutes=1)


class _SkippedOverlapAtDebug(logging.Filter):
    """A periodic job still running when its next run is due skips that run, as it should
    (one at a time); APScheduler warns each time, which says nothing an operator can act
    on. The line goes to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances" not in str(record.msg):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


logging.getLogger("apscheduler.scheduler").addFilter(_SkippedOverlapAtDebug())


class Runtime:
    """Everything one `textbot serve` process runs besides the HTTP server itself."""

    def __init__(
        self, settings: Settings, *, port: int, mirror_process: MirrorProcess | None = None
    ):
        self.settings = settings
        local_url = f"http://127.0.0.1:{port}"
        self.public_url = settings.public_url or local_url
        self.local_url = local_url
        self.database = Database(settings.database_url)
        # From the migrations' file names (a test keeps it equal to Alembic's head): asking
        # Alembic took 0.3 s of every start.
        self.migration_head = latest_revision()

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
        self.clock = Clock()
        self.deps = HandlerDeps(
            clock=self.clock,
            new_session=self.database.session,
            new_read_session=self.database.read_session,
            default_region=settings.default_region,
            usergroup_max_age=timedelta(seconds=settings.usergroup_cache_seconds),
            # What a request queues is sends and Slack updates: the router has nothing new
            # (it polled the staged texts twice a wake, a quarter of the process's time
            # under a burst of view submissions).
            work_queued=self.wake_dispatcher_and_mirror,
            inbound_staged=self.wake_router,
            note_markers=settings.note_markers,
            max_multi_recipients=settings.max_multi_recipients,
            group_size=(settings.min_group_participants, settings.max_group_participants),
            team_url=lambda: self.mirror.team_url,
            cancel_scheduled_on_reply=settings.cancel_scheduled_on_reply,
            contact_directory=settings.contact_directory,
            stage_inbound=self.inbound_staging.store,
            after_inbound_stored=lambda: crash_point("after_inbound_store"),
        )
        self.bolt_app = build_bolt_app(settings, self.slack_client, self.deps)

        self.dispatcher = Dispatcher(
            database=self.database,
            gateway=self.gateway,
            max_attempts=settings.max_send_attempts,
            on_change=self.wake_mirror,
            # A phone's next text may be claimed as soon as the send ahead of it settles.
            on_settled=lambda: self.dispatcher_loop.wake(),
            unconfirmed_after=timedelta(seconds=settings.reconcile_after_seconds),
            clock=self.clock,
            pictures=OutboundPictures(
                database=self.database,
                fetch=SlackFiles(
                    token=settings.slack_bot_token or "",
                    api_url=settings.slack_api_url,
                    timeout=settings.twilio_timeout_seconds,
                ).fetch,
                public_url=self.public_url,
                clock=self.clock,
            ),
        )
        self.mirror = SlackMirror(
            database=self.database,
            client=self.slack_client,
            fetch_media=self.gateway.fetch_media,
            lease=timedelta(seconds=settings.mirror_lease_seconds),
            pace=ChannelPace(settings.slack_post_interval_seconds),
            clock=self.clock,
        )
        self._failed_inbound_reads = 0  # in a row: each retry waits twice as long
        self.inbound_recovery = InboundRecovery(
            database=self.database,
            gateway=self.gateway,
            lookback=timedelta(hours=settings.inbound_lookback_hours),
            clock=self.clock,
        )
        self.inbound_router = InboundRouter(
            database=self.database,
            on_routed=self.wake_dispatcher_and_mirror,
            recovery_wait=timedelta(seconds=settings.inbound_recovery_wait_seconds),
            clock=self.clock,
            default_region=settings.default_region,
            cancel_scheduled_on_reply=settings.cancel_scheduled_on_reply,
        )
        poll = settings.dispatcher_poll_seconds
        self.inbound_loop = WorkerLoop(
            "inbound-router", self.inbound_router.step, poll_seconds=poll
        )
        self.dispatcher_loop = WorkerLoop("dispatcher", self.dispatcher.step, poll_seconds=poll)
        # With a mirror process, this process's SlackMirror only answers team_url.
        self.mirror_loop: Worker = mirror_process or WorkerLoop(
            "slack-mirror", self.mirror.step, poll_seconds=poll
        )
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            # A run that comes late (a busy machine, a long previous run) still runs, once,
            # without a warning: by default APScheduler skips a run more than a second late
            # and warns each time.
            job_defaults={"misfire_grace_time": None, "coalesce": True},
            executors={
                "default": ThreadPoolExecutor(
                    10, pool_kwargs={"initializer": mark_background_thread}
                )
            },
        )
        # Also at start: sends left unconfirmed by a crash are settled as soon as their
        # lease runs out, and a phone's texts behind them are held no longer than that.
        self.scheduler.add_job(
            self.dispatcher.reconcile,
            "interval",
            seconds=min(30.0, max(settings.reconcile_after_seconds / 4, 0.5)),
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
            self.purge_expired_media, "interval", hours=1, id="media-purge", coalesce=True
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
            conversations_webhook=f"{public_url}/twilio/conversations",
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

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the workers have done what is due now: staged texts routed, due sends
        settled, Slack brought up to date. Tests look then at what did, or did not, happen
        (instead of sleeping and hoping that was long enough)."""
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(deadline - time.monotonic(), 0)

        for _ in range(2):  # the second round sees what the first one's work queued
            done = (
                self.inbound_loop.idle(left())
                and self.dispatcher_loop.idle(left())
                and self.dispatcher.finish_sends(left())
                and self.mirror_loop.idle(left())
            )
            if not done:
                raise TimeoutError(f"the workers were still busy after {timeout} s")

    def wake_router(self) -> None:
        self.inbound_loop.wake()

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
            refresh_usergroup_handles(deps=self.deps, client=self.slack_client, team_id=team_id)

    def close_idle_conversations(self, now: datetime | None = None) -> int:
        """Close conversations idle past their line's period, saying so in each thread."""
        with self.database.session() as session, session.begin():
            closed = close_idle_conversations(session=session, now=now or self.clock())
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

    def purge_expired_media(self, now: datetime | None = None) -> int:
        """Drop the pictures whose MMS URLs have expired (a send retried later fetches its
        picture from Slack again)."""
        with self.database.session() as session, session.begin():
            return purge_expired_media(session=session, now=now or self.clock())

    def reconcile_inbound(self) -> int:
        """Stage, once and in order, texts Twilio received that the webhook never brought.
        A log that could not be read is read again soon (1 s, then 2, 4… up to a minute),
        not at the next regular check minutes away: the texts of an outage wait for it."""
        staged, unread_lines = self.inbound_recovery.recover()
        if unread_lines:
            self._failed_inbound_reads += 1
            wait = retry_pause(
                self._failed_inbound_reads, first=INBOUND_RETRY_FIRST, most=INBOUND_RETRY_MAX
            )
            self.scheduler.add_job(
                self.reconcile_inbound,
                "date",
                run_date=datetime.now(UTC) + wait,
                id="inbound-reconcile-retry",
                replace_existing=True,
            )
        else:
            self._failed_inbound_reads = 0
        if staged:
            self.wake_workers()
        else:
            self.inbound_loop.wake()  # texts held for this read may be routed now
        return staged

    def readiness(self) -> dict[str, bool]:
        """Whether this process can take work: the database answers and is at this
        textbot's latest migration, and the background workers run."""
        try:
            revision = current_revision(self.database.engine)
        except Exception:
            logger.exception("readiness: database unreachable")
            database = migrated = False
        else:
            database, migrated = True, revision == self.migration_head
        loops = (self.inbound_loop, self.dispatcher_loop, self.mirror_loop)
        workers = self.scheduler.running and all(loop.running for loop in loops)
        return {"database": database, "migrations": migrated, "workers": workers}

    def start(self) -> None:
        if self.dev_phone is not None:
            logger.warning(
                "no Twilio credentials: texts go to the built-in SMS simulator; dev phone: %s%s",
                self.local_url,
                DEV_PHONE_PATH,
            )
        # Before the router runs: the texts the webhook brings first must not be routed
        # before the older ones the first read of Twilio's log recovers. (The simulator's
        # log lives and dies with this process: nothing can be missed while it is down.)
        if self.simulator is None:
            self.inbound_recovery.hold_routing()
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
