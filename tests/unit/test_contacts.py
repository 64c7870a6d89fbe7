import pytest
from sqlmodel import Session, select

from models import contacts
from models.contacts import (
    get_or_create_contact,
    name_search_terms,
    rename_contact,
    search_contacts,
)
from models.tables import Contact, ContactSearchTerm
from tests.factories import make_contact


def _names(results) -> list[str | None]:
    return [r.contact.name for r in results]


def test_name_terms_are_folded_words() -> None:
    assert name_search_terms("Zoë  O'Neil-Smith") == ["zoe", "oneilsmith"]
    assert name_search_terms(None) == []


def test_get_or_create_is_idempotent_and_keeps_existing_names(session: Session) -> None:
    first, created = get_or_create_contact(
        session=session, team_id="T1", phone="+12025550123", name="Jane"
    )
    again, created_again = get_or_create_contact(
        session=session, team_id="T1", phone="+12025550123", name="Other"
    )
    assert created and not created_again
    assert again.id == first.id and again.name == "Jane"
    assert len(session.exec(select(Contact)).all()) == 1


def test_a_nameless_contact_takes_a_name_given_later(session: Session) -> None:
    get_or_create_contact(session=session, team_id="T1", phone="+12025550123")
    contact, _ = get_or_create_contact(
        session=session, team_id="T1", phone="+12025550123", name="Jane"
    )
    assert contact.name == "Jane"
    assert _names(search_contacts(session=session, team_id="T1", query="jan")) == ["Jane"]


def test_contacts_are_per_team(session: Session) -> None:
    make_contact(session, phone="+12025550123", name="Jane", team_id="T1")
    make_contact(session, phone="+12025550123", name="Jean", team_id="T2")
    assert _names(search_contacts(session=session, team_id="T1", query="j")) == ["Jane"]
    assert _names(search_contacts(session=session, team_id="T2", query="2025550123")) == ["Jean"]


def test_search_by_name_word_prefix_and_by_number_prefix(session: Session) -> None:
    make_contact(session, phone="+12025550123", name="Jane Doe")
    make_contact(session, phone="+12025550124", name="John Smith")
    make_contact(session, phone="+12025550125")
    assert _names(search_contacts(session=session, team_id="T0TEST", query="J")) == [
        "Jane Doe",
        "John Smith",
    ]
    assert _names(search_contacts(session=session, team_id="T0TEST", query="do")) == ["Jane Doe"]
    assert _names(search_contacts(session=session, team_id="T0TEST", query="john s")) == [
        "John Smith"
    ]
    assert _names(search_contacts(session=session, team_id="T0TEST", query="john d")) == []
    by_number = search_contacts(session=session, team_id="T0TEST", query="202-555-0125")
    assert [r.contact.phone for r in by_number] == ["+12025550125"]
    assert {r.matched_on for r in by_number} == {"number"}
    assert search_contacts(session=session, team_id="T0TEST", query="  ") == []
    assert search_contacts(session=session, team_id="T0TEST", query="x%_") == []


def test_search_respects_the_limit(session: Session) -> None:
    for n in range(30):
        make_contact(session, phone=f"+120255501{n:02d}", name=f"Sam {n}")
    assert len(search_contacts(session=session, team_id="T0TEST", query="sam", limit=20)) == 20


def test_every_word_must_start_a_name_word(session: Session) -> None:
    make_contact(session, phone="+12025550123", name="John")
    make_contact(session, phone="+12025550124", name="John Smith")
    make_contact(session, phone="+12025550125", name="Sam Johnson")
    assert _names(search_contacts(session=session, team_id="T0TEST", query="john s")) == [
        "John Smith",
        "Sam Johnson",
    ]
    assert _names(search_contacts(session=session, team_id="T0TEST", query="john sm")) == [
        "John Smith"
    ]
    assert _names(search_contacts(session=session, team_id="T0TEST", query="s jo")) == [
        "John Smith",
        "Sam Johnson",
    ]
    assert _names(search_contacts(session=session, team_id="T0TEST", query="smith jo jo")) == [
        "John Smith"
    ]


def test_several_words_are_limited_and_in_order_of_the_longest_word(session: Session) -> None:
    for n in range(25):
        make_contact(session, phone=f"+120255501{n:02d}", name=f"Sam Lee {n}")
        make_contact(session, phone=f"+120255501{20 + n:02d}", name=f"Sam Wu {n}")
    found = search_contacts(session=session, team_id="T0TEST", query="lee sam", limit=20)
    assert _names(found) == [f"Sam Lee {n}" for n in range(20)]
    assert {r.matched_on for r in found} == {"name"}


def test_a_rare_match_is_found_behind_many_partial_ones(session: Session) -> None:
    for n in range(30):
        make_contact(session, phone=f"+120255501{n:02d}", name=f"Sam {n}")
    make_contact(session, phone="+12025550199", name="Sam Target")
    assert _names(search_contacts(session=session, team_id="T0TEST", query="sam t", limit=1)) == [
        "Sam Target"
    ]


def test_a_query_of_several_words_reads_a_bounded_number_of_terms(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts, "_SCANNED_TERMS", 3)
    for n, name in enumerate(["Sam 0", "Sam 1", "Sam Tess", "Sam Tom"]):
        make_contact(session, phone=f"+120255501{n:02d}", name=name)
    assert _names(search_contacts(session=session, team_id="T0TEST", query="sam t")) == ["Sam Tess"]
    assert _names(search_contacts(session=session, team_id="T0TEST", query="sam to")) == []
    assert _names(search_contacts(session=session, team_id="T0TEST", query="tom")) == ["Sam Tom"]


def test_a_further_word_of_digits_matches_numbers_from_three_digits(session: Session) -> None:
    make_contact(session, phone="+12025550101", name="Customer 1")
    make_contact(session, phone="+14155550102", name="Customer 2")
    make_contact(session, phone="+12025550103", name="Customer 10")

    def names(query: str) -> list[str | None]:
        return _names(search_contacts(session=session, team_id="T0TEST", query=query))

    assert names("customer 1") == ["Customer 1", "Customer 10"]
    assert names("customer 202") == ["Customer 1", "Customer 10"]
    assert names("customer 1415") == ["Customer 2"]
    assert names("1 customer") == ["Customer 1", "Customer 10"]


def test_a_query_of_digits_also_matches_digit_name_words(session: Session) -> None:
    make_contact(session, phone="+12025550101", name="Customer 4")
    found = search_contacts(session=session, team_id="T0TEST", query="4")
    assert _names(found) == ["Customer 4"]


def test_renaming_reindexes(session: Session) -> None:
    contact = make_contact(session, phone="+12025550123", name="Jane Doe")
    rename_contact(session=session, contact=contact, name="Janet Roe")
    assert _names(search_contacts(session=session, team_id="T0TEST", query="doe")) == []
    assert _names(search_contacts(session=session, team_id="T0TEST", query="roe")) == ["Janet Roe"]
    terms = session.exec(
        select(ContactSearchTerm.term).where(ContactSearchTerm.contact_id == contact.id)
    ).all()
    assert sorted(terms) == ["12025550123", "2025550123", "janet", "roe"]
