"""`textbot contacts import`: a contact file into the database, every row accounted for.

Checking numbers is most of the work (phonenumbers takes some 50 µs a number), so a big
file's rows are checked in worker processes, a chunk each, while this process reads the
file and saves what comes back, in file order, a transaction a batch (on SQLite a running
bot gets its turn between batches)."""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice

from sqlalchemy import Engine

from bot.contact_file import ContactFile
from bot.db import new_session
from models.contact_import import CheckedRow, ContactImport, ImportTally, RawRow, check_rows
from models.contacts import refresh_contact_statistics

CHUNK_ROWS = 2000
# Smaller files are checked in this process: starting workers would cost more.
PARALLEL_FROM_BYTES = 1 << 20

Progress = Callable[[int, ImportTally], None]


def import_contact_file(
    contacts: ContactFile,
    *,
    engine: Engine,
    team_id: str,
    region: str,
    on_progress: Progress = lambda _position, _tally: None,
    workers: int | None = None,
) -> ImportTally:
    """Import every row of `contacts`; the tally lists the skipped rows in line order."""
    importer = ContactImport(team_id=team_id)
    saves = 0

    def save() -> None:
        nonlocal saves
        with new_session(engine) as session, session.begin():
            importer.save(session)
            saves += 1
            if saves & (saves - 1) == 0:  # the 1st, 2nd, 4th, 8th…: each time it doubled
                refresh_contact_statistics(session)

    if workers is None:
        workers = (os.cpu_count() or 1) if contacts.size >= PARALLEL_FROM_BYTES else 0
    for checked in _checked_chunks(_raw_chunks(contacts, importer), region, workers):
        importer.accept(checked)
        if importer.batch_ready:
            save()
            on_progress(contacts.position, importer.tally)
    save()
    on_progress(contacts.size, importer.tally)
    importer.tally.skipped.sort(key=lambda row: row.line)
    return importer.tally


def _raw_chunks(contacts: ContactFile, importer: ContactImport) -> Iterator[list[RawRow]]:
    """The file's rows in chunks; a row that is not even CSV is skipped straight away."""
    rows = iter(contacts.rows())
    while chunk := list(islice(rows, CHUNK_ROWS)):
        raw: list[RawRow] = []
        for row in chunk:
            if row.problem:
                importer.skip(row.line, row.problem)
            else:
                raw.append((row.line, row.phone, row.name))
        yield raw


def _checked_chunks(
    chunks: Iterator[list[RawRow]], region: str, workers: int
) -> Iterator[list[CheckedRow]]:
    if workers <= 0:
        for chunk in chunks:
            yield check_rows(chunk, region)
        return
    # A few chunks in flight per worker: enough to keep them busy, and memory bounded
    # however big the file.
    with ProcessPoolExecutor(workers, initializer=_ignore_interrupts) as pool:
        in_flight: deque[Future[list[CheckedRow]]] = deque()
        try:
            for chunk in chunks:
                in_flight.append(pool.submit(check_rows, chunk, region))
                if len(in_flight) >= 2 * workers:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        finally:
            for future in in_flight:
                future.cancel()


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: this process stops the import and says so;
    # the workers must not print tracebacks of their own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
