"""Slack listeners: module-level functions of each surface's module, wired from one table.
Each takes what Bolt injects; `deps` and the caller's line access are in its context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from slack_bolt import Ack, App

from handlers import ids
from handlers.deps import HandlerDeps
from handlers.slack import actions, commands, events, home, manage, options, views
from handlers.slack.guard import caller_middleware


def acknowledge(ack: Ack) -> None:
    ack()


class Listener(NamedTuple):
    kind: str  # the App method that registers it: "action", "command", "view", ...
    id: str  # the action, callback or command id, or the event type
    ack: Callable[..., Any]  # answers Slack within its 3 seconds: no Slack call but views.open
    lazy: tuple[Callable[..., Any], ...] = ()  # run after the answer


LISTENERS: list[Listener] = [
    Listener(
        "command", ids.TEXT_COMMAND, commands.handle_text_command, (commands.open_text_command,)
    ),
    Listener("action", ids.KIND_ACTION, acknowledge, (commands.switch_kind,)),
    Listener("options", ids.RECIPIENTS_ACTION, options.handle_recipient_suggestions),
    Listener("options", ids.RECIPIENT_ACTION, options.handle_recipient_suggestions),
    Listener("options", ids.LINE_ACTION, options.handle_line_search),
    Listener("options", ids.SAVED_REPLY_ACTION, options.handle_saved_reply_search),
    Listener("options", ids.FIELD_ACTION, options.handle_management_search),
    Listener("view", ids.NEW_CONVERSATION_VIEW, views.handle_new_conversation_submission),
    Listener("view", ids.EDIT_CONTACT_VIEW, views.handle_contact_edit),
    *(
        Listener(
            "action", action_id, actions.handle_conversation_button, (actions.explain_refusal,)
        )
        for action_id in actions.CHANGES
    ),
    Listener(
        "action", ids.EDIT_CONTACT_ACTION, actions.handle_edit_contact, (actions.open_edit_contact,)
    ),
    Listener("action", ids.RETRY_FAILED_ACTION, actions.handle_retry, (actions.explain_refusal,)),
    Listener(
        "action",
        ids.CANCEL_SCHEDULED_ACTION,
        actions.handle_cancel_scheduled,
        (actions.explain_refusal,),
    ),
    Listener("event", "message", events.handle_message_event, (events.follow_up_reply,)),
    Listener("event", "app_home_opened", acknowledge, (home.publish_home,)),
    Listener("action", ids.HOME_PREVIOUS_ACTION, acknowledge, (home.turn_page,)),
    Listener("action", ids.HOME_NEXT_ACTION, acknowledge, (home.turn_page,)),
    Listener("action", ids.NEW_CONVERSATION_BUTTON, acknowledge, (home.open_from_button,)),
    Listener("shortcut", ids.NEW_TEXT_SHORTCUT, acknowledge, (home.open_from_shortcut,)),
    Listener("shortcut", ids.TEXT_THIS_SHORTCUT, acknowledge, (home.open_from_shortcut,)),
    Listener("action", ids.LINE_SETTINGS_ACTION, acknowledge, (manage.open_line_settings,)),
    Listener("action", ids.ADD_LINE_ACTION, acknowledge, (manage.open_add_line,)),
    Listener("view", ids.LINE_SETTINGS_VIEW, manage.handle_line_settings, (manage.join_channel,)),
    Listener("view", ids.ADD_LINE_VIEW, manage.handle_add_line, (manage.join_channel,)),
    Listener("action", ids.SAVED_REPLIES_ACTION, acknowledge, (manage.open_saved_replies,)),
    Listener("view", ids.SAVED_REPLIES_VIEW, manage.handle_saved_replies),
]


def register(app: App, deps: HandlerDeps) -> None:
    app.use(caller_middleware(deps))
    for listener in LISTENERS:
        getattr(app, listener.kind)(listener.id)(ack=listener.ack, lazy=list(listener.lazy))
