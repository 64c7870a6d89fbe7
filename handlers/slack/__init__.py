"""Slack listeners, one module per surface, each wired by its register(app, deps)."""

from slack_bolt import App

from handlers.deps import HandlerDeps
from handlers.slack import actions, commands, events, home, manage, options, views


def register(app: App, deps: HandlerDeps) -> None:
    for module in (commands, options, views, actions, events, home, manage):
        module.register(app, deps)
