"""verify() on real servers: two databases filled identically by hand, then made to differ one way at a time."""

from __future__ import annotations

import json

import psycopg
import pytest

from pghaul.events import Event, PhaseFinished, PhaseStarted
from pghaul.verify import TableVerified, VerifyOptions, VerifyReport, verify
from tests.conftest import run_sql

SCHEMA = """
CREATE TABLE public.items (
    id bigint PRIMARY KEY, name text, price numeric, tags text[], doc jsonb, seen timestamptz
);
CREATE TABLE public.pairs (a text, b int, v text, PRIMARY KEY (a, b));
CREATE TABLE public.events (kind text, payload text);
CREATE TABLE public.notes (id serial PRIMARY KEY, body text);
CREATE INDEX items_name_idx ON public.items (name);
CREATE TABLE public.empty (id int PRIMARY KEY);
CREATE TABLE public.gen (id int PRIMARY KEY, a int, doubled int GENERATED ALWAYS AS (a * 2) STORED);
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Mixed Case" ("Key" text PRIMARY KEY, rn int, s text, "select" text);
"""

DATA = """
INSERT INTO public.items
SELECT g, 'item ' || g, g * 1.5, ARRAY['a', g::text], jsonb_build_object('n', g),
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 3000) AS g;
INSERT INTO public.pairs SELECT chr(97 + g % 26) || g, g % 7, 'v' || g FROM generate_series(1, 1000) AS g;
INSERT INTO public.events SELECT 'k' || (g % 5), 'payload ' || g FROM generate_series(1, 200) AS g;
INSERT INTO public.notes (body) SELECT 'note ' || g FROM generate_series(1, 50) AS g;
INSERT INTO public.gen (id, a) SELECT g, g FROM generate_series(1, 20) AS g;
INSERT INTO "Odd Schema"."Mixed Case" SELECT 'k' || g, g, 's', 'x' FROM generate_series(1, 700) AS g;
"""

# Small ranges so a few thousand rows already split into several.
FINE = VerifyOptions(rows_per_range=300)


@pytest.fixture
def twins(source_url: str, target_url: str) -> tuple[str, str]:
    for url in (source_url, target_url):
        run_sql(url, SCHEMA + DATA)
    return source_url, target_url


def _table(report: VerifyReport, name: str):  # type: ignore[no-untyped-def]
    return next(t for t in report.tables if t.table == name)


def _only_failing_tables(report: VerifyReport) -> list[str]:
    return [t.table for t in report.tables if not t.ok]


def test_identical_databases_verify_clean(twins: tuple[str, str]) -> None:
    seen: list[Event] = []
    report = verify(*twins, FINE, seen.append)
    assert report.ok, report.differences()
    assert report.differences() == []
    items = _table(report, "public.items")
    assert (items.rows_source, items.rows_target, items.ranges) == (3000, 3000, 10)
    assert _table(report, "public.pairs").ranges > 1
    assert _table(report, "public.events").ranges == 1  # no primary key: one multiset
    assert _table(report, "public.empty").rows_source == 0
    assert _table(report, "Odd Schema.Mixed Case").ranges == 3
    assert [s.sequence for s in report.sequences] == ["public.notes_id_seq"]
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True
    assert {"table", "rowsSource", "rowsTarget", "checksumMatch", "differingRanges", "ok"} <= set(data["tables"][0])
    assert set(data) >= {"tables", "sequences", "schemaDiff", "extensions", "vectorChecks", "ok"}
    assert isinstance(seen[0], PhaseStarted) and seen[0].phase == "verify"
    assert [e.table for e in seen if isinstance(e, TableVerified)] == [t.table for t in report.tables]
    assert isinstance(seen[-1], PhaseFinished)


def test_one_changed_value_flags_only_its_range(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(target_url, "UPDATE public.items SET price = price + 0.01 WHERE id = 1234")
    report = verify(source_url, target_url, FINE)
    assert not report.ok
    assert _only_failing_tables(report) == ["public.items"]
    items = _table(report, "public.items")
    assert items.rows_source == items.rows_target == 3000
    assert not items.checksum_match
    [bad] = items.differing_ranges
    assert bad.after is not None and bad.up_to is not None
    assert int(bad.after[0]) < 1234 <= int(bad.up_to[0])
    assert bad.rows_source == bad.rows_target
    assert any("public.items" in line and "1 of 10" in line for line in report.differences())


def test_changed_value_in_a_composite_key_table_is_narrowed(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(target_url, "UPDATE public.pairs SET v = 'changed' WHERE a = 'z25' AND b = 4")
    report = verify(source_url, target_url, FINE)
    assert _only_failing_tables(report) == ["public.pairs"]
    [bad] = _table(report, "public.pairs").differing_ranges
    assert _table(report, "public.pairs").ranges == 4
    assert bad.after is not None or bad.up_to is not None
    # Boundaries are whole key values in key column order; the changed key lies inside the reported range.
    assert _inside(source_url, ("z25", 4), bad.after, bad.up_to)


def test_missing_row(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(target_url, "DELETE FROM public.items WHERE id = 2999")
    report = verify(source_url, target_url, FINE)
    items = _table(report, "public.items")
    assert (items.rows_source, items.rows_target) == (3000, 2999)
    [bad] = items.differing_ranges
    assert (bad.rows_source, bad.rows_target) == (bad.rows_source, bad.rows_source - 1)
    assert any("3000 rows on source, 2999 on target" in line for line in report.differences())


def test_extra_row_lands_in_the_last_range(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(target_url, "INSERT INTO public.items (id, name) VALUES (99999, 'stray')")
    report = verify(source_url, target_url, FINE)
    items = _table(report, "public.items")
    assert items.rows_target == 3001
    [bad] = items.differing_ranges
    assert bad.index == items.ranges - 1 and bad.up_to is None
    assert _only_failing_tables(report) == ["public.items"]


def test_duplicate_row_in_a_table_without_key(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    # Same multiset size either way: one row doubled, another one removed.
    run_sql(
        target_url,
        "DELETE FROM public.events WHERE payload = 'payload 7';"
        "INSERT INTO public.events VALUES ('k3', 'payload 8');",
    )
    report = verify(source_url, target_url, FINE)
    events = _table(report, "public.events")
    assert events.rows_source == events.rows_target == 200
    assert not events.checksum_match and not events.ok
    assert _only_failing_tables(report) == ["public.events"]


def test_null_and_empty_string_are_different(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(source_url, "UPDATE public.items SET name = NULL WHERE id = 10")
    run_sql(target_url, "UPDATE public.items SET name = '' WHERE id = 10")
    assert _only_failing_tables(verify(source_url, target_url, FINE)) == ["public.items"]


def test_sequence_behind_on_target(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(target_url, "SELECT setval('public.notes_id_seq', 7)")
    report = verify(source_url, target_url, FINE)
    assert not report.ok
    assert all(t.ok for t in report.tables)
    [seq] = report.sequences
    assert not seq.ok
    assert seq.source is not None and seq.target is not None
    assert (seq.source.last_value, seq.target.last_value) == (50, 7)
    assert any("notes_id_seq" in line and "behind" in line for line in report.differences())


def test_missing_index_on_target_is_a_schema_difference(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(target_url, "DROP INDEX public.items_name_idx")
    report = verify(source_url, target_url, FINE)
    assert not report.ok
    assert all(t.ok for t in report.tables)
    assert [(d.kind, d.name, d.change) for d in report.schema_diff] == [
        ("indexes", "public.items_name_idx", "missing on target")
    ]


def test_missing_table_on_target(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(target_url, "DROP TABLE public.events")
    report = verify(source_url, target_url, FINE)
    events = _table(report, "public.events")
    assert events.error == "missing on target" and events.rows_source == 200
    assert ("tables", "public.events", "missing on target") in [
        (d.kind, d.name, d.change) for d in report.schema_diff
    ]


def test_include_and_exclude_patterns(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(target_url, "DELETE FROM public.events; UPDATE \"Odd Schema\".\"Mixed Case\" SET rn = 0")
    report = verify(source_url, target_url, VerifyOptions(exclude=("public.events", "Odd*")))
    assert report.ok, report.differences()
    assert "public.events" not in [t.table for t in report.tables]
    report = verify(source_url, target_url, VerifyOptions(include=("public.it*",)))
    assert [t.table for t in report.tables] == ["public.items"]


def _inside(url: str, key: tuple[str, int], after: tuple[str, ...] | None, up_to: tuple[str, ...] | None) -> bool:
    """Whether ``key`` lies in (after, up_to], compared by the server in the key's own types."""
    with psycopg.connect(url) as conn:
        above = after is None or conn.execute(
            "SELECT (%s::text, %s::int) > (%s::text, %s::int)", (*key, *after)
        ).fetchone()[0]  # type: ignore[index]
        below = up_to is None or conn.execute(
            "SELECT (%s::text, %s::int) <= (%s::text, %s::int)", (*key, *up_to)
        ).fetchone()[0]  # type: ignore[index]
    return bool(above and below)


def _has_en_us_locale() -> bool:
    import subprocess

    found = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout.lower().split()
    return "en_us.utf8" in found or "en_us.utf-8" in found


def test_text_key_ranges_follow_the_key_collation(source_url: str, target_url: str) -> None:
    if not _has_en_us_locale():
        pytest.skip("the en_US.UTF-8 locale is not installed (locale-gen en_US.UTF-8)")
    setup = """
    CREATE COLLATION public.en_us (provider = libc, locale = 'en_US.utf8');
    CREATE TABLE public.words (w text COLLATE public.en_us PRIMARY KEY, n int);
    INSERT INTO public.words
    SELECT s, g FROM generate_series(1, 1200) AS g,
         LATERAL (SELECT (ARRAY['a', 'B', '_', 'b', 'A', 'é', 'Z', 'z'])[1 + g % 8] || g AS s) AS x;
    """
    run_sql(source_url, setup)
    run_sql(target_url, setup + "UPDATE public.words SET n = -1 WHERE w = 'B1';")
    report = verify(source_url, target_url, FINE)
    words = _table(report, "public.words")
    assert words.ranges == 4 and words.rows_source == words.rows_target == 1200
    [bad] = words.differing_ranges
    # The reported range holds 'B1' when compared as the column compares: in en_US, not byte order.
    with psycopg.connect(source_url) as conn:
        inside = conn.execute(
            "SELECT (%s::text IS NULL OR 'B1' COLLATE public.en_us > %s) "
            "AND (%s::text IS NULL OR 'B1' COLLATE public.en_us <= %s)",
            (
                bad.after and bad.after[0],
                bad.after and bad.after[0],
                bad.up_to and bad.up_to[0],
                bad.up_to and bad.up_to[0],
            ),
        ).fetchone()
    assert inside is not None and inside[0] is True
    assert _only_failing_tables(report) == ["public.words"]


def test_column_missing_on_target_is_reported_not_skipped(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(target_url, "ALTER TABLE public.items DROP COLUMN doc")
    report = verify(source_url, target_url, FINE)
    items = _table(report, "public.items")
    assert not items.ok and items.error is not None and "doc" in items.error
    assert [(d.name, d.change, d.fields) for d in report.schema_diff] == [
        ("public.items", "differs", ("column doc",))
    ]


def test_writes_on_a_live_source_are_reported_as_such(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    written: list[str] = []

    def write_once_verifying_started(event: Event) -> None:
        # The application keeps writing while verify runs; tables are checked in name order, public.notes later.
        if isinstance(event, TableVerified) and not written:
            run_sql(source_url, "INSERT INTO public.notes (body) VALUES ('late')")
            written.append(event.table)

    report = verify(source_url, target_url, FINE, write_once_verifying_started)
    assert written == ["Odd Schema.Mixed Case"]
    assert _only_failing_tables(report) == ["public.notes"]
    [seq] = report.sequences
    assert "behind" in seq.problems()[0]
    assert report.source_transactions_during_verify >= 1
    assert any("live" in note for note in report.notes())


def test_a_differing_range_selects_the_rows_to_sync(twins: tuple[str, str]) -> None:
    from psycopg import sql

    from pghaul.connect import connect_source
    from pghaul.inspect import inspect_catalog
    from pghaul.verify.checksum import key_range_condition

    source_url, target_url = twins
    run_sql(target_url, "UPDATE public.pairs SET v = 'changed' WHERE a = 'q16' AND b = 2")
    [bad] = _table(verify(source_url, target_url, FINE), "public.pairs").differing_ranges
    with connect_source(source_url) as conn:
        pairs = inspect_catalog(conn).tables[("public", "pairs")]
    condition, params = key_range_condition(pairs, bad.after, bad.up_to)
    query = sql.SQL("SELECT a, b, v FROM public.pairs WHERE {}").format(condition)
    rows = {}
    for url in (source_url, target_url):
        with psycopg.connect(url) as conn:
            rows[url] = set(conn.execute(query, params).fetchall())
    assert len(rows[source_url]) == bad.rows_source < 1000
    assert rows[source_url] - rows[target_url] == {("q16", 2, "v16")}


def test_schema_only_verification_ignores_rows(twins: tuple[str, str]) -> None:
    source_url, target_url = twins
    run_sql(target_url, "TRUNCATE public.items, public.events; SELECT setval('public.notes_id_seq', 1, false)")
    report = verify(source_url, target_url, VerifyOptions(data=False))
    assert report.ok and report.tables == [] and report.sequences == []
    assert not verify(source_url, target_url, VerifyOptions()).ok
