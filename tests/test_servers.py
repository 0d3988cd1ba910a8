"""The fixtures give real, separate servers and databases."""

import psycopg


def test_pg18_has_pgvector_and_contrib(source_url: str) -> None:
    with psycopg.connect(source_url) as conn:
        assert conn.info.server_version >= 180000
        names = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}
    assert {"vector", "hstore", "citext"} <= names


def test_pg16_has_pgvector(pg16_source_url: str) -> None:
    with psycopg.connect(pg16_source_url) as conn:
        assert 160000 <= conn.info.server_version < 170000
        version = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name='vector'").fetchone()
    assert version is not None


def test_each_test_gets_its_own_database(source_url: str, target_url: str) -> None:
    assert source_url != target_url
