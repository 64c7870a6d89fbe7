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

from bot.db import Database, mark_background_thread
from bot.faults import crash_point
from bot.outbound_media import OutboundPictures
from bot.sms_gateway import Accepted, SendFailed, TwilioGateway
from models.deliveries import (
    Failed,
    NotTaken,
    RetryLater,
    Taken,
    claim_due_deliveries,
    find_lines_with_due_deliveries,
    find_recorded_sids,
    find_unconfirmed,
    next_due_time,
    record_send_outcome,
    renew_leases,
    return_send_slots,
    settle_early_statuses,
    take_lookup,
    take_send_slots,
)
from models.error_codes import OPTED_OUT, describe_error
from models.group_texts import group_member_phones, record_group_conversation
from models.sending import departure_refusal, opt_out_refusal
from models.tables import Contact, Conversation, Delivery, Line
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
    started (and one interval after it), so a line's texts leave in order. (A phone's next
    text is not even claimed before this one is settled: see models.deliveries.)"""

    line: Line
    delivery: Delivery
    slot: datetime
    after: _Send | None = None
    started: threading.Event = field(default_factory=threading.Event)


class Dispatcher:
    def __init__(
        self,
        *,
        database: Database,
        gateway: TwilioGateway,
        max_attempts: int = 8,
        on_change: Callable[[], None] = lambda: None,
        on_settled: Callable[[], None] = lambda: None,
        concurrency: int = 16,
        unconfirmed_after: timedelta = timedelta(seconds=5),
        pictures: OutboundPictures | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.database = database
        self.clock = clock
        # The MediaUrl of a delivery whose message has pictures (None: texts only).
        self.pictures = pictures
        self.gateway = gateway
        self.max_attempts = max_attempts
        self.on_change = on_change
        # A send finished (a phone's next text may go now): wakes the dispatcher's loop.
        self.on_settled = on_settled
        # The lease on a send in hand: the process renews it every fifth of it while the
        # send is in hand, however slow the provider. Once it runs out (the process died,
        # or the send timed out, at least 4/5 of it ago), reconcile() looks the send up in
        # Twilio's log, and one still missing there is sent again.
        self.unconfirmed_after = unconfirmed_after
        # Sends in hand (waiting for their slot or at the provider), at most one per thread.
        self.concurrency = concurrency
        self._pool = ThreadPoolExecutor(
            concurrency, thread_name_prefix="send", initializer=mark_background_thread
        )
        self._finished = threading.Condition()  # guards the five below
        self._in_hand: Counter[int] = Counter()  # per line
        self._last_send: dict[int, _Send] = {}  # the line's latest send in hand
        self._started_at: dict[int, float] = {}  # when the line's latest send started
        self._leased: set[int] = set()  # the deliveries in hand, whose leases are renewed
        self._lease_keeper: threading.Thread | None = None
        self._closing = threading.Event()

    def step(self) -> float | None:
        """Claim the sends that each line's pace allows over the next moment, hand them to
        the pool to go out at their slot times, and say when to look again."""
        now = self.clock()
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
        delay = None if due is None else max((due - EARLY - self.clock()).total_seconds(), 0.01)
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
                session=session, line=line, now=self.clock(), limit=limit, ahead=LOOKAHEAD
            )
            deliveries = claim_due_deliveries(
                session=session,
                line_id=line_id,
                now=now,
                slots=slots,
                lease=self.unconfirmed_after,
            )
            if not deliveries:
                session.rollback()  # gives the slots back
                return
            if len(deliveries) < len(slots):
                return_send_slots(
                    session=session, line_id=line_id, first_unused=slots[len(deliveries)]
                )
            for delivery, slot in zip(deliveries, slots, strict=False):
                # The policy again: things change while a text waits (a STOP or a revoked
                # grant during the reply delay, a line turned off before a scheduled time).
                refused = departure_refusal(session=session, delivery=delivery, line=line)
                # A group text goes to the group: Twilio leaves out a member who opted out.
                group = delivery.group_conversation_id is not None
                if (
                    refused is None
                    and not group
                    and opt_out_refusal(
                        session=session,
                        line=line,
                        contact=session.get(Contact, delivery.contact_id),
                    )
                ):
                    refused, code = describe_error(OPTED_OUT), OPTED_OUT
                else:
                    code = None
                if refused is None:
                    sends.append((delivery, slot))
                    continue
                logger.info("delivery %s not sent: %s", delivery.id, refused)
                record_send_outcome(
                    session=session, delivery=delivery, outcome=Failed(refused, code)
                )
                changed = True
            session.commit()
        if changed:
            self.on_change()
        for delivery, slot in sends:
            send = _Send(line, delivery, slot)
            with self._finished:
                self._in_hand[line_id] += 1
                self._leased.add(delivery.id or 0)
                send.after = self._last_send.get(line_id)
                self._last_send[line_id] = send
                self._keep_leases()
            self._pool.submit(self._send_in_turn, send)

    def _keep_leases(self) -> None:
        """Start the thread that renews the leases of the sends in hand (under _finished)."""
        if self._lease_keeper is None:
            self._lease_keeper = threading.Thread(
                target=self._renew_leases, name="send-leases", daemon=True
            )
            self._lease_keeper.start()

    def _renew_leases(self) -> None:
        mark_background_thread()
        while not self._closing.wait(self.unconfirmed_after.total_seconds() / 5):
            with self._finished:
                in_hand = list(self._leased)
            if not in_hand:
                continue
            try:
                with self.database.session() as session, session.begin():
                    renew_leases(
                        session=session,
                        delivery_ids=in_hand,
                        until=self.clock() + self.unconfirmed_after,
                    )
            except Exception:
                logger.exception("could not renew the leases of %d sends", len(in_hand))

    def _send_in_turn(self, send: _Send) -> None:
        line_id = send.line.id or 0
        try:
            # Jobs run in the order they were handed over, so this wait ends.
            if send.after is not None:
                send.after.started.wait()
            send.after = None
            self._sleep_until(send.slot)
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
            with self._finished:
                self._in_hand[line_id] -= 1
                if not self._in_hand[line_id]:
                    del self._in_hand[line_id]
                if self._last_send.get(line_id) is send:
                    del self._last_send[line_id]
                self._leased.discard(send.delivery.id or 0)
                self._finished.notify_all()
            self.on_change()
            self.on_settled()

    def _sleep_until(self, moment: datetime) -> None:
        wait = (moment - self.clock()).total_seconds()
        if wait > 0:
            time.sleep(wait)

    def _send(self, line: Line, delivery: Delivery) -> None:
        crash_point("after_claim")
        try:
            # A picture that cannot go fails the send: nothing goes without it.
            if delivery.group_conversation_id is not None:
                accepted = self._send_to_group(line, delivery)
            else:
                media_urls = self.pictures.urls_for(delivery) if self.pictures else []
                accepted = self.gateway.send(
                    to=delivery.to_phone,
                    body=delivery.body,
                    from_number=line.number,
                    messaging_service_sid=line.messaging_service_sid,
                    media_urls=media_urls,
                )
        except SendFailed as failure:
            self._record_failure(line, delivery, failure)
            return
        except Exception:
            logger.exception("delivery %s: unexpected error while sending", delivery.id)
            self._record_failure(
                line,
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
            recorded = record_send_outcome(
                session=session, delivery=delivery, outcome=Taken(accepted.sid, accepted.status)
            )
        if not recorded:
            # Its lease ran out while it was at the provider (this process stalled), and it
            # was settled as not sent: it may reach the phone twice.
            logger.error(
                "delivery %s: sent as %s after it had been given up on",
                delivery.id,
                accepted.sid,
                extra={"delivery_id": delivery.id, "message_sid": accepted.sid},
            )

    def _group_conversation_sid(self, line: Line, delivery: Delivery) -> str:
        """The Twilio conversation of the delivery's group text, made on its first send.
        Recorded in a transaction of its own right after: if the process dies in between,
        the next attempt's create finds the same numbers taken (50438) and reuses it."""
        with self.database.read_session() as session:
            conversation = session.get_one(Conversation, delivery.group_conversation_id)
            if conversation.provider_conversation_sid:
                return conversation.provider_conversation_sid
            members = group_member_phones(session=session, conversation=conversation)
            name = f"{line.name} group {conversation.id}"
        sid = self.gateway.create_group(line_number=line.number, members=members, name=name)
        crash_point("after_group_create")
        with self.database.session() as session, session.begin():
            record_group_conversation(
                session=session, conversation_id=delivery.group_conversation_id or 0, sid=sid
            )
        logger.info("group text %s is Twilio's %s", delivery.group_conversation_id, sid)
        return sid

    def _send_to_group(self, line: Line, delivery: Delivery) -> Accepted:
        """One message to a group text's conversation, written by the line."""
        sid = self._group_conversation_sid(line, delivery)
        return self.gateway.send_to_group(
            conversation_sid=sid, author=line.number, body=delivery.body
        )

    def _record_failure(self, line: Line, delivery: Delivery, failure: SendFailed) -> None:
        if failure.maybe_sent:
            logger.warning("delivery %s: outcome unknown (%s)", delivery.id, failure.text)
            self._settle_cut_send(line, delivery)
            return
        outcome: RetryLater | Failed
        if failure.transient and delivery.attempts < self.max_attempts:
            delay = backoff_seconds(delivery.attempts)
            logger.warning(
                "delivery %s: %s; retrying in %.0fs",
                delivery.id,
                failure.text,
                delay,
                extra={"delivery_id": delivery.id, "error_code": failure.code},
            )
            outcome = RetryLater(
                self.clock() + timedelta(seconds=delay), failure.text, failure.code
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
            outcome = Failed(failure.text, failure.code)
        with self.database.session() as session, session.begin():
            recorded = record_send_outcome(session=session, delivery=delivery, outcome=outcome)
        if not recorded:
            logger.warning(
                "delivery %s: its attempt was settled meanwhile; this failure is not recorded",
                delivery.id,
                extra={"delivery_id": delivery.id},
            )

    def _settle_cut_send(self, line: Line, delivery: Delivery) -> None:
        """A send whose request got no answer is never sent again blindly. Its lease is let
        run out from now; until then, look for it in Twilio's log at once and twice more a
        moment apart (Twilio may have taken it and answered late), so the texts behind it
        need not wait for the lease. If it is still missing, reconcile() makes the last
        look once the lease has run out, and only then sends it again."""
        with self._finished:
            self._leased.discard(delivery.id or 0)
        pause = self.unconfirmed_after.total_seconds() / 5
        for look in range(3):
            if look:
                time.sleep(pause * look)  # after 1/5, then 3/5 of the lease
            if self._look_up(line, delivery, conclusive=False):
                return

    def reconcile(self) -> int:
        """Settle the sends whose lease ran out with no outcome: if the provider's log has
        the message, record it; otherwise put the delivery back in the outbox, still first
        in its phone's queue. Returns how many were settled."""
        with self.database.read_session() as session:
            lapsed = find_unconfirmed(session=session, now=self.clock())
        with self.database.session() as session, session.begin():
            settled = settle_early_statuses(session=session)
        for delivery, line in lapsed:
            with self.database.session() as session, session.begin():
                taken = take_lookup(
                    session=session, delivery=delivery, until=self.clock() + self.unconfirmed_after
                )
            if taken and self._look_up(line, delivery, conclusive=True):
                settled += 1
        if settled:
            self.on_change()
            self.on_settled()
        return settled

    def _look_up(self, line: Line, delivery: Delivery, *, conclusive: bool) -> bool:
        """Look an unconfirmed send up in the provider's log and record it if it is there.
        If it is not, and the look is `conclusive` (the request is long over), put it back
        in the outbox. True if the delivery was settled."""
        # The provider dates its log by the system clock (tests may have moved ours on).
        since = (delivery.claimed_at or self.clock()) - (self.clock() - utcnow())
        try:
            if delivery.group_conversation_id is not None:
                candidates = self._find_sent_to_group(line, delivery, since=since)
            else:
                candidates = self.gateway.find_sent(
                    to=delivery.to_phone,
                    body=delivery.body,
                    from_number=line.number,
                    messaging_service_sid=line.messaging_service_sid,
                    since=since,
                )
        except Exception:
            logger.exception("delivery %s: could not ask the provider", delivery.id)
            return False
        with self.database.session() as session, session.begin():
            # The same words sent a moment earlier are another delivery's message.
            taken = find_recorded_sids(session=session, provider_sids=[c.sid for c in candidates])
            found = next((c for c in candidates if c.sid not in taken), None)
            if found is None and not conclusive:
                return False
            settled = record_send_outcome(
                session=session,
                delivery=delivery,
                outcome=NotTaken() if found is None else Taken(found.sid, found.status),
            )
        if settled:
            logger.info(
                "delivery %s: %s",
                delivery.id,
                f"found as {found.sid}" if found else "not taken by the provider; sending again",
                extra={"delivery_id": delivery.id},
            )
        return settled

    def _find_sent_to_group(
        self, line: Line, delivery: Delivery, *, since: datetime
    ) -> list[Accepted]:
        with self.database.read_session() as session:
            conversation = session.get_one(Conversation, delivery.group_conversation_id)
            sid = conversation.provider_conversation_sid
        if sid is None:
            return []  # never made: nothing was sent to it
        return self.gateway.find_sent_to_group(
            conversation_sid=sid, author=line.number, body=delivery.body, since=since
        )

    def finish_sends(self, timeout: float) -> bool:
        """Wait until no send is in hand (False if some still are after `timeout` seconds)."""
        with self._finished:
            return self._finished.wait_for(lambda: not self._in_hand, timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._closing.set()
