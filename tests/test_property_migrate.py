"""Property: whatever a table holds, migrate copies it exactly — random tables, compared outside pghaul.

Each example is a table of random columns (every built-in type pghaul copies, pgvector's vector, halfvec and
sparsevec, arrays, an enum with awkward labels, a domain, a composite) with a random primary key (one to three
columns of any type that has a btree operator class), NULLs, empty strings, astral and combining characters,
NaN, ±Infinity, -0, numeric at its scale limits, timestamps at 4713 BC, 294276 AD and ±infinity. It is migrated
into the target with a random chunk size (and key ranges split across workers or not), pghaul's own verify must
say ok, and each side's rows — read as text, ordered by the key, by plain SQL — must be equal.

One source and one target database serve every example: each example's table lives in a schema dropped before
the next one (with pghaul's state schema on the target), so an example costs one migrate, not two CREATE
DATABASEs.

The suite runs ``PGHAUL_HYPOTHESIS_EXAMPLES`` examples (default 12, about 15 seconds here); for a long run:
``PGHAUL_HYPOTHESIS_EXAMPLES=500 .venv/bin/pytest tests/test_property_migrate.py -q``. Hypothesis prints the
shrunk table of any failure; keep it below as an ``@example`` once fixed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from psycopg import sql

from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import PghaulError
from tests.hostile_values import ENUM_LABELS, USER_TYPES_SQL, ColumnType, RandomTable, builtin_types, random_tables
from tests.servers import TestServer

SCHEMA = "prop"
EXAMPLES = int(os.environ.get("PGHAUL_HYPOTHESIS_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def admin(pg18: TestServer) -> str:
    return pg18.admin_url


@pytest.fixture(scope="module")
def pair(pg18: TestServer) -> Iterator[tuple[str, str]]:
    source, target = pg18.create_database("propsrc"), pg18.create_database("propdst")
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    yield source, target
    pg18.drop_database(source)
    pg18.drop_database(target)


def _type(column: ColumnType) -> sql.Composable:
    # Test-owned type texts; only the schema's name is an identifier, and it is quoted as one.
    return sql.SQL(column.sql.replace("{s}", sql.Identifier(SCHEMA).as_string(None)))  # type: ignore[arg-type]


def _create(conn: psycopg.Connection, table: RandomTable) -> list[sql.Identifier]:
    schema = sql.Identifier(SCHEMA)
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
    labels = sql.SQL(", ").join(sql.Literal(label) for label in ENUM_LABELS)
    conn.execute(sql.SQL(USER_TYPES_SQL).format(s=schema, labels=labels))
    names = [f"k{i}" for i in range(len(table.key))] + [f"c{i}" for i in range(len(table.columns))]
    types = table.key + table.columns
    columns = [sql.SQL("{} {}").format(sql.Identifier(n), _type(c)) for n, c in zip(names, types, strict=True)]
    key = [sql.Identifier(n) for n in names[: len(table.key)]]
    conn.execute(sql.SQL("CREATE TABLE {}.t ({}, PRIMARY KEY ({}))").format(
        schema, sql.SQL(", ").join(columns), sql.SQL(", ").join(key)))
    casts = sql.SQL(", ").join(sql.SQL("%s::{}").format(_type(c)) for c in table.key + table.columns)
    insert = sql.SQL("INSERT INTO {}.t VALUES ({}) ON CONFLICT DO NOTHING").format(schema, casts)
    for row in table.rows:
        conn.execute(insert, row)
    conn.execute(sql.SQL("ANALYZE {}.t").format(schema))  # estimates decide whether the table is split in ranges
    return key


def _rows(url: str, key: list[sql.Identifier]) -> list[str]:
    """Every row as PostgreSQL prints it, ordered by the key: pghaul's code plays no part."""
    with psycopg.connect(url, autocommit=True) as conn:
        query = sql.SQL("SELECT t::text FROM {}.t AS t ORDER BY {}").format(
            sql.Identifier(SCHEMA), sql.SQL(", ").join(key))
        return [r[0] for r in conn.execute(query).fetchall()]


def _column_types(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) || coalesce(' COLLATE ' || collname, '')"
            " FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (f"{SCHEMA}.t",),
        ).fetchall()


def _sessions_left(url: str) -> list[tuple[str, str, str]]:
    """pghaul's sessions still open on ``url``'s database, a moment after a run ended (a backend needs a moment to
    exit after its client closed): a run that leaves one behind holds locks the next run would wait on."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(50):
            rows = conn.execute(
                "SELECT application_name, state, left(query, 120) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name LIKE 'pghaul%%'").fetchall()
            if not rows:
                return []
            time.sleep(0.1)
    return rows


def _show_waits(admin_url: str) -> None:
    """What every session of the server is doing and waiting for: printed when a run takes far longer than any
    example should, so a run that waits on something says on what."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for row in conn.execute(
            "SELECT pid, datname, application_name, state, wait_event_type, wait_event, backend_xmin,"
            " left(query, 100) FROM pg_stat_activity ORDER BY pid").fetchall():
            print("activity", row)
        for row in conn.execute("SELECT locktype, relation::regclass, mode, pid, granted FROM pg_locks"
                                " WHERE pid <> pg_backend_pid()").fetchall():
            print("lock", row)


def check_migrates_exactly(source: str, target: str, table: RandomTable, admin_url: str | None = None) -> None:
    with psycopg.connect(source, autocommit=True) as conn:
        key = _create(conn, table)
    with psycopg.connect(target, autocommit=True) as conn:
        # A session of an earlier run still holding a lock here would be a leak: fail on it, never wait forever.
        conn.execute("SET lock_timeout = '30s'")
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {}, pghaul CASCADE").format(sql.Identifier(SCHEMA)))
    watchdog = threading.Timer(60, _show_waits, (admin_url,)) if admin_url else None
    if watchdog is not None:
        watchdog.start()
    try:
        result = migrate(source, target, MigrateOptions(batch_size=table.batch_size, split_rows=table.split_rows,
                                                        workers=2))
    finally:
        if watchdog is not None:
            watchdog.cancel()
        assert _sessions_left(source) == [] and _sessions_left(target) == []
    report = result.verify_report
    assert result.ok and report is not None and report.ok, report.differences() if report else result.notices
    expected = _rows(source, key)
    assert _rows(target, key) == expected
    assert result.rows_copied == len(expected)
    assert _column_types(target) == _column_types(source)


_T = {t.sql: t for t in builtin_types()}


# The suite's per-test timeout (300 s) is for one example's worth of work; a long run gets 10 s per example.
@pytest.mark.timeout(max(300, EXAMPLES * 10))
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(table=random_tables())
@example(table=RandomTable(key=(_T["integer"],), columns=(), rows=(), batch_size=1, split_rows=1))
def test_any_table_migrates_exactly(pair: tuple[str, str], admin: str, table: RandomTable) -> None:
    for column in table.key:  # --hypothesis-show-statistics then says how often each type was drawn
        event(f"key {column.sql}")
    for column in table.columns:
        event(f"column {column.sql}")
    check_migrates_exactly(*pair, table, admin)


def test_a_timestamp_postgresql_rounded_past_its_own_limit_stops_the_copy(source_url: str, target_url: str) -> None:
    """Found by the property above (shrunk): PostgreSQL stores 294276-12-31 23:59:59.999999 in a timestamp(0) as
    294277-01-01 00:00:00, one second past the limit that its own input functions (text and binary) enforce, so
    no tool can load that row anywhere. The run must stop on it without writing the table's rows half-way, and
    finish once the value is fixed on the source."""
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.limits (id int PRIMARY KEY, at timestamp(0))")
        conn.execute("INSERT INTO public.limits SELECT i, '2000-01-01' FROM generate_series(1, 5) i")
        conn.execute("INSERT INTO public.limits VALUES (6, '294276-12-31 23:59:59.999999')")
        assert conn.execute("SELECT at::text FROM public.limits WHERE id = 6").fetchone() == ("294277-01-01 00:00:00",)
    with pytest.raises(PghaulError, match="timestamp out of range") as refused:
        migrate(source_url, target_url, MigrateOptions(batch_size=100))
    # The table and the column are named, with what to do (not the driver's bare error).
    assert "public.limits" in refused.value.message and "column at" in refused.value.message
    assert "--exclude public.limits" in refused.value.hint
    with psycopg.connect(target_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM public.limits").fetchone() == (0,)
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("UPDATE public.limits SET at = 'infinity' WHERE id = 6")
    result = migrate(source_url, target_url, MigrateOptions(batch_size=100))
    assert result.ok
    with psycopg.connect(target_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*), max(at)::text FROM public.limits").fetchone() == (6, "infinity")
