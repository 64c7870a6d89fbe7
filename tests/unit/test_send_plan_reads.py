"""What planning a text reads: the user's lines once, however many recipients it has."""

from __future__ import annotations

from sqlalchemy import event
from sqlmodel import Session

from models.directory import SHARED
from models.send_plan import Kind, RecipientInput, SendPlan, SendRules, TextRequest, plan_text
from models.types import utcnow
from tests.factories import make_contact, make_line

RULES = SendRules(region="US", directory=SHARED, max_multi_recipients=20, group_size=(2, 10))


def _reads_of_usable_lines(session: Session, line_id: int, contact_ids: list[int]) -> int:
    """Statements that read which lines the user may use, while planning a multi-recipient
    text to these contacts."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement)

    request = TextRequest(
        team_id="T0TEST",
        user_id="U0ALICE",
        kind=Kind.MULTI,
        line_id=line_id,
        recipients=[RecipientInput(contact_id=c) for c in contact_ids],
        body="Hello",
    )
    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        plan = plan_text(session, request, rules=RULES, now=utcnow())
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert isinstance(plan, SendPlan), plan
    assert len(plan.recipients) == len(contact_ids)
    return sum(1 for statement in sent if "usergroup_member" in statement)


def test_a_plans_reads_of_the_users_lines_do_not_grow_with_its_recipients(
    session: Session,
) -> None:
    line = make_line(session, team_id="T0TEST", grants=("U0ALICE",))
    contacts = [
        make_contact(session, phone=f"+1202555{n:04d}", team_id="T0TEST").id or 0
        for n in range(101, 121)
    ]
    few = _reads_of_usable_lines(session, line.id or 0, contacts[:2])
    many = _reads_of_usable_lines(session, line.id or 0, contacts)
    assert few == many
