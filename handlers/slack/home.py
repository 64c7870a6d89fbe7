"""App Home, its New conversation button, and the two shortcuts."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from handlers import ids, texts
from handlers.blocks import build_app_home, contact_label
from handlers.deps import HandlerDeps
from handlers.slack.compose import open_compose_modal, usable_lines
from handlers.slack.manage import manage_section
from models.access import find_open_conversations_for_user
from models.groups import conversation_contacts
from models.scheduling import find_scheduled_for_user


def _acknowledge(ack: Ack) -> None:
    ack()


def register(app: App, deps: HandlerDeps) -> None:
    def publish_home(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """App Home opened: publish the user's lines and open conversations."""
        if event.get("tab", "home") != "home":
            return
        user_id, team_id = event["user"], context.team_id or ""
        lines = usable_lines(deps, client, team_id=team_id, user_id=user_id)
        with deps.read_session() as session:
            rows = []
            for conversation, line in find_open_conversations_for_user(
                session=session, team_id=team_id, user_id=user_id
            ):
                people = conversation_contacts(session=session, conversation=conversation)
                who = ", ".join(contact_label(c) for c in people) or "(nobody)"
                rows.append((conversation, line, who))
            scheduled = find_scheduled_for_user(session=session, team_id=team_id, user_id=user_id)
        home = build_app_home(
            user_id=user_id,
            lines=lines,
            conversations=rows,
            team_url=deps.team_url(),
            no_lines_text=texts.NO_LINES.format(user_id=user_id),
            scheduled=scheduled,
        )
        home["blocks"] += manage_section(deps, client, team_id=team_id, user_id=user_id)
        client.views_publish(user_id=user_id, view=home)

    app.event("app_home_opened")(ack=_acknowledge, lazy=[publish_home])

    def open_from_button(body: dict[str, Any], client: WebClient) -> None:
        """New conversation on App Home."""
        open_compose_modal(
            deps,
            client,
            team_id=body["team"]["id"],
            user_id=body["user"]["id"],
            trigger_id=body["trigger_id"],
        )

    app.action(ids.NEW_CONVERSATION_BUTTON)(ack=_acknowledge, lazy=[open_from_button])

    def open_from_shortcut(body: dict[str, Any], client: WebClient) -> None:
        """The global shortcut, or the message shortcut with that message prefilled."""
        message = (
            (body.get("message") or {}).get("text")
            if body.get("type") == "message_action"
            else None
        )
        open_compose_modal(
            deps,
            client,
            team_id=body["team"]["id"],
            user_id=body["user"]["id"],
            trigger_id=body["trigger_id"],
            message=message,
            channel_id=(body.get("channel") or {}).get("id"),
        )

    app.shortcut(ids.NEW_TEXT_SHORTCUT)(ack=_acknowledge, lazy=[open_from_shortcut])
    app.shortcut(ids.TEXT_THIS_SHORTCUT)(ack=_acknowledge, lazy=[open_from_shortcut])
