"""Recipient suggestions while a user types in the /text modal."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from handlers import ids
from handlers.blocks import build_contact_option, build_new_number_option
from handlers.deps import HandlerDeps
from models.access import can_use_any_line
from models.contacts import find_contact_by_phone, search_contacts
from models.phone import try_parse_phone

MAX_SUGGESTIONS = 20


def register(app: App, deps: HandlerDeps) -> None:
    @app.options(ids.RECIPIENT_ACTION)
    @app.options(ids.RECIPIENTS_ACTION)
    def handle_recipient_suggestions(ack: Ack, body: dict[str, Any]) -> None:
        """Contacts matching the typed name or digits, and the typed number if it is new."""
        query = (body.get("value") or "").strip()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        options = []
        with deps.read_session() as session:
            # Only people who may text from some line see the contact list.
            if query and can_use_any_line(session=session, team_id=team_id, user_id=user_id):
                suggestions = search_contacts(
                    session=session, team_id=team_id, query=query, limit=MAX_SUGGESTIONS
                )
                typed_number = try_parse_phone(query, region=deps.default_region)
                # A known number is usually among the suggestions: no lookup needed then.
                suggested = {s.contact.phone for s in suggestions}
                if (
                    typed_number
                    and typed_number not in suggested
                    and not find_contact_by_phone(
                        session=session, team_id=team_id, phone=typed_number
                    )
                ):
                    options.append(build_new_number_option(typed_number))
                options.extend(build_contact_option(s.contact) for s in suggestions)
        ack(options=options)
