"""Opening the new-conversation form: from /text, App Home, and the shortcuts."""

from __future__ import annotations

from slack_sdk import WebClient

from handlers import ids, texts
from handlers.blocks import build_new_conversation_modal, build_no_lines_modal
from handlers.deps import HandlerDeps
from handlers.slack.access import refresh_stale_usergroups
from models.access import find_usable_lines
from models.tables import Line


def usable_lines(deps: HandlerDeps, client: WebClient, *, team_id: str, user_id: str) -> list[Line]:
    """The user's lines, with group membership refreshed first if stale (after an ack)."""
    refresh_stale_usergroups(deps=deps, client=client, team_id=team_id)
    with deps.read_session() as session:
        return find_usable_lines(session=session, team_id=team_id, user_id=user_id)


def open_compose_modal(
    deps: HandlerDeps,
    client: WebClient,
    *,
    team_id: str,
    user_id: str,
    trigger_id: str,
    kind: str = ids.KIND_CONVERSATION,
    message: str | None = None,
    channel_id: str | None = None,
) -> list[Line]:
    """Open the form (or, for someone with no line, a modal that says why); returns the
    user's lines."""
    lines = usable_lines(deps, client, team_id=team_id, user_id=user_id)
    view = (
        build_new_conversation_modal(
            lines=lines,
            kind=kind,
            private_metadata={"channel_id": channel_id},
            message=message,
            **deps.modal_limits(),  # type: ignore[arg-type]
        )
        if lines
        else build_no_lines_modal(texts.NO_LINES.format(user_id=user_id))
    )
    client.views_open(trigger_id=trigger_id, view=view)
    return lines
