from tests.chaos import with_section

NEW = "## Chaos suite (seed 7)\n\n| table |\n"


def test_the_report_replaces_its_section_and_keeps_the_notes_around_it() -> None:
    page = "# Results\n\nHow to run.\n\n## Chaos suite (seed 19)\n\n| old |\n\n## Notes\n\n- kept\n"
    assert with_section(page, NEW) == (
        "# Results\n\nHow to run.\n\n## Chaos suite (seed 7)\n\n| table |\n\n## Notes\n\n- kept\n"
    )


def test_a_page_without_the_section_gets_it_at_its_end() -> None:
    assert with_section("", NEW) == NEW
    assert with_section("# Results\n", NEW) == "# Results\n\n" + NEW
