"""Who may do what from Slack: the caller's lines, put in each request's context by a
middleware, and the one check of each button and form that names a conversation, a
multi-recipient message or a scheduled text. The rules are models.access's; this maps
them to the caller, and words the refusals."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from sqlmodel import Session

from handlers import texts
from handlers.deps import HandlerDeps
from handlers.slack.access import refresh_stale_usergroups
from models.access import find_granted_line_ids, find_usable_lines
from models.directory import Viewer, can_see_contact, with_usable_lines
from models.tables import Broadcast, Contact, Conversation, Line, Message


class Access:
    """The lines the caller may use, read from our copy of grants and group membership
    once, when first asked (a request that never asks costs no query); no Slack call."""

    def __init__(self, deps: HandlerDeps, *, team_id: str, user_id: str) -> None:
        self.deps, self.team_id, self.user_id = deps, team_id, user_id
        self._lines: list[Line] | None = None
        self._line_ids: tuple[int, ...] | None = None
        self._granted: set[int] | None = None

    @property
    def viewer(self) -> Viewer:
        """The caller as someone looking at contacts, with their usable lines once read
        (lines(), has_a_line()): what they may see is then checked without reading them
        again."""
        line_ids = self._line_ids
        if line_ids is None and self._lines is not None:
            line_ids = tuple(line.id or 0 for line in self._lines)
        return Viewer(self.team_id, self.user_id, self.deps.contact_directory, line_ids)

    def _reading(self, session: Session | None) -> AbstractContextManager[Session]:
        """The caller's session (one connection a request, its transaction's view), or a
        read session."""
        return nullcontext(session) if session is not None else self.deps.read_session()

    def lines(self, session: Session | None = None) -> list[Line]:
        """The active lines they may use."""
        if self._lines is None:
            with self._reading(session) as reading:
                self._lines = find_usable_lines(
                    session=reading, team_id=self.team_id, user_id=self.user_id
                )
        return self._lines

    def has_a_line(self, session: Session | None = None) -> bool:
        """Whether lines() would find one (their ids only, while the lines are not read)."""
        if self._lines is not None:
            return bool(self._lines)
        if self._line_ids is None:
            with self._reading(session) as reading:
                viewer = with_usable_lines(session=reading, viewer=self.viewer)
            self._line_ids = viewer.usable_line_ids
        return bool(self._line_ids)

    def granted_line_ids(self, session: Session | None = None) -> set[int]:
        """The ids of the team's lines they may use, turned off or not."""
        if self._granted is None:
            with self._reading(session) as reading:
                self._granted = find_granted_line_ids(
                    session=reading, team_id=self.team_id, user_id=self.user_id
                )
        return self._granted

    def refreshed_lines(self, client: WebClient) -> list[Line]:
        """lines(), with stale group membership read from Slack first: after an ack (or a
        views.open), never before."""
        if refresh_stale_usergroups(deps=self.deps, client=client, team_id=self.team_id):
            self._lines = self._granted = None
        return self.lines()

    def __deepcopy__(self, memo: dict[int, Any]) -> Access:
        # Bolt copies the context for lazy listeners: they share what the ack read.
        return self


def caller_middleware(deps: HandlerDeps) -> Callable[[BoltContext, Callable[[], None]], None]:
    """A global middleware: every listener finds `deps` and the caller's `access` in its
    context."""

    def put_deps_and_access(context: BoltContext, next: Callable[[], None]) -> None:
        context["deps"] = deps
        context["access"] = Access(
            deps, team_id=context.team_id or "", user_id=context.user_id or ""
        )
        next()

    return put_deps_and_access


def deps_of(context: BoltContext | dict[str, Any]) -> HandlerDeps:
    deps: HandlerDeps = context["deps"]
    return deps


def access_of(context: BoltContext | dict[str, Any]) -> Access:
    access: Access = context["access"]
    return access


def _refusal_on(session: Session, access: Access, line: Line) -> str | None:
    if line.id in access.granted_line_ids(session):
        return None
    return texts.NOT_ALLOWED_ON_CONVERSATION.format(line=line.name)


def _row_id(value: object) -> int | None:
    wanted = str(value or "")
    return int(wanted) if wanted.isdigit() else None


def usable_conversation(
    session: Session, access: Access, conversation_id: object
) -> tuple[Conversation | None, str | None]:
    """The conversation a payload names, if the caller may use its line; else the refusal
    in words."""
    wanted = _row_id(conversation_id)
    conversation = session.get(Conversation, wanted) if wanted is not None else None
    if conversation is None or conversation.team_id != access.team_id:
        return None, texts.CONVERSATION_GONE
    refusal = _refusal_on(session, access, session.get_one(Line, conversation.line_id))
    return (None, refusal) if refusal else (conversation, None)


def usable_broadcast(
    session: Session, access: Access, broadcast_id: object
) -> tuple[Broadcast | None, str | None]:
    """The multi-recipient message a payload names, if the caller may use its line."""
    wanted = _row_id(broadcast_id)
    broadcast = session.get(Broadcast, wanted) if wanted is not None else None
    line = session.get(Line, broadcast.line_id) if broadcast else None
    if broadcast is None or line is None or broadcast.team_id != access.team_id:
        return None, texts.CONVERSATION_GONE
    refusal = _refusal_on(session, access, line)
    return (None, refusal) if refusal else (broadcast, None)


def usable_message(
    session: Session, access: Access, message_id: object
) -> tuple[Message | None, str | None]:
    """The message (a scheduled text) a payload names, if the caller may use the line of
    its conversation."""
    wanted = _row_id(message_id)
    message = session.get(Message, wanted) if wanted is not None else None
    conversation, refusal = usable_conversation(
        session, access, message.conversation_id if message else None
    )
    return (message, None) if conversation else (None, refusal)


def editable_contact(
    session: Session, access: Access, conversation_id: object
) -> tuple[Contact | None, str | None]:
    """The contact of the conversation a payload names, if the caller may change it: they
    need a usable line (or they see no contact at all), access to the conversation's line,
    and the contact in their directory."""
    wanted = _row_id(conversation_id)
    conversation = session.get(Conversation, wanted) if wanted is not None else None
    if (
        conversation is None
        or conversation.team_id != access.team_id
        or conversation.contact_id is None
    ):
        return None, texts.CONVERSATION_GONE
    if not access.has_a_line(session):
        return None, texts.NO_LINES.format(user_id=access.user_id)
    refusal = _refusal_on(session, access, session.get_one(Line, conversation.line_id))
    if refusal:
        return None, refusal
    if not can_see_contact(
        session=session, viewer=access.viewer, contact_id=conversation.contact_id
    ):
        return None, texts.NO_ACCESS_TO_CONTACT
    return session.get_one(Contact, conversation.contact_id), None
