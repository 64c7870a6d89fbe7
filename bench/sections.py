"""The measurements, one function per section of docs/benchmarks.md. Each returns the
Markdown of its tables; figures are medians over `runs` runs, next to the bare baseline
measured in the same run."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlmodel import Session

from bench import requests as signed
from bench.population import add_contacts, people, prepare_line, start_thread
from bench.stack import (
    Fakes,
    PacedSlack,
    SlowTwilio,
    bare_app,
    bots,
    drop_postgres_schema,
    postgres_available,
    postgres_database,
    resident_memory_mib,
    sqlite_database,
)
from bench.stats import Summary, percentile
from bench.wrk import SignedRequest, WrkResult, run_wrk
from bot.db import Database, create_db_engine
from handlers import ids
from models.contacts import search_contacts
from models.directory import SHARED, Viewer
from models.tables import Line
from tests.fakes.slack import TEAM_ID
from tests.processes import child_pids
from tests.slack_driver import interaction_body, submission_payload, wait_until

USER = "U0BENCH"
SENDERS = [f"+120255501{n:02d}" for n in range(100)]
CLIENTS = (1, 16, 64)


@dataclass
class Options:
    runs: int
    seconds: float
    contacts: int
    workdir: Path


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def wait_idle(url: str, timeout: float = 45) -> None:
    """Until the bot has no texts due and nothing waiting for Slack."""

    def idle() -> bool:
        health = httpx.get(f"{url}/healthz", timeout=5).json()
        return all(health[k] == 0 for k in ("inbound_backlog", "outbox_due", "mirror_backlog"))

    # Measured anyway when it does not: the backlog shows in the numbers that follow.
    with contextlib.suppress(AssertionError):
        wait_until(idle, timeout=timeout, what="the bot to catch up")


def repeated(
    url: str, build: Callable[[int], list[SignedRequest]], options: Options, clients: int
) -> list[WrkResult]:
    count = int(options.seconds * 2500) + 100
    return [
        run_wrk(url, build(count), connections=clients, seconds=options.seconds)
        for _ in range(options.runs)
    ]


def summary_of(results: list[WrkResult]) -> tuple[Summary, float, int]:
    latency = Summary.across_runs([r.latency for r in results])
    return latency, statistics.median(r.per_second for r in results), sum(r.errors for r in results)


# --- 1. acknowledgement latency -----------------------------------------------------------
def ack_latency(options: Options, memory: dict[str, float]) -> str:
    database_url = sqlite_database(options.workdir, "ack")
    line_id, number = prepare_line(database_url, user=USER)
    rows = []
    with Fakes.serve() as fakes, bots(options.workdir, database_url, fakes) as [bot]:
        memory["idle"] = resident_memory_mib(bot.process.pid)
        channel, thread_ts = start_thread(database_url, line_id=line_id, phone="+12025550199")
        new_numbers = [f"new:+120255501{n:02d}" for n in range(100)]
        entry_points: dict[str, Callable[[str], Callable[[int], list[SignedRequest]]]] = {
            "/text": lambda url: (
                lambda n: signed.slash_commands(
                    n, user=USER, response_url=fakes.slack.response_url()
                )
            ),
            "options": lambda url: (
                lambda n: signed.suggestions(["cust", "customer 4", "2025550"], n, user=USER)
            ),
            "view submission": lambda url: (
                lambda n: signed.submissions(n, user=USER, line_id=line_id, recipients=new_numbers)
            ),
            "thread reply": lambda url: (
                lambda n: signed.thread_replies(n, user=USER, channel=channel, thread_ts=thread_ts)
            ),
            "Twilio inbound": lambda url: (
                lambda n: signed.inbound_texts(
                    n, public_url=url, line_number=number, senders=SENDERS
                )
            ),
        }
        with bare_app() as bare_url:
            for clients in CLIENTS:
                baseline, base_rate, _ = summary_of(
                    repeated(bare_url, entry_points["Twilio inbound"](bare_url), options, clients)
                )
                for name, make in entry_points.items():
                    print(f"bench:   {name}, {clients} clients", file=sys.stderr, flush=True)
                    wait_idle(bot.url)
                    latency, rate, errors = summary_of(
                        repeated(bot.url, make(bot.url), options, clients)
                    )
                    ok = latency.p50 <= 10 and latency.p99 <= 100 and latency.max <= 1000
                    rows.append(
                        f"| {name} | {clients} | {ms(latency.p50)} | {ms(latency.p99)} | "
                        f"{ms(latency.max)} | {rate:.0f} | {errors} | {ms(baseline.p50)} | "
                        f"{ms(baseline.p99)} | {base_rate:.0f} | {verdict(ok)} |"
                    )
        memory["after latency runs"] = resident_memory_mib(bot.process.pid)
    return "\n".join(
        [
            "| entry point | clients | p50 ms | p99 ms | max ms | req/s | errors | "
            "bare p50 ms | bare p99 ms | bare req/s | target met |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
        ]
    )


# --- 2. inbound throughput ----------------------------------------------------------------
def _parallel_wrk(urls: list[str], builds: list[list[SignedRequest]], seconds: float) -> list:
    results: list[WrkResult | None] = [None] * len(urls)

    def one(index: int) -> None:
        results[index] = run_wrk(urls[index], builds[index], connections=16, seconds=seconds)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _inbound_backlog(url: str) -> int:
    return int(httpx.get(f"{url}/healthz", timeout=5).json()["inbound_backlog"])


def _seconds_to_catch_up(url: str, timeout: float = 60) -> float:
    """How long the router took to route what was left when the load ended."""
    began = time.monotonic()
    while _inbound_backlog(url) and time.monotonic() - began < timeout:
        time.sleep(0.05)
    return time.monotonic() - began


def inbound_throughput(options: Options, memory: dict[str, float]) -> str:
    setups = [("SQLite", 1)]
    if postgres_available():
        setups += [("PostgreSQL", 1), ("PostgreSQL", 2), ("PostgreSQL", 4)]
    rows = []
    single: dict[str, float] = {}
    with bare_app() as bare_url:
        for database, processes in setups:
            if database == "SQLite":
                database_url = sqlite_database(options.workdir, "inbound")
            else:
                database_url = postgres_database()
            _, number = prepare_line(database_url, user=USER)
            with (
                Fakes.serve() as fakes,
                bots(options.workdir, database_url, fakes, count=processes) as started,
            ):
                rates, p50s, p99s, base_rates, routed = [], [], [], [], []
                left_at_end: list[int] = []  # texts accepted and not yet routed
                catch_up: list[float] = []
                for _ in range(options.runs):
                    count = int(options.seconds * 2500) + 100
                    results = _parallel_wrk(
                        [b.url for b in started],
                        [
                            signed.inbound_texts(
                                count, public_url=b.url, line_number=number, senders=SENDERS
                            )
                            for b in started
                        ],
                        options.seconds,
                    )
                    accepted = sum(r.requests for r in results)
                    left = _inbound_backlog(started[0].url)
                    left_at_end.append(left)
                    routed.append((accepted - left) / max(r.seconds for r in results))
                    catch_up.append(_seconds_to_catch_up(started[0].url))
                    rates.append(sum(r.per_second for r in results))
                    p50s.append(statistics.median(r.latency.p50 for r in results))
                    p99s.append(max(r.latency.p99 for r in results))
                    base = run_wrk(
                        bare_url,
                        signed.inbound_texts(
                            count, public_url=bare_url, line_number=number, senders=SENDERS
                        ),
                        connections=16,
                        seconds=options.seconds,
                    )
                    base_rates.append(base.per_second)
                    for bot in started:
                        wait_idle(bot.url)
                if database == "SQLite":
                    memory["after inbound runs (SQLite)"] = resident_memory_mib(
                        started[0].process.pid
                    )
            rate, base_rate = statistics.median(rates), statistics.median(base_rates)
            if processes == 1:
                single[database] = rate
            scaling = rate / single[database] / processes
            ok = rate >= 1000 and statistics.median(p99s) <= 50 and rate >= 0.25 * base_rate
            if processes > 1:
                ok = scaling >= 0.8
            rows.append(
                f"| {database} | {processes} | {rate:.0f} | {ms(statistics.median(p50s))} | "
                f"{ms(statistics.median(p99s))} | {base_rate:.0f} | {rate / base_rate:.0%} | "
                f"{scaling:.2f} | {statistics.median(routed):.0f} | "
                f"{statistics.median(left_at_end):.0f} | {statistics.median(catch_up):.1f} | "
                f"{verdict(ok)} |"
            )
            if database == "PostgreSQL":
                drop_postgres_schema()
    return "\n".join(
        [
            "| database | processes | texts/s | p50 ms | p99 ms | bare req/s | of bare | "
            "per-process scaling | routed/s | unrouted at the end | routed by s | target met |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
        ]
    )


# --- 3. contact suggestions at a million contacts -----------------------------------------
QUERY_KINDS = {
    "name, 1 letter": ["a", "b", "d", "e", "l", "m", "s", "z"],
    "name, 2 letters": ["al", "be", "da", "em", "la", "ma", "sa", "zo"],
    "name, 4 letters": ["alic", "bake", "dieg", "emma", "lara", "maya", "sant", "zhan"],
    "number, partial": ["2025", "3055550", "+1 415", "(646) 555-01", "555", "120355512"],
}


def suggestions(options: Options, memory: dict[str, float]) -> str:
    setups = ["SQLite"] + (["PostgreSQL"] if postgres_available() else [])
    rows = []
    for database in setups:
        if database == "SQLite":
            database_url = sqlite_database(options.workdir, "contacts")
        else:
            database_url = postgres_database()
        prepare_line(database_url, user=USER, contacts=0)
        started = time.monotonic()
        add_contacts(database_url, options.contacts)
        load_seconds = time.monotonic() - started
        db = Database(database_url)
        viewer = Viewer(TEAM_ID, USER, SHARED)
        for kind, queries in QUERY_KINDS.items():
            samples = []
            for round_ in range(options.runs * 25):
                query = queries[round_ % len(queries)]
                with db.read_session() as session:
                    start = time.perf_counter()
                    found = search_contacts(session=session, viewer=viewer, query=query)
                    samples.append((time.perf_counter() - start) * 1000)
                assert found or kind.startswith("number"), f"no match for {query!r}"
            p95 = percentile(samples, 95)
            rows.append(
                f"| {database} | {kind} | {ms(percentile(samples, 50))} | {ms(p95)} | "
                f"{verdict(p95 <= 20)} |"
            )
        db.dispose()
        all_queries = [q for queries in QUERY_KINDS.values() for q in queries]

        def options_requests(count: int, queries: list[str] = all_queries) -> list[SignedRequest]:
            return signed.suggestions(queries, count, user=USER)

        with (
            Fakes.serve() as fakes,
            bots(options.workdir, database_url, fakes) as [bot],
            bare_app() as bare_url,
        ):
            results = repeated(
                bot.url,
                options_requests,
                options,
                1,
            )
            baseline, _, _ = summary_of(
                repeated(
                    bare_url,
                    options_requests,
                    options,
                    1,
                )
            )
            memory[f"after suggestions ({database}, {options.contacts:,} contacts)"] = (
                resident_memory_mib(bot.process.pid)
            )
            for child in child_pids(bot.process.pid):  # on PostgreSQL, the Slack mirror's
                memory[f"its Slack mirror process ({database})"] = resident_memory_mib(child)
        latency, _, _ = summary_of(results)
        rows.append(
            f"| {database} | whole options request (all queries, HTTP) | {ms(latency.p50)} | "
            f"{ms(latency.p95)} | {verdict(latency.p95 <= 150)} (bare p95 "
            f"{ms(baseline.p95)} ms) |"
        )
        rows.append(
            f"| {database} | loading {options.contacts:,} contacts took "
            f"{load_seconds:.0f} s | | | |"
        )
        if database == "PostgreSQL":
            drop_postgres_schema()
    return "\n".join(
        [
            "| database | query | p50 ms | p95 ms | target met |",
            "| --- | --- | ---: | ---: | --- |",
            *rows,
        ]
    )


# --- 4. fan-out -----------------------------------------------------------------------------
def _multi_submission(line_id: int, numbers: list[str]) -> SignedRequest:
    view = {
        "type": "modal",
        "callback_id": ids.NEW_CONVERSATION_VIEW,
        "blocks": [],
        "private_metadata": json.dumps({"kind": ids.KIND_MULTI}),
    }
    payload = submission_payload(
        view, user=USER, line_id=str(line_id), recipient=None, message="Fan-out benchmark"
    )
    payload["view"]["state"]["values"][ids.RECIPIENTS_BLOCK] = {
        ids.RECIPIENTS_ACTION: {
            "type": "multi_external_select",
            "selected_options": [
                {"text": {"type": "plain_text", "text": n}, "value": f"new:{n}"} for n in numbers
            ],
        }
    }
    return signed.slack_request(interaction_body(payload))


def fan_out(options: Options, memory: dict[str, float]) -> str:
    rows = []
    for rate in (100.0, 1.0):
        database_url = sqlite_database(options.workdir, f"fanout{rate:g}")
        line_id, _ = prepare_line(database_url, user=USER, contacts=0)
        engine = create_db_engine(database_url)
        with Session(engine) as session, session.begin():
            session.get_one(Line, line_id).sends_per_second = rate
        engine.dispose()
        twilio = SlowTwilio(delay=0.05)
        with (
            Fakes.serve(twilio=twilio) as fakes,
            bots(options.workdir, database_url, fakes) as [bot],
        ):
            numbers = [f"+120255501{n:02d}" for n in range(20)]
            request = _multi_submission(line_id, numbers)
            start = time.monotonic()
            response = httpx.post(
                bot.url + request.path, content=request.body, headers=request.headers, timeout=10
            )
            ack_ms = (time.monotonic() - start) * 1000
            assert response.status_code == 200, response.text
            wait_until(
                lambda accepted=twilio.accepted_at: len(accepted) >= 20,  # type: ignore[misc]
                timeout=60,
                what="20 texts",
            )
            times = [t - start for t in sorted(twilio.accepted_at)]
            memory[f"after fan-out ({rate:g}/s)"] = resident_memory_mib(bot.process.pid)
            gaps = [b - a for a, b in itertools.pairwise(times)]
            if rate >= 20:
                ok = ack_ms <= 100 and times[-1] <= 3
            else:
                ok = ack_ms <= 100 and 18.5 <= times[-1] <= 21 and min(gaps) >= 0.95 / rate
            rows.append(
                f"| {rate:g}/s | {ms(ack_ms)} | {times[0]:.2f} | {times[-1]:.2f} | "
                f"{min(gaps):.3f} | {len(twilio.accepted_at)} | {verdict(ok)} |"
            )
    return "\n".join(
        [
            "| line rate | ack ms | 1st accepted s | 20th accepted s | smallest gap s | "
            "texts accepted | target met |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
        ]
    )


# --- 5. mirror lag under Slack's pace -----------------------------------------------------
def mirror_lag(options: Options, memory: dict[str, float]) -> str:
    database_url = sqlite_database(options.workdir, "mirror")
    line_id, number = prepare_line(database_url, user=USER, contacts=0)
    slack = PacedSlack()
    contacts = [f"+120255501{n:02d}" for n in range(10)]
    with (
        Fakes.serve(slack=slack) as fakes,
        bots(options.workdir, database_url, fakes, SLACK_POST_INTERVAL_SECONDS="1.05") as [bot],
    ):
        threads = {
            phone: start_thread(database_url, line_id=line_id, phone=phone) for phone in contacts
        }
        wait_idle(bot.url)
        slack.interval = 1.0
        posted_before = len(slack.calls_to("chat.postMessage"))
        driver = httpx.Client(timeout=10)
        start = time.monotonic()
        requests = signed.inbound_texts(
            100, public_url=bot.url, line_number=number, senders=contacts
        )
        for request in requests:
            answer = driver.post(
                bot.url + request.path, content=request.body, headers=request.headers
            )
            assert answer.status_code == 200
        sent_seconds = time.monotonic() - start

        def shown(channel: str, ts: str) -> list[str]:
            """The thread's inbound texts (a catch-up post shows several)."""
            return [
                text.text
                for m in slack.thread(channel, ts)
                for text in m.shown()
                if "Inbound " in text.text
            ]

        def mirrored() -> bool:
            return sum(len(shown(channel, ts)) for channel, ts in threads.values()) >= 100

        wait_until(mirrored, timeout=300, what="100 texts in Slack")
        last = time.monotonic() - start
        in_order = True
        total = 0
        for channel, ts in threads.values():
            bodies = [int(text.split("Inbound ")[1].split()[0]) for text in shown(channel, ts)]
            total += len(bodies)
            in_order &= bodies == sorted(bodies) and len(set(bodies)) == len(bodies)
        posts = len(slack.calls_to("chat.postMessage")) - posted_before
        memory["after mirror lag"] = resident_memory_mib(bot.process.pid)
    limit = 100 * 1.1 + 2
    ok = total == 100 and in_order and last <= limit
    return "\n".join(
        [
            "| texts | sent in s | last in Slack after s | limit s | in Slack | in order, once | "
            "postMessage calls (429s) | target met |",
            "| ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
            f"| 100 | {sent_seconds:.1f} | {last:.1f} | {limit:.0f} | {total} | "
            f"{verdict(in_order)} | {posts} ({slack.rate_limited}) | {verdict(ok)} |",
        ]
    )


# --- 6. contact import ----------------------------------------------------------------------
IMPORT_TARGET_ROWS_PER_SECOND = 20_000


def contact_import(options: Options) -> str:
    """`textbot contacts import` of a spreadsheet export of `contacts` rows, as an operator
    runs it: a new database, then the same file again (every row known)."""
    path = options.workdir / "contacts.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("phone,name\n")
        for number, name in people(options.contacts):
            out.write(f"{number},{name}\n")
    setups = ["SQLite"] + (["PostgreSQL"] if postgres_available() else [])
    rows = []
    for database in setups:
        if database == "SQLite":
            database_url = sqlite_database(options.workdir, "import")
        else:
            database_url = postgres_database()
        for label in ("new contacts", "the same file again"):
            started = time.monotonic()
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bot.cli",
                    "contacts",
                    "import",
                    str(path),
                    "--team",
                    TEAM_ID,
                ],
                env={**os.environ, "DATABASE_URL": database_url},
                capture_output=True,
                text=True,
                check=True,
            )
            seconds = time.monotonic() - started
            summary = result.stdout.strip().splitlines()[-1].split(": ", 1)[1]
            rate = options.contacts / seconds
            rows.append(
                f"| {database} | {label} | {options.contacts:,} | {seconds:.1f} | {rate:,.0f} | "
                f"{summary} | {verdict(rate >= IMPORT_TARGET_ROWS_PER_SECOND)} |"
            )
        if database == "PostgreSQL":
            drop_postgres_schema()
    return "\n".join(
        [
            f"Target: {IMPORT_TARGET_ROWS_PER_SECOND:,} rows a second or more, the whole "
            "command from start to summary.",
            "",
            "| database | run | rows | seconds | rows/s | summary | target met |",
            "| --- | --- | ---: | ---: | ---: | --- | --- |",
            *rows,
        ]
    )


def memory_table(memory: dict[str, float]) -> str:
    return "\n".join(
        [
            f"Target: at most {SOAK_MEMORY_LIMIT_MIB} MiB a serving process after every section.",
            "",
            "| serving process | resident MiB | target met |",
            "| --- | ---: | --- |",
            *(
                f"| {name} | {value:.0f} | {verdict(value <= SOAK_MEMORY_LIMIT_MIB)} |"
                for name, value in memory.items()
            ),
        ]
    )


# --- 8. soak (optional) ---------------------------------------------------------------------
SOAK_ROUND_SECONDS = 30  # requests are signed afresh each round (Slack refuses old ones)
SOAK_CLIENTS = 2
SOAK_THREADS = 10
SOAK_MEMORY_LIMIT_MIB = 250
# "Flat": over the second half of the soak, once the caches (SQLite's pages, a connection
# per busy thread) have filled, memory grows at most this share.
SOAK_GROWTH_LIMIT = 0.05


def _mixed_round(
    count: int,
    *,
    url: str,
    line_id: int,
    number: str,
    threads: list[tuple[str, str]],
    response_url: str,
) -> list[SignedRequest]:
    """`count` requests of each entry point, interleaved as a workspace's traffic is."""
    replies = [
        reply
        for channel, thread_ts in threads
        for reply in signed.thread_replies(
            count // len(threads), user=USER, channel=channel, thread_ts=thread_ts
        )
    ]
    kinds = [
        signed.slash_commands(len(replies), user=USER, response_url=response_url),
        signed.suggestions(["cust", "customer 4", "2025550"], len(replies), user=USER),
        signed.submissions(
            len(replies),
            user=USER,
            line_id=line_id,
            recipients=[f"new:+120255501{n:02d}" for n in range(100)],
        ),
        replies,
        signed.inbound_texts(len(replies), public_url=url, line_number=number, senders=SENDERS),
    ]
    return [request for turn in zip(*kinds, strict=True) for request in turn]


@dataclass(frozen=True)
class SoakRound:
    ended_s: float  # since the soak began, the round's work done
    requests: int
    errors: int
    loaded_mib: float  # at the end of the round's load
    drained_mib: float  # once the bot had done the round's work
    drain_s: float


def soak(options: Options, minutes: float, memory: dict[str, float]) -> str:
    """Rounds of mixed load on one process for `minutes`, each followed by the work it
    queued (SMS, Slack posts); resident memory read at the end of each."""
    database_url = sqlite_database(options.workdir, "soak")
    line_id, number = prepare_line(database_url, user=USER)
    rounds: list[SoakRound] = []
    with Fakes.serve() as fakes, bots(options.workdir, database_url, fakes) as [bot]:
        # /text's trigger is as old as its round when wrk sends it.
        fakes.slack.trigger_seconds = SOAK_ROUND_SECONDS + 10
        threads = [
            start_thread(database_url, line_id=line_id, phone=f"+120255501{90 + n:02d}")
            for n in range(SOAK_THREADS)
        ]
        wait_idle(bot.url)
        idle = resident_memory_mib(bot.process.pid)
        began = time.monotonic()
        while time.monotonic() - began < minutes * 60:
            print(f"bench:   soak round {len(rounds) + 1}", file=sys.stderr, flush=True)
            requests = _mixed_round(
                SOAK_ROUND_SECONDS * 100,
                url=bot.url,
                line_id=line_id,
                number=number,
                threads=threads,
                response_url=fakes.slack.response_url(),
            )
            result = run_wrk(
                bot.url, requests, connections=SOAK_CLIENTS, seconds=SOAK_ROUND_SECONDS
            )
            loaded = resident_memory_mib(bot.process.pid)
            drain_began = time.monotonic()
            wait_idle(bot.url, timeout=300)
            rounds.append(
                SoakRound(
                    ended_s=time.monotonic() - began,
                    requests=result.requests,
                    errors=result.errors,
                    loaded_mib=loaded,
                    drained_mib=resident_memory_mib(bot.process.pid),
                    drain_s=time.monotonic() - drain_began,
                )
            )
    memory["after the soak"] = rounds[-1].drained_mib
    first, middle, last = rounds[0], rounds[len(rounds) // 2 - 1], rounds[-1]
    highest = max(max(r.loaded_mib, r.drained_mib) for r in rounds)
    warming = middle.drained_mib - first.drained_mib
    growth = last.drained_mib - middle.drained_mib
    ok = highest <= SOAK_MEMORY_LIMIT_MIB and growth <= SOAK_GROWTH_LIMIT * middle.drained_mib
    requests = sum(r.requests for r in rounds)
    return "\n".join(
        [
            f"One process on SQLite, {SOAK_CLIENTS} clients sending /text, options, view "
            f"submissions, replies in {SOAK_THREADS} threads and Twilio inbound texts in turn, "
            f"in rounds of {SOAK_ROUND_SECONDS} s (signed afresh), each followed by the work it "
            f"queued. Target: resident memory at most {SOAK_MEMORY_LIMIT_MIB} MiB throughout, "
            f"and flat: over the second half, after the caches have filled, at most "
            f"{SOAK_GROWTH_LIMIT:.0%} growth. Idle before the soak: {idle:.0f} MiB.",
            "",
            "| round | ended at min | requests | req/s | errors | MiB after load | "
            "work done in s | MiB after the work |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *(
                f"| {n} | {r.ended_s / 60:.1f} | {r.requests:,} | "
                f"{r.requests / SOAK_ROUND_SECONDS:.0f} | {r.errors} | {r.loaded_mib:.0f} | "
                f"{r.drain_s:.1f} | {r.drained_mib:.0f} |"
                for n, r in enumerate(rounds, 1)
            ),
            "",
            "| rounds | requests | highest MiB | first half (warming up) | second half | "
            "target met |",
            "| ---: | ---: | ---: | ---: | ---: | --- |",
            f"| {len(rounds)} | {requests:,} | {highest:.0f} | {warming:+.0f} MiB | "
            f"{growth:+.0f} MiB ({growth / middle.drained_mib:+.1%}) | {verdict(ok)} |",
        ]
    )
