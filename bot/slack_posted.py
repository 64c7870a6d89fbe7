"""Finding the posts a dead worker made but never recorded.

Every post the mirror makes carries the id of what it shows in Slack message metadata. A
worker that takes a conversation over after the previous worker's lease ran out looks
those up before posting, so a crash between a post and its record does not post twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk import WebClient

logger = logging.getLogger(__name__)

PARENT_EVENT = "textbot_conversation"
MESSAGE_EVENT = "textbot_message"
# Looked through at most, newest first: a dead worker's posts are minutes old.
MAX_PAGES = 10
PAGE_SIZE = 200


def parent_metadata(conversation_id: int) -> dict[str, Any]:
    return {"event_type": PARENT_EVENT, "event_payload": {"conversation_id": conversation_id}}


def message_metadata(message_id: int) -> dict[str, Any]:
    return {"event_type": MESSAGE_EVENT, "event_payload": {"message_id": message_id}}


def catch_up_metadata(message_ids: list[int]) -> dict[str, Any]:
    """A catch-up post's: its first message's id as any post's, and all of them (Slack's
    metadata values are strings, numbers, booleans or objects)."""
    return {
        "event_type": MESSAGE_EVENT,
        "event_payload": {
            "message_id": message_ids[0],
            "message_ids": ",".join(str(message_id) for message_id in message_ids),
        },
    }


@dataclass
class PostedMessages:
    """Our messages found in a thread: the ts of each by message id, and which of them are
    in catch-up posts (complete as posted: never updated)."""

    ts_by_message: dict[int, str] = field(default_factory=dict)
    caught_up: set[int] = field(default_factory=set)


def _payload_id(message: dict[str, Any], event_type: str, key: str) -> int | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != event_type:
        return None
    value = (metadata.get("event_payload") or {}).get(key)
    return value if isinstance(value, int) else None


def find_posted_parent(
    client: WebClient, *, channel: str, conversation_id: int, since: datetime
) -> str | None:
    """The ts of the conversation's parent message if it is in the channel already."""
    pages = client.conversations_history(
        channel=channel,
        oldest=f"{since.timestamp():.6f}",
        include_all_metadata=True,
        limit=PAGE_SIZE,
    )
    for number, page in enumerate(pages):
        for message in page.get("messages") or []:
            if _payload_id(message, PARENT_EVENT, "conversation_id") == conversation_id:
                return str(message["ts"])
        if number + 1 >= MAX_PAGES:
            logger.warning("conversation %s: parent not found in recent history", conversation_id)
            break
    return None


def find_posted_messages(client: WebClient, *, channel: str, thread_ts: str) -> PostedMessages:
    """Our messages already in the thread."""
    posted = PostedMessages()
    pages = client.conversations_replies(
        channel=channel, ts=thread_ts, include_all_metadata=True, limit=PAGE_SIZE
    )
    for page in pages:
        for message in page.get("messages") or []:
            message_id = _payload_id(message, MESSAGE_EVENT, "message_id")
            if message_id is None:
                continue
            posted.ts_by_message[message_id] = str(message["ts"])
            shared = _catch_up_ids(message)
            for shared_id in shared:
                posted.ts_by_message[shared_id] = str(message["ts"])
            posted.caught_up.update(shared)
    return posted


def _catch_up_ids(message: dict[str, Any]) -> set[int]:
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    value = payload.get("message_ids")
    if not isinstance(value, str):
        return set()
    return {int(part) for part in value.split(",") if part.strip().isdigit()}
