"""The table listing: sizes, keys and their types, counts, and presence on the target."""

from __future__ import annotations

from pghaul.connect import connect_source, connect_target
from pghaul.tables import list_tables
from tests.conftest import run_sql


def test_list_tables(source_url: str, target_url: str) -> None:
    run_sql(
        source_url,
        """
        CREATE SCHEMA other;
        CREATE TABLE public.items (id bigint PRIMARY KEY, v text);
        INSERT INTO public.items SELECT g, 'x' FROM generate_series(1, 300) g;
        CREATE TABLE other.pairs (a uuid, b text COLLATE "C", PRIMARY KEY (b, a));
        CREATE TABLE public.bare (x int);
        INSERT INTO public.bare VALUES (1), (2);
        CREATE TABLE public.parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
        CREATE TABLE public.parted_low PARTITION OF public.parted FOR VALUES FROM (0) TO (100);
        INSERT INTO public.parted SELECT generate_series(0, 49);
        ANALYZE;
        """,
    )
    run_sql(target_url, "CREATE TABLE public.items (id bigint PRIMARY KEY, v text);")

    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        listed = {t.display_name: t for t in list_tables(src, tgt, exact=True)}
        without_target = list_tables(src)

    assert list(listed) == ["other.pairs", "public.bare", "public.items", "public.parted", "public.parted_low"]
    items = listed["public.items"]
    assert (items.rows_exact, items.rows_estimated, items.exists_on_target) == (300, 300, True)
    assert items.primary_key == ("id",) and items.primary_key_types == ("bigint",)
    assert items.size_bytes > 0
    assert listed["other.pairs"].primary_key_types == ("text", "uuid")
    assert listed["other.pairs"].exists_on_target is False
    assert listed["public.bare"].primary_key == () and listed["public.bare"].rows_exact == 2
    assert listed["public.parted"].rows_exact == 50 and listed["public.parted"].rows_estimated == 50
    assert listed["public.parted_low"].partition_of == ("public", "parted")
    assert listed["public.items"].to_dict()["primary_key"] == [{"column": "id", "type": "bigint"}]
    assert all(t.exists_on_target is None and t.rows_exact is None for t in without_target)


def test_never_analyzed_table_estimates_zero(source_url: str) -> None:
    run_sql(source_url, "CREATE TABLE fresh (id int PRIMARY KEY);")
    with connect_source(source_url) as src:
        (fresh,) = list_tables(src)
    assert fresh.rows_estimated == 0
