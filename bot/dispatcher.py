"""The outbox dispatcher: sends due deliveries through the SMS gateway at each line's pace."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from bot.db import Database, mark_background_thread
from bot.faults import crash_point
from bot.sms_gateway import SendFailed, TwilioGateway
from models.deliveries import (
    claim_due_deliveries,
    find_lines_with_due_deliveries,
    next_due_time,
    record_accepted,
    record_failure,
    record_retry,
    return_send_slots,
    settle_early_statuses,
    take_send_slots,
)
from models.error_codes import OPTED_OUT, describe_error
from models.optouts import find_opt_out, opt_out
from models.tables import Contact, Delivery, DeliveryStatus, Line
from models.types import utcnow

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300


def backoff_seconds(attempt: int) -> float:
    """2, 4, 8, ... seconds (with jitter so retries from many rows do not line up)."""
    return min(2.0**attempt, MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.2)


# A step claims the sends whose slots start within LOOKAHEAD, and comes back EARLY before
# the next free slot, so that a step running late (the process is busy) still claims it
# in time. Each send waits in its thread for its slot, so a fast line takes a few slots a
# step and its sends keep their spacing.
LOOKAHEAD = timedelta(seconds=0.08)
EARLY = timedelta(seconds=0.04)
# The longest a step waits for a send to finish when the pool is full.
FULL_POOL_WAIT_SECONDS = 1.0


@dataclass(eq=False)
class _Send:
    """A claimed delivery in hand: it goes at its slot, after the line's previous send has
    started (and one interval after it), and after any earlier send to the same phone has
    finished, so a line's texts leave in order and a phone gets its texts in order."""

    line: Line
    delivery: Delivery
    slot: datetime
    after: _Send | None = None
    same_phone: _Send | None = None
    started: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)


def _sleep_until_utc(moment: datetime) -> None:
    wait = (moment - utcnow()).total_seconds()
    if wait > 0:
        time.sleep(wait)


class Dispatcher:
    def __init__(
        self,
        *,
        database: Database,
        gateway: TwilioGateway,
        max_attempts: int = 8,
        on_change: Callable[[], None] = lambda: None,
        concurrency: int = 16,
        unconfirmed_after: timedelta = timedelta(seconds=60),
    ):
        self.database = database
        self.gateway = gateway
        self.max_attempts = max_attempts
        self.on_change = on_change
        # A claimed delivery with no outcome after this long is asked about: the process
        # that claimed it died, or the provider never answered. Longer than a send takes.
        self.unconfirmed_after = unconfirmed_after
        # Sends in hand (waiting for their slot or at the provider), at most one per thread.
        self.concurrency = concurrency
        self._pool = ThreadPoolExecutor(
            concurrency, thread_name_prefix="send", initializer=mark_background_thread
        )
        self._finished = threading.Condition()  # guards the four below
        self._in_hand: Counter[int] = Counter()  # per line
        self._last_send: dict[int, _Send] = {}  # the line's latest send in hand
        self._last_to: dict[tuple[int, str], _Send] = {}  # and per phone
        self._started_at: dict[int, float] = {}  # when the line's latest send started

    def step(self) -> float | None:
        """Claim the sends that each line's pace allows over the next moment, hand them to
        the pool to go out at their slot times, and say when to look again."""
        now = utcnow()
        with self.database.read_session() as session:
            lines = find_lines_with_due_deliveries(session=session, now=now)
        ready = [
            line
            for line in lines
            if line.next_send_at is None or line.next_send_at <= now + LOOKAHEAD
        ]
        # In random order, so that lines take turns at going first when the pool is short,
        # and a dispatcher in another process does not trail this one line after line.
        random.shuffle(ready)
        held_back: list[int] = []
        for index, line in enumerate(ready):
            with self._finished:
                in_hand = sum(self._in_hand.values())
                # Keep a thread for each line still to come that has none, so a line whose
                # sends hang cannot take the whole pool.
                waiting = sum(1 for later in ready[index + 1 :] if not self._in_hand[later.id or 0])
            room = self.concurrency - in_hand - waiting
            if room > 0:
                self._claim(line, now=now, limit=room)
            else:
                held_back.append(line.id or 0)
        with self.database.read_session() as session:
            due = next_due_time(session=session, skip_lines=held_back)
        delay = None if due is None else max((due - EARLY - utcnow()).total_seconds(), 0.01)
        if held_back:
            # Their turn comes when a send finishes (or another line's slot does).
            with self._finished:
                self._finished.wait(min(delay or FULL_POOL_WAIT_SECONDS, FULL_POOL_WAIT_SECONDS))
            return 0
        return delay

    def _claim(self, line: Line, *, now: datetime, limit: int) -> None:
        """Take up to `limit` of the line's slots starting soon, claim a due delivery for
        each (oldest first), and hand them to the pool."""
        line_id = line.id or 0
        changed = False
        sends: list[tuple[Delivery, datetime]] = []
        with self.database.session() as session:
            slots = take_send_slots(
                session=session, line=line, now=utcnow(), limit=limit, ahead=LOOKAHEAD
            )
            deliveries = claim_due_deliveries(
                session=session, line_id=line_id, now=now, slots=slots
            )
            if not deliveries:
                session.rollback()  # gives the slots back
                return
            if len(deliveries) < len(slots):
                return_send_slots(
                    session=session, line_id=line_id, first_unused=slots[len(deliveries)]
                )
            for delivery, slot in zip(deliveries, slots, strict=False):
                if find_opt_out(session=session, line_id=line_id, contact_id=delivery.contact_id):
                    # Opted out after the text was queued (a STOP during the reply delay).
                    record_failure(
                        session=session,
                        delivery=delivery,
                        error_text=describe_error(OPTED_OUT),
                        error_code=OPTED_OUT,
                    )
                    changed = True
                else:
                    sends.append((delivery, slot))
            session.commit()
        if changed:
            self.on_change()
        for delivery, slot in sends:
            send = _Send(line, delivery, slot)
            with self._finished:
                self._in_hand[line_id] += 1
                send.after = self._last_send.get(line_id)
                send.same_phone = self._last_to.get((line_id, delivery.to_phone))
                self._last_send[line_id] = self._last_to[line_id, delivery.to_phone] = send
            self._pool.submit(self._send_in_turn, send)

    def _send_in_turn(self, send: _Send) -> None:
        line_id = send.line.id or 0
        try:
            # Jobs run in the order they were handed over, so these waits end.
            if send.after is not None:
                send.after.started.wait()
            if send.same_phone is not None:
                send.same_phone.finished.wait()
            send.after = send.same_phone = None
            _sleep_until_utc(send.slot)
            # A thread that woke late must not bring its line's next send too close.
            interval = 1 / max(send.line.sends_per_second, 0.001)
            with self._finished:
                previous = self._started_at.get(line_id)
                start = time.monotonic()
                if previous is not None:
                    start = max(start, previous + interval)
                self._started_at[line_id] = start
            time.sleep(max(start - time.monotonic(), 0))
            send.started.set()
            self._send(send.line, send.delivery)
        except Exception:
            # Left claimed: reconcile() settles it.
            logger.exception("delivery %s: could not record the send's outcome", send.delivery.id)
        finally:
            send.started.set()
            send.finished.set()
            phone = (line_id, send.delivery.to_phone)
            with self._finished:
                self._in_hand[line_id] -= 1
                if not self._in_hand[line_id]:
                    del self._in_hand[line_id]
                if self._last_send.get(line_id) is send:
                    del self._last_send[line_id]
                if self._last_to.get(phone) is send:
                    del self._last_to[phone]
                self._finished.notify_all()
            self.on_change()

    def _send(self, line: Line, delivery: Delivery) -> None:
        crash_point("after_claim")
        try:
            accepted = self.gateway.send(
                to=delivery.to_phone,
                body=delivery.body,
                from_number=line.number,
                messaging_service_sid=line.messaging_service_sid,
            )
        except SendFailed as failure:
            self._record_failure(delivery, failure)
            return
        except Exception:
            logger.exception("delivery %s: unexpected error while sending", delivery.id)
            self._record_failure(
                delivery,
                SendFailed("internal error while sending", transient=True, maybe_sent=True),
            )
            return
        crash_point("after_send")
        logger.info(
            "delivery %s accepted as %s (%s)",
            delivery.id,
            accepted.sid,
            accepted.status,
            extra={"delivery_id": delivery.id, "message_sid": accepted.sid},
        )
        with self.database.session() as session, session.begin():
            record_accepted(
                session=session,
                delivery=session.get_one(Delivery, delivery.id),
                provider_sid=accepted.sid,
                status=accepted.status,
            )

    def _record_failure(self, delivery: Delivery, failure: SendFailed) -> None:
        if failure.maybe_sent:
            # Left claimed: reconcile() asks the provider before anything is sent again.
            logger.warning("delivery %s: outcome unknown (%s)", delivery.id, failure.text)
            return
        with self.database.session() as session, session.begin():
            row = session.get_one(Delivery, delivery.id)
            if failure.transient and delivery.attempts < self.max_attempts:
                delay = backoff_seconds(delivery.attempts)
                logger.warning(
                    "delivery %s: %s; retrying in %.0fs",
                    delivery.id,
                    failure.text,
                    delay,
                    extra={"delivery_id": delivery.id, "error_code": failure.code},
                )
                record_retry(
                    session=session,
                    delivery=row,
                    retry_at=utcnow() + timedelta(seconds=delay),
                    error_text=failure.text,
                    error_code=failure.code,
                )
            else:
                if failure.transient:
                    failure.text = f"gave up after {delivery.attempts} attempts: {failure.text}"
                logger.warning(
                    "delivery %s failed: %s",
                    delivery.id,
                    failure.text,
                    extra={"delivery_id": delivery.id, "error_code": failure.code},
                )
                record_failure(
                    session=session, delivery=row, error_text=failure.text, error_code=failure.code
                )
                if failure.code == OPTED_OUT:
                    # The carrier knows of a STOP we did not see: honour it from now on.
                    opt_out(
                        session=session,
                        line=session.get_one(Line, delivery.line_id),
                        contact=session.get_one(Contact, delivery.contact_id),
                        keyword="STOP (carrier)",
                    )

    def reconcile(self) -> int:
        """Settle deliveries claimed long ago with no outcome: if the provider has the
        message, record it; otherwise put the delivery back in the outbox."""
        cutoff = utcnow() - self.unconfirmed_after
        with self.database.read_session() as session:
            stuck = session.exec(
                select(Delivery, Line)
                .join(Line, col(Line.id) == Delivery.line_id)
                .where(Delivery.status == DeliveryStatus.SENDING, col(Delivery.claimed_at) < cutoff)
                .limit(100)
            ).all()
        with self.database.session() as session, session.begin():
            settled = settle_early_statuses(session=session)
        for delivery, line in stuck:
            try:
                found = self.gateway.find_sent(
                    to=delivery.to_phone,
                    body=delivery.body,
                    from_number=line.number,
                    since=delivery.claimed_at or cutoff,
                )
            except Exception:
                logger.exception("delivery %s: could not ask the provider", delivery.id)
                continue
            with self.database.session() as session, session.begin():
                row = session.get_one(Delivery, delivery.id)
                if found is not None:
                    record_accepted(
                        session=session, delivery=row, provider_sid=found.sid, status=found.status
                    )
                else:
                    session.execute(
                        update(Delivery)
                        .where(
                            col(Delivery.id) == delivery.id,
                            col(Delivery.status) == DeliveryStatus.SENDING,
                        )
                        .values(status=DeliveryStatus.PENDING, next_attempt_at=utcnow())
                    )
            settled += 1
        if settled:
            self.on_change()
        return settled

    def close(self) -> None:
        self._pool.shutdown(wait=True)
