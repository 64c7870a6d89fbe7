"""A partial benchmark run (`--only`) replaces its own sections of docs/benchmarks.md and
keeps every other committed result."""

from bench.__main__ import END, START, write_results

FULL = """- Date: 2026-11-01 10:00 UTC
- Machine: two cores

### 1. Acknowledgement latency

table one

### 3. Contact suggestions

old table three

_The whole run took 17 minutes._"""


def _results(doc) -> str:
    return doc.read_text().partition(START)[2].partition(END)[0]


def test_a_partial_run_replaces_only_its_sections(tmp_path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nanalysis\n\n{START}\n{FULL}\n{END}\n\nmore analysis\n")
    partial = "- Date: 2026-12-01 09:30 UTC\n\n### 3. Contact suggestions\n\nnew table three\n"

    write_results(doc, partial, partial=True)

    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nanalysis\n\n") and text.endswith("more analysis\n")
    results = _results(doc)
    assert "- Date: 2026-11-01 10:00 UTC" in results  # the full run's description stays
    assert "table one" in results
    assert "old table three" not in results
    section = results[results.index("### 3.") :]
    assert section.startswith(
        "### 3. Contact suggestions\n\n_Run alone on 2026-12-01 09:30 UTC._\n\nnew table three"
    )
    assert results.rstrip().endswith("_The whole run took 17 minutes._")


def test_a_partial_run_adds_a_section_the_page_lacks(tmp_path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"{START}\n{FULL}\n{END}\n")
    write_results(doc, "- Date: d\n\n### 2. Inbound throughput\n\nnew two\n", partial=True)
    results = _results(doc)
    assert results.index("### 1.") < results.index("### 2.") < results.index("### 3.")


def test_a_full_run_replaces_everything(tmp_path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"{START}\n{FULL}\n{END}\n")
    write_results(doc, "- Date: d\n\n### 1. Acknowledgement latency\n\nnew\n")
    assert "old table three" not in _results(doc)
