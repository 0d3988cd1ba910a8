"""Binary COPY only for tables whose every copied column type has binary send and receive on both servers.

The ``isn`` extension's ``isbn`` has text input and output only; so has a domain over it, an array of it, a
composite or range built on it. Tables with such a column go in text format, the rest still in binary.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from pghaul.connect import connect_source, connect_target
from pghaul.copy.batch import move_batch
from pghaul.copy.binary_io import binary_copy, types_without_binary_io
from pghaul.copy.stream import binary_compatible
from pghaul.engine import MigrateOptions, migrate
from pghaul.inspect import inspect_tables
from pghaul.inspect.model import Table
from tests.conftest import run_sql
from tests.fixtures_data import fill, table_digest

ISN_SCHEMA = """
CREATE EXTENSION isn;
CREATE DOMAIN isbn_d AS isbn;
CREATE TABLE plain (id int PRIMARY KEY, t text, n numeric(8,2));
CREATE TABLE isbn_col (id int PRIMARY KEY, i isbn, note text);
CREATE TABLE isbn_domain (id int PRIMARY KEY, d isbn_d);
CREATE TABLE isbn_array (id int PRIMARY KEY, a isbn[]);
CREATE TABLE isbn_keyless (i isbn, d isbn_d, a isbn[]);
"""

TEXT_TABLES = ("public.isbn_col", "public.isbn_domain", "public.isbn_array", "public.isbn_keyless")
ROWS = 40


def isbn(n: int) -> str:
    """A valid ISBN-13 (isn checks the check digit)."""
    digits = f"978{n:09d}"
    check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits)) % 10) % 10
    return digits + str(check)


def fill_isn_rows(url: str) -> None:
    values = [isbn(n) if n % 7 else None for n in range(1, ROWS + 1)]
    statements = [
        "INSERT INTO plain SELECT g, 'p' || g, g / 3.0 FROM generate_series(1, %(n)s) g",
        "INSERT INTO isbn_col SELECT g, v::isbn, 'n' || g FROM unnest(%(v)s::text[]) WITH ORDINALITY AS x(v, g)",
        "INSERT INTO isbn_domain SELECT g, v::isbn_d FROM unnest(%(v)s::text[]) WITH ORDINALITY AS x(v, g)",
        "INSERT INTO isbn_array SELECT g, ARRAY[v::isbn, NULL, %(first)s::isbn]"
        " FROM unnest(%(v)s::text[]) WITH ORDINALITY AS x(v, g)",
        "INSERT INTO isbn_keyless SELECT v::isbn, v::isbn_d, ARRAY[v::isbn] FROM unnest(%(v)s::text[]) AS v",
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement, {"n": ROWS, "v": values, "first": isbn(1)})  # type: ignore[arg-type]


def _assert_copied(source_url: str, target_url: str, result_tables: list) -> None:
    formats = {t.table: t.binary for t in result_tables}
    assert formats == {"public.plain": True, **dict.fromkeys(TEXT_TABLES, False)}
    for name in formats:
        assert table_digest(target_url, name) == table_digest(source_url, name)
        assert table_digest(target_url, name)[0] == ROWS


def test_isbn_tables_migrate_in_text_and_the_rest_in_binary(source_url: str, target_url: str) -> None:
    fill(source_url, ISN_SCHEMA)
    fill_isn_rows(source_url)
    result = migrate(source_url, target_url, MigrateOptions(batch_size=7))
    assert result.ok, result.verify_report.differences() if result.verify_report else None
    _assert_copied(source_url, target_url, result.tables)


def test_isbn_tables_copy_data_only_into_the_same_schema(source_url: str, target_url: str) -> None:
    fill(source_url, ISN_SCHEMA)
    fill_isn_rows(source_url)
    fill(target_url, ISN_SCHEMA)
    result = migrate(source_url, target_url, MigrateOptions(batch_size=7, data_only=True))
    assert result.ok, result.verify_report.differences() if result.verify_report else None
    _assert_copied(source_url, target_url, result.tables)


def test_isbn_tables_from_postgresql_15(pg15_source_url: str, target_url: str) -> None:
    fill(pg15_source_url, ISN_SCHEMA)
    fill_isn_rows(pg15_source_url)
    result = migrate(pg15_source_url, target_url, MigrateOptions(batch_size=7))
    assert result.ok, result.verify_report.differences() if result.verify_report else None
    _assert_copied(pg15_source_url, target_url, result.tables)


def test_one_batch_endpoint_copies_an_isbn_table_in_text(source_url: str, target_url: str) -> None:
    fill(source_url, ISN_SCHEMA)
    fill_isn_rows(source_url)
    fill(target_url, ISN_SCHEMA)
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        table = inspect_tables(src)[("public", "isbn_col")]
        target_table = inspect_tables(tgt)[("public", "isbn_col")]
        assert not binary_copy(src, tgt, table, target_table)
        result = move_batch(src, tgt, table, None, ROWS, cursor_key=b"a test key of more than sixteen bytes",
                            target_table=target_table)
    assert (result.inserted, result.has_more) == (ROWS, False)
    assert table_digest(target_url, "public.isbn_col") == table_digest(source_url, "public.isbn_col")


def binary_copy_fails(url: str, table: Table) -> set[str]:
    """Ground truth: the column types whose values binary COPY refuses to send, one column at a time (an array's
    or composite's element is looked up only when a value is sent, so the table needs a row of values)."""
    failing = set()
    with psycopg.connect(url, autocommit=True) as conn:
        for column in table.columns:
            query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT BINARY)").format(
                sql.Identifier(column.name), sql.Identifier(table.schema, table.name)
            )
            try:
                with conn.cursor().copy(query) as copy:
                    for _ in copy:
                        pass
            except psycopg.errors.UndefinedFunction:
                failing.add(column.type)
    return failing


ISN_KINDS = """
CREATE EXTENSION isn;
CREATE DOMAIN isbn_d AS isbn;
CREATE TYPE with_isbn AS (n int, i isbn);
CREATE TYPE with_domain_array AS (n int, d isbn_d[]);
CREATE TYPE isbn_range AS RANGE (subtype = isbn);
CREATE TABLE kinds (
    id int PRIMARY KEY, i isbn, d isbn_d, a isbn[], da isbn_d[], c with_isbn, ca with_domain_array[],
    r isbn_range, mr isbn_multirange, e ean13 GENERATED ALWAYS AS (NULL) STORED,
    t text, v varchar(5), p point, n numeric(5,2), ir int4range, imr int4multirange, j jsonb[]
);
CREATE TABLE other (x issn);
INSERT INTO kinds VALUES (1, '9780393040029', '9780393040029', '{9780393040029}', '{9780393040029}',
    ROW(1, '9780393040029'), ARRAY[ROW(1, '{9780393040029}')::with_domain_array],
    '[9780393040029,9780393040036)', '{[9780393040029,9780393040036)}', DEFAULT,
    't', 'v', '(1,2)', 1.5, '[1,2)', '{[1,2)}', '{"{}"}');
"""

ISN_LACKING = {
    "public.isbn", "public.isbn_d", "public.isbn[]", "public.isbn_d[]", "public.with_isbn",
    "public.with_domain_array[]", "public.isbn_range", "public.isbn_multirange", "public.ean13",
}


def test_types_without_binary_io_follow_arrays_domains_composites_and_ranges(source_url: str) -> None:
    fill(source_url, ISN_KINDS)
    with connect_source(source_url) as conn:
        kinds = inspect_tables(conn)[("public", "kinds")]
        lacking = types_without_binary_io(conn, [kinds])
        assert types_without_binary_io(conn, []) == frozenset()
    assert lacking == ISN_LACKING  # issn is in a table not asked about
    assert binary_copy_fails(source_url, kinds) == lacking


# PostgreSQL 16 of the tests has no isn: a base type made from text's own input and output has no binary I/O
# either (internal functions, so a superuser creates it).
TEXT_ONLY_TYPE = """
CREATE TYPE plaintext;
CREATE FUNCTION plaintext_in(cstring) RETURNS plaintext LANGUAGE internal IMMUTABLE STRICT AS 'textin';
CREATE FUNCTION plaintext_out(plaintext) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'textout';
CREATE TYPE plaintext (INPUT = plaintext_in, OUTPUT = plaintext_out, LIKE = text);
CREATE DOMAIN plain_d AS plaintext;
CREATE TYPE with_plain AS (n int, p plaintext);
CREATE TABLE kinds (id int PRIMARY KEY, p plaintext, d plain_d, a plaintext[], c with_plain, t text, pt point);
INSERT INTO kinds VALUES (1, 'x', 'y', '{a,b}', '(1,z)', 't', '(1,2)');
"""


def test_types_without_binary_io_on_postgresql_16(pg16_source_url: str) -> None:
    run_sql(pg16_source_url, TEXT_ONLY_TYPE)
    with connect_source(pg16_source_url) as conn:
        kinds = inspect_tables(conn)[("public", "kinds")]
        lacking = types_without_binary_io(conn, [kinds])
    assert lacking == {"public.plaintext", "public.plain_d", "public.plaintext[]", "public.with_plain"}
    assert binary_copy_fails(pg16_source_url, kinds) == lacking


@pytest.mark.parametrize(
    ("lacking", "binary"), [((), True), (("public.isbn",), False), (("public.ean13",), True)]
)
def test_binary_compatible_takes_types_without_binary_io(source_url: str, lacking: tuple[str, ...],
                                                         binary: bool) -> None:
    fill(source_url, "CREATE EXTENSION isn; CREATE TABLE t (id int PRIMARY KEY, i isbn,"
                     " e ean13 GENERATED ALWAYS AS (NULL) STORED);")
    with connect_source(source_url) as conn:
        table = inspect_tables(conn)[("public", "t")]
    # A generated column is not copied, so its type does not matter.
    assert binary_compatible(table, table, 180000, 180000, frozenset(lacking)) is binary
