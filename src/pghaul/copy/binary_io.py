"""Which column types can travel in binary COPY: those with binary send and receive functions, all the way down.

Binary COPY calls each column type's send function on the source and its receive function on the target. A type
defined with text input and output only (the ``isn`` extension's ``isbn``, ``ean13``, …) has neither, and
neither has a domain over it, an array of it, or a composite or range built on it: binary COPY of such a column
fails ("no binary output function available for type isbn"). One COPY has one format for all its columns, so
one such column sends its whole table in text.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from pghaul.copy.stream import binary_compatible
from pghaul.inspect.model import Table
from pghaul.inspect.queries import fetch


def types_without_binary_io(conn: psycopg.Connection, tables: Iterable[Table]) -> frozenset[str]:
    """Column types of ``tables`` (as ``Column.type`` spells them) that binary COPY cannot send or receive
    on the server ``conn`` talks to."""
    wanted = list(tables)
    if not wanted:
        return frozenset()
    rows = fetch(conn, "binary_io", {"schemas": [t.schema for t in wanted], "names": [t.name for t in wanted]})
    return frozenset(row["type"] for row in rows)


def binary_copy(
    src: psycopg.Connection, tgt: psycopg.Connection, table: Table, target_table: Table | None
) -> bool:
    """Whether ``table`` can stream into ``target_table`` in binary COPY: the same column types on both
    sides, each with binary I/O on both servers. The catalogs are asked only when the types already match."""
    versions = src.info.server_version, tgt.info.server_version
    if target_table is None or not binary_compatible(table, target_table, *versions):
        return False
    lacking = types_without_binary_io(src, [table]) | types_without_binary_io(tgt, [target_table])
    return binary_compatible(table, target_table, *versions, without_binary_io=lacking)
