import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from models import contacts
from models.access import replace_usergroup_members
from models.contacts import (
    MAX_QUERY_LENGTH,
    MAX_QUERY_WORDS,
    ContactSuggestion,
    IncomingContact,
    bounded_query,
    get_or_create_contact,
    name_search_terms,
    rename_contact,
    save_contacts,
    search_contacts,
)
from models.directory import (
    CONTACT_DIRECTORIES,
    LINES,
    SHARED,
    ContactDirectory,
    Viewer,
    can_see_contact,
    few_visible_contact_ids,
    visibility_params,
    with_usable_lines,
)
from models.groups import create_group_conversation
from models.tables import Contact, ContactSearchTerm, Line
from tests.factories import make_contact, make_line, make_text


def _names(results) -> list[str | None]:
    return [r.contact.name for r in results]


READER = "U0READER"


def _reader(session: Session, team_id: str, directory: ContactDirectory = SHARED) -> Viewer:
    """Someone with a usable line in the team (made on first use)."""
    if not session.exec(select(Line).where(Line.team_id == team_id)).first():
        taken = len(session.exec(select(Line)).all())
        make_line(session, number=f"+120255501{90 + taken}", team_id=team_id, grants=(READER,))
    return Viewer(team_id, READER, directory)


def _search(
    session: Session, team_id: str, *, query: str, limit: int = 20
) -> list[ContactSuggestion]:
    return search_contacts(
        session=session, viewer=_reader(session, team_id), query=query, limit=limit
    )


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
    assert _names(_search(session, "T1", query="jan")) == ["Jane"]


def test_contacts_are_per_team(session: Session) -> None:
    make_contact(session, phone="+12025550123", name="Jane", team_id="T1")
    make_contact(session, phone="+12025550123", name="Jean", team_id="T2")
    assert _names(_search(session, "T1", query="j")) == ["Jane"]
    assert _names(_search(session, "T2", query="2025550123")) == ["Jean"]


def test_search_by_name_word_prefix_and_by_number_prefix(session: Session) -> None:
    make_contact(session, phone="+12025550123", name="Jane Doe")
    make_contact(session, phone="+12025550124", name="John Smith")
    make_contact(session, phone="+12025550125")
    assert _names(_search(session, "T0TEST", query="J")) == [
        "Jane Doe",
        "John Smith",
    ]
    assert _names(_search(session, "T0TEST", query="do")) == ["Jane Doe"]
    assert _names(_search(session, "T0TEST", query="john s")) == ["John Smith"]
    assert _names(_search(session, "T0TEST", query="john d")) == []
    by_number = _search(session, "T0TEST", query="202-555-0125")
    assert [r.contact.phone for r in by_number] == ["+12025550125"]
    assert {r.matched_on for r in by_number} == {"number"}
    assert _search(session, "T0TEST", query="  ") == []
    assert _search(session, "T0TEST", query="x%_") == []


def test_search_respects_the_limit(session: Session) -> None:
    for n in range(30):
        make_contact(session, phone=f"+120255501{n:02d}", name=f"Sam {n}")
    assert len(_search(session, "T0TEST", query="sam", limit=20)) == 20


def test_every_word_must_start_a_name_word(session: Session) -> None:
    make_contact(session, phone="+12025550123", name="John")
    make_contact(session, phone="+12025550124", name="John Smith")
    make_contact(session, phone="+12025550125", name="Sam Johnson")
    assert _names(_search(session, "T0TEST", query="john s")) == [
        "John Smith",
        "Sam Johnson",
    ]
    assert _names(_search(session, "T0TEST", query="john sm")) == ["John Smith"]
    assert _names(_search(session, "T0TEST", query="s jo")) == [
        "John Smith",
        "Sam Johnson",
    ]
    assert _names(_search(session, "T0TEST", query="smith jo jo")) == ["John Smith"]


def test_several_words_are_limited_and_in_order_of_the_longest_word(session: Session) -> None:
    for n in range(25):
        make_contact(session, phone=f"+120255501{n:02d}", name=f"Sam Lee {n}")
        make_contact(session, phone=f"+120255501{20 + n:02d}", name=f"Sam Wu {n}")
    found = _search(session, "T0TEST", query="lee sam", limit=20)
    assert _names(found) == [f"Sam Lee {n}" for n in range(20)]
    assert {r.matched_on for r in found} == {"name"}


def test_a_rare_match_is_found_behind_many_partial_ones(session: Session) -> None:
    for n in range(30):
        make_contact(session, phone=f"+120255501{n:02d}", name=f"Sam {n}")
    make_contact(session, phone="+12025550199", name="Sam Target")
    assert _names(_search(session, "T0TEST", query="sam t", limit=1)) == ["Sam Target"]


def test_a_query_of_several_words_reads_a_bounded_number_of_terms(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts, "_SCANNED_TERMS", 3)
    for n, name in enumerate(["Sam 0", "Sam 1", "Sam Tess", "Sam Tom"]):
        make_contact(session, phone=f"+120255501{n:02d}", name=name)
    assert _names(_search(session, "T0TEST", query="sam t")) == ["Sam Tess"]
    assert _names(_search(session, "T0TEST", query="sam to")) == []
    assert _names(_search(session, "T0TEST", query="tom")) == ["Sam Tom"]


def test_a_further_word_of_digits_matches_numbers_from_three_digits(session: Session) -> None:
    make_contact(session, phone="+12025550101", name="Customer 1")
    make_contact(session, phone="+14155550102", name="Customer 2")
    make_contact(session, phone="+12025550103", name="Customer 10")

    def names(query: str) -> list[str | None]:
        return _names(_search(session, "T0TEST", query=query))

    assert names("customer 1") == ["Customer 1", "Customer 10"]
    assert names("customer 202") == ["Customer 1", "Customer 10"]
    assert names("customer 1415") == ["Customer 2"]
    assert names("1 customer") == ["Customer 1", "Customer 10"]


def test_a_query_of_digits_also_matches_digit_name_words(session: Session) -> None:
    make_contact(session, phone="+12025550101", name="Customer 4")
    found = _search(session, "T0TEST", query="4")
    assert _names(found) == ["Customer 4"]


def test_renaming_reindexes(session: Session) -> None:
    contact = make_contact(session, phone="+12025550123", name="Jane Doe")
    rename_contact(session=session, contact=contact, name="Janet Roe")
    assert _names(_search(session, "T0TEST", query="doe")) == []
    assert _names(_search(session, "T0TEST", query="roe")) == ["Janet Roe"]
    terms = session.exec(
        select(ContactSearchTerm.term).where(ContactSearchTerm.contact_id == contact.id)
    ).all()
    assert sorted(terms) == ["12025550123", "2025550123", "janet", "roe"]


def _terms_by_phone(session: Session, team_id: str) -> dict[str, list[str]]:
    rows = session.exec(
        select(Contact.phone, ContactSearchTerm.term)
        .join(ContactSearchTerm, ContactSearchTerm.contact_id == Contact.id)
        .where(ContactSearchTerm.team_id == team_id)
    ).all()
    found: dict[str, list[str]] = {}
    for phone, term in rows:
        found.setdefault(phone, []).append(term)
    return {phone: sorted(terms) for phone, terms in found.items()}


def test_a_batch_adds_new_numbers_with_their_terms_and_renames_known_ones(session) -> None:
    make_contact(session, phone="+12025550123", name="Jane Doe")
    make_contact(session, phone="+12025550124", name="Same Name")
    counts = save_contacts(
        session=session,
        team_id="T0TEST",
        contacts=[
            IncomingContact("+12025550123", "Janet Roe", ["janet", "roe"]),
            IncomingContact("+12025550124", "Same Name", ["same", "name"]),
            IncomingContact("+12025550125", "Ann Lee", ["ann", "lee", "2025550125"]),
        ],
    )
    assert (counts.added, counts.updated, counts.unchanged) == (1, 1, 1)
    terms = _terms_by_phone(session, "T0TEST")
    assert terms["+12025550123"] == ["janet", "roe"]
    assert terms["+12025550125"] == ["2025550125", "ann", "lee"]
    assert len(session.exec(select(Contact)).all()) == 3


def test_terms_with_what_a_bulk_copy_would_misread_are_stored_as_given(session) -> None:
    # Terms the bot makes are letters and digits; a batch written in bulk must still keep
    # any other text exactly (tabs, newlines and backslashes mean something to COPY).
    odd = ["a\\tb", "c\td", "e\nf", "g\\", "h\r"]
    save_contacts(
        session=session,
        team_id="T0\\ODD",
        contacts=[IncomingContact("+12025550126", None, odd)],
    )
    assert _terms_by_phone(session, "T0\\ODD") == {"+12025550126": sorted(odd)}


def test_a_contact_name_is_kept_to_what_a_post_under_it_can_show(session) -> None:
    contact = make_contact(session, phone="+12025550123", name="  Jane " + "Q" * 200)
    assert contact.name == ("Jane " + "Q" * 200)[:60]
    # Their texts are posted under "Name (+1 202-555-0123)": Slack shows 80 characters.
    assert len(f"{contact.name} (+1 202-555-0123)") <= 80


HIDDEN_NAME = "\u202eJane\x00 Doe\x1b\u2066\r\n"


def test_a_new_contacts_name_keeps_nothing_hidden(session: Session) -> None:
    contact = make_contact(session, phone="+12025550123", name=HIDDEN_NAME)
    assert contact.name == "Jane Doe"


def test_a_renamed_contacts_name_keeps_nothing_hidden(session: Session) -> None:
    contact = make_contact(session, phone="+12025550123", name="Jane")
    rename_contact(session=session, contact=contact, name=HIDDEN_NAME)
    assert contact.name == "Jane Doe"
    assert _names(_search(session, "T0TEST", query="doe")) == ["Jane Doe"]


# --- who sees which contacts (models.directory) ----------------------------------------------


@pytest.fixture
def directory_team(session: Session) -> dict[str, Contact]:
    """Sales (Alice, and the user group S0SALES) and Billing (Bob); Dora's only line is off.

    Jane has a direct conversation on Sales, Gus is in a group on Sales, John has a direct
    conversation on Billing, Nora has none."""
    sales = make_line(session, number="+12025550100", name="Sales", grants=("U0ALICE", "S0SALES"))
    billing = make_line(
        session, number="+12025550101", name="Billing", channel_id="C0BILL", grants=("U0BOB",)
    )
    closed = make_line(
        session, number="+12025550102", name="Old", channel_id="C0OLD", grants=("U0DORA",)
    )
    people = {
        name: make_contact(session, phone=f"+120255501{20 + n}", name=f"{name} Doe")
        for n, name in enumerate(["Jane", "Gus", "John", "Nora", "Olga"])
    }
    make_text(session, line=sales, contact=people["Jane"])
    create_group_conversation(
        session=session, line=sales, contacts=[people["Gus"], people["Olga"]], user_id="U0ALICE"
    )
    make_text(session, line=billing, contact=people["John"])
    make_text(session, line=closed, contact=people["Nora"])
    closed.active = False
    session.add(closed)
    replace_usergroup_members(
        session=session, team_id="T0TEST", usergroup_id="S0SALES", user_ids=["U0CAROL"]
    )
    session.flush()
    return people


@pytest.fixture(params=["few", "many"])
def lines_search(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways a "lines" directory is searched: among the user's few contacts, or through
    the index with each row checked."""
    if request.param == "many":
        monkeypatch.setattr(contacts, "_FEW_VISIBLE", 0)


def _seen(session: Session, user_id: str, directory: ContactDirectory, query: str = "doe"):
    viewer = Viewer("T0TEST", user_id, directory)
    return sorted(
        (r.contact.name or "").split()[0]
        for r in search_contacts(session=session, viewer=viewer, query=query)
    )


EVERYONE = ["Gus", "Jane", "John", "Nora", "Olga"]


@pytest.mark.parametrize("directory", CONTACT_DIRECTORIES)
@pytest.mark.parametrize(
    "user_id",
    ["U0NOBODY", "U0DORA"],  # no grant at all; a grant on a line that is turned off
)
def test_nobody_without_a_usable_line_sees_any_contact(
    session: Session,
    directory_team: dict[str, Contact],
    directory: ContactDirectory,
    user_id: str,
    lines_search: None,
) -> None:
    for query in ["doe", "jane", "2025550", "+1 202 555 0120", "d"]:
        assert _seen(session, user_id, directory, query) == []
    viewer = Viewer("T0TEST", user_id, directory)
    for contact in directory_team.values():
        assert not can_see_contact(session=session, viewer=viewer, contact_id=contact.id or 0)


def test_a_shared_directory_shows_every_contact_to_whoever_has_a_line(
    session: Session, directory_team: dict[str, Contact]
) -> None:
    for user_id in ["U0ALICE", "U0BOB", "U0CAROL"]:
        assert _seen(session, user_id, SHARED) == EVERYONE
        assert _seen(session, user_id, SHARED, "2025550") == EVERYONE
    viewer = Viewer("T0TEST", "U0BOB", SHARED)
    assert can_see_contact(session=session, viewer=viewer, contact_id=directory_team["Jane"].id)
    # Contacts of another team are never seen.
    elsewhere = Viewer("T9", "U0ALICE", SHARED)
    assert not can_see_contact(
        session=session, viewer=elsewhere, contact_id=directory_team["Jane"].id
    )


def test_a_lines_directory_shows_contacts_with_a_conversation_on_the_users_lines(
    session: Session, directory_team: dict[str, Contact], lines_search: None
) -> None:
    # Direct conversations and group participants count; a line that is off does not.
    assert _seen(session, "U0ALICE", LINES) == ["Gus", "Jane", "Olga"]
    assert _seen(session, "U0CAROL", LINES) == ["Gus", "Jane", "Olga"]  # through S0SALES
    assert _seen(session, "U0BOB", LINES) == ["John"]
    assert _seen(session, "U0BOB", LINES, "jane") == []
    assert _seen(session, "U0BOB", LINES, "2025550") == ["John"]
    # A word search of several words is filtered the same way.
    assert _seen(session, "U0ALICE", LINES, "doe j") == ["Jane"]
    bob = Viewer("T0TEST", "U0BOB", LINES)
    assert can_see_contact(session=session, viewer=bob, contact_id=directory_team["John"].id)
    assert not can_see_contact(session=session, viewer=bob, contact_id=directory_team["Jane"].id)
    assert not can_see_contact(session=session, viewer=bob, contact_id=directory_team["Nora"].id)


def test_a_lines_directory_finds_the_users_contacts_behind_many_others(
    session: Session, lines_search: None
) -> None:
    line = make_line(session, grants=("U0ALICE",))
    for n in range(60):
        make_contact(session, phone=f"+120255501{n:02d}", name=f"Sam {n:02d}")
    mine = make_contact(session, phone="+12025550199", name="Sam Zed")
    make_text(session, line=line, contact=mine)
    assert _seen(session, "U0ALICE", LINES, "sam") == ["Sam"]
    found = search_contacts(session=session, viewer=Viewer("T0TEST", "U0ALICE", LINES), query="sa")
    assert [r.contact.name for r in found] == ["Sam Zed"]


def test_the_few_contacts_of_a_lines_directory_are_listed_only_when_few(
    session: Session, directory_team: dict[str, Contact]
) -> None:
    people = directory_team

    def few(user_id: str, most: int) -> list[int] | None:
        viewer = Viewer("T0TEST", user_id, LINES)
        line_ids = visibility_params(session=session, viewer=viewer)["line_ids"]
        return few_visible_contact_ids(session=session, line_ids=line_ids, most=most)

    assert sorted(few("U0ALICE", 3) or []) == sorted(people[n].id for n in ["Jane", "Gus", "Olga"])
    assert few("U0ALICE", 2) is None
    assert few("U0DORA", 3) == []  # only a line that is off


# --- bounded queries ---------------------------------------------------------------------------


def test_a_query_is_read_up_to_its_word_and_length_bounds() -> None:
    words = " ".join(f"word{n}" for n in range(1200))
    assert bounded_query(words) == " ".join(f"word{n}" for n in range(MAX_QUERY_WORDS))
    assert len(bounded_query("x" * 100_000)) == MAX_QUERY_LENGTH
    assert bounded_query("  jane   doe ") == "jane doe"


@pytest.mark.parametrize(
    "query",
    [
        " ".join(f"word{n}" for n in range(1200)),  # 1,200 words
        "jane " + " ".join(f"w{n:05d}" for n in range(16_000)),  # 100 KB
    ],
)
def test_a_huge_query_costs_what_a_short_one_does(session: Session, query: str) -> None:
    """Only the first MAX_QUERY_WORDS words are read: the statements sent to the database
    are those of a query of that many words, whatever was typed."""
    make_contact(session, phone="+12025550123", name="Jane Doe")
    _reader(session, "T0TEST")
    sent: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        sent.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        found = _search(session, "T0TEST", query=query)
        huge = list(sent)
        sent.clear()
        _search(session, "T0TEST", query=bounded_query(query))
        assert huge == sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert sum(len(str(p)) for _, p in huge) < 2_000
    # ...and no contact has all of them.
    assert _names(found) == []


def test_a_viewer_whose_lines_were_read_is_searched_without_reading_them_again(
    session: Session,
) -> None:
    make_contact(session, phone="+12025550123", name="Jane Doe")
    viewer = _reader(session, "T0TEST")
    sent: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        search_contacts(session=session, viewer=viewer, query="jane")
        plain = len(sent)
        sent.clear()
        read = with_usable_lines(session=session, viewer=viewer)
        assert read.usable_line_ids and len(sent) == 1
        sent.clear()
        found = search_contacts(session=session, viewer=read, query="jane")
        assert len(sent) == plain - 1
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert _names(found) == ["Jane Doe"]
    # No usable line: nothing, however the lines were read.
    nobody = with_usable_lines(session=session, viewer=Viewer("T0TEST", "U0NOBODY", SHARED))
    assert nobody.usable_line_ids == ()
    assert search_contacts(session=session, viewer=nobody, query="jane") == []
