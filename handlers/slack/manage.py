"""Line management in Slack, for workspace admins and line managers: add a line, and change
a line's name, channel, status and access. Every change is audited; a request from anyone
else is refused and changes (and records) nothing."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import col, select

from handlers import ids, texts
from handlers.deps import HandlerDeps
from handlers.slack.access import refresh_usergroup_handles, usergroup_names
from handlers.slack.guard import deps_of
from handlers.slack.modal import Modal
from handlers.views.common import Block
from handlers.views.home import FIRST_PAGE, HomePage
from handlers.views.manage import (
    build_add_line_modal,
    build_line_settings_modal,
    build_manage_lines_section,
    build_saved_replies_modal,
)
from handlers.views.modal import build_no_lines_modal
from models.access import InvalidPrincipal, grant_line
from models.lines import LineError, LineNameTaken, clean_line_name
from models.management import (
    GroupMmsRefused,
    LineChanges,
    add_line,
    audit_grants,
    can_manage_line,
    change_line,
    find_manageable_lines,
    is_workspace_admin,
    record_audit,
    remember_role,
)
from models.phone import InvalidPhoneNumber, parse_phone
from models.saved_replies import (
    SavedReplyError,
    add_saved_reply,
    delete_saved_replies,
    list_saved_replies,
)
from models.tables import Line, LineAccess

logger = logging.getLogger(__name__)


def refresh_role(deps: HandlerDeps, client: WebClient, *, team_id: str, user_id: str) -> None:
    """Ask Slack whether the user is an admin or owner (after an ack, never before one)."""
    try:
        user = client.users_info(user=user_id)["user"]
    except SlackApiError as exc:
        logger.warning("could not read the role of %s: %s", user_id, exc.response.get("error"))
        return
    admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
    with deps.session() as session:
        remember_role(session=session, team_id=team_id, user_id=user_id, is_admin=admin)


def _grants_by_line(session: Any, lines: list[Line]) -> dict[int, list[tuple[str, bool]]]:
    grants: dict[int, list[tuple[str, bool]]] = {}
    rows = session.exec(
        select(LineAccess).where(col(LineAccess.line_id).in_([line.id for line in lines]))
    ).all()
    for access in sorted(rows, key=lambda a: a.principal):
        grants.setdefault(access.line_id, []).append((access.principal, access.manager))
    return grants


def manage_section(
    deps: HandlerDeps,
    client: WebClient,
    *,
    team_id: str,
    user_id: str,
    page: HomePage = FIRST_PAGE,
) -> list[Block]:
    """The App Home blocks for managing lines; none for people who manage nothing."""
    refresh_role(deps, client, team_id=team_id, user_id=user_id)
    with deps.read_session() as session:
        admin = is_workspace_admin(session=session, team_id=team_id, user_id=user_id)
        lines = find_manageable_lines(session=session, team_id=team_id, user_id=user_id)
        grants = _grants_by_line(session, lines)
    if not admin and not lines:
        return []
    return build_manage_lines_section(lines=lines, grants=grants, can_add=admin, page=page)


def _line_if_manager(session: Any, line_id: object, *, team_id: str, user_id: str) -> Line | None:
    """The team's line with this id, if the user may manage it."""
    line = session.get(Line, int(str(line_id))) if str(line_id).isdigit() else None
    if line is None or line.team_id != team_id:
        return None
    return line if can_manage_line(session=session, line=line, user_id=user_id) else None


def _value(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return view.get("state", {}).get("values", {}).get(block_id, {}).get(ids.FIELD_ACTION) or {}


def _refuse(modal: Modal, user_id: str, what: str) -> None:
    logger.warning("refused %s to %s: not an admin or manager of that line", what, user_id)
    modal.show(build_no_lines_modal(texts.NOT_A_MANAGER))


def open_line_settings(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Settings clicked on App Home: the line's settings form, for those who may. The
    modal opens first; the role and the user groups are read from Slack after."""
    deps = deps_of(context)
    modal = Modal(client, body["trigger_id"])
    modal.open_loading()
    team_id, user_id = body["team"]["id"], body["user"]["id"]
    refresh_role(deps, client, team_id=team_id, user_id=user_id)
    value = body["actions"][0].get("value", "")
    with deps.read_session() as session:
        line = _line_if_manager(session, value, team_id=team_id, user_id=user_id)
        grants = _grants_by_line(session, [line]).get(line.id or 0, []) if line else []
    if line is None:
        _refuse(modal, user_id, f"line settings {value}")
        return
    refresh_usergroup_handles(deps=deps, client=client, team_id=team_id)
    names = usergroup_names(deps=deps, team_id=team_id)
    modal.show(build_line_settings_modal(line=line, grants=grants, usergroup_names=names))


def open_add_line(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    deps = deps_of(context)
    modal = Modal(client, body["trigger_id"])
    modal.open_loading()
    team_id, user_id = body["team"]["id"], body["user"]["id"]
    refresh_role(deps, client, team_id=team_id, user_id=user_id)
    with deps.read_session() as session:
        admin = is_workspace_admin(session=session, team_id=team_id, user_id=user_id)
    if not admin:
        _refuse(modal, user_id, "adding a line")
        return
    modal.show(build_add_line_modal())


def join_channel(context: BoltContext, body: dict[str, Any], client: WebClient) -> None:
    """After adding or moving a line: join its channel, or ask the admin to invite the bot."""
    channel = context.get("added_channel")
    if not channel:
        return
    try:
        client.conversations_join(channel=channel)
    except SlackApiError:
        client.chat_postMessage(
            channel=body["user"]["id"], text=texts.INVITE_BOT.format(channel=channel)
        )


def handle_line_settings(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> None:
    """Save the line's settings; the permission is checked again, from the database."""
    deps = deps_of(context)
    team_id, user_id = body["team"]["id"], body["user"]["id"]
    line_id = json.loads(view.get("private_metadata") or "{}").get("line_id")
    changes = LineChanges(
        name=_value(view, ids.LINE_NAME_BLOCK).get("value"),
        channel_id=_value(view, ids.LINE_CHANNEL_BLOCK).get("selected_conversation"),
        active=bool(_value(view, ids.LINE_ACTIVE_BLOCK).get("selected_options")),
        # Absent when the line's number cannot send group texts (the form says why).
        group_mms=bool(_value(view, ids.LINE_GROUP_MMS_BLOCK).get("selected_options"))
        if ids.LINE_GROUP_MMS_BLOCK in view.get("state", {}).get("values", {})
        else None,
        users=set(_value(view, ids.LINE_USERS_BLOCK).get("selected_users") or []),
        usergroups={
            o["value"]
            for o in _value(view, ids.LINE_GROUPS_BLOCK).get("selected_options") or []
            if o["value"] != "none"
        },
        managers=set(_value(view, ids.LINE_MANAGERS_BLOCK).get("selected_users") or []),
    )
    with deps.session() as session:
        line = _line_if_manager(session, line_id, team_id=team_id, user_id=user_id)
        if line is None:
            logger.warning("refused line settings %s from %s", line_id, user_id)
            ack(response_action="errors", errors={ids.LINE_NAME_BLOCK: texts.NOT_A_MANAGER})
            return
        previous_channel = line.channel_id
        try:
            change_line(session=session, line=line, changes=changes, actor=user_id)
        except (LineError, InvalidPrincipal) as exc:
            session.rollback()
            block = (
                ids.LINE_GROUP_MMS_BLOCK
                if isinstance(exc, GroupMmsRefused)
                else ids.LINE_NAME_BLOCK
            )
            ack(response_action="errors", errors={block: str(exc)})
            return
    if changes.channel_id and changes.channel_id != previous_channel:
        context["added_channel"] = changes.channel_id  # new conversations are posted there
    ack()


def handle_add_line(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> None:
    deps = deps_of(context)
    team_id, user_id = body["team"]["id"], body["user"]["id"]
    number = _value(view, ids.LINE_NUMBER_BLOCK).get("value") or ""
    name = _value(view, ids.LINE_NAME_BLOCK).get("value") or ""
    channel = _value(view, ids.LINE_CHANNEL_BLOCK).get("selected_conversation") or ""
    with deps.session() as session:
        if not is_workspace_admin(session=session, team_id=team_id, user_id=user_id):
            logger.warning("refused adding a line from %s", user_id)
            ack(response_action="errors", errors={ids.LINE_NUMBER_BLOCK: texts.NOT_AN_ADMIN})
            return
        try:
            phone = parse_phone(number, region=deps.default_region)
        except InvalidPhoneNumber as exc:
            ack(
                response_action="errors",
                errors={ids.LINE_NUMBER_BLOCK: f"{str(exc).capitalize()}."},
            )
            return
        try:
            name = clean_line_name(name)
        except LineError as exc:
            ack(response_action="errors", errors={ids.LINE_NAME_BLOCK: str(exc)})
            return
        try:
            line = add_line(
                session=session,
                team_id=team_id,
                number=phone,
                name=name,
                channel_id=channel,
                actor=user_id,
            )
            # Whoever adds a line can text from it straight away.
            grant_line(session=session, line=line, principals=[user_id], granted_by=user_id)
            audit_grants(
                session=session, line=line, principals=[user_id], actor=user_id, granted=True
            )
        except LineError as exc:
            session.rollback()
            field = ids.LINE_NAME_BLOCK if isinstance(exc, LineNameTaken) else ids.LINE_NUMBER_BLOCK
            ack(response_action="errors", errors={field: str(exc)})
            return
    context["added_channel"] = channel
    ack()


def open_saved_replies(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Saved replies clicked on App Home: the line's replies, for its managers."""
    deps = deps_of(context)
    modal = Modal(client, body["trigger_id"])
    modal.open_loading()
    team_id, user_id = body["team"]["id"], body["user"]["id"]
    refresh_role(deps, client, team_id=team_id, user_id=user_id)
    value = body["actions"][0].get("value", "")
    with deps.read_session() as session:
        line = _line_if_manager(session, value, team_id=team_id, user_id=user_id)
        replies = list_saved_replies(session=session, line_ids=[line.id or 0]) if line else []
    if line is None:
        _refuse(modal, user_id, f"saved replies of {value}")
        return
    modal.show(build_saved_replies_modal(line=line, replies=replies))


def handle_saved_replies(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> None:
    """Delete the ticked replies and add the new one, if its fields are filled."""
    deps = deps_of(context)
    team_id, user_id = body["team"]["id"], body["user"]["id"]
    line_id = json.loads(view.get("private_metadata") or "{}").get("line_id")
    name = _value(view, ids.REPLY_NAME_BLOCK).get("value") or ""
    text = _value(view, ids.REPLY_BODY_BLOCK).get("value") or ""
    fallback = _value(view, ids.REPLY_FALLBACK_BLOCK).get("value")
    to_delete = [
        int(o["value"]) for o in _value(view, ids.REPLY_DELETE_BLOCK).get("selected_options") or []
    ]
    with deps.session() as session:
        line = _line_if_manager(session, line_id, team_id=team_id, user_id=user_id)
        if line is None:
            logger.warning("refused saved replies of %s from %s", line_id, user_id)
            ack(response_action="errors", errors={ids.REPLY_NAME_BLOCK: texts.NOT_A_MANAGER})
            return
        for deleted in delete_saved_replies(session=session, line=line, reply_ids=to_delete):
            record_audit(
                session=session,
                team_id=team_id,
                actor=user_id,
                action="reply.delete",
                detail=f"deleted saved reply {deleted} of {line.name}",
                line_id=line.id,
            )
        if name.strip() or text.strip():
            try:
                add_saved_reply(
                    session=session,
                    line=line,
                    name=name,
                    body=text,
                    fallback=fallback,
                    user_id=user_id,
                )
            except SavedReplyError as exc:
                session.rollback()
                ack(response_action="errors", errors={ids.REPLY_NAME_BLOCK: str(exc)})
                return
            record_audit(
                session=session,
                team_id=team_id,
                actor=user_id,
                action="reply.add",
                detail=f"added saved reply {name.strip()} to {line.name}",
                line_id=line.id,
            )
    ack()
