"""The compatible one-batch contract: inserted/skipped/next cursor/has more, idempotent, tamper-evident cursors."""

from __future__ import annotations

import pytest

from pghaul.connect import connect_source, connect_target
from pghaul.copy.batch import BatchResult, move_batch
from pghaul.copy.cursor import decode_cursor, encode_cursor
from pghaul.errors import SafetyError, UsageError
from pghaul.inspect import inspect_catalog
from tests.conftest import run_sql
from tests.fixtures_data import KEY_TABLES, fill, table_digest

KEY = b"a test key of more than sixteen bytes"


def _prepare(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES)
    run_sql(
        target_url,
        "CREATE TABLE k_composite (tenant int, day date, name text, payload jsonb, PRIMARY KEY (tenant, day, name));"
        "CREATE TABLE no_key (a int, b text);",
    )


def _walk(source_url: str, target_url: str, table_name: str, batch: int) -> list[BatchResult]:
    results: list[BatchResult] = []
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        table = inspect_catalog(src).tables[("public", table_name)]
        cursor = None
        while True:
            result = move_batch(src, tgt, table, cursor, batch, cursor_key=KEY)
            results.append(result)
            if not result.has_more:
                return results
            cursor = result.next_cursor


def test_walk_a_composite_key_table_batch_by_batch(source_url: str, target_url: str) -> None:
    _prepare(source_url, target_url)
    results = _walk(source_url, target_url, "k_composite", 100)
    assert [r.inserted for r in results] == [100, 100, 100, 50]
    assert [r.has_more for r in results] == [True, True, True, False]
    assert table_digest(target_url, "public.k_composite") == table_digest(source_url, "public.k_composite")


def test_resending_a_cursor_inserts_nothing_twice(source_url: str, target_url: str) -> None:
    _prepare(source_url, target_url)
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        table = inspect_catalog(src).tables[("public", "k_composite")]
        first = move_batch(src, tgt, table, None, 40, cursor_key=KEY)
        second = move_batch(src, tgt, table, first.next_cursor, 40, cursor_key=KEY)
        again = move_batch(src, tgt, table, first.next_cursor, 40, cursor_key=KEY)
        assert (second.inserted, second.skipped) == (40, 0)
        assert (again.inserted, again.skipped) == (0, 40)
        assert again.next_cursor == second.next_cursor
        dry = move_batch(src, tgt, table, second.next_cursor, 40, dry_run=True, cursor_key=KEY)
        assert dry.inserted == 40
    assert table_digest(target_url, "public.k_composite")[0] == 80  # the dry run wrote nothing


def test_table_without_key_is_copied_whole_in_one_call(source_url: str, target_url: str) -> None:
    _prepare(source_url, target_url)
    for _ in range(2):  # a second call replaces, never duplicates
        results = _walk(source_url, target_url, "no_key", 5)
        assert len(results) == 1 and results[0].inserted == 50 and not results[0].has_more
        assert results[0].next_cursor is None
    assert table_digest(target_url, "public.no_key") == table_digest(source_url, "public.no_key")


@pytest.mark.parametrize("size", [0, 50_001, -3])
def test_batch_size_out_of_bounds_is_a_usage_error(source_url: str, target_url: str, size: int) -> None:
    _prepare(source_url, target_url)
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        table = inspect_catalog(src).tables[("public", "k_composite")]
        with pytest.raises(UsageError):
            move_batch(src, tgt, table, None, size, cursor_key=KEY)


def test_tampered_or_foreign_cursor_is_refused(source_url: str, target_url: str) -> None:
    _prepare(source_url, target_url)
    good = encode_cursor("public.k_composite", ("1", "2024-01-02", "n100"), KEY)
    assert decode_cursor(good, "public.k_composite", 3, KEY) == ("1", "2024-01-02", "n100")
    payload, mac = good.split(".")
    forged = encode_cursor("public.k_composite", ("1", "2024-01-02", "n1' OR 1=1 --"), b"another key entirely!!")
    bad = [
        payload[:-2] + "AA." + mac,  # payload edited
        payload + "." + mac[:-3],  # signature cut
        forged,  # signed with another key
        encode_cursor("public.k_int", ("5",), KEY),  # another table's cursor
        encode_cursor("public.k_composite", ("1", "2"), KEY),  # wrong width
        "not a cursor",
        "",
        "%%%.%%%",
    ]
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        table = inspect_catalog(src).tables[("public", "k_composite")]
        for cursor in bad:
            with pytest.raises(UsageError):
                move_batch(src, tgt, table, cursor or "x", 10, cursor_key=KEY)
    assert table_digest(target_url, "public.k_composite")[0] == 0


def test_a_target_table_without_the_key_is_refused_before_a_row_moves(source_url: str, target_url: str) -> None:
    # Without the key, ON CONFLICT DO NOTHING has nothing to conflict on: a re-sent cursor would add rows twice.
    fill(source_url, KEY_TABLES)
    run_sql(target_url, "CREATE TABLE k_composite (tenant int, day date, name text, payload jsonb);")
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        table = inspect_catalog(src).tables[("public", "k_composite")]
        target_table = inspect_catalog(tgt).tables[("public", "k_composite")]
        with pytest.raises(SafetyError, match=r"lacks its primary key \(tenant, day, name\)") as refused:
            move_batch(src, tgt, table, None, 40, cursor_key=KEY, target_table=target_table)
    assert "PRIMARY KEY (tenant, day, name)" in (refused.value.hint or "")
    assert table_digest(target_url, "public.k_composite")[0] == 0
