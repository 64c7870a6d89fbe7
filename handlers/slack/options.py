"""Options as a user types: recipients in the /text modal, and the menus that hold more
than Slack's 100 options (lines, saved replies, user groups) searched instead of cut."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from sqlmodel import Session

from handlers import ids
from handlers.deps import HandlerDeps
from handlers.limits import SELECT_OPTIONS
from handlers.slack.access import usergroup_names
from handlers.slack.guard import access_of, deps_of
from handlers.views.manage import build_group_option
from handlers.views.modal import (
    build_contact_option,
    build_line_option,
    build_new_number_option,
    build_saved_reply_option,
)
from models.contacts import find_contact_by_phone, search_contacts
from models.directory import Viewer, can_see_contact
from models.management import can_manage_line
from models.phone import try_parse_phone
from models.saved_replies import list_saved_replies
from models.tables import Line

logger = logging.getLogger(__name__)

MAX_SUGGESTIONS = 20


def _matches(query: str, *labels: str) -> bool:
    folded = query.casefold()
    return any(folded in label.casefold() for label in labels)


def handle_recipient_suggestions(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """Contacts matching the typed name or digits, and the typed number if it is new."""
    deps, access = deps_of(context), access_of(context)
    query = (body.get("value") or "").strip()
    options = []
    with deps.read_session() as session:
        # Someone with no usable line sees no contact, and cannot add one.
        if query and access.has_a_line(session):
            viewer = access.viewer  # with the lines just read
            suggestions = search_contacts(
                session=session, viewer=viewer, query=query, limit=MAX_SUGGESTIONS
            )
            typed_number = try_parse_phone(query, region=deps.default_region)
            # A known number is usually among the suggestions: no lookup needed then.
            suggested = {s.contact.phone for s in suggestions}
            if (
                typed_number
                and typed_number not in suggested
                and not _sees_contact_with_phone(session, viewer, typed_number)
            ):
                # Also when the number is a contact the user may not see: offered the
                # same way as a new number, it tells nothing about the directory.
                options.append(build_new_number_option(typed_number))
            options.extend(build_contact_option(s.contact) for s in suggestions)
    ack(options=options)


def handle_line_search(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """The user's lines matching what they typed (by name or number)."""
    query = (body.get("value") or "").strip()
    found = [line for line in access_of(context).lines() if _matches(query, line.name, line.number)]
    ack(options=[build_line_option(line) for line in found[:SELECT_OPTIONS]])


def handle_saved_reply_search(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """Saved replies of the user's lines matching what they typed."""
    query = (body.get("value") or "").strip()
    lines = {line.id: line for line in access_of(context).lines()}
    with deps_of(context).read_session() as session:
        replies = list_saved_replies(session=session, line_ids=[i or 0 for i in lines])
    found = [r for r in replies if _matches(query, r.name, lines[r.line_id].name)]
    ack(options=[build_saved_reply_option(r, lines[r.line_id]) for r in found[:SELECT_OPTIONS]])


def handle_management_search(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """Line management's menus past 100 options: user groups, a line's saved replies."""
    deps = deps_of(context)
    query = (body.get("value") or "").strip()
    if body.get("block_id") == ids.LINE_GROUPS_BLOCK:
        ack(options=_usergroup_options(deps, body["team"]["id"], query))
        return
    if body.get("block_id") != ids.REPLY_DELETE_BLOCK:
        ack(options=[])
        return
    metadata = (body.get("view") or {}).get("private_metadata") or "{}"
    line_id = json.loads(metadata).get("line_id") if metadata.startswith("{") else None
    with deps.read_session() as session:
        line = session.get(Line, line_id) if isinstance(line_id, int) else None
        if line is None or not (
            line.team_id == body["team"]["id"]
            and can_manage_line(session=session, line=line, user_id=body["user"]["id"])
        ):
            ack(options=[])
            return
        replies = list_saved_replies(session=session, line_ids=[line.id or 0])
    found = [r for r in replies if _matches(query, r.name)]
    ack(options=[build_saved_reply_option(r, line) for r in found[:SELECT_OPTIONS]])


def _usergroup_options(deps: HandlerDeps, team_id: str, query: str) -> list[dict[str, Any]]:
    """The workspace's user groups matching the query, from our copy of Slack's list (an
    options request is answered before any Slack call may be made; opening the settings
    and a periodic job refresh it)."""
    names = usergroup_names(deps=deps, team_id=team_id)
    found = [g for g, name in sorted(names.items(), key=lambda i: i[1]) if _matches(query, name)]
    return [build_group_option(g, names) for g in found[:SELECT_OPTIONS]]


def _sees_contact_with_phone(session: Session, viewer: Viewer, phone: str) -> bool:
    contact = find_contact_by_phone(session=session, team_id=viewer.team_id, phone=phone)
    return contact is not None and can_see_contact(
        session=session, viewer=viewer, contact_id=contact.id or 0
    )
