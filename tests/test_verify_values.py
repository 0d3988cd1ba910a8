"""Checksums of awkward values: equal when the values are equal, on PostgreSQL 18 and across 16 -> 18."""

from __future__ import annotations

import pytest

from pghaul.verify import VerifyOptions, verify
from tests.conftest import run_sql

TYPES = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN public.positive AS int CHECK (VALUE > 0);
CREATE TYPE public.pair AS (x int, label text);
"""

TABLE = """
CREATE TABLE public.odd (
    id int PRIMARY KEY,
    n numeric, f8 float8, f4 float4, ts timestamptz, ts0 timestamp, d date, iv interval,
    grid int[][], js json, jb jsonb, raw bytea, t text, m public.mood, p public.positive,
    c public.pair, r int4range, tr tstzrange, v public.vector(3), b bit(4), vb varbit, u uuid, money_ money
);
"""

ROWS = r"""
INSERT INTO public.odd VALUES
 (1, 'NaN', 'Infinity', '-Infinity', 'infinity', '-infinity', '-infinity', '178000000 years',
  '{{1,2},{3,4}}', '{"a":1,  "a" : 2 }', '{"b": [1, 2.50], "a": null}', '\x00ff00', E'tab\there\nnew\\line \\N',
  'happy', 7, ROW(1, 'x,y'), '[1,5)', '[2024-01-01 00:00+00,infinity)', '[1,-0,3.5e-7]', B'1010', B'1',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 12.34),
 (2, '-0.000', '-0', '-0', '4713-01-01 00:00:00+00 BC', '294276-12-31 23:59:59', '5874897-12-31',
  '-1 day +01:02:03.456789',
  '{}', '  [ ]  ', '{}', '', '', 'sad', 1, ROW(NULL, NULL), 'empty', NULL, '[0.1,0.2,0.3]', B'0000', B'',
  '00000000-0000-0000-0000-000000000000', -0.01),
 (3, 1e-30, 1e308, 1.17549435e-38, '2000-02-29 12:34:56.789012+05:30', '1999-12-31 23:59:59.999999', '2000-02-29',
  '1 mon -1 sec', '{{NULL,2}}', 'null', '"\u00e9"', NULL, 'NULL', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL);
"""


def _fill(url: str) -> None:
    run_sql(url, TYPES + TABLE + ROWS)


def test_awkward_values_are_equal_when_equal(source_url: str, target_url: str) -> None:
    _fill(source_url)
    _fill(target_url)
    report = verify(source_url, target_url, VerifyOptions())
    assert report.ok, report.differences()
    assert report.tables[0].rows_source == 4


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE public.odd SET js = '{\"a\":1, \"a\" : 2 }' WHERE id = 1",  # json keeps whitespace verbatim
        "UPDATE public.odd SET f8 = 0 WHERE id = 2",  # -0 is not 0
        "UPDATE public.odd SET t = E'\\\\N' WHERE id = 3",  # the text '\N' is not the text 'NULL'
        "UPDATE public.odd SET c = ROW(NULL, '') WHERE id = 2",  # NULL is not ''
        # Vectors enter the hash in their binary form: the last bit of one float, and a NULL, still count.
        "UPDATE public.odd SET v = (SELECT array_agg(CASE WHEN i = 3 THEN x * (1 + 3e-7) ELSE x END)::vector"
        " FROM unnest(v::real[]) WITH ORDINALITY AS u(x, i)) WHERE v IS NOT NULL AND id = (SELECT min(id) FROM"
        " public.odd WHERE v IS NOT NULL)",
        "UPDATE public.odd SET v = NULL WHERE v IS NOT NULL",
    ],
)
def test_awkward_values_differ_when_they_differ(source_url: str, target_url: str, change: str) -> None:
    _fill(source_url)
    _fill(target_url)
    run_sql(target_url, change)
    report = verify(source_url, target_url, VerifyOptions())
    assert not report.ok
    [table] = report.tables
    assert not table.checksum_match and table.rows_source == table.rows_target


def test_awkward_values_equal_across_postgresql_16_and_18(pg16_source_url: str, target_url: str) -> None:
    """The row text must not depend on the server version or pgvector version (0.6.2 vs 0.8.6)."""
    _fill(pg16_source_url)
    _fill(target_url)
    report = verify(pg16_source_url, target_url, VerifyOptions())
    assert [t.ok for t in report.tables] == [True], report.differences()
    assert report.ok, report.differences()
    vector = next(e for e in report.extensions if e.name == "vector")
    assert (vector.source_version, vector.target_version, vector.status) == ("0.6.2", "0.8.6", "newer on target")
    assert any("vector" in note for note in report.notes())
