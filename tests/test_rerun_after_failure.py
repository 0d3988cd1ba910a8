"""A run that stopped for any reason is continued by the next one: pghaul's own earlier work never reads as a
conflict, even where the target's server prints a definition in other words than the source's."""

from __future__ import annotations

import threading

import pytest

from pghaul import events
from pghaul.copy.table_data import CopyCancelled
from pghaul.engine import migrate
from tests.conftest import run_sql
from tests.dump_compare import assert_same_schema_dump

SCHEMA = """
    CREATE AGGREGATE joined(text) (SFUNC = textcat, STYPE = text, INITCOND = '');
    CREATE TABLE readings (id int NOT NULL, day date NOT NULL, v numeric, PRIMARY KEY (id, day))
        PARTITION BY RANGE (day);
    CREATE TABLE readings_2025 PARTITION OF readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE readings_2026 PARTITION OF readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);
    CREATE VIEW daily AS SELECT r.day, count(*) AS n, joined(r.v::text) AS vs FROM readings r GROUP BY r.day;
    CREATE MATERIALIZED VIEW busy AS SELECT day FROM daily WHERE n > 1;
    INSERT INTO readings SELECT g, DATE '2025-06-01' + (g % 400), g FROM generate_series(1, 3000) g;
    INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 3000) g;
"""


@pytest.mark.parametrize("source_fixture", ["pg15_source_url", "pg16_source_url", "source_url"])
def test_a_run_stopped_in_the_data_phase_is_finished_by_the_next(
    source_fixture: str, request: pytest.FixtureRequest, target_url: str
) -> None:
    source_url = request.getfixturevalue(source_fixture)
    run_sql(source_url, SCHEMA)
    stop = threading.Event()

    def stop_once_rows_move(event: events.Event) -> None:
        if isinstance(event, events.TableProgress):
            stop.set()

    with pytest.raises(CopyCancelled):
        migrate(source_url, target_url, listener=stop_once_rows_move, cancel=stop)
    again = migrate(source_url, target_url)
    assert again.ok, again.verify_report.differences() if again.verify_report else None
    assert again.resumed
    assert [s.name for s in again.plan.steps if s.status == "conflict"] == []
    assert_same_schema_dump(source_url, target_url)
    third = migrate(source_url, target_url)
    assert third.ok and [s.name for s in third.plan.steps if s.status == "create"] == []
