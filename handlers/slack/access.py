"""Keeping our copy of Slack user-group membership fresh enough for line access."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.deps import HandlerDeps
from models.access import find_stale_usergroups, replace_usergroup_members

logger = logging.getLogger(__name__)


def refresh_stale_usergroups(*, deps: HandlerDeps, client: WebClient, team_id: str) -> int:
    """Read from Slack the members of granted user groups whose copy is stale.

    Called after an acknowledgement (never before one) and by a periodic job. A group that
    cannot be read keeps its previous members. Returns how many groups were refreshed.
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
