"""What Slack reads as markup in a Web API payload, for tests: a message's `text` and every
mrkdwn text object. plain_text objects are shown as they are and never parsed."""

from __future__ import annotations

from typing import Any

# The methods whose payloads people see: messages and views.
SHOWN_METHODS = {
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "views.open",
    "views.update",
    "views.push",
    "views.publish",
}


def mrkdwn_texts(value: Any) -> list[str]:
    """Every mrkdwn text object's text, anywhere in blocks or a view."""
    if isinstance(value, list):
        return [text for item in value for text in mrkdwn_texts(item)]
    if not isinstance(value, dict):
        return []
    own = [value["text"]] if value.get("type") == "mrkdwn" else []
    return own + [text for child in value.values() for text in mrkdwn_texts(child)]


def parsed_texts(params: dict[str, Any]) -> list[str]:
    """What Slack parses for mentions and links in one call's payload."""
    top = [params["text"]] if isinstance(params.get("text"), str) else []
    return top + mrkdwn_texts(params.get("blocks")) + mrkdwn_texts(params.get("view"))


def all_strings(value: Any) -> list[str]:
    """Every string in a payload, plain_text included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in all_strings(item)]
    if isinstance(value, dict):
        return [text for child in value.values() for text in all_strings(child)]
    return []
