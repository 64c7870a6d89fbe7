"""The /text slash command."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from handlers import ids, texts
from handlers.deps import HandlerDeps
from handlers.slack.access import has_stale_usergroups
from handlers.slack.compose import build_compose_view, open_compose_modal
from handlers.slack.guard import access_of, deps_of
from handlers.slack.quick_send import list_contacts, quick_send
from handlers.views.common import line_label
from models.directory import Viewer

logger = logging.getLogger(__name__)


# /text with these words opens the form on that kind.
_FORM_KINDS = {"": ids.KIND_CONVERSATION, "multi": ids.KIND_MULTI, "group": ids.KIND_GROUP}


def _subcommand(command: dict[str, Any]) -> str:
    return (command.get("text") or "").strip().lower()


def _help(deps: HandlerDeps) -> str:
    return texts.help_text(max_multi=deps.max_multi_recipients, group_size=deps.group_size)


def handle_text_command(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
    """/text in all its forms. Help, contact lists and quick sends are answered in the
    acknowledgement (database work only); the form and `lines` open after it."""
    deps, access = deps_of(context), access_of(context)
    text = (command.get("text") or "").strip()
    sub = text.lower()
    first = sub.split(" ", 1)[0]
    team_id, user_id = command["team_id"], command["user_id"]
    viewer = Viewer(team_id, user_id, deps.contact_directory)
    if sub in _FORM_KINDS or sub == "lines":
        ack()
    elif sub == "help":
        ack(_help(deps))
    elif first == "contacts":
        with deps.read_session() as session:
            # Only for someone with a usable line, whose refusal tells nothing of the
            # directory.
            ack(
                list_contacts(session, viewer=access.viewer, query=text[len(first) :].strip())
                if access.has_a_line(session)
                else texts.NO_LINES.format(user_id=user_id)
            )
    elif len(text.split()) >= 3:
        with deps.session() as session:
            reply = quick_send(
                session,
                viewer=viewer,
                text=text,
                rules=deps.send_rules(),
                dedupe_key=f"command:{command.get('trigger_id')}",
                now=deps.clock(),
                names=deps.slack_names.known,
            )
        deps.work_queued()
        ack(reply)
    else:
        ack(texts.UNKNOWN_SUBCOMMAND.format(text=text) + _help(deps))


def open_text_command(
    command: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
) -> None:
    """After the ack: open the modal (views.open before any other Slack call: the
    trigger lasts 3 s), or list the lines with group membership refreshed if stale."""
    deps, access = deps_of(context), access_of(context)
    sub = _subcommand(command)
    team_id, user_id = command["team_id"], command["user_id"]
    no_lines = texts.NO_LINES.format(user_id=user_id)
    if sub in _FORM_KINDS:
        if not has_stale_usergroups(deps=deps, team_id=team_id) and not access.lines():
            respond(text=no_lines, response_type="ephemeral")
            return
        open_compose_modal(
            deps,
            client,
            access,
            trigger_id=command["trigger_id"],
            kind=_FORM_KINDS[sub],
            channel_id=command.get("channel_id"),
        )
    elif sub == "lines":
        lines = access.refreshed_lines(client)
        if not lines:
            respond(text=no_lines, response_type="ephemeral")
            return
        listing = "\n".join(f"• {line_label(line)} in <#{line.channel_id}>" for line in lines)
        respond(text=f"*Lines you may text from*\n{listing}", response_type="ephemeral")


def switch_kind(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The kind was switched in the modal: redraw it in place for that kind."""
    view = body["view"]
    kind = body["actions"][0].get("selected_option", {}).get("value")
    if kind not in ids.KINDS:
        return
    metadata = json.loads(view.get("private_metadata") or "{}")
    client.views_update(
        view_id=view["id"],
        hash=view.get("hash"),
        view=build_compose_view(
            deps_of(context), access_of(context).lines(), kind=kind, metadata=metadata
        ),
    )
