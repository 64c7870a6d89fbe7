"""App Home, its New conversation button, and the two shortcuts."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from handlers import texts
from handlers.slack.compose import open_compose_modal
from handlers.slack.guard import access_of, deps_of
from handlers.slack.manage import manage_section
from handlers.views.common import contact_label
from handlers.views.home import FIRST_PAGE, HomePage, build_app_home
from models.access import find_open_conversations_for_user
from models.groups import conversation_contacts
from models.scheduling import find_scheduled_for_user


def publish_home(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """App Home opened: publish the user's lines and open conversations."""
    if event.get("tab", "home") != "home":
        return
    publish(context, client, page=FIRST_PAGE)


def turn_page(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Previous or Next on one of App Home's lists."""
    page = HomePage.decode(str(body["actions"][0].get("value", "")))
    publish(context, client, page=page)


def publish(context: BoltContext, client: WebClient, *, page: HomePage) -> None:
    deps, access = deps_of(context), access_of(context)
    team_id, user_id = access.team_id, access.user_id
    lines = access.refreshed_lines(client)
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
        page=page,
    )
    home["blocks"] += manage_section(deps, client, team_id=team_id, user_id=user_id, page=page)
    client.views_publish(user_id=user_id, view=home)


def open_from_button(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """New conversation on App Home."""
    open_compose_modal(deps_of(context), client, access_of(context), trigger_id=body["trigger_id"])


def open_from_shortcut(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The global shortcut, or the message shortcut with that message prefilled as a
    phone shows it (the form's input is plain text: what it holds is what is sent)."""
    shared = (body.get("message") or {}) if body.get("type") == "message_action" else None
    open_compose_modal(
        deps_of(context),
        client,
        access_of(context),
        trigger_id=body["trigger_id"],
        shared_message=shared,
        channel_id=(body.get("channel") or {}).get("id"),
    )
