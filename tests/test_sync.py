"""`pghaul sync` on real servers: after a migration, the source changes (rows in every kind of table, large
objects, sequences, new tables and columns) and sync brings exactly those changes over, checked by verify and by
the counts sync reports."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import Cancelled, SafetyError
from pghaul.events import TableFinished
from pghaul.kinds import SyncMethod
from pghaul.sync import SyncOptions, sync
from pghaul.verify import verify
from tests.conftest import run_sql

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE public.accounts (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text,
                              touched timestamptz);
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.touched := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER accounts_touch BEFORE UPDATE ON public.accounts FOR EACH ROW EXECUTE FUNCTION public.touch();
CREATE TABLE public.orders (id uuid PRIMARY KEY, account_id int NOT NULL REFERENCES public.accounts (id)
                            ON DELETE CASCADE, total numeric(12, 2), note text);
CREATE TABLE public.line_items (order_id uuid REFERENCES public.orders (id) ON DELETE CASCADE, line int,
                                qty int NOT NULL, PRIMARY KEY (order_id, line));
CREATE TABLE public.log (at timestamptz, message text);
CREATE TABLE public.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, embedding vector(3), doc oid);
INSERT INTO public.accounts (email, name) SELECT 'user' || i || '@example.com', 'user ' || i
  FROM generate_series(1, 3000) AS i;
INSERT INTO public.orders SELECT md5('order' || i)::uuid, 1 + i % 3000, i * 1.25, 'order ' || i
  FROM generate_series(1, 6000) AS i;
INSERT INTO public.line_items SELECT md5('order' || i)::uuid, l, l + i % 7
  FROM generate_series(1, 6000) AS i, generate_series(1, 3) AS l;
INSERT INTO public.log SELECT timestamptz '2026-01-01' + i * interval '1 minute', 'event ' || i
  FROM generate_series(1, 500) AS i;
INSERT INTO public.items (embedding) SELECT ARRAY[i, i * 2, i * 3]::real[]::vector FROM generate_series(1, 2000) AS i;
SELECT lo_from_bytea(5001, 'first'::bytea), lo_from_bytea(5002, 'second'::bytea),
       lo_from_bytea(5003, 'third'::bytea);
UPDATE public.items SET doc = 5001 WHERE id = 1;
"""

CHANGES = """
INSERT INTO public.accounts (email, name) VALUES ('new1@example.com', 'new one'), ('new2@example.com', 'new two');
UPDATE public.accounts SET name = 'renamed' WHERE id IN (10, 2000);
DELETE FROM public.accounts WHERE id = 2999;  -- cascades: its 2 orders and their 6 line items
UPDATE public.orders SET total = total + 1 WHERE account_id = 5;
INSERT INTO public.orders VALUES (md5('extra')::uuid, 3001, 9.99, 'for a new account');
INSERT INTO public.line_items VALUES (md5('extra')::uuid, 1, 4);
UPDATE public.line_items SET qty = qty + 100 WHERE line = 2 AND order_id = md5('order7')::uuid;
INSERT INTO public.log VALUES (now(), 'after the migration');
INSERT INTO public.items (embedding) VALUES ('[9,9,9]');
UPDATE public.items SET embedding = '[0,0,1]' WHERE id = 17;
DELETE FROM public.items WHERE id = 1999;
SELECT lo_unlink(5002);
SELECT lo_put(5003, 0, 'THIRD'::bytea);
SELECT lo_from_bytea(5004, 'fourth'::bytea);
"""


def _report_ok(source_url: str, target_url: str) -> None:
    report = verify(source_url, target_url)
    assert report.ok, report.differences()


def _sequence_value(url: str, name: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(f"SELECT last_value FROM {name}").fetchone()[0])  # type: ignore[index]


@pytest.mark.parametrize("full", [False, True], ids=["row-versions", "checksums"])
def test_sync_brings_over_exactly_what_changed(source_url: str, target_url: str, full: bool) -> None:
    run_sql(source_url, SCHEMA)
    migrate(source_url, target_url)
    run_sql(source_url, CHANGES)
    report = sync(source_url, target_url, SyncOptions(full=full))
    expected = {SyncMethod.CHECKSUM, SyncMethod.WHOLE} if full else {SyncMethod.ROW_VERSIONS}
    assert {t.method for t in report.tables} == expected
    by_table = {t.table: t for t in report.tables}
    accounts = by_table["public.accounts"]
    assert (accounts.rows_inserted, accounts.rows_updated, accounts.rows_deleted) == (2, 2, 1)
    orders = by_table["public.orders"]
    assert (orders.rows_inserted, orders.rows_updated, orders.rows_deleted) == (1, 2, 2)
    lines = by_table["public.line_items"]
    assert (lines.rows_inserted, lines.rows_updated, lines.rows_deleted) == (1, 1, 6)
    items = by_table["public.items"]
    assert (items.rows_inserted, items.rows_updated, items.rows_deleted) == (1, 1, 1)
    assert by_table["public.log"].rows_inserted == 501  # no key: compared whole, copied again
    assert report.large_objects is not None
    lo = report.large_objects
    assert (lo.added, lo.replaced, lo.removed) == (1, 1, 1)
    sequence = "public.accounts_id_seq"
    assert _sequence_value(target_url, sequence) == _sequence_value(source_url, sequence)
    _report_ok(source_url, target_url)
    again = sync(source_url, target_url)
    assert again.changes == 0 and again.ranges_differing == 0, again.to_dict()


def test_sync_touches_only_the_ranges_that_changed(source_url: str, target_url: str) -> None:
    run_sql(source_url, "CREATE TABLE public.big (id int PRIMARY KEY, v text);"
                        "INSERT INTO public.big SELECT i, md5(i::text) FROM generate_series(1, 200000) AS i;")
    migrate(source_url, target_url)
    run_sql(source_url, "UPDATE public.big SET v = 'changed' WHERE id IN (7, 100000, 199999)")
    report = sync(source_url, target_url, SyncOptions(leaf_rows=1000, fanout=8, full=True))
    (big,) = report.tables
    assert big.rows_updated == 3 and big.rows_inserted == 0 and big.rows_deleted == 0
    assert big.ranges_differing == 3
    # 10 first ranges of 20,000 rows, then 3 differing ones narrowed in 8ths down to at most 1,000 rows: far fewer
    # comparisons than ranges of the leaf's size (200).
    assert big.ranges_compared < 100
    _report_ok(source_url, target_url)


def test_new_table_and_new_nullable_column_are_carried(source_url: str, target_url: str) -> None:
    run_sql(source_url, "CREATE TABLE public.a (id int PRIMARY KEY, v text);"
                        "INSERT INTO public.a SELECT i, 'v' || i FROM generate_series(1, 100) AS i;")
    migrate(source_url, target_url)
    run_sql(source_url, "ALTER TABLE public.a ADD COLUMN extra text DEFAULT 'x';"
                        "UPDATE public.a SET extra = 'set' WHERE id < 5;"
                        "CREATE TABLE public.b (id int PRIMARY KEY, a_id int REFERENCES public.a (id));"
                        "INSERT INTO public.b SELECT i, i FROM generate_series(1, 50) AS i;")
    report = sync(source_url, target_url)
    assert report.tables_created == ["public.b"]
    assert report.columns_added == ["public.a.extra"]
    _report_ok(source_url, target_url)


@pytest.mark.parametrize("change", [
    "ALTER TABLE public.a DROP COLUMN v",
    "ALTER TABLE public.a ALTER COLUMN v TYPE varchar(20)",
    "ALTER TABLE public.a ADD COLUMN must int NOT NULL DEFAULT 0",
])
def test_unsafe_change_is_reported_and_nothing_applied(source_url: str, target_url: str, change: str) -> None:
    run_sql(source_url, "CREATE TABLE public.a (id int PRIMARY KEY, v text);"
                        "INSERT INTO public.a SELECT i, 'v' || i FROM generate_series(1, 100) AS i;")
    migrate(source_url, target_url)
    run_sql(source_url, f"{change}; DELETE FROM public.a WHERE id = 1; CREATE TABLE public.c (id int PRIMARY KEY)")
    with pytest.raises(SafetyError) as refused:
        sync(source_url, target_url)
    assert "public.a" in refused.value.message
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.a").fetchone()[0] == 100  # type: ignore[index]
        assert conn.execute("SELECT to_regclass('public.c')").fetchone()[0] is None  # type: ignore[index]


HAND_OVER = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
           WHERE n.nspname IN ('public', 'pghaul') AND c.relkind IN ('r', 'p') LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO %I', r.name, '{role}');
  END LOOP;
  FOR r IN SELECT oid FROM pg_largeobject_metadata LOOP
    EXECUTE format('ALTER LARGE OBJECT %s OWNER TO %I', r.oid, '{role}');
  END LOOP;
END $$;
ALTER SCHEMA pghaul OWNER TO "{role}";
GRANT ALL ON SCHEMA public TO "{role}";
"""


def test_sync_into_a_target_where_replica_role_is_not_allowed(source_url: str, target_url: str) -> None:
    """A plain role owning the target's tables (as on most hosted plans): foreign keys stay on, so ranges are
    retried in another order; the target's own triggers are switched off inside each range's transaction, so
    they do not rewrite the source's values (``touched`` would differ)."""
    run_sql(source_url, SCHEMA)
    migrate(source_url, target_url)
    role = f"app_{uuid.uuid4().hex[:8]}"
    run_sql(target_url, f'CREATE ROLE "{role}" LOGIN; ' + HAND_OVER.format(role=role))
    try:
        run_sql(source_url, CHANGES)
        as_app = make_conninfo(target_url, user=role)
        report = sync(source_url, as_app)
        assert report.rows_changed > 0
        _report_ok(source_url, target_url)
        with psycopg.connect(target_url) as conn:
            enabled = conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'accounts_touch'").fetchone()
            assert enabled == ("O",)
    finally:
        run_sql(target_url, f'REASSIGN OWNED BY "{role}" TO CURRENT_USER; DROP OWNED BY "{role}"')
        with psycopg.connect(make_conninfo(target_url, dbname="postgres"), autocommit=True) as conn:
            conn.execute(f'DROP ROLE "{role}"')  # type: ignore[arg-type]


def test_a_later_sync_finds_changes_through_row_versions(pg16_source_url: str, target_url: str) -> None:
    """After a sync the target equals the source as of its snapshot, so the next one reads which rows were written
    since (xmin) instead of comparing checksums: same counts, verified the same way. The source is a server of its
    own, so the first transaction after the sync takes exactly the id the snapshot's xmin names."""
    source_url = pg16_source_url
    run_sql(source_url, SCHEMA)
    migrate(source_url, target_url, MigrateOptions(verify=False))
    # Not verified in its snapshot: the first sync compares checksums, and leaves the baselines.
    first = sync(source_url, target_url)
    assert {t.method for t in first.tables} == {SyncMethod.CHECKSUM, SyncMethod.WHOLE}
    assert first.changes == 0
    run_sql(source_url, CHANGES)
    report = sync(source_url, target_url)
    assert {t.method for t in report.tables} == {SyncMethod.ROW_VERSIONS}
    by_table = {t.table: t for t in report.tables}
    assert (by_table["public.accounts"].rows_inserted, by_table["public.accounts"].rows_deleted) == (2, 1)
    # Row versions see the two renamed accounts; the upsert rewrites only rows whose text differs.
    assert by_table["public.accounts"].rows_updated == 2
    lines = by_table["public.line_items"]
    assert (lines.rows_inserted, lines.rows_updated, lines.rows_deleted) == (1, 1, 6)
    _report_ok(source_url, target_url)
    full = sync(source_url, target_url, SyncOptions(full=True))
    assert full.changes == 0 and {t.method for t in full.tables} == {SyncMethod.CHECKSUM, SyncMethod.WHOLE}


def test_sync_never_moves_a_target_sequence_back(source_url: str, target_url: str) -> None:
    run_sql(source_url, "CREATE TABLE public.a (id serial PRIMARY KEY); INSERT INTO public.a DEFAULT VALUES;"
                        "CREATE SEQUENCE public.down INCREMENT -1 START -1; SELECT nextval('public.down');")
    migrate(source_url, target_url)
    run_sql(source_url, "INSERT INTO public.a DEFAULT VALUES; SELECT nextval('public.down'), nextval('public.down')")
    # The target drew numbers of its own meanwhile (a rehearsal of the switch): further along in each direction.
    run_sql(target_url, "SELECT setval('public.a_id_seq', 50); SELECT setval('public.down', -40)")
    report = sync(source_url, target_url)
    assert {s.sequence: s.advanced for s in report.sequences} == {"public.a_id_seq": False, "public.down": False}
    assert _sequence_value(target_url, "public.a_id_seq") == 50
    assert _sequence_value(target_url, "public.down") == -40
    run_sql(source_url, "SELECT setval('public.a_id_seq', 70); SELECT setval('public.down', -90)")
    report = sync(source_url, target_url)
    assert {s.sequence: s.advanced for s in report.sequences} == {"public.a_id_seq": True, "public.down": True}
    assert (_sequence_value(target_url, "public.a_id_seq"), _sequence_value(target_url, "public.down")) == (70, -90)


def test_sync_right_after_a_verified_migrate_reads_row_versions(pg16_source_url: str, target_url: str) -> None:
    """migrate verified each table against the snapshot it copied: the first sync already starts from there."""
    run_sql(pg16_source_url, SCHEMA)
    migrate(pg16_source_url, target_url)
    run_sql(pg16_source_url, "UPDATE public.accounts SET name = 'after' WHERE id = 1; DELETE FROM public.log "
                             "WHERE message = 'event 1'")
    report = sync(pg16_source_url, target_url)
    assert {t.method for t in report.tables} == {SyncMethod.ROW_VERSIONS}
    by_table = {t.table: t for t in report.tables}
    assert by_table["public.accounts"].rows_updated == 1 and by_table["public.accounts"].rows_changed == 1
    assert by_table["public.log"].rows_changed > 0
    assert report.rows_changed == by_table["public.accounts"].rows_changed + by_table["public.log"].rows_changed
    _report_ok(pg16_source_url, target_url)


def test_sync_refuses_a_target_whose_migration_stopped_part_way(source_url: str, target_url: str) -> None:
    run_sql(source_url, SCHEMA)
    cancel = threading.Event()

    def stop_after_first_table(event: object) -> None:
        if isinstance(event, TableFinished):
            cancel.set()

    with pytest.raises(Cancelled):
        migrate(source_url, target_url, MigrateOptions(workers=1), stop_after_first_table, cancel)
    with pytest.raises(SafetyError) as refused:
        sync(source_url, target_url)
    assert "stopped before it finished" in refused.value.message and "migrate" in refused.value.hint
    migrate(source_url, target_url)
    assert sync(source_url, target_url).changes == 0
