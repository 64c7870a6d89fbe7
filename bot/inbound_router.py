"""The inbound router: moves staged texts into their conversations, in the order they
reached Twilio.

The webhook only stages the text (one insert, committed with others that arrived at the
same moment) and answers; routing it (contact, conversation, opt-out, notices, group
relay) happens here. A transaction takes a batch of staged texts: the plain ones (a known
contact's text to the one conversation they have on the line) are stored together in a
few statements (models/inbound_batch.py), the others one by one for as long as the
transaction's budget allows, so that the webhooks' own commits never wait long behind it.
On PostgreSQL several processes route at once, each taking the texts of other senders
(models.inbound.take_staged_texts). After a process starts, a line's texts wait until the
texts the webhook missed meanwhile are recovered from Twilio's log
(bot/inbound_recovery.py), for at most the recovery wait: then the older texts go first."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.db import Database
from models.group_texts import find_conversation_by_sid
from models.inbound import (
    RefusalReason,
    any_staged,
    forget_staged,
    next_group_text_due,
    note_routing_failure,
    refuse_staged,
    release_overdue_holds,
    take_staged_texts,
)
from models.inbound_batch import store_plain_texts
from models.inbound_flow import store_inbound_text
from models.lines import find_line_for_inbound
from models.tables import Conversation, InboundWebhook, Line
from models.types import utcnow

logger = logging.getLogger(__name__)

# Texts a routing transaction takes: on SQLite as many as fit the budget below; on
# PostgreSQL more, as a transaction's own round trips (taking, forgetting, locking shares)
# are paid once a batch.
SQLITE_BATCH = 50
BATCH = 500
# How long one routing transaction may run. On SQLite the webhooks' inserts wait for it,
# so it is short; on PostgreSQL nothing waits for it, and fewer, longer transactions
# spend fewer round trips on their own bookkeeping.
SQLITE_TRANSACTION_BUDGET_SECONDS = 0.02
TRANSACTION_BUDGET_SECONDS = 0.5
MIN_SETTLING_DELAY_SECONDS = 0.05
# Another process is routing (PostgreSQL): look again after this long.
BUSY_RETRY_SECONDS = 0.2


class InboundRouter:
    def __init__(
        self,
        *,
        database: Database,
        on_routed: Callable[[], None],
        recovery_wait: timedelta,
        clock: Callable[[], datetime] = utcnow,
        default_region: str = "US",
        cancel_scheduled_on_reply: bool = True,
    ) -> None:
        self.database = database
        self.clock = clock
        # How a sender's national number is read, and whether a reply cancels the texts
        # scheduled to its sender (settings).
        self.default_region = default_region
        self.cancel_scheduled_on_reply = cancel_scheduled_on_reply
        self.on_routed = on_routed
        self.recovery_wait = recovery_wait
        sqlite = database.engine.dialect.name == "sqlite"
        self.budget = SQLITE_TRANSACTION_BUDGET_SECONDS if sqlite else TRANSACTION_BUDGET_SECONDS
        self.batch = SQLITE_BATCH if sqlite else BATCH

    def step(self) -> float | None:
        """Route the oldest staged texts for up to the transaction budget."""
        with self.database.read_session() as session:
            # No write lock just to find nothing.
            if not any_staged(session=session, hold_cutoff=self._hold_cutoff()):
                return self._settling_delay(session)
        try:
            return self._route_staged(careful=False)
        except Exception:
            # A text failed and its batch was rolled back: route the batch again with a
            # savepoint per text, so that only the failing one stays behind. (Savepoints
            # for every batch would cost two more round trips a text.)
            logger.info("routing a batch of staged texts failed; routing it text by text")
            return self._route_staged(careful=True)

    def _route_staged(self, *, careful: bool) -> float | None:
        with self.database.session() as session, session.begin():
            hold_cutoff = self._hold_cutoff()
            for number in release_overdue_holds(session=session, hold_cutoff=hold_cutoff):
                logger.warning(
                    "texts to %s are routed without waiting any longer for the texts the "
                    "webhook may have missed (Twilio's log could not be read back within "
                    "%s s); those recovered later are marked as received late",
                    number,
                    f"{self.recovery_wait.total_seconds():g}",
                )
            staged = take_staged_texts(session=session, limit=self.batch, hold_cutoff=hold_cutoff)
            if staged is None:  # other routers have them all (PostgreSQL)
                return BUSY_RETRY_SECONDS
            if not staged:
                return self._settling_delay(session)
            deadline = time.monotonic() + self.budget
            lines: dict[tuple[str, str | None], Line | None] = {}
            routed: list[int] = []
            if not careful:
                plain = self._store_plain_texts(session, staged, lines)
                routed.extend(plain)
                staged = [text for text in staged if text.id not in plain]
            for text in staged:
                if not careful:
                    self._put_in_conversation(session, text, lines)
                    routed.append(text.id or 0)
                elif self._put_in_conversation_or_note_failure(session, text, lines):
                    routed.append(text.id or 0)
                if time.monotonic() > deadline:
                    break
            forget_staged(session=session, staged_ids=routed)
        self.on_routed()
        return 0

    def _store_plain_texts(
        self,
        session: Session,
        staged: list[InboundWebhook],
        lines: dict[tuple[str, str | None], Line | None],
    ) -> set[int]:
        """Store the batch's plain texts together (models.inbound_batch); their ids."""
        with_lines = [
            (text, line)
            for text in staged
            if text.conversation_sid is None and (line := self._line_of(session, text, lines))
        ]
        return store_plain_texts(
            session,
            with_lines,
            now=self.clock(),
            default_region=self.default_region,
            cancel_scheduled_on_reply=self.cancel_scheduled_on_reply,
        )

    def _settling_delay(self, session: Session) -> float | None:
        """How long until a group text that waits (see models.inbound) may be routed."""
        due = next_group_text_due(session=session)
        if due is None:
            return None
        return max((due - utcnow()).total_seconds(), MIN_SETTLING_DELAY_SECONDS)

    def _hold_cutoff(self) -> datetime:
        """Lines held for recovery since before this are held no longer."""
        return self.clock() - self.recovery_wait

    def _put_in_conversation_or_note_failure(
        self,
        session: Session,
        text: InboundWebhook,
        lines: dict[tuple[str, str | None], Line | None],
    ) -> bool:
        """False if routing the text failed: it stays staged, its failure counted."""
        try:
            with session.begin_nested():
                self._put_in_conversation(session, text, lines)
        except Exception as exc:
            logger.exception("could not route inbound text %s; will retry", text.message_sid)
            lines.clear()  # the rollback may have expired what was cached
            note_routing_failure(session=session, staged_id=text.id or 0, error=repr(exc))
            return False
        return True

    def _put_in_conversation(
        self,
        session: Session,
        text: InboundWebhook,
        lines: dict[tuple[str, str | None], Line | None],
    ) -> None:
        # A member's text to a group text names its group, and the group its line.
        group: Conversation | None = None
        if text.conversation_sid is None:
            line = self._line_of(session, text, lines)
        else:
            group = find_conversation_by_sid(session=session, sid=text.conversation_sid)
            line = session.get(Line, group.line_id) if group is not None else None
        if line is None:
            self._refuse(session, text)
            return
        if group is not None and text.from_number == line.number:
            return  # the line's own message to its group text, sent by the dispatcher
        store_inbound_text(
            session,
            text,
            line=line,
            group_text=group,
            now=self.clock(),
            default_region=self.default_region,
            cancel_scheduled_on_reply=self.cancel_scheduled_on_reply,
        )

    def _line_of(
        self,
        session: Session,
        text: InboundWebhook,
        lines: dict[tuple[str, str | None], Line | None],
    ) -> Line | None:
        """The line a text was sent to (by its number or messaging service), cached."""
        key = (text.to_number, text.messaging_service_sid)
        if key not in lines:
            lines[key] = find_line_for_inbound(
                session=session,
                to_number=text.to_number,
                messaging_service_sid=text.messaging_service_sid,
            )
        return lines[key]

    def _refuse(self, session: Session, text: InboundWebhook) -> None:
        if text.conversation_sid is not None:
            logger.warning(
                "group text %s in %s matches no group: refused",
                text.message_sid,
                text.conversation_sid,
                extra={"message_sid": text.message_sid},
            )
        else:
            logger.warning(
                "inbound text %s from %s to %s matches no line: refused (counted in "
                "textbot_inbound_refused_total); add the line or fix the number's webhook",
                text.message_sid,
                text.from_number,
                text.to_number,
                extra={"message_sid": text.message_sid},
            )
        refuse_staged(session=session, text=text, reason=RefusalReason.UNKNOWN_LINE)
