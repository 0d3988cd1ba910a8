"""--data-only into a target whose schema already has its foreign keys and triggers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import SafetyError
from pghaul.sample import fill_sample_database
from tests.conftest import run_sql
from tests.fixtures_data import database_digest, has_state_schema, table_digest


def test_schema_only_then_data_only_copies_rows_into_tables_with_foreign_keys(
    source_url: str, target_url: str
) -> None:
    fill_sample_database(source_url, users=5, memories_per_user=2)
    before = database_digest(source_url)
    first = migrate(source_url, target_url, MigrateOptions(schema_only=True))
    assert first.ok and table_digest(target_url, "public.messages")[0] == 0
    result = migrate(source_url, target_url, MigrateOptions(data_only=True, batch_size=7, workers=2))

    assert result.ok, result.verify_report.differences() if result.verify_report else result.notices
    assert database_digest(target_url) == before
    assert table_digest(target_url, "public.messages")[0] > 0
    assert any("foreign keys on the target were not re-checked" in n for n in result.notices)
    with psycopg.connect(target_url, autocommit=True) as conn:
        # The constraints are still there and in force for the application's own writes.
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO public.messages (conversation_id, role, content)"
                         " VALUES ('00000000-0000-0000-0000-000000000000', 'user', 'orphan')")


TRIGGER_SCHEMA = """
CREATE TABLE parent (id int PRIMARY KEY, name text);
CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent, note text);
"""
REFUSING_TRIGGER = """
CREATE FUNCTION refuse_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the trigger fired for %', NEW.id; END $$;
CREATE TRIGGER refuse BEFORE INSERT ON child FOR EACH ROW EXECUTE FUNCTION refuse_rows();
"""


def test_data_only_does_not_fire_the_targets_triggers(source_url: str, target_url: str) -> None:
    run_sql(source_url, TRIGGER_SCHEMA + "INSERT INTO parent SELECT i, 'p' || i FROM generate_series(1, 30) i;"
                        "INSERT INTO child SELECT i, 1 + i % 30, 'c' || i FROM generate_series(1, 200) i;")
    run_sql(target_url, TRIGGER_SCHEMA + REFUSING_TRIGGER)
    result = migrate(source_url, target_url, MigrateOptions(data_only=True, batch_size=40, verify=False))

    assert result.rows_copied == 230
    assert table_digest(target_url, "public.child") == table_digest(source_url, "public.child")
    assert any("triggers on the target did not fire" in n for n in result.notices)
    with psycopg.connect(target_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="the trigger fired"):
            conn.execute("INSERT INTO child VALUES (1000, 1, 'by hand')")


def test_data_only_without_foreign_keys_or_triggers_needs_no_replica_role(
    source_url: str, target_url: str
) -> None:
    run_sql(source_url, "CREATE TABLE plain (id int PRIMARY KEY); INSERT INTO plain SELECT generate_series(1, 5);")
    run_sql(target_url, "CREATE TABLE plain (id int PRIMARY KEY);")
    result = migrate(source_url, target_url, MigrateOptions(data_only=True, verify=False))
    assert result.rows_copied == 5
    assert not any("re-checked" in n or "did not fire" in n for n in result.notices)


@pytest.fixture
def plain_role(target_url: str) -> Iterator[str]:
    """A login role that is not a superuser but may create schemas and write the target's tables."""
    name = f"pghaul_plain_{uuid.uuid4().hex[:8]}"
    role, db = sql.Identifier(name), sql.Identifier(psycopg.conninfo.conninfo_to_dict(target_url)["dbname"])
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(role))
        conn.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(db, role))
    try:
        yield name
    finally:
        with psycopg.connect(target_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
            conn.execute(sql.SQL("DROP ROLE {}").format(role))


def test_data_only_is_refused_before_writing_when_the_role_may_not_hold_off_foreign_keys(
    source_url: str, target_url: str, plain_role: str
) -> None:
    run_sql(source_url, TRIGGER_SCHEMA + "INSERT INTO parent VALUES (1, 'p'); INSERT INTO child VALUES (1, 1, 'c');")
    run_sql(target_url, TRIGGER_SCHEMA + sql.SQL(
        "GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA public TO {}"
    ).format(sql.Identifier(plain_role)).as_string(None))
    as_plain = make_conninfo(target_url, user=plain_role)

    with pytest.raises(SafetyError, match="session_replication_role") as refused:
        migrate(source_url, as_plain, MigrateOptions(data_only=True, verify=False))
    assert "without --data-only" in refused.value.hint
    assert not has_state_schema(target_url)
    assert table_digest(target_url, "public.child")[0] == 0

    # The way out the hint names: the permission to set it (PostgreSQL 15+).
    run_sql(target_url, sql.SQL("GRANT SET ON PARAMETER session_replication_role TO {}")
            .format(sql.Identifier(plain_role)).as_string(None))
    result = migrate(source_url, as_plain, MigrateOptions(data_only=True, verify=False))
    assert result.rows_copied == 2
    assert table_digest(target_url, "public.child") == table_digest(source_url, "public.child")


KEYED = (
    "CREATE TABLE items (id int PRIMARY KEY, body text);"
    "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g;"
)


def test_data_only_refuses_rows_it_could_not_tell_apart_and_writes_nothing(
    source_url: str, target_url: str
) -> None:
    run_sql(source_url, KEYED)
    run_sql(target_url, "CREATE TABLE items (id int, body text); INSERT INTO items VALUES (1, 'item 1');")
    with pytest.raises(SafetyError, match=r"items lacks its primary key \(id\)"):
        migrate(source_url, target_url, MigrateOptions(data_only=True))
    assert table_digest(target_url, "public.items")[0] == 1
    assert not has_state_schema(target_url)


def test_data_only_into_an_empty_table_without_the_key_copies_once_and_resumes(
    source_url: str, target_url: str
) -> None:
    run_sql(source_url, KEYED)
    run_sql(target_url, "CREATE TABLE items (id int, body text);")
    first = migrate(source_url, target_url, MigrateOptions(data_only=True, batch_size=7, verify=False))
    again = migrate(source_url, target_url, MigrateOptions(data_only=True, batch_size=7, verify=False))
    assert (first.rows_copied, again.rows_copied) == (50, 0)  # the checkpoints, not the key, keep it exactly once
    assert table_digest(target_url, "public.items") == table_digest(source_url, "public.items")
