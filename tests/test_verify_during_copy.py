"""migrate verifies each table during its data phase, against the snapshot the rows were copied in.

Each table is compared as soon as its rows and its own post-data steps are in, so the TableVerified events come
before the data phase ends and the final report reuses them. An application writing to the source meanwhile is
not a failure (the copy is checked against its snapshot) but a notice pointing to a sync, while a standalone
verify of the live source shows the writes; a difference made on the target during the copy still fails the run.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime

import psycopg
import pytest

from pghaul import events
from pghaul.copy.parallel import CheckTask, StepBatch, TableJob, _Scheduler
from pghaul.copy.state import RangeState
from pghaul.copy.table_data import CopyCancelled
from pghaul.engine import MigrateOptions, MigrationResult, migrate
from pghaul.engine.jobs import read_status
from pghaul.inspect.model import Table
from pghaul.kinds import Phase
from pghaul.verify import TablesToVerify, TableVerified, VerifyReport, verify
from pghaul.verify.report import SequenceCheck, SequencePosition, SourceAsOf
from tests.fixtures_data import KEY_TABLES, SEQUENCE_TABLES, STRUCTURE_TABLES, VECTOR_TABLE, fill

LARGE_OBJECT = "SELECT lo_from_bytea(0, convert_to('copied with the rows', 'UTF8'));"


def _job(name: str, size_bytes: int, done: bool = False) -> TableJob:
    table = Table("public", name, (), primary_key=("id",), rows_estimated=10, size_bytes=size_bytes)
    return TableJob(table, (RangeState("public", name, 0, None, None, None, False, 10, 0, 0, 0, done),), True, 10)


def test_a_check_waits_for_the_rows_and_the_tables_own_steps_but_not_for_its_vector_index() -> None:
    one, two = _job("one", 200), _job("two", 100)
    btree = StepBatch(("public", "one"), ("btree step",))
    hnsw = StepBatch(("public", "one"), ("hnsw step",), vector=True)
    scheduler = _Scheduler([one, two], {("public", "one"): [btree, hnsw]}, {("public", "one"): {("public", "one")}},
                           check=True)
    copies = [scheduler.next(), scheduler.next()]
    assert [task[0] for task in copies if isinstance(task, tuple)] == [one, two]  # copies first, as ever
    for task, job in zip(copies, (one, two), strict=True):
        assert task is not None
        scheduler.finished(task, None)
        scheduler.table_done(job.table.key)
    # Index builds before checks; "two" has no steps of its own, so its check is ready once its rows are in.
    assert scheduler.next() is btree
    assert scheduler.next() is hnsw
    assert scheduler.next() == CheckTask(two.table)
    scheduler.finished(btree, None)
    # "one" is checked once its btree is in, while its HNSW index still builds.
    assert scheduler.next() == CheckTask(one.table)


def test_tables_an_earlier_run_copied_are_checked_and_nothing_is_checked_without_a_checker() -> None:
    earlier = _job("earlier", 100, done=True)
    assert _Scheduler([earlier], {}, {}, check=True).next() == CheckTask(earlier.table)
    assert _Scheduler([earlier], {}, {}).next() is None


def _report(result: MigrationResult) -> VerifyReport:
    assert isinstance(result.verify_report, VerifyReport)
    return result.verify_report


def _data_phase_end(seen: list[events.Event]) -> int:
    return next(i for i, e in enumerate(seen) if isinstance(e, events.PhaseFinished) and e.phase == Phase.DATA)


def _verified_during_data(seen: list[events.Event]) -> list[str]:
    end = _data_phase_end(seen)
    return [e.table for e in seen[:end] if isinstance(e, TableVerified)]


def test_each_table_is_verified_during_the_data_phase_and_reported_once(source_url: str, target_url: str) -> None:
    # Split tables, partitions (indexes built on their parent), a table without a key, inheritance.
    fill(source_url, KEY_TABLES, SEQUENCE_TABLES, STRUCTURE_TABLES)
    seen: list[events.Event] = []
    result = migrate(source_url, target_url, MigrateOptions(batch_size=37, split_rows=100, workers=2),
                     listener=seen.append)

    report = _report(result)
    assert result.ok, report.differences()
    copied = {e.table for e in seen if isinstance(e, events.TableFinished)}
    during = _verified_during_data(seen)
    assert sorted(during) == sorted(copied)  # each copied table once, before the data phase ended
    assert "public.no_key" in during and "public.measurements_2024" in during
    names = [t.table for t in report.tables]
    assert sorted(names) == sorted(copied) and len(names) == len(set(names))
    assert all(t.ok for t in report.tables)
    # Nothing left for the final verification to scan: it announced no second count and checked no table again.
    assert [e.tables for e in seen if isinstance(e, TablesToVerify)] == [len(copied)]
    assert len([e for e in seen if isinstance(e, TableVerified)]) == len(copied)
    assert report.as_of is not None and report.as_of.changed == ()
    # Source and target share a server here: its transaction ids count pghaul's own writes, so they tell nothing.
    assert report.as_of.server_writes is None and report.as_of.change_notice() is None
    assert not any("changed while it was copied" in n for n in result.notices)


def _write_to_the_source(source_url: str) -> None:
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO public.k_int SELECT i, 'late' FROM generate_series(1000, 1009) i;"
            "UPDATE public.k_text SET payload = -payload WHERE payload < 50;"
            "DELETE FROM public.no_key WHERE a = 3;"
            "UPDATE public.memories SET embedding = array_fill(0.5, ARRAY[16])::real[]::vector WHERE id = 1;"
            "INSERT INTO public.with_serial (note) VALUES ('late');"
            "SELECT lo_from_bytea(0, convert_to('written later', 'UTF8'));"
        )


def test_writes_on_the_source_during_migrate_are_a_notice_not_a_failure(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES, SEQUENCE_TABLES, VECTOR_TABLE, LARGE_OBJECT)
    writes: list[str] = []

    def application(event: events.Event) -> None:
        # The application keeps writing: rows once the copy has begun, a sequence once its position was set.
        if isinstance(event, events.TableStarted) and "rows" not in writes:
            _write_to_the_source(source_url)
            writes.append("rows")
        if isinstance(event, events.PhaseStarted) and event.phase == Phase.VERIFY:
            with psycopg.connect(source_url, autocommit=True) as conn:
                conn.execute("SELECT nextval('public.standalone_seq')")
            writes.append("sequence")

    result = migrate(source_url, target_url, MigrateOptions(batch_size=50, workers=2), listener=application)

    report = _report(result)
    assert writes == ["rows", "sequence"]
    assert result.ok, report.differences()
    # Compared with what was copied: every table, vector search, large object and sequence matches it.
    assert all(t.ok for t in report.tables) and len(report.tables) == 12
    assert report.vector_checks and all(v.ok and v.samples for v in report.vector_checks)
    assert report.large_objects is not None and report.large_objects.ok and report.large_objects.compared == 1
    assert all(s.ok for s in report.sequences)
    assert report.as_of is not None
    assert set(report.as_of.changed) >= {
        "table public.k_int", "table public.k_text", "table public.no_key", "table public.memories",
        "table public.with_serial", "large objects", "sequence public.standalone_seq",
    }
    assert "table public.k_uuid" not in report.as_of.changed
    [notice] = [n for n in result.notices if "changed while it was copied" in n]
    assert "pghaul sync" in notice and report.as_of.moment in notice

    # The live source is not what was copied: a standalone verify compares it and finds every write.
    live = verify(source_url, target_url)
    assert not live.ok and live.as_of is None
    assert {t.table for t in live.tables if not t.ok} == {
        "public.k_int", "public.k_text", "public.no_key", "public.memories", "public.with_serial",
    }
    assert live.large_objects is not None and live.large_objects.missing_count == 1
    assert [s.sequence for s in live.sequences if not s.ok] == ["public.standalone_seq"]


def test_a_difference_made_on_the_target_during_the_copy_fails_the_run(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES)
    planted: list[str] = []

    def tamper(event: events.Event) -> None:
        # Right after a table's last rows are in, before its check: one row lost, one changed.
        if isinstance(event, events.TableFinished) and event.table in ("public.k_int", "public.k_uuid"):
            with psycopg.connect(target_url, autocommit=True) as conn:
                if event.table == "public.k_int":
                    conn.execute("DELETE FROM public.k_int WHERE id = 7")
                else:
                    conn.execute("UPDATE public.k_uuid SET payload = 'tampered' WHERE payload = 'uuu'")
            planted.append(event.table)

    seen: list[events.Event] = []
    result = migrate(source_url, target_url, MigrateOptions(batch_size=50, split_rows=100, workers=2),
                     listener=events.fan_out(tamper, seen.append))

    report = _report(result)
    assert sorted(planted) == ["public.k_int", "public.k_uuid"]
    assert not result.ok
    assert sorted(t.table for t in report.tables if not t.ok) == ["public.k_int", "public.k_uuid"]
    k_int = next(t for t in report.tables if t.table == "public.k_int")
    assert (k_int.rows_source, k_int.rows_target) == (400, 399)
    assert [t.table for t in report.tables].count("public.k_int") == 1
    early = {e.table: e.ok for e in seen[:_data_phase_end(seen)] if isinstance(e, TableVerified)}
    assert early["public.k_int"] is False and early["public.k_uuid"] is False and early["public.k_text"] is True
    with psycopg.connect(target_url, autocommit=True) as conn:
        assert read_status(conn).state == "failed"


def test_a_resumed_run_verifies_against_the_live_source_and_says_so(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES)
    cancel = threading.Event()

    def stop_at_the_first_chunk(event: events.Event) -> None:
        if isinstance(event, events.TableProgress):
            cancel.set()

    with pytest.raises(CopyCancelled):
        migrate(source_url, target_url, MigrateOptions(batch_size=20, workers=1), stop_at_the_first_chunk, cancel)

    seen: list[events.Event] = []
    result = migrate(source_url, target_url, MigrateOptions(batch_size=20, workers=2), listener=seen.append)
    report = _report(result)
    assert result.ok and result.resumed, report.differences()
    # Its rows were read at two moments: no snapshot stands for them, so the live source is compared, and said.
    assert report.as_of is None
    assert any("verified against the live source" in n for n in result.notices)
    # Every table is still checked during the data phase, those copied by the cancelled run too.
    assert sorted(_verified_during_data(seen)) == sorted(t.table for t in report.tables)
    assert len(report.tables) == 7 and all(t.ok for t in report.tables)


def test_writes_on_another_source_server_are_counted_by_its_transaction_ids(
    pg16_source_url: str, target_url: str
) -> None:
    fill(pg16_source_url, KEY_TABLES)
    written: list[int] = []

    def application(event: events.Event) -> None:
        if isinstance(event, events.TableStarted) and not written:
            with psycopg.connect(pg16_source_url, autocommit=True) as conn:
                conn.execute("UPDATE public.k_int SET payload = 'later' WHERE id <= 5")
            written.append(1)

    result = migrate(pg16_source_url, target_url, MigrateOptions(batch_size=100, workers=2), listener=application)
    report = _report(result)
    assert written and result.ok, report.differences()
    assert report.as_of is not None and report.as_of.changed == ("table public.k_int",)
    # Another server than the target's: its transaction ids are the source's own, the update among them.
    assert report.as_of.server_writes is not None and report.as_of.server_writes >= 1
    assert not verify(pg16_source_url, target_url).ok


def test_what_a_migrate_compares_sequences_with_is_the_position_it_set() -> None:
    copied = SequencePosition(10, True)
    at_copy = SequenceCheck("public.s", SequencePosition(14, True), SequencePosition(10, True), copied=copied)
    assert at_copy.ok and at_copy.moved_on and at_copy.problems() == []
    behind = SequenceCheck("public.s", SequencePosition(10, True), SequencePosition(10, False), copied=copied)
    assert not behind.ok and "behind the position copied" in behind.problems()[0]
    # A descending sequence is ahead when lower.
    down = SequenceCheck("public.d", SequencePosition(-3, True), SequencePosition(-2, True),
                         copied=SequencePosition(-1, True), increment=-1)
    assert down.ok and down.moved_on
    # Without a copied position (a standalone verify) the rule is as it always was: exactly where the source is.
    assert not SequenceCheck("public.s", SequencePosition(14, True), SequencePosition(10, True)).ok
    assert "copiedLastValue" not in SequenceCheck("public.s", copied, copied).to_dict()

    quiet = SourceAsOf(datetime(2026, 12, 1, 9, 30, tzinfo=UTC), server_writes=0)
    assert quiet.change_notice() is None
    busy = SourceAsOf(datetime(2026, 12, 1, 9, 30, tzinfo=UTC), server_writes=3)
    assert "2026-12-01 09:30:00 UTC" in (busy.change_notice() or "") and "pghaul sync" in (busy.change_notice() or "")


def test_without_verification_nothing_is_compared_and_the_snapshot_goes_with_the_data(
    source_url: str, target_url: str
) -> None:
    fill(source_url, KEY_TABLES)
    holding: list[int] = []

    def look_after_the_data(event: events.Event) -> None:
        if isinstance(event, events.PhaseStarted) and event.phase == Phase.POST_DATA:
            with psycopg.connect(source_url, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = 'pghaul' AND state = 'idle in transaction'"
                ).fetchone()
            holding.append(int(row[0]) if row else -1)

    seen: list[events.Event] = []
    result = migrate(source_url, target_url, MigrateOptions(verify=False, workers=2),
                     listener=events.fan_out(look_after_the_data, seen.append))
    assert result.ok and result.verify_report is None
    assert not any(isinstance(e, TableVerified | TablesToVerify) for e in seen)
    assert holding == [0]  # no transaction left holding the source's snapshot once the rows are in


def test_pghaul_verify_imports_first_without_a_cycle() -> None:
    # pghaul.verify -> pghaul.copy -> the engine, which uses verify: the engine must import it lazily.
    done = subprocess.run([sys.executable, "-c", "import pghaul.verify"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
