"""The inbound router: moves staged webhooks into their conversations, in arrival order.

The webhook only stages the text (one insert, committed with others that arrived at the
same moment) and answers; routing it (contact, conversation, opt-out, notices, group
relay) happens here, a few texts per transaction so that the webhooks' own commits never
wait long behind it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlmodel import Session

from bot.db import Database
from handlers.deps import HandlerDeps
from handlers.twilio.inbound import store_inbound_text
from models.inbound import (
    any_staged,
    forget_staged,
    note_routing_failure,
    staged_texts,
    take_routing_turn,
)
from models.lines import find_line_for_inbound
from models.tables import InboundWebhook, Line

logger = logging.getLogger(__name__)

BATCH = 50
# How long one routing transaction may run. On SQLite the webhooks' inserts wait for it,
# so it is short; on PostgreSQL nothing waits for it, and fewer, longer transactions
# spend fewer round trips on their own bookkeeping.
SQLITE_TRANSACTION_BUDGET_SECONDS = 0.02
TRANSACTION_BUDGET_SECONDS = 0.5
# Another process is routing (PostgreSQL): look again after this long.
BUSY_RETRY_SECONDS = 0.2


class InboundRouter:
    def __init__(
        self, *, database: Database, deps: HandlerDeps, on_routed: Callable[[], None]
    ) -> None:
        self.database = database
        self.deps = deps
        self.on_routed = on_routed
        self.budget = (
            SQLITE_TRANSACTION_BUDGET_SECONDS
            if database.engine.dialect.name == "sqlite"
            else TRANSACTION_BUDGET_SECONDS
        )

    def step(self) -> float | None:
        """Route the oldest staged texts for up to the transaction budget."""
        with self.database.read_session() as session:
            if not any_staged(session=session):  # no write lock just to find nothing
                return None
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
            if not take_routing_turn(session):
                return BUSY_RETRY_SECONDS
            staged = staged_texts(session=session, limit=BATCH)
            if not staged:
                return None
            deadline = time.monotonic() + self.budget
            lines: dict[tuple[str, str | None], Line | None] = {}
            routed: list[int] = []
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
        key = (text.to_number, text.messaging_service_sid)
        if key not in lines:
            lines[key] = find_line_for_inbound(
                session=session,
                to_number=text.to_number,
                messaging_service_sid=text.messaging_service_sid,
            )
        line = lines[key]
        if line is None:
            logger.error(
                "inbound text %s to %s matches no line: NOT stored; add the line or "
                "fix the number's webhook",
                text.message_sid,
                text.to_number,
            )
            return
        store_inbound_text(
            session,
            self.deps,
            line=line,
            sid=text.message_sid,
            sender=text.from_number,
            body=text.body,
            media=text.media,
            opt_out_type=text.opt_out_type,
        )
