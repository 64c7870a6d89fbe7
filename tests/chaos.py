"""The chaos harness: `textbot serve` as a real process against the loopback fakes, texts
going both ways while the process is killed (SIGKILL) at seeded moments and restarted, the
fakes answer 429 and 500 or hang, and the bot is down for an outage while texts arrive;
then what reached each phone and each Slack thread is counted against what was texted and
queued.

Everything random comes from one seeded generator, so a run can be repeated by its seed
(what the machine's timing does with it still varies)."""

from __future__ import annotations

import contextlib
import random
import re
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from models.conversations import open_or_reopen_conversation, send_text
from models.tables import (
    Contact,
    Conversation,
    Delivery,
    DeliveryStatus,
    InboundWebhook,
    Line,
    Message,
)
from tests.factories import make_contact, make_line
from tests.fakes.slack import FakeSlack, ShownText
from tests.fakes.twilio import FakeTwilio, TwilioDriver
from tests.processes import BotProcess
from tests.slack_driver import SlackDriver

ALICE = "U0ALICE"
LINE = "+12025550100"
LINE_NAME = "Sales"
CHANNEL = "C0SALES"
FIRST_PHONE = 130  # the customers are +1202555 0130 and on (fictional numbers)
# How long the bot waits for Twilio (a hang is longer than this).
TWILIO_TIMEOUT_SECONDS = 2.0
# Slack's client waits 10 s (bot/slack_app.py): a hang past it, then the post goes through.
SLACK_HANG_SECONDS = 11.0

_BODY = re.compile(r"^(in|out) (\d{2}) #(\d{4})\b")
_LATE = "received late"


@dataclass(frozen=True)
class Plan:
    """One scenario: how many customers text the line and are texted, how often the bot
    is killed during that traffic, which faults the fakes inject, and the outage at the
    end (texts that arrive and are queued while no bot runs)."""

    name: str
    phones: int
    inbound: int  # texted by the phones during the traffic
    outbound: int  # queued for them during the traffic (some by /text)
    kills: int  # SIGKILL at seeded moments of the traffic, each followed by a restart
    outage_inbound: int
    outage_outbound: int
    faults: int = 0  # fault injections spread over the traffic
    slack_hangs: bool = False  # include Slack hangs past its client's patience
    tail: int = 0  # texts after the last restart, while the backlog is recovered
    pace: float = 0.1  # seconds between two texts of the traffic
    quick_send_share: float = 0.25  # of the outbound texts, sent with /text while a bot runs


@dataclass
class Counts:
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0


@dataclass
class Result:
    plan: Plan
    database: str
    seed: int
    inbound: Counts
    outbound: Counts
    thread: Counts  # the outbound texts as the threads show them
    late: int  # inbound texts posted after newer ones, marked "received late"
    kills: int
    faults: list[str]
    recovery_seconds: float | None  # from the last restart until every backlog is clear
    ready_seconds: float  # of which the process took this long to answer /healthz
    duration_seconds: float
    problems: list[str] = field(default_factory=list)
    # How long after the last restart a fault went on (a hang, a slow or unreadable service).
    faults_after_restart_seconds: float = 0.0

    @property
    def clean(self) -> bool:
        counts = (self.inbound, self.outbound, self.thread)
        return not self.problems and not any(
            c.lost or c.duplicated or c.out_of_order for c in counts
        )


def phone(index: int) -> str:
    return f"+12025550{FIRST_PHONE + index:03d}"


class Chaos:
    """Runs a plan against one database; `run()` returns its Result."""

    def __init__(
        self,
        plan: Plan,
        *,
        seed: int,
        workdir: Path,
        database_url: str,
        engine: Engine,
        fake_slack: FakeSlack,
        fake_twilio: FakeTwilio,
        log: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.plan = plan
        self.seed = seed
        self.rng = random.Random(seed)
        self.workdir = workdir
        self.database_url = database_url
        self.engine = engine
        self.slack = fake_slack
        self.twilio = fake_twilio
        self.log = log
        self.bot: BotProcess | None = None
        self._bot_lock = threading.Lock()
        self._drivers_of: dict[int, tuple[TwilioDriver, SlackDriver]] = {}
        self.texted: dict[int, list[str]] = defaultdict(list)  # phone: inbound bodies, in order
        self.acked_quick_sends: list[str] = []
        self.kills = 0
        self.faults: list[str] = []
        # When the last fault with a duration (a hang, a slow or unreadable service) ends.
        self.faults_until = 0.0
        self.progress = 0  # traffic texts done
        self._counters: dict[tuple[str, int], int] = defaultdict(int)
        self._timers: list[threading.Timer] = []
        self._holds: list[threading.Event] = []
        self._ids: dict[int, tuple[int, int, int]] = {}  # phone: line, contact, conversation
        self.processes: list[BotProcess] = []
        self.ready_seconds: list[float] = []  # how long each start took to answer /healthz

    # --- set-up -----------------------------------------------------------------------
    def set_up(self) -> None:
        """The line (fast enough that its pace is not what is measured), and each customer
        with a conversation on it."""
        with Session(self.engine) as session, session.begin():
            line = make_line(
                session, number=LINE, name=LINE_NAME, channel_id=CHANNEL, grants=(ALICE,)
            )
            line.sends_per_second = 50.0
            for index in range(self.plan.phones):
                contact = make_contact(session, phone=phone(index))
                conversation, _ = open_or_reopen_conversation(
                    session=session, line=line, contact=contact, user_id=ALICE
                )
                session.flush()
                self._ids[index] = (line.id or 0, contact.id or 0, conversation.id or 0)

    # --- the bot ------------------------------------------------------------------------
    def start_bot(self) -> BotProcess:
        starting = time.monotonic()
        bot = BotProcess(
            self.workdir,
            self.database_url,
            self.slack,
            self.twilio,
            start_timeout=120,  # a busy machine
            TWILIO_TIMEOUT_SECONDS=str(TWILIO_TIMEOUT_SECONDS),
        )
        self.ready_seconds.append(time.monotonic() - starting)
        self.processes.append(bot)
        with self._bot_lock:
            self.bot = bot
        return bot

    def kill_bot(self) -> None:
        with self._bot_lock:
            bot, self.bot = self.bot, None
        if bot is None:
            return
        bot.process.send_signal(signal.SIGKILL)
        bot.wait_killed()
        bot.stop()
        self._close_drivers(bot)
        self.kills += 1
        self._keep_log(bot)

    def _keep_log(self, bot: BotProcess) -> None:
        """Each process's log under its own name (a restarted one may get the same port)."""
        if bot.log.exists():
            bot.log.rename(bot.log.with_name(f"bot-{self.processes.index(bot) + 1}.log"))

    def stop_all(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for release in self._holds:
            release.set()
        with self._bot_lock:
            self.bot = None
        for bot in self.processes:
            if bot.process.poll() is None:
                bot.stop()
                self._keep_log(bot)
            self._close_drivers(bot)

    def _current(self) -> BotProcess | None:
        with self._bot_lock:
            return self.bot

    def _drivers(self, bot: BotProcess) -> tuple[TwilioDriver, SlackDriver]:
        """One Twilio and one Slack driver a process, so that a text does not pay for a new
        HTTP client (an SSL context each: tens of ms on a busy machine, counted as the
        bot's recovery time)."""
        with self._bot_lock:
            drivers = self._drivers_of.get(id(bot))
            if drivers is None:
                drivers = (TwilioDriver(bot.url), SlackDriver(bot.url, self.slack))
                self._drivers_of[id(bot)] = drivers
            return drivers

    def _close_drivers(self, bot: BotProcess) -> None:
        with self._bot_lock:
            drivers = self._drivers_of.pop(id(bot), None)
        for driver in drivers or ():
            driver.http.close()

    # --- traffic ------------------------------------------------------------------------
    def _next_body(self, direction: str, index: int) -> str:
        self._counters[(direction, index)] += 1
        return f"{direction} {index:02d} #{self._counters[(direction, index)]:04d}"

    def text_in(self, index: int) -> None:
        """A customer texts the line: Twilio logs it, then posts the webhook to the bot
        that runs now, if any (Twilio does not retry a webhook that failed)."""
        body = self._next_body("in", index)
        self.texted[index].append(body)
        message = self.twilio.receive(sender=phone(index), to=LINE, body=body)
        bot = self._current()
        if bot is None:
            return
        driver, _ = self._drivers(bot)
        with contextlib.suppress(httpx.HTTPError):  # killed meanwhile: it is in Twilio's log
            driver.post(
                "/twilio/messages",
                driver.inbound_params(from_=phone(index), to=LINE, body=body, sid=message.sid),
            )

    def text_out(self, index: int, *, quick: bool) -> None:
        """Someone texts a customer: with /text to the running bot, else queued in the
        database (as the form or a thread reply does)."""
        body = self._next_body("out", index)
        bot = self._current() if quick else None
        if bot is not None:
            number = phone(index).removeprefix("+1")
            _, driver = self._drivers(bot)
            try:
                answer = driver.slash(f"{LINE_NAME} {number} {body}", user=ALICE)
            except httpx.HTTPError:
                return  # never answered: whether it was queued, the database says
            if answer.status_code == 200 and "is on its way" in answer.text:
                self.acked_quick_sends.append(body)
            return
        line_id, contact_id, conversation_id = self._ids[index]
        with Session(self.engine) as session, session.begin():
            send_text(
                session=session,
                conversation=session.get_one(Conversation, conversation_id),
                line=session.get_one(Line, line_id),
                recipients=[session.get_one(Contact, contact_id)],
                body=body,
                author_user_id=ALICE,
            )

    def traffic(
        self, inbound: int, outbound: int, *, quick_send_share: float | None = None
    ) -> list[tuple[str, int, bool]]:
        """The texts of a stretch of traffic, in a seeded order."""
        share = self.plan.quick_send_share if quick_send_share is None else quick_send_share
        events = [("in", self.rng.randrange(self.plan.phones), False) for _ in range(inbound)]
        events += [
            ("out", self.rng.randrange(self.plan.phones), self.rng.random() < share)
            for _ in range(outbound)
        ]
        self.rng.shuffle(events)
        return events

    def play(
        self,
        events: list[tuple[str, int, bool]],
        *,
        pace: float | None = None,
        faults_after: set[int] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        """Text, at the plan's pace (or `pace`), injecting a fault after each text whose
        number is in `faults_after`."""
        pace = self.plan.pace if pace is None else pace
        for direction, index, quick in events:
            if direction == "in":
                self.text_in(index)
            else:
                self.text_out(index, quick=quick)
            if self.progress in faults_after:
                self.inject_fault()
            self.progress += 1
            if pace:
                time.sleep(pace)

    # --- faults -------------------------------------------------------------------------
    def _later(self, seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def inject_fault(self) -> None:
        kinds = [
            "twilio 429",
            "twilio 500",
            "twilio hang (logged)",
            "twilio hang (dropped)",
            "twilio log 503",
            "slack 429",
            "slack 500",
            "slack slow",
        ]
        if self.plan.slack_hangs:
            kinds.append("slack hang")
        kind = self.rng.choice(kinds)
        to = phone(self.rng.randrange(self.plan.phones))
        if kind == "twilio 429":
            self.twilio.refuse(to, status=429, code=20429, message="Too Many Requests", times=2)
        elif kind == "twilio 500":
            self.twilio.refuse(to, status=500, code=20500, message="Internal Server Error")
        elif kind.startswith("twilio hang"):
            self.twilio.hang_next_send_to(
                to, TWILIO_TIMEOUT_SECONDS + 1, logged=kind.endswith("(logged)")
            )
            self._lasts(TWILIO_TIMEOUT_SECONDS + 1)
        elif kind == "twilio log 503":
            self.twilio.log_unavailable = True
            self._later(2.0, lambda: setattr(self.twilio, "log_unavailable", False))
            self._lasts(2.0)
        elif kind == "slack 429":
            self.slack.fail_next("chat.postMessage", status=429, retry_after=1, times=3)
        elif kind == "slack 500":
            self.slack.fail_next("chat.postMessage", status=500, error="internal_error", times=2)
            self.slack.fail_next("chat.update", status=500, error="internal_error", times=2)
        elif kind == "slack slow":
            self.slack.delay("chat.postMessage", 2.0)
            self._later(4.0, lambda: self.slack.delay("chat.postMessage", 0))
            self._lasts(4.0 + 2.0)
        elif kind == "slack hang":
            release = self.slack.hold("chat.postMessage")
            self._holds.append(release)
            self._later(SLACK_HANG_SECONDS, release.set)
            self._lasts(SLACK_HANG_SECONDS)
        self.faults.append(kind)
        self.log(
            f"fault: {kind}"
            + (f" ({to})" if kind.startswith(("twilio 4", "twilio 5", "twilio h")) else "")
        )

    def _lasts(self, seconds: float) -> None:
        self.faults_until = max(self.faults_until, time.monotonic() + seconds)

    # --- the run ------------------------------------------------------------------------
    def run(self) -> Result:
        began = time.monotonic()
        plan = self.plan
        self.set_up()
        self.start_bot()
        events = self.traffic(plan.inbound, plan.outbound)
        # The traffic in as many stretches as there are kills, plus one. Each stretch
        # starts with a bot up; at a seeded moment of it (a seeded jitter after a seeded
        # text) the bot is killed, and the stretch's texts go on while it restarts. The
        # faults come after seeded texts, anywhere.
        stretches = [
            events[n * len(events) // (plan.kills + 1) : (n + 1) * len(events) // (plan.kills + 1)]
            for n in range(plan.kills + 1)
        ]
        faults_after = set(self.rng.choices(range(len(events)), k=plan.faults))
        for n, stretch in enumerate(stretches):
            kill_after = round(len(stretch) * self.rng.uniform(0.4, 0.8))
            jitter = self.rng.uniform(0, plan.pace * 3)
            done = self.progress
            player = threading.Thread(
                target=self.play, args=(stretch,), kwargs={"faults_after": faults_after}
            )
            player.start()
            try:
                if n < plan.kills:
                    while self.progress < done + kill_after and player.is_alive():
                        time.sleep(0.01)
                    time.sleep(jitter)
                    self.log(f"{self._since(began)} SIGKILL after {self.progress} texts")
                    self.kill_bot()
                    self.start_bot()  # the texts meanwhile go to Twilio's log only
                    self.log(f"{self._since(began)} restarted in {self.ready_seconds[-1]:.1f} s")
            finally:
                player.join()

        # The outage: the bot is down (killed), texts arrive and are queued meanwhile.
        self.log(f"{self._since(began)} outage")
        self.kill_bot()
        outage = self.traffic(plan.outage_inbound, plan.outage_outbound)
        self.play(outage, pace=0)
        restarted = time.monotonic()
        self.start_bot()
        self.log(f"{self._since(began)} restarted in {self.ready_seconds[-1]:.1f} s")
        # A little traffic while the backlog is recovered, through the bot: texts queued
        # in the database from this process would wait on SQLite's write lock behind the
        # recovering bot (its own writers take turns; another process's only retry), and
        # that wait would count as the bot's recovery time.
        self.play(self.traffic(plan.tail, plan.tail // 2, quick_send_share=1.0))

        texts = plan.inbound + plan.outbound + plan.outage_inbound + plan.outage_outbound
        recovery = self.wait_clear(timeout=120.0 + texts * 0.1)
        recovery_seconds = None if recovery is None else recovery - restarted
        self.log(f"{self._since(began)} clear" if recovery else "not clear")
        time.sleep(2)  # anything sent or posted twice shows by now (reconcile runs each 1.25 s)
        result = self.count()
        result.recovery_seconds = recovery_seconds
        # A fault still going on after the restart (Slack hanging) holds the backlog for
        # as long: the bot's own part is counted from the later of the two.
        result.faults_after_restart_seconds = max(0.0, self.faults_until - restarted)
        result.ready_seconds = self.ready_seconds[-1]
        result.duration_seconds = time.monotonic() - began
        return result

    @staticmethod
    def _since(began: float) -> str:
        return f"[{time.monotonic() - began:6.1f} s]"

    # --- what is clear ------------------------------------------------------------------
    def _threads(self) -> dict[int, list[ShownText]]:
        """Each customer's texts as the channel's threads show them, in the order posted
        (a catch-up post's texts in its order)."""
        by_phone: dict[int, list[ShownText]] = defaultdict(list)
        for post in self.slack.channel_messages(CHANNEL):
            if not post.thread_ts:
                continue
            for shown in post.shown():
                found = _BODY.match(shown.text)
                if found:
                    by_phone[int(found.group(2))].append(shown)
        return by_phone

    def _settled(self) -> bool:
        with Session(self.engine) as session:
            unsettled = session.exec(
                select(func.count())
                .select_from(Delivery)
                .where(col(Delivery.status).in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))
            ).one()
            staged = session.exec(select(func.count()).select_from(InboundWebhook)).one()
            unmirrored = session.exec(
                select(func.count())
                .select_from(Message)
                .where(col(Message.slack_rev) > col(Message.slack_synced_rev))
            ).one()
        return unsettled == 0 and staged == 0 and unmirrored == 0

    def _all_texts_in_slack(self) -> bool:
        shown = {post.text for posts in self._threads().values() for post in posts}
        return all(body in shown for bodies in self.texted.values() for body in bodies)

    def wait_clear(self, *, timeout: float) -> float | None:
        """When every backlog was clear: each inbound text in its thread, each queued text
        settled and mirrored, nothing staged. None if not within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # The database's counts first: three queries, where reading every thread for
            # thousands of texts takes the fakes' process (and so the bot's calls to the
            # fakes) a while.
            if self._settled() and self._all_texts_in_slack():
                return time.monotonic()
            time.sleep(0.25)
        return None

    # --- counting -----------------------------------------------------------------------
    def count(self) -> Result:
        problems: list[str] = []
        threads = self._threads()
        inbound, outbound, thread, late = Counts(), Counts(), Counts(), 0
        with Session(self.engine) as session:
            deliveries = list(session.exec(select(Delivery).order_by(col(Delivery.id))).all())
            parents = session.exec(
                select(Contact.phone, Conversation.slack_thread_ts).join(
                    Contact, col(Contact.id) == Conversation.contact_id
                )
            ).all()
        thread_of = dict(parents)
        queued: dict[str, list[str]] = defaultdict(list)
        for delivery in deliveries:
            queued[delivery.to_phone].append(delivery.body)
            if delivery.status in (DeliveryStatus.FAILED, DeliveryStatus.CANCELED):
                problems.append(f"delivery {delivery.id} {delivery.status}: {delivery.error_text}")
        stored = {body for bodies in queued.values() for body in bodies}
        for body in self.acked_quick_sends:
            if body not in stored:
                problems.append(f"/text acknowledged {body!r} but it was never queued")
                outbound.lost += 1
        top = self.slack.top_level(CHANNEL)
        if len(top) != len(parents):
            problems.append(f"{len(top)} parents in the channel for {len(parents)} conversations")

        for index in range(self.plan.phones):
            # Outbound: what the phone received against what was queued for it, in order.
            expected = queued.get(phone(index), [])
            received = [m.body for m in self.twilio.sent_to(phone(index))]
            _compare(expected, received, outbound, problems, f"{phone(index)} received")
            # The thread shows each queued text once, in the order queued.
            posts = threads.get(index, [])
            if len({p.thread_ts for p in posts} | {thread_of.get(phone(index))}) > 1:
                problems.append(f"{phone(index)}'s texts are not all in its conversation's thread")
            shown_out = [p.text for p in posts if p.text.startswith("out ")]
            _compare(expected, shown_out, thread, problems, f"{phone(index)}'s thread (out)")
            # Inbound: what the thread shows against what the phone texted, in order; a
            # text posted after newer ones must say it was received late.
            shown_in = [p for p in posts if p.text.startswith("in ")]
            texted = self.texted.get(index, [])
            late_ok = {p.text for p in shown_in if _LATE in p.all_text}
            late += _compare(
                texted,
                [p.text for p in shown_in],
                inbound,
                problems,
                f"{phone(index)}'s thread (in)",
                excused=late_ok,
            )
        return Result(
            plan=self.plan,
            database=self.engine.dialect.name,
            seed=self.seed,
            inbound=inbound,
            outbound=outbound,
            thread=thread,
            late=late,
            kills=self.kills,
            faults=self.faults,
            recovery_seconds=None,
            ready_seconds=0.0,
            duration_seconds=0.0,
            problems=problems,
        )


def _compare(
    expected: list[str],
    actual: list[str],
    counts: Counts,
    problems: list[str],
    where: str,
    *,
    excused: set[str] = frozenset(),  # type: ignore[assignment]
) -> int:
    """Count into `counts` what of `expected` is missing from `actual`, what is in it more
    than once, and what comes after a text expected later (unless `excused`); returns how
    many came out of order excused."""
    position = {body: n for n, body in enumerate(expected)}
    seen: set[str] = set()
    highest = -1
    excused_count = 0
    for body in actual:
        if body in seen:
            counts.duplicated += 1
            problems.append(f"{where}: {body!r} twice")
            continue
        seen.add(body)
        if body not in position:
            problems.append(f"{where}: {body!r} was never sent")
            continue
        if position[body] < highest:
            if body in excused:
                excused_count += 1
            else:
                counts.out_of_order += 1
                problems.append(f"{where}: {body!r} after {expected[highest]!r}")
        highest = max(highest, position[body])
    for body in expected:
        if body not in seen:
            counts.lost += 1
            problems.append(f"{where}: {body!r} missing")
    return excused_count


TABLE_HEADER = (
    "| Scenario | DB | Texts in | Texts out | Kills | Faults | Inbound lost / dup / out of "
    "order (late) | Outbound lost / dup / out of order | Thread lost / dup / out of order | "
    "Recovery s |\n|---|---|---|---|---|---|---|---|---|---|"
)


def table_row(result: Result) -> str:
    plan = result.plan
    texts_in = plan.inbound + plan.outage_inbound + plan.tail
    texts_out = plan.outbound + plan.outage_outbound + plan.tail // 2
    recovery = (
        "not clear"
        if result.recovery_seconds is None
        else f"{result.recovery_seconds:.1f} (start {result.ready_seconds:.1f})"
    )
    faults_after = result.faults_after_restart_seconds
    if result.recovery_seconds is not None and faults_after > 0:
        own = result.recovery_seconds - faults_after
        recovery += f"; {own:.1f} after faults that went on {faults_after:.1f} s"

    def three(c: Counts) -> str:
        return f"{c.lost} / {c.duplicated} / {c.out_of_order}"

    return (
        f"| {plan.name} | {result.database} | {texts_in} | {texts_out} | {result.kills} | "
        f"{len(result.faults)} | {three(result.inbound)} ({result.late}) | "
        f"{three(result.outbound)} | {three(result.thread)} | {recovery} |"
    )


def with_section(page: str, section: str) -> str:
    """`page` with its "## Chaos suite" section (up to the next "## " heading) replaced by
    `section`, or `section` added at its end: the text around it is kept."""
    start = page.find("## Chaos suite")
    if start < 0:
        return page + ("\n" if page and not page.endswith("\n\n") else "") + section
    end = page.find("\n## ", start + 1)
    rest = "" if end < 0 else "\n" + page[end + 1 :]
    return page[:start] + section + rest
