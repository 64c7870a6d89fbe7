"""The /text slash command."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from handlers import ids, texts
from handlers.blocks import line_label
from handlers.deps import HandlerDeps
from handlers.slack.compose import build_compose_view, open_compose_modal, usable_lines
from handlers.slack.quick_send import list_contacts, quick_send
from models.access import find_usable_lines

logger = logging.getLogger(__name__)


# /text with these words opens the form on that kind.
_FORM_KINDS = {"": ids.KIND_CONVERSATION, "multi": ids.KIND_MULTI, "group": ids.KIND_GROUP}


def _subcommand(command: dict[str, Any]) -> str:
    return (command.get("text") or "").strip().lower()


def register(app: App, deps: HandlerDeps) -> None:
    def ack_text_command(ack: Ack, command: dict[str, Any]) -> None:
        """/text in all its forms. Help, contact lists and quick sends are answered in the
        acknowledgement (database work only); the form and `lines` open after it."""
        text = (command.get("text") or "").strip()
        sub = text.lower()
        first = sub.split(" ", 1)[0]
        team_id, user_id = command["team_id"], command["user_id"]
        if sub in _FORM_KINDS or sub == "lines":
            ack()
        elif sub == "help":
            ack(texts.HELP)
        elif first == "contacts":
            with deps.read_session() as session:
                ack(list_contacts(session, team_id=team_id, query=text[len(first) :].strip()))
        elif len(text.split()) >= 3:
            with deps.session() as session:
                reply = quick_send(
                    session,
                    team_id=team_id,
                    user_id=user_id,
                    text=text,
                    region=deps.default_region,
                    dedupe_key=f"command:{command.get('trigger_id')}",
                )
            deps.work_queued()
            ack(reply)
        else:
            ack(texts.UNKNOWN_SUBCOMMAND.format(text=text) + texts.HELP)

    def handle_text_command(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        """After the ack: refresh group membership if stale, then open the modal or answer."""
        sub = _subcommand(command)
        if sub not in _FORM_KINDS and sub != "lines":
            return
        team_id, user_id = command["team_id"], command["user_id"]
        lines = usable_lines(deps, client, team_id=team_id, user_id=user_id)
        if not lines:
            respond(text=texts.NO_LINES.format(user_id=user_id), response_type="ephemeral")
        elif sub == "lines":
            listing = "\n".join(f"• {line_label(line)} in <#{line.channel_id}>" for line in lines)
            respond(text=f"*Lines you may text from*\n{listing}", response_type="ephemeral")
        else:
            open_compose_modal(
                deps,
                client,
                team_id=team_id,
                user_id=user_id,
                trigger_id=command["trigger_id"],
                kind=_FORM_KINDS[sub],
                channel_id=command.get("channel_id"),
            )

    app.command(ids.TEXT_COMMAND)(ack=ack_text_command, lazy=[handle_text_command])

    def ack_kind_change(ack: Ack) -> None:
        ack()

    def switch_kind(body: dict[str, Any], client: WebClient) -> None:
        """The kind was switched in the modal: redraw it in place for that kind."""
        view = body["view"]
        kind = body["actions"][0].get("selected_option", {}).get("value")
        if kind not in ids.KINDS:
            return
        with deps.read_session() as session:
            lines = find_usable_lines(
                session=session, team_id=body["team"]["id"], user_id=body["user"]["id"]
            )
        metadata = json.loads(view.get("private_metadata") or "{}")
        client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=build_compose_view(deps, lines, kind=kind, metadata=metadata),
        )

    app.action(ids.KIND_ACTION)(ack=ack_kind_change, lazy=[switch_kind])
