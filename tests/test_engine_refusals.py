"""A refused migration writes nothing to the target: not a table, not pghaul's own state schema."""

from __future__ import annotations

import pytest

from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import SafetyError, SchemaConflict
from tests.conftest import run_sql
from tests.fixtures_data import has_state_schema, relations


def _relations(url: str) -> list[str]:
    return [f"{schema}.{name}" for schema, name, _ in relations(url)]


def test_an_extension_the_target_cannot_create_is_refused_before_anything_is_written(
    source_url: str, pg16_source_url: str
) -> None:
    # The PostgreSQL 16 server has no contrib: hstore cannot be created there.
    target_url = pg16_source_url
    run_sql(source_url, "CREATE EXTENSION hstore; CREATE TABLE tagged (id int PRIMARY KEY, tags hstore);"
                        "INSERT INTO tagged VALUES (1, 'a=>1');")
    with pytest.raises(SafetyError, match="hstore"):
        migrate(source_url, target_url, MigrateOptions())
    assert not has_state_schema(target_url)
    assert _relations(target_url) == []


def test_a_schema_conflict_is_refused_before_anything_is_written(source_url: str, target_url: str) -> None:
    run_sql(source_url, "CREATE TABLE kept (id int PRIMARY KEY, body text); CREATE TABLE other (id int PRIMARY KEY);"
                        "INSERT INTO kept VALUES (1, 'x'); INSERT INTO other VALUES (1);")
    run_sql(target_url, "CREATE TABLE kept (id int PRIMARY KEY, body integer);")
    before = _relations(target_url)
    with pytest.raises(SchemaConflict, match="kept"):
        migrate(source_url, target_url, MigrateOptions())
    assert not has_state_schema(target_url)
    assert _relations(target_url) == before  # "other" was not created either



def test_preflight_endpoint_lists_what_would_stop_the_run_without_writing(
    pg16_source_url: str, target_url: str
) -> None:
    """The page's check runs the same checks as the migration (the rehearsal included) and writes nothing: a
    table the target has with another definition is listed before anyone presses start."""
    from fastapi.testclient import TestClient

    from pghaul.http import create_app
    from tests.test_http_helpers import AUTH, make_settings

    run_sql(pg16_source_url, "CREATE TABLE t (id int PRIMARY KEY)")
    run_sql(target_url, "CREATE TABLE t (id bigint PRIMARY KEY)")  # another definition: a conflict
    with TestClient(create_app(make_settings(pg16_source_url, target_url))) as client:
        reply = client.get("/api/admin/db-preflight", headers=AUTH).json()
    assert reply["ok"] is False
    assert any("public.t" in w and "another definition" in w for w in reply["warnings"]), reply["warnings"]
    assert not has_state_schema(target_url)
