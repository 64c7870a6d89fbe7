"""The buttons' listeners and the guard, called as Bolt calls them: a mock ack, respond and
client, the context the middleware fills, and a real database."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from unittest.mock import Mock

import pytest
from slack_bolt import BoltContext
from sqlmodel import select

from bot.db import Database
from handlers import ids, texts
from handlers.deps import HandlerDeps
from handlers.slack import actions
from handlers.slack.guard import Access, caller_middleware, usable_conversation
from models.access import grant_line, replace_usergroup_members
from models.broadcasts import create_broadcast
from models.deliveries import Failed
from models.directory import LINES
from models.tables import (
    Conversation,
    ConversationStatus,
    Delivery,
    DeliveryStatus,
    Line,
)
from models.types import utcnow
from tests.factories import make_contact, make_line, make_text, settle_delivery
from tests.fakes.slack import TEAM_ID

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"  # Sales; Support only; no line
OTHER_TEAM = "T0OTHER"
GONE = ["999999", "abc", "", "-1"]


@dataclass
class World:
    database: Database
    deps: HandlerDeps
    sales: Line
    conversation: Conversation  # Jane's, on Sales


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    database = Database(database_url)
    with database.session() as session, session.begin():
        sales = make_line(session, grants=(ALICE,))
        make_line(session, number="+12025550101", name="Support", grants=(BOB,))
        conversation, _ = make_text(session, line=sales, contact=make_contact(session))
    deps = HandlerDeps(
        new_session=database.session, new_read_session=database.read_session, work_queued=Mock()
    )
    yield World(database, deps, sales, conversation)
    database.dispose()


def context_of(deps: HandlerDeps, user: str, team: str = TEAM_ID) -> BoltContext:
    """What the middleware gives a listener for this caller."""
    context = BoltContext({"team_id": team, "user_id": user})
    go_on = Mock()
    caller_middleware(deps)(context, go_on)
    go_on.assert_called_once_with()
    return context


def clicked(action_id: str, value: object, user: str, team: str = TEAM_ID) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": user},
        "trigger_id": "1.2.trigger",
        "actions": [{"action_id": action_id, "value": str(value)}],
    }


def click(
    world: World, listener: Any, action_id: str, value: object, user: str, team: str = TEAM_ID
) -> tuple[BoltContext, Mock]:
    """Run a button's ack listener, then its lazy explain_refusal; (context, respond)."""
    context, ack, respond = context_of(world.deps, user, team), Mock(), Mock()
    listener(ack=ack, body=clicked(action_id, value, user, team), context=context)
    ack.assert_called_once_with()
    actions.explain_refusal(context=context, respond=respond)
    return context, respond


def refused_with(respond: Mock) -> str | None:
    if not respond.called:
        return None
    respond.assert_called_once()
    assert respond.call_args.kwargs["response_type"] == "ephemeral"
    assert respond.call_args.kwargs["replace_original"] is False
    text: str = respond.call_args.kwargs["text"]
    return text


def conversation_now(world: World) -> Conversation:
    with world.database.session() as session:
        return session.get_one(Conversation, world.conversation.id)


# Close, Reopen, Claim, Unassign


def test_close_by_someone_with_the_line_closes_and_wakes_the_mirror(world: World) -> None:
    _, respond = click(
        world,
        actions.handle_conversation_button,
        ids.CLOSE_CONVERSATION_ACTION,
        world.conversation.id,
        ALICE,
    )
    assert refused_with(respond) is None
    assert conversation_now(world).status == ConversationStatus.CLOSED
    world.deps.work_queued.assert_called_once_with()  # type: ignore[attr-defined]


def test_claim_by_someone_without_the_line_changes_nothing_and_says_why(world: World) -> None:
    _, respond = click(
        world,
        actions.handle_conversation_button,
        ids.CLAIM_CONVERSATION_ACTION,
        world.conversation.id,
        BOB,
    )
    assert refused_with(respond) == texts.NOT_ALLOWED_ON_CONVERSATION.format(line="Sales")
    assert conversation_now(world).assigned_to != BOB
    world.deps.work_queued.assert_not_called()  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", GONE)
def test_a_button_naming_no_conversation_is_gone(world: World, value: str) -> None:
    _, respond = click(
        world, actions.handle_conversation_button, ids.CLOSE_CONVERSATION_ACTION, value, ALICE
    )
    assert refused_with(respond) == texts.CONVERSATION_GONE


def test_another_teams_conversation_is_gone_even_to_a_user_of_its_line(world: World) -> None:
    """The payload's team is the caller's: Alice of another workspace (the same user id)
    does not reach this one's conversation."""
    _, respond = click(
        world,
        actions.handle_conversation_button,
        ids.CLOSE_CONVERSATION_ACTION,
        world.conversation.id,
        ALICE,
        team=OTHER_TEAM,
    )
    assert refused_with(respond) == texts.CONVERSATION_GONE
    assert conversation_now(world).status == ConversationStatus.OPEN


def test_a_user_groups_member_may_use_its_line(world: World) -> None:
    with world.database.session() as session, session.begin():
        grant_line(session=session, line=world.sales, principals=["S0SALES"])
        replace_usergroup_members(
            session=session, team_id=TEAM_ID, usergroup_id="S0SALES", user_ids=[CAROL]
        )
    _, respond = click(
        world,
        actions.handle_conversation_button,
        ids.CLAIM_CONVERSATION_ACTION,
        world.conversation.id,
        CAROL,
    )
    assert refused_with(respond) is None
    assert conversation_now(world).assigned_to == CAROL


def test_a_line_turned_off_still_lets_its_users_close_its_conversations(world: World) -> None:
    with world.database.session() as session, session.begin():
        session.get_one(Line, world.sales.id).active = False
    _, respond = click(
        world,
        actions.handle_conversation_button,
        ids.CLOSE_CONVERSATION_ACTION,
        world.conversation.id,
        ALICE,
    )
    assert refused_with(respond) is None
    assert conversation_now(world).status == ConversationStatus.CLOSED


# Retry failed


def failed_broadcast(world: World) -> int:
    with world.database.session() as session, session.begin():
        broadcast = create_broadcast(
            session=session,
            team_id=TEAM_ID,
            line_id=world.sales.id or 0,
            user_id=ALICE,
            body="Sale",
            skipped=[],
            dedupe_key="view:V1",
        )
        assert broadcast is not None and broadcast.id is not None
        contact = make_contact(session, phone="+12025550124")
        _, message = make_text(
            session, line=world.sales, contact=contact, body="Sale", broadcast_id=broadcast.id
        )
        delivery = session.exec(select(Delivery).where(Delivery.message_id == message.id)).one()
        settle_delivery(session=session, delivery=delivery, outcome=Failed("unreachable"))
        return broadcast.id


def failed_count(world: World) -> int:
    with world.database.session() as session:
        return len(
            session.exec(select(Delivery).where(Delivery.status == DeliveryStatus.FAILED)).all()
        )


def test_retry_puts_failed_texts_back_in_the_outbox(world: World) -> None:
    broadcast_id = failed_broadcast(world)
    _, respond = click(world, actions.handle_retry, ids.RETRY_FAILED_ACTION, broadcast_id, ALICE)
    assert refused_with(respond) is None
    assert failed_count(world) == 0


@pytest.mark.parametrize(
    ("user", "team", "refusal"),
    [
        (BOB, TEAM_ID, texts.NOT_ALLOWED_ON_CONVERSATION.format(line="Sales")),
        (CAROL, TEAM_ID, texts.NOT_ALLOWED_ON_CONVERSATION.format(line="Sales")),
        (ALICE, OTHER_TEAM, texts.CONVERSATION_GONE),
    ],
)
def test_retry_by_someone_else_retries_nothing(
    world: World, user: str, team: str, refusal: str
) -> None:
    broadcast_id = failed_broadcast(world)
    _, respond = click(
        world, actions.handle_retry, ids.RETRY_FAILED_ACTION, broadcast_id, user, team=team
    )
    assert refused_with(respond) == refusal
    assert failed_count(world) == 1


@pytest.mark.parametrize("value", GONE)
def test_retry_of_no_broadcast_is_gone(world: World, value: str) -> None:
    _, respond = click(world, actions.handle_retry, ids.RETRY_FAILED_ACTION, value, ALICE)
    assert refused_with(respond) == texts.CONVERSATION_GONE


# Cancel a scheduled text


def scheduled_message(world: World) -> int:
    with world.database.session() as session, session.begin():
        _, message = make_text(
            session,
            line=world.sales,
            contact=make_contact(session),
            body="Tomorrow",
            scheduled_for=utcnow() + timedelta(days=1),
        )
        assert message.id is not None
        return message.id


def pending_of(world: World, message_id: int) -> int:
    with world.database.session() as session:
        deliveries = session.exec(select(Delivery).where(Delivery.message_id == message_id)).all()
        return sum(d.status == DeliveryStatus.PENDING for d in deliveries)


def test_cancel_stops_a_scheduled_text_and_a_second_click_says_it_left(world: World) -> None:
    message_id = scheduled_message(world)
    _, respond = click(
        world, actions.handle_cancel_scheduled, ids.CANCEL_SCHEDULED_ACTION, message_id, ALICE
    )
    assert refused_with(respond) is None
    assert pending_of(world, message_id) == 0
    _, respond = click(
        world, actions.handle_cancel_scheduled, ids.CANCEL_SCHEDULED_ACTION, message_id, ALICE
    )
    assert refused_with(respond) == texts.SCHEDULED_ALREADY_LEFT


@pytest.mark.parametrize(
    ("user", "team", "refusal"),
    [
        (BOB, TEAM_ID, texts.NOT_ALLOWED_ON_CONVERSATION.format(line="Sales")),
        (ALICE, OTHER_TEAM, texts.CONVERSATION_GONE),
    ],
)
def test_cancel_by_someone_else_leaves_the_text_scheduled(
    world: World, user: str, team: str, refusal: str
) -> None:
    message_id = scheduled_message(world)
    _, respond = click(
        world,
        actions.handle_cancel_scheduled,
        ids.CANCEL_SCHEDULED_ACTION,
        message_id,
        user,
        team=team,
    )
    assert refused_with(respond) == refusal
    assert pending_of(world, message_id) == 1


@pytest.mark.parametrize("value", GONE)
def test_cancel_of_no_message_is_gone(world: World, value: str) -> None:
    _, respond = click(
        world, actions.handle_cancel_scheduled, ids.CANCEL_SCHEDULED_ACTION, value, ALICE
    )
    assert refused_with(respond) == texts.CONVERSATION_GONE


# Edit contact


def edit_contact(world: World, value: object, user: str, team: str = TEAM_ID) -> tuple[Mock, Mock]:
    """The button's ack, then its lazy listener (as Bolt runs it, on a copied context);
    (respond, client)."""
    context, ack, respond, client = context_of(world.deps, user, team), Mock(), Mock(), Mock()
    body = clicked(ids.EDIT_CONTACT_ACTION, value, user, team)
    actions.handle_edit_contact(ack=ack, body=body, context=context)
    ack.assert_called_once_with()
    lazy_context = copy.deepcopy(context.to_copyable())
    actions.open_edit_contact(context=lazy_context, body=body, client=client, respond=respond)
    return respond, client


def test_edit_contact_opens_the_form_for_someone_with_the_line(world: World) -> None:
    respond, client = edit_contact(world, world.conversation.id, ALICE)
    assert refused_with(respond) is None
    client.views_open.assert_called_once()
    assert client.views_open.call_args.kwargs["trigger_id"] == "1.2.trigger"
    assert client.views_open.call_args.kwargs["view"]["callback_id"] == ids.EDIT_CONTACT_VIEW


@pytest.mark.parametrize(
    ("user", "team", "refusal"),
    [
        (BOB, TEAM_ID, texts.NOT_ALLOWED_ON_CONVERSATION.format(line="Sales")),
        (CAROL, TEAM_ID, texts.NO_LINES.format(user_id=CAROL)),
        (ALICE, OTHER_TEAM, texts.CONVERSATION_GONE),
    ],
)
def test_edit_contact_is_refused_to_others_without_a_form(
    world: World, user: str, team: str, refusal: str
) -> None:
    respond, client = edit_contact(world, world.conversation.id, user, team)
    assert refused_with(respond) == refusal
    client.views_open.assert_not_called()


@pytest.mark.parametrize("value", GONE)
def test_edit_contact_of_no_conversation_is_gone(world: World, value: str) -> None:
    respond, client = edit_contact(world, value, ALICE)
    assert refused_with(respond) == texts.CONVERSATION_GONE
    client.views_open.assert_not_called()


def test_edit_contact_needs_the_contact_in_the_callers_directory(world: World) -> None:
    """Under the "lines" directory, a contact seen only on a line turned off is out of
    sight: its conversation is still Alice's, its contact no longer."""
    world.deps.contact_directory = LINES
    with world.database.session() as session, session.begin():
        session.get_one(Line, world.sales.id).active = False
        support = session.exec(select(Line).where(Line.name == "Support")).one()
        grant_line(session=session, line=support, principals=[ALICE])
    respond, client = edit_contact(world, world.conversation.id, ALICE)
    assert refused_with(respond) == texts.NO_ACCESS_TO_CONTACT
    client.views_open.assert_not_called()


# The caller's access


def test_the_callers_lines_are_read_once_and_only_when_asked(world: World) -> None:
    read_sessions = Mock(side_effect=world.database.read_session)
    deps = HandlerDeps(new_session=world.database.session, new_read_session=read_sessions)
    context = context_of(deps, ALICE)
    access = context["access"]
    assert isinstance(access, Access)
    assert context["deps"] is deps
    read_sessions.assert_not_called()
    assert [line.name for line in access.lines()] == ["Sales"]
    assert [line.name for line in access.lines()] == ["Sales"]
    assert access.has_a_line()
    assert access.viewer.usable_line_ids == tuple(line.id for line in access.lines())
    assert read_sessions.call_count == 1


def test_a_check_for_any_line_reads_the_ids_once_for_what_the_caller_may_see(
    world: World,
) -> None:
    read_sessions = Mock(side_effect=world.database.read_session)
    deps = HandlerDeps(new_session=world.database.session, new_read_session=read_sessions)
    access = context_of(deps, ALICE)["access"]
    assert access.viewer.usable_line_ids is None  # nothing read yet
    assert access.has_a_line() and access.has_a_line()
    assert access.viewer.usable_line_ids == (world.sales.id,)
    assert read_sessions.call_count == 1
    nobody = context_of(deps, CAROL)["access"]
    assert not nobody.has_a_line()
    assert nobody.viewer.usable_line_ids == ()


def test_lazy_listeners_share_the_deps_and_the_access_of_the_ack(world: World) -> None:
    """Bolt deep-copies the context for lazy listeners: the runtime's deps and what the
    ack read are not copied (nor dropped, as an uncopyable value would be)."""
    context = context_of(world.deps, ALICE)
    copied = copy.deepcopy(context.to_copyable())
    assert copied["deps"] is world.deps
    assert copied["access"] is context["access"]


def test_the_guard_answers_for_the_caller_not_for_the_payload(world: World) -> None:
    with world.database.read_session() as session:
        for user, allowed in ((ALICE, True), (BOB, False), (CAROL, False)):
            access = Access(world.deps, team_id=TEAM_ID, user_id=user)
            conversation, refusal = usable_conversation(session, access, world.conversation.id)
            assert (conversation is not None, refusal is None) == (allowed, allowed), user


def test_no_listener_checks_line_access_itself() -> None:
    """Line access is asked through the guard: no other listener module calls models'
    access checks."""
    import inspect

    from handlers.slack import commands, events, home, manage, options, views

    checks = ("can_use_line", "with_usable_lines", "find_usable_lines", "find_granted_line_ids")
    for module in (actions, commands, events, home, manage, options, views):
        source = inspect.getsource(module)
        assert not [check for check in checks if check in source], module.__name__
