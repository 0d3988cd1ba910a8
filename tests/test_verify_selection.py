"""Verify compares what the plan selected (one answer for every stage), and every object kind pg_dump writes."""

from __future__ import annotations

from pghaul.engine import MigrateOptions, migrate
from pghaul.verify import VerifyOptions, verify
from tests.conftest import run_sql

PARTITIONED = """
    CREATE TABLE measures (id int, day date, v int, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
    CREATE TABLE measures_2025 PARTITION OF measures FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE measures_2026 PARTITION OF measures FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    CREATE TABLE other (id int PRIMARY KEY);
    INSERT INTO measures SELECT g, DATE '2025-06-01' + g, g FROM generate_series(1, 400) g;
    INSERT INTO other SELECT generate_series(1, 10);
"""


def test_a_selected_parent_verifies_its_partitions(source_url: str, target_url: str) -> None:
    run_sql(source_url, PARTITIONED)
    result = migrate(source_url, target_url, MigrateOptions(include=("public.measures",)))
    assert result.ok
    checked = sorted(t.table for t in result.verify_report.tables)
    assert checked == ["public.measures_2025", "public.measures_2026"]
    assert sum(t.rows_source for t in result.verify_report.tables) == 400


def test_an_excluded_parent_takes_its_partitions_out_of_verify(source_url: str, target_url: str) -> None:
    run_sql(source_url, PARTITIONED)
    result = migrate(source_url, target_url, MigrateOptions(exclude=("public.measures",)))
    assert result.ok, result.verify_report.differences()
    assert [t.table for t in result.verify_report.tables] == ["public.other"]


def test_a_missing_aggregate_or_rule_turns_verify_red(source_url: str, target_url: str) -> None:
    run_sql(source_url, """
        CREATE AGGREGATE concat_all(text) (SFUNC = textcat, STYPE = text, INITCOND = '');
        CREATE TABLE log (id int PRIMARY KEY, msg text);
        CREATE TABLE archive (id int PRIMARY KEY, msg text);
        CREATE RULE keep AS ON DELETE TO log DO ALSO INSERT INTO archive VALUES (OLD.id, OLD.msg);
    """)
    assert migrate(source_url, target_url).ok
    assert verify(source_url, target_url).ok
    run_sql(target_url, "DROP AGGREGATE concat_all(text); DROP RULE keep ON log")
    report = verify(source_url, target_url, VerifyOptions())
    assert not report.ok
    missing = {(d.kind, d.name, d.change) for d in report.schema_diff}
    assert ("aggregate", "public.concat_all(text)", "missing on target") in missing
    assert ("rule", "public.log.keep", "missing on target") in missing
