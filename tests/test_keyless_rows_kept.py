"""A keyless table with rows already on the target is never emptied by pghaul unless pghaul's own checkpoints say
it filled it: the migration (full or data-only), the one-batch endpoint (dry run too) refuse, saying what to do,
and the preflight says so; the rows on the target, and the source, stay as they were."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from pghaul.connect import connect_source, connect_target
from pghaul.copy.batch import move_batch
from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import SafetyError
from pghaul.http import create_app
from pghaul.inspect import inspect_catalog
from tests.conftest import run_sql
from tests.test_http_helpers import AUTH, make_settings
from tests.test_source_never_written import dump

KEY = b"a test key of more than sixteen bytes"
TABLES = """
CREATE TABLE public.loose (n integer, note text);
CREATE TABLE public.items (id integer PRIMARY KEY, label text);
"""
# The target's own rows, and a trigger that would record their deletion.
TARGET_ROWS = """
CREATE TABLE public.deleted (note text);
CREATE FUNCTION public.remember() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO public.deleted VALUES (OLD.note); RETURN OLD; END $$;
CREATE TRIGGER loose_deleted BEFORE DELETE ON public.loose FOR EACH ROW EXECUTE FUNCTION public.remember();
INSERT INTO public.loose VALUES (1, 'mine 1'), (2, 'mine 2'), (3, 'mine 3');
"""
REFUSAL = "has no primary key and already has rows on the target that pghaul did not copy"


@pytest.fixture
def pair(source_url: str, target_url: str) -> tuple[str, str]:
    run_sql(source_url, TABLES + "INSERT INTO public.loose SELECT g, 'row ' || g FROM generate_series(1, 40) g;"
                                 "INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 20) g;")
    run_sql(target_url, TABLES + TARGET_ROWS)
    return source_url, target_url


def _mine(target_url: str) -> list[tuple[int, str]]:
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.deleted").fetchone() == (0,)
        return conn.execute("SELECT n, note FROM public.loose ORDER BY n").fetchall()


def test_the_migration_refuses_to_empty_a_keyless_table_it_did_not_fill(pair: tuple[str, str]) -> None:
    source_url, target_url = pair
    source_before, target_before = dump(source_url), dump(target_url)
    for options in (MigrateOptions(workers=1), MigrateOptions(workers=1, data_only=True)):
        with pytest.raises(SafetyError, match=REFUSAL) as refused:
            migrate(source_url, target_url, options)
        assert "TRUNCATE public.loose" in refused.value.hint
        assert dump(target_url) == target_before  # refused before anything, pghaul's own schema included
    assert _mine(target_url) == [(1, "mine 1"), (2, "mine 2"), (3, "mine 3")]
    assert dump(source_url) == source_before


def test_the_one_batch_endpoint_refuses_and_the_preflight_says_why(pair: tuple[str, str]) -> None:
    source_url, target_url = pair
    source_before, target_before = dump(source_url), dump(target_url)
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        for dry_run in ("true", "false"):
            reply = client.get("/api/admin/db-migrate-data", params={"table": "loose", "dryRun": dry_run},
                               headers=AUTH)
            assert reply.status_code == 409, reply.text
            assert REFUSAL in reply.json()["error"] and "TRUNCATE public.loose" in reply.json()["hint"]
        preflight = client.get("/api/admin/db-preflight", headers=AUTH).json()
        assert preflight["ok"] is False
        assert any(REFUSAL in w for w in preflight["warnings"]), preflight["warnings"]
        assert any("never emptied unless pghaul's own checkpoints say" in w for w in preflight["warnings"])
    assert dump(target_url) == target_before and dump(source_url) == source_before
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        table = inspect_catalog(src).tables[("public", "loose")]
        with pytest.raises(SafetyError, match=REFUSAL):
            move_batch(src, tgt, table, None, 10, cursor_key=KEY)
    assert dump(target_url) == target_before


def test_an_interrupted_run_s_checkpoint_does_not_make_the_rows_pghaul_s(pair: tuple[str, str]) -> None:
    from pghaul.copy import state

    source_url, target_url = pair
    with connect_target(target_url) as tgt, connect_source(source_url) as src:
        table = inspect_catalog(src).tables[("public", "loose")]
        state.ensure_state(tgt)
        with tgt.transaction():  # a range recorded, never finished: its rows would have committed with it
            state.create_ranges(tgt, table, [], False, 40, "earlier-job")
    target_before = dump(target_url)
    with pytest.raises(SafetyError, match=REFUSAL):
        migrate(source_url, target_url, MigrateOptions(workers=1, data_only=True))
    assert dump(target_url) == target_before


def test_what_pghaul_filled_it_may_fill_again_and_a_migration_leaves_it(source_url: str, target_url: str) -> None:
    run_sql(source_url, TABLES + "INSERT INTO public.loose SELECT g, 'row ' || g FROM generate_series(1, 40) g;")
    run_sql(target_url, TABLES)
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        table = inspect_catalog(src).tables[("public", "loose")]
        for _ in range(2):  # asked again, the batch replaces its own rows: never doubled
            assert move_batch(src, tgt, table, None, 10, cursor_key=KEY).inserted == 40
    result = migrate(source_url, target_url, MigrateOptions(workers=1, data_only=True, verify=False))
    assert [t.rows_copied for t in result.tables if t.table == "public.loose"] in ([0], [])
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.loose").fetchone() == (40,)
