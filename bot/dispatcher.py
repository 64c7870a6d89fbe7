"""The outbox dispatcher: sends due deliveries through the SMS gateway at each line's pace."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from bot.db import Database
from bot.faults import crash_point
from bot.sms_gateway import SendFailed, TwilioGateway
from models.deliveries import (
    claim_next_delivery,
    find_lines_with_due_deliveries,
    next_due_time,
    record_accepted,
    record_failure,
    record_retry,
    settle_early_statuses,
    take_send_slot,
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


class Dispatcher:
    def __init__(
        self,
        *,
        database: Database,
        gateway: TwilioGateway,
        max_attempts: int = 8,
        on_change: Callable[[], None] = lambda: None,
        concurrency: int = 8,
        unconfirmed_after: timedelta = timedelta(seconds=60),
    ):
        self.database = database
        self.gateway = gateway
        self.max_attempts = max_attempts
        self.on_change = on_change
        # A claimed delivery with no outcome after this long is asked about: the process
        # that claimed it died, or the provider never answered. Longer than a send takes.
        self.unconfirmed_after = unconfirmed_after
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="send")

    def step(self) -> float | None:
        """Claim one delivery per line whose pace allows a send now, send them, and say
        when to look again."""
        now = utcnow()
        with self.database.read_session() as session:
            lines = find_lines_with_due_deliveries(session=session, now=now)
        claimed: list[tuple[Line, Delivery]] = []
        for line in lines:
            with self.database.session() as session:
                if not take_send_slot(session=session, line=line, now=now):
                    session.rollback()
                    continue
                delivery = claim_next_delivery(session=session, line_id=line.id or 0, now=now)
                if delivery is None:
                    session.rollback()  # gives the slot back
                    continue
                if find_opt_out(
                    session=session, line_id=line.id or 0, contact_id=delivery.contact_id
                ):
                    # Opted out after the text was queued (a STOP during the reply delay).
                    record_failure(
                        session=session,
                        delivery=delivery,
                        error_text=describe_error(OPTED_OUT),
                        error_code=OPTED_OUT,
                    )
                    session.commit()
                    self.on_change()
                    continue
                session.commit()
                claimed.append((line, delivery))
        if claimed:
            list(self._pool.map(lambda job: self._send(*job), claimed))
            self.on_change()
            return 0
        with self.database.read_session() as session:
            due = next_due_time(session=session)
        return None if due is None else max((due - utcnow()).total_seconds(), 0.01)

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
