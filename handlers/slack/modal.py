"""Opening a modal within its trigger's 3 seconds: views.open is the first Slack call a
modal's listener makes. When the content needs Slack's answers first (user groups, roles,
names), a loading view opens and is updated once they are in."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from handlers.views.modal import build_loading_modal


class Modal:
    """A modal about to open with this trigger."""

    def __init__(self, client: WebClient, trigger_id: str) -> None:
        self.client, self.trigger_id = client, trigger_id
        self.opened: dict[str, Any] | None = None

    def open_loading(self) -> None:
        """Use the trigger now, with a loading view: Slack may be asked things after."""
        if self.opened is None:
            response = self.client.views_open(
                trigger_id=self.trigger_id, view=build_loading_modal()
            )
            self.opened = dict(response["view"])

    def show(self, view: dict[str, Any]) -> None:
        """Open the view, or put it in place of the loading view."""
        if self.opened is None:
            self.client.views_open(trigger_id=self.trigger_id, view=view)
            return
        self.client.views_update(view_id=self.opened["id"], hash=self.opened.get("hash"), view=view)
