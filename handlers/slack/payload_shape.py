"""The shape of what Slack posts, as far as Bolt and textbot's listeners read it.

Slack's own payloads always fit; a signed request that does not (a forged or broken one)
is answered 400 before Bolt looks at it, instead of failing deep inside Bolt's matchers or
a listener. Unknown fields are allowed: Slack adds fields often."""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Text = str | None
# Slack's ids (T..., U..., W..., C..., E..., A...) are capital letters and digits. Anything
# else in one is forged, and some of it (a NUL) a database cannot even look up.
SlackId = Annotated[str, Field(pattern=r"^[A-Z0-9]*$", max_length=64)] | None


def _is_container(annotation: Any) -> bool:
    """Whether a field holds an object or a list (as opposed to text or a flag)."""
    kinds = get_args(annotation) or (annotation,)
    return any(
        get_origin(kind) in (dict, list) or (isinstance(kind, type) and issubclass(kind, BaseModel))
        for kind in kinds
    )


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Envelope(_Part):
    """A part whose objects Bolt looks into when present (an input's state may hold a
    null `selected_option`; these never hold a null object)."""

    @model_validator(mode="before")
    @classmethod
    def _objects_are_never_null(cls, data: Any) -> Any:
        # Slack leaves an object out rather than sending null; Bolt looks inside any that
        # is present.
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                if name in data and data[name] is None and _is_container(field.annotation):
                    raise ValueError(f"{name} is null")
        return data


class _Identified(_Part):
    id: SlackId = None
    team_id: SlackId = None
    enterprise_id: SlackId = None
    domain: Text = None
    name: Text = None


class _Option(_Part):
    value: Text = None
    text: dict[str, Any] | None = None


class _ElementState(_Part):
    """One input's value in a view's state."""

    type: Text = None
    value: Text = None
    selected_option: _Option | None = None
    selected_options: list[_Option] | None = None
    selected_users: list[str] | None = None
    selected_user: Text = None
    selected_conversation: Text = None
    selected_channel: Text = None
    selected_date: Text = None
    selected_time: Text = None
    selected_date_time: int | None = None


class _ViewState(_Part):
    values: dict[str, dict[str, _ElementState]] | None = None


class _View(_Envelope):
    id: Text = None
    type: Text = None
    callback_id: Text = None
    private_metadata: Text = None
    hash: Text = None
    team_id: Text = None
    app_installed_team_id: Text = None
    root_view_id: Text = None
    previous_view_id: Text = None
    state: _ViewState | None = None
    blocks: list[dict[str, Any]] | None = None


class _Action(_Part):
    # Bolt reads an action's ids without looking first.
    action_id: str
    block_id: str
    type: Text = None
    value: Text = None
    action_ts: Text = None
    selected_option: _Option | None = None
    selected_options: list[_Option] | None = None
    selected_user: Text = None
    selected_conversation: Text = None


class _Edited(_Part):
    user: Text = None
    ts: Text = None


class _Message(_Envelope):
    type: Text = None
    subtype: Text = None
    user: SlackId = None
    bot_id: SlackId = None
    text: Text = None
    ts: Text = None
    thread_ts: Text = None
    edited: _Edited | None = None
    blocks: list[dict[str, Any]] | None = None
    files: list[dict[str, Any]] | None = None


class _Event(_Message):
    channel: SlackId = None
    channel_type: Text = None
    event_ts: Text = None
    deleted_ts: Text = None
    tab: Text = None
    hidden: bool | None = None
    message: _Message | None = None
    previous_message: _Message | None = None
    item: dict[str, Any] | None = None
    assistant_thread: dict[str, Any] | None = None


class _Authorization(_Part):
    team_id: SlackId = None
    user_id: SlackId = None
    enterprise_id: SlackId = None
    is_bot: bool | None = None
    is_enterprise_install: bool | None = None


class SlackPayload(_Envelope):
    type: Text = None
    token: Text = None
    team_id: SlackId = None
    api_app_id: SlackId = None
    enterprise_id: SlackId = None
    is_enterprise_install: bool | str | None = None
    # Slash commands
    command: Text = None
    text: Text = None
    user_id: SlackId = None
    user_name: Text = None
    channel_id: SlackId = None
    trigger_id: Text = None
    response_url: Text = None
    # Interactivity, options and shortcuts
    callback_id: Text = None
    action_id: Text = None
    block_id: Text = None
    value: Text = None
    team: _Identified | None = None
    user: _Identified | None = None
    channel: _Identified | None = None
    enterprise: _Identified | None = None
    container: dict[str, Any] | None = None
    message: _Message | None = None
    view: _View | None = None
    actions: Annotated[list[_Action], Field(min_length=1)] | None = None
    response_urls: list[dict[str, Any]] | None = None
    # Events
    event_id: Text = None
    event: _Event | None = None
    authorizations: list[_Authorization] | None = None
    workflow_step: dict[str, Any] | None = None
    function_data: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _says_who_and_where(self) -> SlackPayload:
        # Slack names the workspace and the person in every request; listeners rely on it.
        if self.type in _INTERACTIONS and not (
            self.user and self.user.id and self.team and self.team.id
        ):
            raise ValueError(f"a {self.type} names no user id or team id")
        # Bolt reads the first action of these before any listener runs.
        if self.type in ("block_actions", "interactive_message") and not self.actions:
            raise ValueError(f"a {self.type} has no actions")
        # ...and the view's type of these (whether it is a workflow step's).
        if self.type in ("view_submission", "view_closed") and not (self.view and self.view.type):
            raise ValueError(f"a {self.type} has no view type")
        if self.type == "event_callback" and not (self.team_id and self.event and self.event.type):
            raise ValueError("an event callback names no team id or event type")
        if self.command is not None and not (self.team_id and self.user_id):
            raise ValueError("a command names no team id or user id")
        return self


_INTERACTIONS = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "interactive_message",
    }
)


def shape_problem(body: dict[str, Any]) -> str | None:
    """Where the payload departs from Slack's shapes (one line, no values), or None."""
    try:
        SlackPayload.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the body"
        return f"{where}: {first['msg']}"
    return None
