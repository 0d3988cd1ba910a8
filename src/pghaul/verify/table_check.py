"""One table, both sides: exact row counts and per-key-range checksums, source and target scanned at once.

``TableChecks`` runs them inside ``migrate``'s data phase, each table as soon as it is copied, on the data phase's
workers; ``verify()`` runs them one after another for the tables nobody checked yet.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg
from psycopg import sql

from pghaul.connect import connect_source
from pghaul.copy.keyset import count_rows
from pghaul.events import Listener
from pghaul.inspect.model import QualifiedName, Table
from pghaul.verify.checksum import (
    Boundary,
    TableSums,
    choose_boundaries,
    differing_ranges,
    range_count,
    range_sums,
)
from pghaul.verify.options import VerifyOptions
from pghaul.verify.progress import TablesToVerify, TableVerified
from pghaul.verify.report import KeyRange, TableCheck
from pghaul.verify.session import STABLE_OUTPUT_SETTINGS, pin_output_settings

# The target side may run on a session that also copies rows and builds indexes (a data phase worker's): the
# settings it needs are set for its own transaction only, which also cannot write.
_PIN_FOR_THIS_TRANSACTION = sql.SQL("SELECT {}").format(
    sql.SQL(", ").join(
        sql.SQL("pg_catalog.set_config({}, {}, true)").format(sql.Literal(name), sql.Literal(value))
        for name, value in (("transaction_read_only", "on"), *STABLE_OUTPUT_SETTINGS.items())
    )
)


def prepare_session(conn: psycopg.Connection) -> None:
    """A session that compares: values print the same on both servers, one snapshot per transaction, no writes."""
    pin_output_settings(conn)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True


def open_source(source_url: str, snapshot_id: str | None) -> psycopg.Connection:
    """A source session to compare from. With ``snapshot_id``: one transaction in that snapshot, kept for every
    comparison made on it (each then runs in a savepoint); without: each comparison reads the live source in a
    transaction of its own. A snapshot that cannot be imported raises: nothing is compared at another moment."""
    conn = connect_source(source_url)
    try:
        prepare_session(conn)
        if snapshot_id is not None:
            conn.autocommit = False
            # The transaction's first statement, as it must be; the id comes from pg_export_snapshot() (and the
            # statement takes no bind parameters).
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_id)))
    except BaseException:
        conn.close()
        raise
    return conn


def _target_side(conn: psycopg.Connection, table: Table, boundaries: list[Boundary]) -> TableSums:
    with conn.transaction():
        conn.execute(_PIN_FOR_THIS_TRANSACTION)
        return range_sums(conn, table, boundaries)


def _wait_quietly(job: Future[TableSums]) -> None:
    try:
        job.result()
    except psycopg.Error:
        pass


def _error_text(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return primary or str(exc).strip().splitlines()[0]


def check_table(
    source: psycopg.Connection,
    target: psycopg.Connection,
    table: Table,
    on_target: bool,
    pool: ThreadPoolExecutor,
    rows_per_range: int,
    max_ranges: int,
) -> TableCheck:
    """Compare one table. ``table`` is the source's definition; it fixes the columns and key types on both sides."""
    name = table.display_name
    target_job: Future[TableSums] | None = None
    try:
        # One snapshot on the source for the count, the boundaries and the sums, so the ranges describe the rows
        # summed; the target's scan runs in the pool meanwhile.
        with source.transaction():
            total = count_rows(source, table)
            boundaries = choose_boundaries(source, table, total, range_count(total, rows_per_range, max_ranges))
            if on_target:
                target_job = pool.submit(_target_side, target, table, boundaries)
            source_sums = range_sums(source, table, boundaries)
    except psycopg.Error as exc:
        if target_job is not None:
            _wait_quietly(target_job)
        return TableCheck(name, table.primary_key, None, None, error=f"cannot read on the source: {_error_text(exc)}")
    if target_job is None:
        return TableCheck(name, table.primary_key, source_sums.rows, None, error="missing on target")
    try:
        target_sums = target_job.result()
    except psycopg.Error as exc:
        return TableCheck(
            name, table.primary_key, source_sums.rows, None, error=f"cannot read on the target: {_error_text(exc)}"
        )
    ranges = len(boundaries) + 1
    differing = tuple(
        KeyRange(
            index=i,
            after=boundaries[i - 1] if i > 0 else None,
            up_to=boundaries[i] if i < len(boundaries) else None,
            rows_source=source_sums.range(i).rows,
            rows_target=target_sums.range(i).rows,
        )
        for i in differing_ranges(source_sums, target_sums, ranges)
    )
    return TableCheck(
        table=name,
        primary_key=table.primary_key,
        rows_source=source_sums.rows,
        rows_target=target_sums.rows,
        ranges=ranges,
        checksum_match=not differing,
        differing_ranges=differing,
    )


def verified(check: TableCheck, seconds: float) -> TableVerified:
    """The event a finished table check is reported with."""
    return TableVerified(
        check.table, check.rows_source, check.rows_target, check.ok, len(check.differing_ranges), seconds
    )


class TableChecks:
    """Tables compared during ``migrate``'s data phase, each as soon as its rows and its own post-data steps are in,
    by the data phase's workers (a :class:`pghaul.copy.parallel.TableChecker`). The source is read in the copy's
    snapshot (``snapshot_id``; None: live). Each result is kept by table and reported as it ends."""

    def __init__(self, source_url: str, snapshot_id: str | None, options: VerifyOptions, listener: Listener) -> None:
        self.source_url = source_url
        self.snapshot_id = snapshot_id
        self.options = options
        self.listener = listener
        self._lock = threading.Lock()
        self._results: dict[QualifiedName, TableCheck] = {}

    def announce(self, tables: int) -> None:
        """How many tables the data phase will check, before the first is."""
        self.listener(TablesToVerify(tables))

    def session(self) -> CheckSession:
        return CheckSession(self)

    @property
    def results(self) -> dict[QualifiedName, TableCheck]:
        with self._lock:
            return dict(self._results)

    def record(self, key: QualifiedName, check: TableCheck, seconds: float) -> None:
        with self._lock:
            self._results[key] = check
        self.listener(verified(check, seconds))


class CheckSession:
    """One worker's comparisons: its own source session (opened at its first table), the target side on the
    worker's target session, run in a thread of its own meanwhile, as ``verify()`` does."""

    def __init__(self, checks: TableChecks) -> None:
        self.checks = checks
        self.source: psycopg.Connection | None = None
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pghaul-check")

    def check(self, table: Table, target: psycopg.Connection) -> None:
        began = time.monotonic()
        if self.source is None:
            self.source = open_source(self.checks.source_url, self.checks.snapshot_id)
        options = self.checks.options
        # The data phase copied the table into the target's own table of that name: it is there.
        result = check_table(self.source, target, table, True, self.pool, options.rows_per_range, options.max_ranges)
        self.checks.record(table.key, result, time.monotonic() - began)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        if self.source is not None:
            try:
                self.source.close()
            except psycopg.Error:
                pass
