"""Every awkward value survives the copy unchanged, in binary and in text format, and keys of every type page."""

from __future__ import annotations

import threading

import pytest

from pghaul import events
from pghaul.connect import connect_source
from pghaul.copy.keyset import Keyset
from pghaul.copy.table_data import CopyCancelled
from pghaul.engine import MigrateOptions, migrate
from pghaul.inspect import inspect_catalog
from tests.conftest import run_sql
from tests.fixtures_data import AWKWARD_SCHEMA, KEY_TABLES, database_digest, fill, locale_available, table_digest


def test_awkward_values_are_equal_after_migrating(source_url: str, target_url: str) -> None:
    fill(source_url, AWKWARD_SCHEMA)
    before = database_digest(source_url)
    result = migrate(source_url, target_url, MigrateOptions(batch_size=2))
    assert result.ok, result.verify_report.differences() if result.verify_report else None
    assert database_digest(target_url) == before
    stats = {t.table: t for t in result.tables}
    assert stats["public.awkward"].binary and stats["public.awkward"].rows_copied == 4


def test_text_format_when_a_column_type_differs(source_url: str, target_url: str) -> None:
    # The target was prepared by hand with a wider type: binary COPY would misread it, text COPY casts.
    run_sql(source_url, "CREATE TABLE widened (id int PRIMARY KEY, n int, t varchar(5));"
                        "INSERT INTO widened SELECT i, i * 7, 'v' || i FROM generate_series(1, 90) i;")
    run_sql(target_url, "CREATE TABLE widened (id int PRIMARY KEY, n bigint, t text);")
    result = migrate(source_url, target_url, MigrateOptions(batch_size=25, data_only=True, verify=False))
    assert [t.binary for t in result.tables] == [False]
    assert result.rows_copied == 90
    assert table_digest(target_url, "public.widened") == table_digest(source_url, "public.widened")


def test_rows_already_on_the_target_are_skipped_not_duplicated(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES)
    run_sql(target_url, "CREATE TABLE k_int (id integer PRIMARY KEY, payload text);"
                        "INSERT INTO k_int SELECT i, md5(i::text) FROM generate_series(1, 400, 3) i;")
    result = migrate(source_url, target_url, MigrateOptions(batch_size=50))
    assert result.ok
    stats = {t.table: t for t in result.tables}
    assert (stats["public.k_int"].rows_copied, stats["public.k_int"].rows_skipped) == (266, 134)
    assert table_digest(target_url, "public.k_int") == table_digest(source_url, "public.k_int")


def test_keyset_pages_a_text_key_in_its_collation_order(source_url: str, target_url: str) -> None:
    if not locale_available("en_US.utf8"):
        pytest.skip("the en_US.UTF-8 locale is not installed (locale -a); ./run test installs it")
    script = """
    CREATE COLLATION en_us (provider = libc, locale = 'en_US.utf8');
    CREATE TABLE words (w text COLLATE en_us PRIMARY KEY, n int);
    INSERT INTO words SELECT x, row_number() OVER () FROM unnest(ARRAY['a', 'B', 'b', 'A', 'é', 'e', 'E', 'Z', 'z',
      'ab', 'a-b', 'a b', 'AB', 'aB', '_x', '1', '10', '9', 'ä', 'Ä', 'co-op', 'coop', 'co op']) AS x;
    """
    fill(source_url, script)
    with connect_source(source_url) as conn:
        table = inspect_catalog(conn).tables[("public", "words")]
        keyset = Keyset.of(table)
        byte_order = [r[0] for r in conn.execute('SELECT w FROM public.words ORDER BY w COLLATE "C"').fetchall()]
        collated = [r[0] for r in conn.execute("SELECT w FROM public.words ORDER BY w").fetchall()]
        assert byte_order != collated  # the test means something only if the orders differ
        pages, after = [], None
        while (end := keyset.chunk_end(conn, after, None, 4)) is not None:
            pages.append(end[0])
            after = end
        assert pages == collated[3::4] + ([collated[-1]] if len(collated) % 4 else [])
    result = migrate(source_url, target_url, MigrateOptions(batch_size=4))
    assert result.ok
    assert table_digest(target_url, "public.words") == table_digest(source_url, "public.words")


def test_rows_written_into_a_range_behind_pghauls_back_switch_it_to_staging(source_url: str, target_url: str) -> None:
    fill(source_url, KEY_TABLES)
    cancel = threading.Event()

    def stop_after_first_chunk(event: events.Event) -> None:
        if isinstance(event, events.TableProgress) and event.table == "public.k_int":
            cancel.set()

    options = MigrateOptions(batch_size=100, workers=1, include=("public.k_int",))
    with pytest.raises(CopyCancelled):
        migrate(source_url, target_url, options, stop_after_first_chunk, cancel)
    # The one-batch endpoint (or a person) puts rows the checkpoint does not know about into the range.
    run_sql(target_url, "INSERT INTO public.k_int SELECT i, md5(i::text) FROM generate_series(150, 160) i")
    result = migrate(source_url, target_url, options)
    assert result.ok
    assert (result.tables[0].rows_copied, result.tables[0].rows_skipped) == (289, 11)
    assert table_digest(target_url, "public.k_int") == table_digest(source_url, "public.k_int")
