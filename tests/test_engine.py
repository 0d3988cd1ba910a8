"""The whole pipeline on real servers: schema, every row once, sequences, post-data, verify; and a second run."""

from __future__ import annotations

import psycopg

from pghaul import events
from pghaul.engine import MigrateOptions, make_plan, migrate
from tests.fixtures_data import (
    KEY_TABLES,
    SEQUENCE_TABLES,
    STRUCTURE_TABLES,
    database_digest,
    fill,
    has_state_schema,
)


def test_migrate_copies_every_table_and_a_second_run_changes_nothing(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES, SEQUENCE_TABLES, STRUCTURE_TABLES)
    before = database_digest(source_url)
    seen: list[events.Event] = []
    # Small chunks and a low split threshold: several ranges per table, several chunks per range, two workers.
    options = MigrateOptions(batch_size=37, split_rows=100, workers=2)
    result = migrate(source_url, target_url, options, listener=seen.append)

    assert result.ok, result.verify_report.differences() if result.verify_report else result.notices
    assert database_digest(target_url) == before
    assert database_digest(source_url) == before  # the source is never written to
    assert has_state_schema(target_url) and not has_state_schema(source_url)
    assert result.rows_copied == sum(count for name, (count, _) in before.items() if name != "public.animal_names")
    phases = [e.phase for e in seen if isinstance(e, events.PhaseStarted)]
    assert phases[:5] == ["preflight", "pre-data", "data", "post-data", "sequences"]
    finished = {e.table for e in seen if isinstance(e, events.TableFinished)}
    assert "public.k_composite" in finished and "public.measurements_2024" in finished
    assert "public.measurements" not in finished  # the partitioned parent holds no rows of its own
    with psycopg.connect(target_url) as conn:
        split = conn.execute(
            "SELECT count(*) FROM pghaul.checkpoints WHERE table_name = 'k_int' AND done"
        ).fetchone()
        assert split is not None and split[0] > 1

    again = migrate(source_url, target_url, options)
    assert again.ok
    assert again.rows_copied == 0
    assert database_digest(target_url) == before


def test_make_plan_shows_sequence_positions_and_writes_nothing(source_url: str, target_url: str) -> None:
    fill(source_url, SEQUENCE_TABLES)
    plan = make_plan(source_url, target_url, MigrateOptions())
    script = plan.render_sql()
    assert "setval" in script and "standalone_seq" in script
    assert database_digest(target_url) == {}
    assert not has_state_schema(target_url)
