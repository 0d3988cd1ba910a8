"""Roles belong to a server: a run that needs one the target lacks is refused before anything is written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import SafetyError
from tests.conftest import run_sql
from tests.servers import TestServer


@pytest.fixture
def source_role(pg16: TestServer, pg16_source_url: str) -> Iterator[str]:
    """A role that exists only on the PostgreSQL 16 server (the source), not on the 18 one (the target)."""
    name = f"only_on_source_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg16.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(pg16_source_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    with psycopg.connect(pg16.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _written(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
            " UNION ALL SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchall()
    return sorted(r[0] for r in rows if r[0] != "public")


def _own(url: str, role: str) -> None:
    run_sql(url, sql.SQL(
        "CREATE TABLE docs (id int PRIMARY KEY); ALTER TABLE docs OWNER TO {role}; GRANT SELECT ON docs TO {role};"
        "ALTER TABLE docs ENABLE ROW LEVEL SECURITY; CREATE POLICY readers ON docs TO {role} USING (true);"
    ).format(role=sql.Identifier(role)).as_string(None))


@pytest.mark.parametrize("flags", [{}, {"owners": True}, {"privileges": True}])
def test_missing_roles_are_listed_before_anything_is_written(
    pg16_source_url: str, target_url: str, source_role: str, flags: dict[str, bool]
) -> None:
    _own(pg16_source_url, source_role)
    with pytest.raises(SafetyError) as refused:
        migrate(pg16_source_url, target_url, MigrateOptions(**flags))
    assert source_role in refused.value.message
    assert "policy readers" in refused.value.message
    if flags.get("owners"):
        assert "owns objects" in refused.value.message
    assert _written(target_url) == []
