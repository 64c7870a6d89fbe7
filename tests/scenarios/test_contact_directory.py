"""Who sees which contacts, through the real server with signed requests, under both
CONTACT_DIRECTORY settings: `/text contacts`, suggestions, quick send, the form, Edit
contact; and a search query far too long."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from sqlmodel import select

from handlers import ids, texts
from models.conversations import open_or_reopen_conversation
from models.tables import Contact, Conversation, Delivery
from tests.conftest import Bot
from tests.factories import make_contact, make_line
from tests.slack_driver import APP_ID, TEAM_ID, wait_until

ALICE = "U0ALICE"  # Sales
BOB = "U0BOB"  # Billing; also granted the Old line, which is turned off
DORA = "U0DORA"  # only the Old line: no usable line
MALLORY = "U0MALLORY"  # no line at all
JANE, JOHN, NORA = "+12025550123", "+12025550124", "+12025550125"


@pytest.fixture(params=["shared", "lines"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, object]:
    return {"contact_directory": request.param}


@pytest.fixture
def directory(settings_overrides: dict[str, object]) -> object:
    return settings_overrides["contact_directory"]


@pytest.fixture
def team(bot: Bot) -> dict[str, int]:
    """Jane has a conversation on Sales, John on Billing, Nora on Old (turned off).
    Returns the conversation ids by contact."""
    with bot.session() as session, session.begin():
        sales = make_line(session, number="+12025550100", name="Sales", grants=(ALICE,))
        billing = make_line(
            session, number="+12025550101", name="Billing", channel_id="C0BILL", grants=(BOB,)
        )
        old = make_line(
            session, number="+12025550102", name="Old", channel_id="C0OLD", grants=(DORA, BOB)
        )
        conversations = {}
        for line, phone, name in [
            (sales, JANE, "Jane Doe"),
            (billing, JOHN, "John Doe"),
            (old, NORA, "Nora Doe"),
        ]:
            contact = make_contact(session, phone=phone, name=name)
            conversation, _ = open_or_reopen_conversation(
                session=session, line=line, contact=contact, user_id=None
            )
            conversations[name.split()[0]] = conversation.id or 0
        old.active = False
        session.add(old)
    return conversations


def _reply(bot: Bot, text: str, *, user: str) -> str:
    response = bot.slack.slash(text, user=user)
    assert response.status_code == 200, response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()["text"]
    return response.text


def _answer(response: httpx.Response) -> dict:
    """A view submission's answer: {} when the form simply closes."""
    assert response.status_code == 200, response.text
    return response.json() if response.text else {}


def _labels(options: list[dict]) -> list[str]:
    return [o["text"]["text"] for o in options]


# --- no usable line: no contact anywhere --------------------------------------------------------


@pytest.mark.parametrize("user", [MALLORY, DORA])
def test_the_contacts_command_refuses_someone_without_a_usable_line(
    bot: Bot, team: dict[str, int], user: str
) -> None:
    for query in ["doe", "d", "2025550", "nobody-at-all", ""]:
        reply = _reply(bot, f"contacts {query}", user=user)
        # Only that they have no line: no name, no number, no count, no "no match".
        assert reply == texts.NO_LINES.format(user_id=user)


@pytest.mark.parametrize("user", [MALLORY, DORA])
def test_suggestions_are_empty_for_someone_without_a_usable_line(
    bot: Bot, team: dict[str, int], user: str
) -> None:
    for query in ["doe", "2025550", JANE, "+12025550150"]:  # names, numbers, a new number
        assert bot.slack.suggest(query, user=user) == []


def test_edit_contact_shows_and_changes_nothing_without_a_usable_line(
    bot: Bot, team: dict[str, int]
) -> None:
    # Dora's only line is turned off: the button on its conversation opens no form.
    click = {"channel": "C0OLD", "message_ts": "1700000000.000100"}
    bot.slack.click(ids.EDIT_CONTACT_ACTION, str(team["Nora"]), user=DORA, **click)
    refusal = wait_until(lambda: bot.fake_slack.responses, what="the refusal")[0]
    assert refusal["text"] == texts.NO_LINES.format(user_id=DORA)
    # A forged click naming a conversation on a line Mallory was never granted.
    bot.slack.click(ids.EDIT_CONTACT_ACTION, str(team["Jane"]), user=MALLORY, **click)
    wait_until(lambda: len(bot.fake_slack.responses) == 2, what="the second refusal")
    assert bot.fake_slack.responses[1]["text"] == texts.NO_LINES.format(user_id=MALLORY)
    assert bot.fake_slack.calls_to("views.open") == []
    # Forged submissions of the form rename nobody.
    for user, name in [(DORA, "Nora"), (MALLORY, "Jane")]:
        answer = _answer(bot.slack.interact(_contact_edit(team[name], user=user, name="Hacked")))
        assert answer == {
            "response_action": "errors",
            "errors": {ids.CONTACT_NAME_BLOCK: texts.NO_LINES.format(user_id=user)},
        }
    with bot.session() as session:
        assert "Hacked" not in [c.name for c in session.exec(select(Contact)).all()]


def _contact_edit(conversation_id: int, *, user: str, name: str) -> dict:
    """The Edit contact form's submission, as a crafted client could send it."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID},
        "user": {"id": user},
        "api_app_id": APP_ID,
        "view": {
            "id": "V0EDIT",
            "type": "modal",
            "callback_id": ids.EDIT_CONTACT_VIEW,
            "private_metadata": json.dumps({"conversation_id": conversation_id}),
            "state": {
                "values": {
                    ids.CONTACT_NAME_BLOCK: {
                        ids.CONTACT_NAME_ACTION: {"type": "plain_text_input", "value": name}
                    }
                }
            },
        },
    }


# --- shared or lines ----------------------------------------------------------------------------


def test_the_contacts_command_lists_the_users_directory(
    bot: Bot, team: dict[str, int], directory: object
) -> None:
    reply = _reply(bot, "contacts doe", user=BOB)
    listed = [name for name in ["Jane", "John", "Nora"] if f"{name} Doe" in reply]
    assert listed == (["Jane", "John", "Nora"] if directory == "shared" else ["John"])
    assert "John Doe: +1 202-555-0124" in reply


def test_suggestions_show_the_users_directory(
    bot: Bot, team: dict[str, int], directory: object
) -> None:
    shared = directory == "shared"
    names = _labels(bot.slack.suggest("doe", user=BOB))
    assert names == (
        [
            "Jane Doe (+1 202-555-0123)",
            "John Doe (+1 202-555-0124)",
            "Nora Doe (+1 202-555-0125)",
        ]
        if shared
        else ["John Doe (+1 202-555-0124)"]
    )
    # Jane's number typed in full: her name only if Bob may see her; else the number is
    # offered as any new number is, telling nothing.
    typed = bot.slack.suggest("202 555 0123", user=BOB)
    assert _labels(typed) == (
        ["Jane Doe (+1 202-555-0123)"] if shared else ["+1 202-555-0123 (new contact)"]
    )


def test_the_form_takes_only_contacts_the_user_may_see(
    bot: Bot, team: dict[str, int], directory: object
) -> None:
    with bot.session() as session:
        jane = session.exec(select(Contact).where(Contact.phone == JANE)).one()
        billing_id = session.exec(
            select(Conversation.line_id).where(Conversation.id == team["John"])
        ).one()
    view = bot.slack.open_modal(user=BOB)
    # A crafted submission naming Jane by id, whom the picker offered Bob only if shared.
    answer = bot.slack.submit(
        view,
        user=BOB,
        line_id=str(billing_id),
        recipient=f"{ids.CONTACT_OPTION_PREFIX}{jane.id}",
        message="Hello",
    ).json()
    if directory == "shared":
        assert answer["response_action"] == "update"
        wait_until(lambda: bot.fake_twilio.sent_to(JANE), what="the text to Jane")
    else:
        assert answer == {
            "response_action": "errors",
            "errors": {ids.RECIPIENT_BLOCK: texts.UNKNOWN_CONTACT},
        }
        with bot.session() as session:
            assert session.exec(select(Delivery)).all() == []


def test_quick_send_by_name_finds_only_contacts_the_user_may_see(
    bot: Bot, team: dict[str, int], directory: object
) -> None:
    reply = _reply(bot, "Billing Jane Doe Hello", user=BOB)
    if directory == "shared":
        assert "Jane Doe" in reply and "on its way" in reply
    else:
        assert "“Jane” is neither a valid phone number nor the exact name" in reply
        assert "Jane Doe" not in reply


def test_edit_contact_needs_the_contact_in_the_users_directory(
    bot: Bot, team: dict[str, int], directory: object
) -> None:
    # Bob still holds a grant on the Old line (turned off); Nora's only conversation is there.
    click = {"channel": "C0OLD", "message_ts": "1700000000.000100"}
    bot.slack.click(ids.EDIT_CONTACT_ACTION, str(team["Nora"]), user=BOB, **click)
    answer = _answer(bot.slack.interact(_contact_edit(team["Nora"], user=BOB, name="Nora Roe")))
    with bot.session() as session:
        nora = session.exec(select(Contact).where(Contact.phone == NORA)).one()
    if directory == "shared":
        form = wait_until(lambda: bot.fake_slack.calls_to("views.open"), what="the form")
        assert "Nora Doe" in json.dumps(form[0].params["view"])
        assert answer == {}
        assert nora.name == "Nora Roe"
    else:
        refusal = wait_until(lambda: bot.fake_slack.responses, what="the refusal")[0]
        assert refusal["text"] == texts.NO_ACCESS_TO_CONTACT
        assert bot.fake_slack.calls_to("views.open") == []
        assert answer["errors"] == {ids.CONTACT_NAME_BLOCK: texts.NO_ACCESS_TO_CONTACT}
        assert nora.name == "Nora Doe"


# --- a query far too long -----------------------------------------------------------------------


LONG_QUERIES = [
    " ".join(f"word{n}" for n in range(1200)),  # 1,200 words
    "doe " + " ".join(f"w{n:05d}" for n in range(16_000)),  # 100 KB
]


@pytest.mark.parametrize("query", LONG_QUERIES, ids=["1200-words", "100KB"])
def test_a_huge_search_is_answered_as_usual(
    bot: Bot, team: dict[str, int], query: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # as the bot logs in production
    reply = _reply(bot, f"contacts {query}", user=ALICE)
    assert bot.slack.suggest(query, user=ALICE) == []
    # The reply quotes only the part of the query that was read.
    assert reply.startswith("No contact matches “")
    assert len(reply) < 200
    assert sum(len(r.getMessage()) for r in caplog.records) < 20_000
