"""Keeping our copies of Slack user groups fresh: their members, for line access, and their
handles, for the line settings' search."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.deps import HandlerDeps
from models.access import (
    find_stale_usergroups,
    find_usergroup_handles,
    replace_usergroup_members,
    replace_usergroups,
)

logger = logging.getLogger(__name__)


def has_stale_usergroups(*, deps: HandlerDeps, team_id: str) -> bool:
    """Whether a granted user group's copy of members is stale (the database only)."""
    with deps.read_session() as session:
        return bool(
            find_stale_usergroups(session=session, team_id=team_id, max_age=deps.usergroup_max_age)
        )


def refresh_stale_usergroups(*, deps: HandlerDeps, client: WebClient, team_id: str) -> int:
    """Read from Slack the members of granted user groups whose copy is stale.

    Called after an acknowledgement (never before one), after views.open when a modal
    opens, and by a periodic job. A group that cannot be read keeps its previous members.
    Returns how many groups were refreshed.
    """
    with deps.read_session() as session:
        stale = find_stale_usergroups(
            session=session, team_id=team_id, max_age=deps.usergroup_max_age
        )
    refreshed = 0
    for usergroup_id in stale:
        try:
            response = client.usergroups_users_list(usergroup=usergroup_id)
        except SlackApiError as exc:
            logger.warning(
                "could not read user group %s: %s", usergroup_id, exc.response.get("error")
            )
            continue
        with deps.session() as session:
            replace_usergroup_members(
                session=session,
                team_id=team_id,
                usergroup_id=usergroup_id,
                user_ids=response.get("users", []),
            )
        refreshed += 1
    return refreshed


def refresh_usergroup_handles(*, deps: HandlerDeps, client: WebClient, team_id: str) -> bool:
    """List the workspace's user groups (usergroups.list) and keep their handles; after an
    acknowledgement or views.open only. Returns whether Slack answered (a failure keeps
    the previous copy)."""
    try:
        groups = client.usergroups_list()["usergroups"]
    except SlackApiError as exc:
        logger.warning("could not list user groups: %s", exc.response.get("error"))
        return False
    handles = {str(g["id"]): str(g.get("handle") or g.get("name") or g["id"]) for g in groups}
    with deps.session() as session:
        replace_usergroups(session=session, team_id=team_id, handles=handles)
    return True


def usergroup_names(*, deps: HandlerDeps, team_id: str) -> dict[str, str]:
    """The workspace's user groups as last listed, as people see them: {id: "@handle"}."""
    with deps.read_session() as session:
        handles = find_usergroup_handles(session=session, team_id=team_id)
    return {usergroup_id: f"@{handle}" for usergroup_id, handle in handles.items()}
