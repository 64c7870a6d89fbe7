from datetime import timedelta

import pytest
from sqlmodel import Session

from models.access import (
    InvalidPrincipal,
    can_use_line,
    find_stale_usergroups,
    find_usable_line,
    find_usable_lines,
    find_usergroup_handles,
    grant_line,
    replace_usergroup_members,
    replace_usergroups,
    revoke_line,
)
from models.directory import SHARED, Viewer, with_usable_lines
from models.types import utcnow
from tests.factories import make_line


@pytest.fixture
def lines(session: Session):
    sales = make_line(session, number="+12025550100", name="Sales", grants=("U0ONE",))
    support = make_line(session, number="+12025550101", name="Support", grants=("S0ONE",))
    other_team = make_line(
        session, number="+12025550102", name="Elsewhere", team_id="T9", grants=("U0ONE",)
    )
    return sales, support, other_team


def test_direct_grants(session: Session, lines) -> None:
    sales, support, _ = lines
    assert [
        line.name for line in find_usable_lines(session=session, team_id="T0TEST", user_id="U0ONE")
    ] == ["Sales"]
    assert can_use_line(session=session, line=sales, user_id="U0ONE")
    assert not can_use_line(session=session, line=support, user_id="U0ONE")


def test_grants_through_user_groups_follow_membership(session: Session, lines) -> None:
    _, support, _ = lines
    assert not can_use_line(session=session, line=support, user_id="U0TWO")
    replace_usergroup_members(
        session=session, team_id="T0TEST", usergroup_id="S0ONE", user_ids=["U0TWO", "U0THREE"]
    )
    assert can_use_line(session=session, line=support, user_id="U0TWO")
    replace_usergroup_members(
        session=session, team_id="T0TEST", usergroup_id="S0ONE", user_ids=["U0THREE"]
    )
    assert not can_use_line(session=session, line=support, user_id="U0TWO")


def test_membership_of_a_group_in_another_team_does_not_count(session: Session, lines) -> None:
    _, support, _ = lines
    replace_usergroup_members(
        session=session, team_id="T9", usergroup_id="S0ONE", user_ids=["U0TWO"]
    )
    assert not can_use_line(session=session, line=support, user_id="U0TWO")


def test_a_viewers_usable_lines_agree_with_find_usable_lines(session: Session, lines) -> None:
    sales, _, _ = lines

    def agree(team_id: str, user_id: str) -> bool:
        found = find_usable_lines(session=session, team_id=team_id, user_id=user_id)
        viewer = with_usable_lines(session=session, viewer=Viewer(team_id, user_id, SHARED))
        assert sorted(viewer.usable_line_ids or ()) == sorted(line.id for line in found)
        return bool(viewer.usable_line_ids)

    assert agree("T0TEST", "U0ONE")
    assert not agree("T0TEST", "U0TWO")
    assert agree("T9", "U0ONE")
    replace_usergroup_members(
        session=session, team_id="T0TEST", usergroup_id="S0ONE", user_ids=["U0TWO"]
    )
    assert agree("T0TEST", "U0TWO")
    sales.active = False
    session.add(sales)
    session.flush()
    assert not agree("T0TEST", "U0ONE")


def test_find_usable_line_checks_team_activity_and_access(session: Session, lines) -> None:
    sales, _, other_team = lines
    assert (
        find_usable_line(session=session, team_id="T0TEST", user_id="U0ONE", line_id=str(sales.id))
        == sales
    )
    assert (
        find_usable_line(
            session=session, team_id="T0TEST", user_id="U0ONE", line_id=str(other_team.id)
        )
        is None
    )
    assert (
        find_usable_line(session=session, team_id="T0TEST", user_id="U0ONE", line_id="nonsense")
        is None
    )
    assert (
        find_usable_line(session=session, team_id="T0TEST", user_id="U0ONE", line_id=None) is None
    )
    sales.active = False
    session.add(sales)
    session.flush()
    assert (
        find_usable_line(session=session, team_id="T0TEST", user_id="U0ONE", line_id=str(sales.id))
        is None
    )


def test_grant_and_revoke_report_what_changed(session: Session, lines) -> None:
    sales, _, _ = lines
    assert grant_line(session=session, line=sales, principals=["U0ONE", "U0TWO", "S0SEVEN"]) == [
        "U0TWO",
        "S0SEVEN",
    ]
    assert revoke_line(session=session, line=sales, principals=["U0TWO", "U0NINE"]) == ["U0TWO"]
    assert not can_use_line(session=session, line=sales, user_id="U0TWO")
    with pytest.raises(InvalidPrincipal, match="neither a Slack user id"):
        grant_line(session=session, line=sales, principals=["#general"])


def test_stale_usergroups(session: Session, lines) -> None:
    assert find_stale_usergroups(
        session=session, team_id="T0TEST", max_age=timedelta(minutes=5)
    ) == ["S0ONE"]
    replace_usergroup_members(session=session, team_id="T0TEST", usergroup_id="S0ONE", user_ids=[])
    assert (
        find_stale_usergroups(session=session, team_id="T0TEST", max_age=timedelta(minutes=5)) == []
    )
    later = utcnow() + timedelta(minutes=6)
    assert find_stale_usergroups(
        session=session, team_id="T0TEST", max_age=timedelta(minutes=5), now=later
    ) == ["S0ONE"]


def test_the_workspaces_user_groups_as_last_listed(session: Session) -> None:
    replace_usergroups(session=session, team_id="T0TEST", handles={"S0B": "sales", "S0A": "ops"})
    replace_usergroups(session=session, team_id="T9", handles={"S0C": "elsewhere"})
    assert find_usergroup_handles(session=session, team_id="T0TEST") == {
        "S0A": "ops",
        "S0B": "sales",
    }
    # A later list replaces it: renamed groups get their new handle, gone ones are forgotten.
    replace_usergroups(session=session, team_id="T0TEST", handles={"S0B": "sales-team"})
    assert find_usergroup_handles(session=session, team_id="T0TEST") == {"S0B": "sales-team"}
    assert find_usergroup_handles(session=session, team_id="T9") == {"S0C": "elsewhere"}
