"""The benchmark suite: `make bench` (or `uv run python -m bench`).

Writes the results into docs/benchmarks.md, between the results markers, leaving the
hand-written analysis around them alone.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from bench import sections
from bench.environment import describe
from bench.wrk import wrk_available

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def write_results(doc: Path, results: str, *, partial: bool = False) -> None:
    """Replace the results between the markers; a partial run replaces only the sections it
    ran (by their number), each marked as run alone, and keeps the others."""
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    before, _, rest = text.partition(START)
    kept, _, after = rest.partition(END)
    if partial:
        results = merge_sections(kept.strip("\n"), results)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(f"{before}{START}\n{results}\n{END}{after}")


def _sections(results: str) -> tuple[str, dict[str, str], str]:
    """A results text as its head, its "### N. Title" sections by number, and its tail
    (the line after the last section that says how long the run took)."""
    head, *parts = re.split(r"(?m)^(?=### )", results)
    sections = {part.split(".", 1)[0]: part for part in parts}
    tail = ""
    if parts:
        last_number = parts[-1].split(".", 1)[0]
        last, _, tail = parts[-1].partition("\n_The whole run")
        sections[last_number] = last
        tail = "_The whole run" + tail if tail else ""
    return head, sections, tail


def merge_sections(previous: str, partial: str) -> str:
    old_head, old, old_tail = _sections(previous)
    new_head, new, _ = _sections(partial)
    date = next((line for line in new_head.splitlines() if line.startswith("- Date: ")), "")
    when = date.removeprefix("- Date: ")
    for number, section in new.items():
        title, _, body = section.partition("\n")
        old[number] = f"{title}\n\n_Run alone on {when}._\n{body.rstrip()}\n\n"
    merged = "".join(old[n].rstrip() + "\n\n" for n in sorted(old, key=_section_order))
    return f"{old_head if old else new_head}{merged}{old_tail}".rstrip("\n")


def _section_order(title: str) -> tuple[int, str]:
    number = re.match(r"### (\d+)", title)
    return (int(number.group(1)) if number else 0, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--seconds", type=float, default=3, help="length of each load run")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", help="sections to run (default all)")
    parser.add_argument("--output", type=Path, default=DOC)
    parser.add_argument(
        "--soak", action="store_true", help="add the soak section (8) to a full run"
    )
    parser.add_argument("--soak-minutes", type=float, default=10)
    args = parser.parse_args()
    if not wrk_available():
        sys.exit("bench: wrk is not installed (make bench installs it: apt-get install wrk)")

    began = time.monotonic()
    memory: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="textbot-bench-") as folder:
        options = sections.Options(args.runs, args.seconds, args.contacts, Path(folder))
        parts = {
            "1. Acknowledgement latency": lambda: sections.ack_latency(options, memory),
            "2. Inbound throughput": lambda: sections.inbound_throughput(options, memory),
            "3. Contact suggestions": lambda: sections.suggestions(options, memory),
            "4. Fan-out of a 20-recipient message": lambda: sections.fan_out(options, memory),
            "5. Mirror lag under Slack's pace": lambda: sections.mirror_lag(options, memory),
            "6. Contact import": lambda: sections.contact_import(options),
        }
        if args.soak or (args.only and "8" in args.only):
            parts["8. Soak"] = lambda: sections.soak(options, args.soak_minutes, memory)
        out = [
            *describe(os.cpu_count() or 1),
            f"- Command: `make bench` (runs={args.runs}, seconds={args.seconds:g}, "
            f"contacts={args.contacts:,})",
            "",
        ]
        measured: dict[str, str] = {}
        for title, measure in parts.items():
            if args.only and not any(title.startswith(o) for o in args.only):
                continue
            print(f"bench: {title}...", file=sys.stderr, flush=True)
            measured[title] = measure()
        if memory:  # read by the other sections, shown before the optional soak
            measured["7. Memory"] = sections.memory_table(memory)
        for title in sorted(measured, key=lambda t: int(t.split(".", 1)[0])):
            out += [f"### {title}", "", measured[title], ""]
    if not args.only:
        out.append(f"_The whole run took {(time.monotonic() - began) / 60:.0f} minutes._")
    write_results(args.output, "\n".join(out), partial=bool(args.only))
    print(f"bench: results written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
