"""The benchmark suite: `make bench` (or `uv run python -m bench`).

Writes the results into docs/benchmarks.md, between the results markers, leaving the
hand-written analysis around them alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import sections
from bench.environment import describe
from bench.wrk import wrk_available

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def write_results(doc: Path, results: str) -> None:
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(f"{before}{START}\n{results}\n{END}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--seconds", type=float, default=3, help="length of each load run")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", help="sections to run (default all)")
    parser.add_argument("--output", type=Path, default=DOC)
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
            "3. Contact suggestions": lambda: sections.suggestions(options),
            "4. Fan-out of a 20-recipient message": lambda: sections.fan_out(options),
            "5. Mirror lag under Slack's pace": lambda: sections.mirror_lag(options),
        }
        out = [
            *describe(os.cpu_count() or 1),
            f"- Command: `make bench` (runs={args.runs}, seconds={args.seconds:g}, "
            f"contacts={args.contacts:,})",
            "",
        ]
        for title, measure in parts.items():
            if args.only and not any(title.startswith(o) for o in args.only):
                continue
            print(f"bench: {title}...", file=sys.stderr, flush=True)
            out += [f"### {title}", "", measure(), ""]
        if memory:
            out += ["### 6. Memory", "", sections.memory_table(memory), ""]
    out.append(f"_The whole run took {(time.monotonic() - began) / 60:.0f} minutes._")
    write_results(args.output, "\n".join(out))
    print(f"bench: results written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
