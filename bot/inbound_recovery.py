"""Recovering texts the webhook never brought (the bot was down, or could not answer).

Twilio's log of a line's texts is read newest first, a page at a time, back to where the
line was last checked; the texts not stored are staged for the inbound router oldest first,
in one statement, with the time Twilio logged them (to the second), so they enter their
conversations in the order they arrived. When a process starts, every line's texts are held
until its log has been read back (see models.inbound.hold_lines_for_recovery): a newer text
the webhook brings meanwhile is not routed before the older ones recovered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlmodel import col, select

from bot.db import Database
from bot.sms_gateway import ReceivedText, TwilioGateway
from models.inbound import (
    end_recovery_hold,
    hold_lines_for_recovery,
    logged_arrival,
    mark_inbound_checked,
    stage_recovered_texts,
    stored_message_sids,
)
from models.tables import Line
from models.types import utcnow

logger = logging.getLogger(__name__)

# Twilio may log a text a little after its date_sent, and its clock and ours differ: each
# check reads the log again this far before the time the previous one began.
CHECK_OVERLAP = timedelta(minutes=10)


class RecoveryRun(NamedTuple):
    staged: int  # missed texts staged for the router
    unread_lines: int  # lines whose log could not be read


class InboundRecovery:
    def __init__(
        self,
        *,
        database: Database,
        gateway: TwilioGateway,
        lookback: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.gateway = gateway
        self.lookback = lookback
        self.clock = clock

    def hold_routing(self) -> None:
        """At start, before any text is routed: hold every line's texts until its log has
        been read back."""
        with self.database.engine.begin() as connection:
            hold_lines_for_recovery(connection, now=self.clock())

    def recover(self) -> RecoveryRun:
        """Stage every active line's missed texts."""
        with self.database.read_session() as session:
            lines = list(session.exec(select(Line).where(col(Line.active).is_(True))).all())
        staged = unread = 0
        for line in lines:
            try:
                staged += self.recover_line(line)
            except Exception:
                unread += 1
                logger.exception("could not read back the texts received by %s", line.number)
        return RecoveryRun(staged=staged, unread_lines=unread)

    def recover_line(self, line: Line) -> int:
        """Stage the line's missed texts, oldest first, note how far it was checked, and end
        the hold on its texts that was set before this read began (`line` was read then)."""
        now = self.clock()
        # Twilio dates its log by the system clock (tests may have moved ours on).
        log_now = utcnow()
        # However long the bot was down, back to where the last check began; the lookback
        # bounds only a line's first check.
        since = line.inbound_checked_until or log_now - self.lookback
        missed = self._missed_texts(line.number, since=since)
        with self.database.engine.begin() as connection:
            if missed:
                stage_recovered_texts(
                    connection,
                    [
                        {
                            "message_sid": text.sid,
                            "to_number": line.number,
                            "from_number": text.sender,
                            "body": text.body,
                            "received_at": logged_arrival(text.sent_at) if text.sent_at else now,
                            "logged_to_the_second": text.sent_at is not None,
                        }
                        for text in missed
                    ],
                )
            mark_inbound_checked(connection, line_id=line.id or 0, until=log_now - CHECK_OVERLAP)
            end_recovery_hold(
                connection,
                line_id=line.id or 0,
                pending_since=line.inbound_recovery_pending_since,
            )
        if missed:
            logger.warning(
                "recovered %d texts to %s that the webhook missed, from %s to %s",
                len(missed),
                line.number,
                missed[0].sid,
                missed[-1].sid,
            )
        return len(missed)

    def _missed_texts(self, number: str, *, since: datetime) -> list[ReceivedText]:
        """The texts to `number` since `since` that are not stored, oldest first, reading the
        log newest first until it goes past `since` (every text before it was checked)."""
        missed: list[ReceivedText] = []
        for page in self.gateway.received_pages(to=number, since=since):
            with self.database.read_session() as session:
                stored = stored_message_sids(session=session, sids=[text.sid for text in page])
            missed += [
                text
                for text in page
                if text.sid not in stored and (text.sent_at is None or text.sent_at >= since)
            ]
            if any(text.sent_at is not None and text.sent_at < since for text in page):
                break
        missed.reverse()
        return missed
