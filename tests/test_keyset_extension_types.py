"""Primary keys of an extension's type (isbn, citext) page and verify like any other key: their comparison
operators live outside pg_catalog, where pghaul's sessions (with an empty search_path) must name them."""

from __future__ import annotations

from pghaul.engine import MigrateOptions, migrate
from tests.conftest import run_sql


def test_extension_typed_keys_page_and_verify(source_url: str, target_url: str) -> None:
    run_sql(source_url, """
        CREATE SCHEMA extensions;
        CREATE EXTENSION isn;
        CREATE EXTENSION citext WITH SCHEMA extensions;
        CREATE TABLE books (isbn isbn PRIMARY KEY, title text);
        CREATE TABLE editions (isbn isbn, n int, PRIMARY KEY (isbn, n));
        CREATE TABLE users (email extensions.citext PRIMARY KEY, name text);
        INSERT INTO books
        SELECT isbn13(p || (10 - (s % 10)) % 10)::isbn, 'title ' || g
        FROM (SELECT g, '978' || lpad(g::text, 9, '0') AS p,
                     (SELECT sum(substr('978' || lpad(g::text, 9, '0'), i, 1)::int * CASE WHEN i % 2 = 0 THEN 3
                                                                                        ELSE 1 END)
                      FROM generate_series(1, 12) i) AS s
              FROM generate_series(1, 500) g) AS digits;
        INSERT INTO editions SELECT isbn, n FROM books, generate_series(1, 3) n;
        INSERT INTO users SELECT 'User' || g || '@Example.com', 'n' || g FROM generate_series(1, 700) g;
    """)
    # Chunks of 50 rows: every table pages through its key many times, and verify splits it into ranges.
    result = migrate(source_url, target_url, MigrateOptions(batch_size=50, workers=2, split_rows=100))
    assert result.ok, result.verify_report.differences()
    copied = {t.table: t.rows_copied for t in result.tables}
    assert copied == {"public.books": 500, "public.editions": 1500, "public.users": 700}
    assert all(t.ok for t in result.verify_report.tables)
