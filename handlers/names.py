"""The names of the people, channels and user groups that Slack messages mention, for the
text a customer gets ("@Bob" rather than "<@U0BOB>").

Slack is asked after an acknowledgement (users.info, conversations.info, usergroups.list)
and each answer is kept for an hour, so that before an ack, when no Slack call may be made,
a name seen lately is known. It is a cache: a process that has not seen a name yet looks it
up after the ack (see handlers.slack.events)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from models.slack_text import NameLookup

logger = logging.getLogger(__name__)


def display_name(user: dict[str, Any]) -> str | None:
    """The name Slack shows for a person: their display name, else their full name."""
    profile = user.get("profile") or {}
    for name in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if name:
            return str(name)
    return None


class SlackNames:
    def __init__(
        self,
        *,
        max_age_seconds: float = 3600,
        max_size: int = 5000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._names: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._max_age, self._max_size, self._clock = max_age_seconds, max_size, clock

    def known(self, mention_id: str) -> str | None:
        """The name if it was looked up lately; never calls Slack (safe before an ack)."""
        with self._lock:
            entry = self._names.get(mention_id)
        if entry is None or entry[1] < self._clock():
            return None
        return entry[0]

    def look_up(self, client: WebClient, mention_ids: Iterable[str]) -> None:
        """Ask Slack for the names not known yet (after an ack); one that cannot be read
        stays unknown."""
        for mention_id in mention_ids:
            if self.known(mention_id) is None:
                self._fetch(client, mention_id)

    def lookup_with(self, client: WebClient) -> NameLookup:
        """A lookup that asks Slack for a name it does not know (after an ack)."""

        def lookup(mention_id: str) -> str | None:
            self.look_up(client, [mention_id])
            return self.known(mention_id)

        return lookup

    def remember(self, mention_id: str, name: str) -> None:
        with self._lock:
            self._names.pop(mention_id, None)
            if len(self._names) >= self._max_size:
                self._names.pop(next(iter(self._names)))  # the oldest
            self._names[mention_id] = (name, self._clock() + self._max_age)

    def _fetch(self, client: WebClient, mention_id: str) -> None:
        try:
            if mention_id[:1] in ("U", "W"):
                name = display_name(client.users_info(user=mention_id)["user"])
                if name:
                    self.remember(mention_id, name)
            elif mention_id[:1] in ("C", "G"):
                channel = client.conversations_info(channel=mention_id)["channel"]
                self.remember(mention_id, str(channel["name"]))
            elif mention_id[:1] == "S":
                for group in client.usergroups_list()["usergroups"]:
                    self.remember(str(group["id"]), str(group["handle"]))
        except SlackApiError as exc:
            logger.warning(
                "could not read the name of %s: %s", mention_id, exc.response.get("error")
            )
