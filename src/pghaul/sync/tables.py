"""Syncing one table: find what differs (narrow), then replace exactly those ranges on the target.

A range the target refuses for a reason that another table's sync removes (a foreign key whose other end is not
there yet, a unique value still held by a row that another range deletes) is handed back, rolled back whole,
for the run to try again once the other tables are done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from pghaul.copy.keyset import count_rows, table_ident
from pghaul.copy.rate_limit import RateLimit
from pghaul.errors import check_cancelled
from pghaul.inspect.model import Table
from pghaul.kinds import SyncMethod
from pghaul.sync import row_versions
from pghaul.sync.narrow import WHOLE_TABLE, narrow
from pghaul.sync.options import SyncOptions
from pghaul.sync.replace import RangeChange, replace_range, replace_table
from pghaul.verify.checksum import KeyBounds, range_sums

# Refusals that depend on the order tables and ranges are applied in: tried again after the others.
ORDER_DEPENDENT = (psycopg.errors.ForeignKeyViolation, psycopg.errors.UniqueViolation,
                   psycopg.errors.ExclusionViolation)


@dataclass(frozen=True)
class TableWork:
    """One table to sync, as the run decided: its source definition and how to write it."""

    table: Table
    binary: bool
    method: SyncMethod
    # Ordinary triggers switched off inside each range's transaction, where the session may not use replica role.
    quiet_triggers: tuple[str, ...] = ()
    # The snapshot xmin the target's table is known to equal the source at (see row_versions); None: compare all.
    baseline: int | None = None
    rate: RateLimit | None = None  # the sync's --max-rate bucket, shared by all tables


@dataclass
class TableOutcome:
    work: TableWork
    method: SyncMethod
    ranges_compared: int = 0
    leaves: list[KeyBounds] = field(default_factory=list)
    change: RangeChange = field(default_factory=RangeChange)
    deferred: list[tuple[KeyBounds, str]] = field(default_factory=list)  # ranges refused for now, and why
    seconds: float = 0.0


def error_message(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    return (getattr(diag, "message_primary", None) if diag is not None else None) or str(exc).splitlines()[0]


@contextmanager
def writing(tgt: psycopg.Connection, work: TableWork) -> Iterator[None]:
    """One target transaction for a table's writes, its ordinary triggers off inside it only when asked: other
    sessions never see them disabled (ALTER TABLE is transactional), and a failure leaves them as they were."""
    with tgt.transaction():
        for name in work.quiet_triggers:
            tgt.execute(sql.SQL("ALTER TABLE ONLY {} DISABLE TRIGGER {}").format(
                table_ident(work.table), sql.Identifier(name)))
        yield
        for name in work.quiet_triggers:
            tgt.execute(sql.SQL("ALTER TABLE ONLY {} ENABLE TRIGGER {}").format(
                table_ident(work.table), sql.Identifier(name)))


def apply_range(src: psycopg.Connection, tgt: psycopg.Connection, work: TableWork, bounds: KeyBounds) -> RangeChange:
    """One range (or, for a table without a key, the table) in one target transaction."""
    with writing(tgt, work):
        if work.table.primary_key:
            return replace_range(src, tgt, work.table, bounds, work.binary, work.rate)
        return replace_table(src, tgt, work.table, work.binary, work.rate)


def apply_leaves(
    src: psycopg.Connection, tgt: psycopg.Connection, outcome: TableOutcome, cancel: threading.Event | None
) -> None:
    for bounds in outcome.leaves:
        check_cancelled(cancel, f"stopped while syncing {outcome.work.table.display_name}",
                        "run the same sync again: the ranges committed stay, and it compares the rest again")
        try:
            outcome.change += apply_range(src, tgt, outcome.work, bounds)
        except ORDER_DEPENDENT as exc:
            outcome.deferred.append((bounds, error_message(exc)))


def compare_whole(src: psycopg.Connection, tgt: psycopg.Connection, table: Table, pool: ThreadPoolExecutor) -> bool:
    """Whether a table without a key holds the same multiset of rows on both sides."""
    target_side = pool.submit(range_sums, tgt, table, [])
    return range_sums(src, table, []) == target_side.result()


def find_differences(
    src: psycopg.Connection, tgt: psycopg.Connection, work: TableWork, options: SyncOptions,
    pool: ThreadPoolExecutor,
) -> TableOutcome:
    """Compare one table; ``outcome.leaves`` are the ranges to replace (the whole table as one for a keyless one)."""
    started = time.monotonic()
    outcome = TableOutcome(work, work.method)
    if not work.table.primary_key:
        outcome.method = SyncMethod.WHOLE
        outcome.ranges_compared = 1
        if not compare_whole(src, tgt, work.table, pool):
            outcome.leaves.append(WHOLE_TABLE)
    else:
        narrowed = narrow(src, tgt, work.table, count_rows(src, work.table), options, pool)
        outcome.ranges_compared, outcome.leaves = narrowed.ranges_compared, narrowed.leaves
    outcome.seconds = time.monotonic() - started
    return outcome


def sync_table(
    src: psycopg.Connection, tgt: psycopg.Connection, work: TableWork, options: SyncOptions,
    pool: ThreadPoolExecutor, cancel: threading.Event | None = None,
) -> TableOutcome:
    started = time.monotonic()
    outcome = by_row_versions(src, tgt, work, options) if row_versions.usable(src, work.baseline) else None
    if outcome is None:
        outcome = find_differences(src, tgt, work, options, pool)
        apply_leaves(src, tgt, outcome, cancel)
    outcome.seconds = time.monotonic() - started
    return outcome


def by_row_versions(
    src: psycopg.Connection, tgt: psycopg.Connection, work: TableWork, options: SyncOptions
) -> TableOutcome | None:
    """The table's changes found through the source's row versions; None when the target refused them in this
    order (the checksum path then compares the table, and defers what it must)."""
    assert work.baseline is not None
    table, outcome = work.table, TableOutcome(work, SyncMethod.ROW_VERSIONS, ranges_compared=1)
    try:
        if not table.primary_key:
            if row_versions.has_newer(src, table, work.baseline) or count_rows(src, table) != count_rows(tgt, table):
                outcome.leaves.append(WHOLE_TABLE)
                outcome.change = apply_range(src, tgt, work, WHOLE_TABLE)
            return outcome
        with writing(tgt, work):
            outcome.change = row_versions.upsert_newer(src, tgt, table, work.baseline, work.binary, work.rate)
        source_rows, target_rows = count_rows(src, table), count_rows(tgt, table)
        if target_rows < source_rows:
            return None  # the target lost rows behind pghaul's back: only the checksums can say which
        if target_rows > source_rows:
            compared, gone = row_versions.ranges_with_deletes(src, tgt, table, source_rows, target_rows, options)
            outcome.ranges_compared += compared
            outcome.leaves = gone
            for bounds in gone:
                with writing(tgt, work):
                    outcome.change += RangeChange(deleted=row_versions.delete_gone(src, tgt, table, bounds, work.rate))
    except ORDER_DEPENDENT:
        return None
    return outcome
