"""Submission of the /text modal, in its three kinds: a conversation, a multi-recipient
message, a reply-all group."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, BoltContext

from handlers import ids, texts
from handlers.refusals import modal_errors, skip_reason
from handlers.slack.attachments import attached_files
from handlers.slack.guard import access_of, deps_of, editable_contact
from handlers.views.common import contact_mrkdwn, escape, slack_date
from handlers.views.modal import build_queued_confirmation, build_sent_confirmation
from models.contacts import rename_contact
from models.conversations import LineInactive, mark_for_mirror
from models.groups import conversations_showing
from models.optouts import RecipientOptedOut
from models.outbound_media import OutboundFile
from models.send_plan import (
    Carried,
    Kind,
    RecipientInput,
    SendPlan,
    TextRequest,
    carry_out,
    plan_text,
)

logger = logging.getLogger(__name__)


@dataclass
class NewConversationForm:
    kind: str
    line_id: str | None
    recipients: list[str]
    message: str | None
    saved_reply_id: str | None = None
    send_at: int | None = None
    quiet_ok: bool = False
    relay_group: bool = False
    files: list[OutboundFile] = field(default_factory=list)

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> NewConversationForm:
        values = view.get("state", {}).get("values", {})

        def state(block: str, action: str) -> dict[str, Any]:
            return values.get(block, {}).get(action) or {}

        kind = json.loads(view.get("private_metadata") or "{}").get("kind")
        single = (
            state(ids.RECIPIENT_BLOCK, ids.RECIPIENT_ACTION).get("selected_option") or {}
        ).get("value")
        several = state(ids.RECIPIENTS_BLOCK, ids.RECIPIENTS_ACTION).get("selected_options") or []
        return cls(
            kind=kind if kind in ids.KINDS else ids.KIND_CONVERSATION,
            line_id=(state(ids.LINE_BLOCK, ids.LINE_ACTION).get("selected_option") or {}).get(
                "value"
            ),
            recipients=[single] if single else [o.get("value", "") for o in several],
            message=state(ids.MESSAGE_BLOCK, ids.MESSAGE_ACTION).get("value"),
            saved_reply_id=(
                state(ids.SAVED_REPLY_BLOCK, ids.SAVED_REPLY_ACTION).get("selected_option") or {}
            ).get("value"),
            send_at=state(ids.SEND_AT_BLOCK, ids.SEND_AT_ACTION).get("selected_date_time"),
            quiet_ok=bool(state(ids.QUIET_OK_BLOCK, ids.QUIET_OK_ACTION).get("selected_options")),
            relay_group=bool(
                state(ids.GROUP_RELAY_BLOCK, ids.GROUP_RELAY_ACTION).get("selected_options")
            ),
            files=attached_files(state(ids.PICTURES_BLOCK, ids.PICTURES_ACTION).get("files")),
        )

    @property
    def recipients_block(self) -> str:
        return ids.RECIPIENT_BLOCK if self.kind == ids.KIND_CONVERSATION else ids.RECIPIENTS_BLOCK

    def request(self, *, team_id: str, user_id: str) -> TextRequest:
        """What the form asks for, as the send policy reads it (nothing in it trusted)."""
        reply_id, line_id = self.saved_reply_id or "", self.line_id or ""
        send_at, unreadable = None, False
        if self.send_at:
            try:
                send_at = datetime.fromtimestamp(int(self.send_at), UTC)
            except (ValueError, OverflowError, OSError):
                unreadable = True
        return TextRequest(
            team_id=team_id,
            user_id=user_id,
            kind=Kind(self.kind),
            line_id=int(line_id) if line_id.isdigit() else None,
            recipients=[_recipient_input(value) for value in self.recipients],
            body=self.message,
            saved_reply_id=int(reply_id) if reply_id.isdigit() else None,
            saved_reply_chosen=bool(reply_id),
            files=self.files,
            send_at=send_at,
            send_at_unreadable=unreadable,
            quiet_ok=self.quiet_ok,
            relay_group=self.relay_group,
        )


def _recipient_input(value: str) -> RecipientInput:
    """An option's value: a contact's id (0 when unreadable: no such contact) or a number."""
    if value.startswith(ids.CONTACT_OPTION_PREFIX):
        contact_id = value.removeprefix(ids.CONTACT_OPTION_PREFIX)
        return RecipientInput(contact_id=int(contact_id) if contact_id.isdigit() else 0)
    return RecipientInput(number=value.removeprefix(ids.NEW_NUMBER_OPTION_PREFIX))


class _ChangedMeanwhile(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def _changed_meanwhile(
    form: NewConversationForm, exc: LineInactive | RecipientOptedOut
) -> dict[str, str]:
    if isinstance(exc, LineInactive):
        return {ids.LINE_BLOCK: texts.LINE_GONE}
    who = ", ".join(contact_mrkdwn(c) for c in exc.contacts)
    return {form.recipients_block: texts.OPTED_OUT_MEANWHILE.format(who=who)}


def handle_new_conversation_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> None:
    """Validate everything on the server, then write contacts, conversations, messages
    and deliveries in one transaction and answer; texts and Slack threads follow."""
    deps = deps_of(context)
    team_id = body["team"]["id"]
    user_id = body["user"]["id"]
    form = NewConversationForm.from_view(view)
    try:
        with deps.session() as session:
            plan = plan_text(
                session,
                form.request(team_id=team_id, user_id=user_id),
                rules=deps.send_rules(),
                now=deps.clock(),
            )
            if not isinstance(plan, SendPlan):
                errors = modal_errors(plan, recipients_block=form.recipients_block)
                ack(response_action="errors", errors=errors)
                return
            try:
                carried = carry_out(
                    session,
                    plan,
                    team_id=team_id,
                    user_id=user_id,
                    key=f"view:{view['id']}",
                    skipped_as_listed=_skipped_as_listed(plan),
                )
            except (LineInactive, RecipientOptedOut) as exc:
                # Changed between the checks and the write (a STOP, the line turned
                # off): the form says why, and nothing is written.
                raise _ChangedMeanwhile(_changed_meanwhile(form, exc)) from exc
            confirmation = _confirmation(plan, carried)
    except _ChangedMeanwhile as refused:
        ack(response_action="errors", errors=refused.errors)
        return
    deps.work_queued()
    ack(response_action="update", view=confirmation)


def handle_contact_edit(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> None:
    """Rename the contact of the conversation the form was opened from; every parent
    message showing them is redrawn."""
    deps = deps_of(context)
    metadata = json.loads(view.get("private_metadata") or "{}")
    values = view.get("state", {}).get("values", {})
    name = (values.get(ids.CONTACT_NAME_BLOCK, {}).get(ids.CONTACT_NAME_ACTION) or {}).get("value")
    with deps.session() as session:
        contact, refusal = editable_contact(
            session, access_of(context), metadata.get("conversation_id")
        )
        if contact is None:
            errors = {ids.CONTACT_NAME_BLOCK: refusal or texts.CONVERSATION_GONE}
            ack(response_action="errors", errors=errors)
            return
        rename_contact(session=session, contact=contact, name=name)
        for shown in conversations_showing(session=session, contact=contact):
            mark_for_mirror(shown, parent=True)
            session.add(shown)
    deps.work_queued()
    ack()


def _skipped_as_listed(plan: SendPlan) -> list[dict[str, str]]:
    return [{"label": s.shown, "reason": skip_reason(s.refusal)} for s in plan.skipped]


def _skipped_lines(plan: SendPlan) -> str:
    return "".join(
        f"\n• Not sent to {escape(s['label'])}: {escape(s['reason'])}"
        for s in _skipped_as_listed(plan)
    )


def _confirmation(plan: SendPlan, carried: Carried) -> dict[str, Any]:
    """What the modal shows once the text is queued."""
    line = plan.line
    logger.info(
        "%s text queued on line %s to %s recipient(s)",
        plan.kind,
        line.id,
        len(plan.recipients),
        extra={"line_id": line.id},
    )
    if plan.kind == Kind.MULTI:
        summary = texts.MULTI_QUEUED.format(count=len(plan.recipients))
    elif plan.kind == Kind.GROUP:
        summary = texts.GROUP_QUEUED.format(count=len(plan.recipients), channel=line.channel_id)
    elif plan.send_at:
        who = contact_mrkdwn(carried.contacts[0])
        summary = texts.SCHEDULED_QUEUED.format(who=who, when=slack_date(plan.send_at))
    else:
        return build_sent_confirmation(
            line=line, contact=carried.contacts[0], created=carried.created, segments=plan.segments
        )
    return build_queued_confirmation(
        line=line, text=summary + _skipped_lines(plan), segments=plan.segments
    )
