"""The chaos suite: `textbot serve` runs as a process against the fakes while customers
text its line and people text them back; it is killed with SIGKILL at seeded moments and
started again, Slack and Twilio answer 429 and 500 or hang, and the bot is down for an
outage while texts arrive. At the end nothing is lost, nothing is doubled and every
conversation keeps its order: what each phone received against what was queued for it,
and what each Slack thread shows against what its customer texted (a text Twilio's log
gave back only after newer ones may come later, said to be received late). The time from
the last restart until every backlog is clear is reported, not asserted.

The short version runs with the suite. TEXTBOT_CHAOS=full runs the full one (more texts,
kills and faults, an outage of 5,000 texts), prints its table and, with
TEXTBOT_CHAOS_REPORT=path, writes it there as Markdown. TEXTBOT_CHAOS_SEED repeats a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.chaos import TABLE_HEADER, Chaos, Plan, Result, table_row, with_section
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio

SEED = int(os.environ.get("TEXTBOT_CHAOS_SEED", "19"))
FULL = os.environ.get("TEXTBOT_CHAOS") == "full"
REPORT = os.environ.get("TEXTBOT_CHAOS_REPORT")

SHORT = Plan(
    "short",
    phones=6,
    inbound=36,
    outbound=24,
    kills=2,
    outage_inbound=8,
    outage_outbound=4,
    faults=4,
    tail=4,
    pace=0.25,
)
FULL_PLANS = [
    # Kills during steady traffic both ways.
    Plan(
        "kills",
        phones=30,
        inbound=600,
        outbound=240,
        kills=5,
        outage_inbound=50,
        outage_outbound=20,
        faults=0,
        tail=20,
        pace=0.03,
    ),
    # Slack and Twilio failing all along (429, 500, slow, hanging), with kills.
    Plan(
        "storms",
        phones=20,
        inbound=200,
        outbound=200,
        kills=3,
        outage_inbound=30,
        outage_outbound=20,
        faults=40,
        slack_hangs=True,
        tail=20,
        pace=0.05,
    ),
    # A long outage: far more texts than a page of Twilio's log, arriving while it is down.
    Plan(
        "outage",
        phones=30,
        inbound=100,
        outbound=60,
        kills=1,
        outage_inbound=5000,
        outage_outbound=100,
        faults=0,
        tail=30,
        pace=0.05,
    ),
]

_results: list[Result] = []


def _run(
    plan: Plan,
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    fake_slack: FakeSlack,
    fake_twilio: FakeTwilio,
) -> Result:
    chaos = Chaos(
        plan,
        seed=SEED,
        workdir=tmp_path,
        database_url=database_url,
        engine=engine,
        fake_slack=fake_slack,
        fake_twilio=fake_twilio,
        log=print,
    )
    try:
        result = chaos.run()
    finally:
        chaos.stop_all()
    _results.append(result)
    print(TABLE_HEADER)
    print(table_row(result))
    for problem in result.problems[:20]:
        print("  " + problem)
    return result


def _check(result: Result) -> None:
    assert result.clean, (
        f"{result.plan.name} on {result.database} (seed {result.seed}, faults "
        f"{result.faults}):\n" + "\n".join(result.problems[:60])
    )


@pytest.mark.timeout(240)
def test_short_chaos_loses_doubles_and_reorders_nothing(
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    fake_slack: FakeSlack,
    fake_twilio: FakeTwilio,
) -> None:
    _check(_run(SHORT, tmp_path, database_url, engine, fake_slack, fake_twilio))


@pytest.mark.skipif(not FULL, reason="the full chaos suite runs with TEXTBOT_CHAOS=full")
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    "plan",
    FULL_PLANS,
    ids=[p.name for p in FULL_PLANS],
)
def test_full_chaos_loses_doubles_and_reorders_nothing(
    plan: Plan,
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    fake_slack: FakeSlack,
    fake_twilio: FakeTwilio,
) -> None:
    result = _run(plan, tmp_path, database_url, engine, fake_slack, fake_twilio)
    _write_report()
    _check(result)


def _write_report() -> None:
    """The table of every full run so far, printed and written to TEXTBOT_CHAOS_REPORT."""
    rows = [table_row(r) for r in _results if r.plan.name != SHORT.name]
    table = "\n".join([TABLE_HEADER, *rows])
    print(table)
    if REPORT:
        path = Path(REPORT)
        section = (
            f"## Chaos suite (seed {SEED})\n\n"
            "Lost, duplicated and out-of-order texts per scenario and database, summed over "
            "the conversations; (late): inbound texts posted after newer ones and marked "
            "received late. Kills: SIGKILLs, the outage's included. Thread: the outbound "
            "texts as their Slack threads show them. Recovery: seconds from the last restart "
            "until every backlog was clear (start: of which the process took to answer "
            "/healthz; where a fault went on after the restart, such as Slack hanging, "
            "also the seconds from its end).\n\n" + table + "\n"
        )
        path.write_text(with_section(path.read_text() if path.exists() else "", section))
