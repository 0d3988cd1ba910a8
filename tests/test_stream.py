"""The COPY reader of the hot path, on its own: every row once, bounded blocks, the COPY's own error raised, and
the connection usable afterwards either way."""

from __future__ import annotations

import logging

import psycopg
import pytest

from pghaul.copy.stream import copy_out_blocks

ROWS = 20_000


def _copy_out(conn: psycopg.Connection, query: str, block_bytes: int) -> list[list[memoryview]]:
    with conn.cursor() as cur, cur.copy(query):  # type: ignore[arg-type]
        return list(copy_out_blocks(conn, block_bytes))


def test_every_row_arrives_once_in_bounded_blocks(source_url: str) -> None:
    with psycopg.connect(source_url, autocommit=True) as conn:
        blocks = _copy_out(conn, f"COPY (SELECT g, repeat('x', g % 97) FROM generate_series(1, {ROWS}) g) TO STDOUT",
                           block_bytes=4096)
        rows = [bytes(row) for block in blocks for row in block]
        assert len(rows) == ROWS
        assert [int(row.split(b"\t")[0]) for row in rows] == list(range(1, ROWS + 1))
        longest_row = max(len(row) for row in rows)
        assert len(blocks) > 1
        assert all(sum(len(r) for r in block) < 4096 + longest_row for block in blocks)
        assert conn.execute("SELECT 42").fetchone() == (42,)  # the COPY was finished, the session is free


def test_an_error_in_the_middle_of_the_copy_is_raised(source_url: str, caplog: pytest.LogCaptureFixture) -> None:
    failing = f"COPY (SELECT CASE WHEN g < {ROWS // 2} THEN g ELSE 1 / (g - g) END FROM generate_series(1, {ROWS}) g)"
    with psycopg.connect(source_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            _copy_out(conn, failing + " TO STDOUT", block_bytes=1024)
        assert conn.execute("SELECT 42").fetchone() == (42,)
    warnings = [r for r in caplog.records if r.name.startswith("psycopg") and r.levelno >= logging.WARNING]
    assert not warnings  # nothing was left half-read for psycopg to clean up


def test_an_empty_result_gives_no_block(source_url: str) -> None:
    with psycopg.connect(source_url, autocommit=True) as conn:
        assert _copy_out(conn, "COPY (SELECT 1 WHERE false) TO STDOUT", block_bytes=1024) == []
        assert conn.execute("SELECT 42").fetchone() == (42,)
