"""Opening the new-conversation form: from /text, App Home, and the shortcuts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient

from handlers import ids, texts
from handlers.deps import HandlerDeps
from handlers.slack.access import has_stale_usergroups
from handlers.slack.guard import Access
from handlers.slack.modal import Modal
from handlers.views.modal import build_new_conversation_modal, build_no_lines_modal
from models.saved_replies import list_saved_replies
from models.slack_text import phone_text
from models.tables import Line


def open_compose_modal(
    deps: HandlerDeps,
    client: WebClient,
    access: Access,
    *,
    trigger_id: str,
    kind: str = ids.KIND_CONVERSATION,
    shared_message: Mapping[str, Any] | None = None,
    channel_id: str | None = None,
) -> list[Line]:
    """Open the form (or, for someone with no line, a modal that says why), prefilled with
    a shared message as a phone shows it; returns the user's lines.

    views.open comes first: when group membership is stale or the shared message mentions
    names not known yet, a loading view opens, Slack is asked, and the form replaces it.
    """
    modal = Modal(client, trigger_id)
    shared = phone_text(shared_message, deps.slack_names.known) if shared_message else None
    if has_stale_usergroups(deps=deps, team_id=access.team_id) or (shared and shared.unresolved):
        modal.open_loading()
        access.refreshed_lines(client)
        if shared_message and shared and shared.unresolved:
            deps.slack_names.look_up(client, shared.unresolved)
            shared = phone_text(shared_message, deps.slack_names.known)
    lines = access.lines()
    view = (
        build_compose_view(
            deps,
            lines,
            kind=kind,
            metadata={"channel_id": channel_id},
            message=shared.text or None if shared else None,
        )
        if lines
        else build_no_lines_modal(texts.NO_LINES.format(user_id=access.user_id))
    )
    modal.show(view)
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
        max_multi=deps.max_multi_recipients,
        group_size=deps.group_size,
    )
