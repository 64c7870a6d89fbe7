"""Opening the new-conversation form: from /text, App Home, and the shortcuts."""

from __future__ import annotations

from slack_sdk import WebClient

from handlers import ids, texts
from handlers.blocks import build_new_conversation_modal, build_no_lines_modal
from handlers.deps import HandlerDeps
from handlers.slack.access import refresh_stale_usergroups
from models.access import find_usable_lines
from models.saved_replies import list_saved_replies
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
        build_compose_view(
            deps, lines, kind=kind, metadata={"channel_id": channel_id}, message=message
        )
        if lines
        else build_no_lines_modal(texts.NO_LINES.format(user_id=user_id))
    )
    client.views_open(trigger_id=trigger_id, view=view)
    return lines


def build_compose_view(
    deps: HandlerDeps,
    lines: list[Line],
    *,
    kind: str,
    metadata: dict[str, object],
    message: str | None = None,
) -> dict[str, object]:
    """The form for these lines, offering their saved replies."""
    by_id = {line.id: line for line in lines}
    with deps.read_session() as session:
        replies = list_saved_replies(session=session, line_ids=[line.id or 0 for line in lines])
    return build_new_conversation_modal(
        lines=lines,
        kind=kind,
        private_metadata=metadata,
        message=message,
        saved_replies=[(reply, by_id[reply.line_id]) for reply in replies],
        **deps.modal_limits(),  # type: ignore[arg-type]
    )
