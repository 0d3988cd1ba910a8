"""After migrating, every sequence stands where the source's does, so new inserts on the target just work."""

from __future__ import annotations

import psycopg

from pghaul.connect import connect_source
from pghaul.copy.sequences import read_positions, selected_sequences, setval_statements
from pghaul.engine import MigrateOptions, migrate
from pghaul.inspect import inspect_catalog
from tests.fixtures_data import SEQUENCE_TABLES, fill

POSITIONS = "SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences ORDER BY 1"


def test_inserts_into_serial_identity_and_default_columns_succeed_after_migrating(
    source_url: str, target_url: str
) -> None:
    fill(source_url, SEQUENCE_TABLES)
    result = migrate(source_url, target_url, MigrateOptions(batch_size=10))
    assert result.ok
    assert result.sequences_set == 5
    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as tgt:
        assert tgt.execute(POSITIONS).fetchall() == src.execute(POSITIONS).fetchall()
        ids = [
            tgt.execute("INSERT INTO public.with_serial (note) VALUES ('new') RETURNING id").fetchone(),
            tgt.execute("INSERT INTO public.with_identity (note) VALUES ('new') RETURNING id").fetchone(),
            tgt.execute("INSERT INTO public.with_identity_default (note) VALUES ('new') RETURNING id").fetchone(),
            tgt.execute("INSERT INTO public.with_default (note) VALUES ('new') RETURNING id").fetchone(),
        ]
        assert ids == [(26,), (31,), (115,), (1006,)]
        # The never-called sequence is still never called: its first value is its start.
        assert tgt.execute("SELECT nextval('public.unused_seq')").fetchone() == (1,)


def test_setval_statements_for_the_dry_run(source_url: str) -> None:
    fill(source_url, SEQUENCE_TABLES)
    with connect_source(source_url) as src:
        catalog = inspect_catalog(src)
        positions = read_positions(src, selected_sequences(catalog))
    statements = setval_statements(positions)
    by_name = {p.display_name: s for p, s in zip(positions, statements, strict=True)}
    assert by_name["public.standalone_seq"] == (
        "SELECT pg_catalog.setval('\"public\".\"standalone_seq\"'::regclass, 1005, true);"
    )
    assert "pg_get_serial_sequence" in by_name["public.with_identity_id_seq"]
    assert by_name["public.unused_seq"].endswith(", 1, false);")
