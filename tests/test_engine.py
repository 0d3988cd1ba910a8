"""The whole pipeline on real servers: schema, every row once, sequences, post-data, verify; and a second run."""

from __future__ import annotations

import threading

import psycopg
import pytest

from pghaul import events
from pghaul.copy.table_data import CopyCancelled
from pghaul.engine import MigrateOptions, make_plan, migrate
from pghaul.engine.jobs import MIGRATION_LOCK_KEY, read_status
from pghaul.errors import SafetyError
from tests.conftest import run_sql
from tests.fixtures_data import (
    KEY_TABLES,
    SEQUENCE_TABLES,
    STRUCTURE_TABLES,
    database_digest,
    fill,
    has_state_schema,
    table_digest,
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


def test_status_records_the_job_and_per_table_progress(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES)
    with psycopg.connect(target_url, autocommit=True) as conn:
        assert read_status(conn).state == "idle"
    result = migrate(source_url, target_url, MigrateOptions(batch_size=100, job_id="job-one"))
    with psycopg.connect(target_url, autocommit=True) as conn:
        status = read_status(conn)
    assert (status.job_id, status.state, status.phase, status.error) == ("job-one", "done", "verify", None)
    assert status.report is not None and status.report["rowsCopied"] == result.rows_copied
    assert status.report["verify"]["ok"] is True
    tables = {t.table: t for t in status.tables}
    assert tables["public.k_uuid"].rows_copied == 300 and tables["public.k_uuid"].done
    assert status.to_dict()["tables"]


def test_cancel_stops_between_chunks_and_the_next_run_continues(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES)
    before = database_digest(source_url)
    cancel = threading.Event()
    chunks: list[int] = []

    def stop_after_two_chunks(event: events.Event) -> None:
        if isinstance(event, events.TableProgress):
            chunks.append(event.rows_done)
            if len(chunks) == 2:
                cancel.set()

    with pytest.raises(CopyCancelled):
        migrate(source_url, target_url, MigrateOptions(batch_size=20, workers=1), stop_after_two_chunks, cancel)
    with psycopg.connect(target_url, autocommit=True) as conn:
        status = read_status(conn)
        assert status.state == "failed" and "stopped" in (status.error or "")
        assert sum(t.rows_copied for t in status.tables) == 40  # stopped right after the second chunk
    result = migrate(source_url, target_url, MigrateOptions(batch_size=20))
    assert result.ok and result.resumed
    assert database_digest(target_url) == before


def test_a_second_migration_into_the_same_target_is_refused_while_one_runs(
    source_url: str, target_url: str
) -> None:
    fill(source_url, KEY_TABLES)
    with psycopg.connect(target_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        with pytest.raises(SafetyError, match="another pghaul migration"):
            migrate(source_url, target_url, MigrateOptions())
    assert database_digest(target_url) == {}


def test_every_table_is_read_at_one_moment(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES)
    late_writes: list[int] = []

    def write_to_the_source_once_copying(event: events.Event) -> None:
        # Rows written after the snapshot was taken, into tables not copied yet: none of them may arrive.
        if isinstance(event, events.TableStarted) and not late_writes:
            with psycopg.connect(source_url, autocommit=True) as conn:
                conn.execute("INSERT INTO public.k_int SELECT i, 'late' FROM generate_series(1000, 1009) i;"
                             "INSERT INTO public.no_key VALUES (99, 'late'); DELETE FROM public.k_text")
            late_writes.append(1)

    result = migrate(source_url, target_url, MigrateOptions(batch_size=50, workers=2, verify=False),
                     write_to_the_source_once_copying)
    assert late_writes and result.snapshot_reused
    assert table_digest(target_url, "public.k_int")[0] == 400
    assert table_digest(target_url, "public.no_key")[0] == 50
    assert table_digest(target_url, "public.k_text")[0] == 300


def test_large_values_stream_through(source_url: str, target_url: str) -> None:
    run_sql(source_url, "CREATE TABLE big (id int PRIMARY KEY, body text, blob bytea);"
                        "INSERT INTO big SELECT i, repeat(md5(i::text), 5 * 1024 * 1024 / 32),"
                        " decode(repeat(md5(i::text), 1024 * 64), 'hex') FROM generate_series(1, 3) i;")
    result = migrate(source_url, target_url, MigrateOptions(batch_size=1, verify=False))
    assert result.rows_copied == 3 and result.tables[0].bytes > 15 * 1024 * 1024
    assert table_digest(target_url, "public.big") == table_digest(source_url, "public.big")


def test_each_copied_table_is_analyzed_once_its_indexes_are_built(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES, STRUCTURE_TABLES)
    seen: list[events.Event] = []
    result = migrate(source_url, target_url, MigrateOptions(verify=False, workers=2), listener=seen.append)

    applied = [(e.kind, e.name) for e in seen if isinstance(e, events.StepApplied) and e.outcome == "applied"]
    analyzed = [name for kind, name in applied if kind == "analyze"]
    copied = sorted(t.table for t in result.tables)
    assert sorted(analyzed) == copied  # each copied table once, none twice
    position = {step: i for i, step in enumerate(applied)}
    for step in result.plan.steps:
        if step.kind == "index" and step.table is not None and step.status == "create":
            table = ".".join(step.table)
            if table in copied:
                assert position[("index", step.name)] < position[("analyze", table)], step.name
    with psycopg.connect(target_url) as conn:
        with_statistics = {
            f"{schema}.{table}"
            for schema, table in conn.execute("SELECT schemaname, tablename FROM pg_stats").fetchall()
        }
    non_empty = [t.table for t in result.tables if t.rows_copied > 0]
    assert non_empty and set(non_empty) <= with_statistics
