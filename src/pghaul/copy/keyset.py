"""Keyset pagination on a primary key of any type, composite included.

Key values travel as text (``k::text``) and are cast back with the column's own type in SQL, so every
comparison happens in the database, in the column's collation: a text key in ``en_US`` order pages exactly
like the index does, and uuid, numeric or timestamp keys need no Python adapter. No OFFSET anywhere: each
page starts from the last key of the previous one, so the thousandth page costs what the first does.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from pghaul.inspect.model import Column, Table

Key = tuple[str, ...]


def table_ident(table: Table) -> sql.Identifier:
    return sql.Identifier(table.schema, table.name)


def count_rows(conn: psycopg.Connection, table: Table) -> int:
    """Rows of the table itself (``ONLY``), counted exactly."""
    row = conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(table_ident(table))).fetchone()
    return int(row[0]) if row else 0


def column_list(columns: tuple[Column, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)


def _operator(column: Column, op: str) -> sql.Composable:
    return sql.SQL("OPERATOR({}.{})").format(sql.Identifier(column.operator_schema or "pg_catalog"), sql.SQL(op))


def _placeholder(column: Column) -> sql.Composable:
    # format_type output of the catalog (e.g. "character varying(20)", "public.my_domain"): trusted DDL text.
    return sql.SQL("%s::{}").format(sql.SQL(column.type))  # type: ignore[arg-type]


def _compare(column: Column, op: str) -> sql.Composable:
    return sql.SQL("{} {} {}").format(sql.Identifier(column.name), _operator(column, op), _placeholder(column))


def _column_by_column(columns: list[Column], op: str, key: list[str | None]) -> tuple[sql.Composable, list[str | None]]:
    """``(a, b) > (x, y)`` spelled ``a > x OR (a = x AND b > y)``, each operator named with its schema."""
    first, value = columns[0], key[0]
    if len(columns) == 1:
        return _compare(first, op), [value]
    rest, params = _column_by_column(columns[1:], op, key[1:])
    strictly = _compare(first, op[0])  # ">" or "<": the first column decides unless it is equal
    return sql.SQL("({} OR ({} AND {}))").format(strictly, _compare(first, "="), rest), [value, value, *params]


def key_comparison(
    columns: list[Column] | tuple[Column, ...], op: str, key: tuple[str | None, ...] | list[str | None]
) -> tuple[sql.Composable, list[str | None]]:
    """``key op (values)`` for op ``>`` or ``<=``, compared in the key's own types (and so its collations).

    A row comparison finds its operators through search_path, which pghaul's sessions leave empty; a type
    whose operators live outside pg_catalog (an extension's: isbn, citext) is compared column by column with
    operators named with their schema instead.
    """
    columns, key = list(columns), list(key)
    if any(c.operator_schema for c in columns):
        return _column_by_column(columns, op, key)
    values = sql.SQL(", ").join(_placeholder(c) for c in columns)
    names = column_list(tuple(columns))
    template = "{} " + op + " {}" if len(columns) == 1 else "({}) " + op + " ({})"
    return sql.SQL(template).format(names, values), key  # type: ignore[arg-type]


def key_equality(columns: list[Column] | tuple[Column, ...], left: str, right: str) -> sql.Composable:
    """``left.k = right.k AND …`` over the key columns, each ``=`` named with its schema (see key_comparison)."""
    return sql.SQL(" AND ").join(
        sql.SQL("{} {} {}").format(sql.Identifier(left, c.name), _operator(c, "="), sql.Identifier(right, c.name))
        for c in columns
    )


@dataclass(frozen=True)
class Keyset:
    """The primary key of one table and the SQL fragments that page through it."""

    table: Table
    columns: tuple[Column, ...]

    @classmethod
    def of(cls, table: Table) -> Keyset:
        return cls(table, tuple(table.column(name) for name in table.primary_key))

    @property
    def width(self) -> int:
        return len(self.columns)

    def order_by(self, descending: bool = False, relation: str | None = None) -> sql.Composed:
        # Qualified by the relation when given: a bare name in ORDER BY would pick the ::text output column.
        direction = sql.SQL(" DESC") if descending else sql.SQL("")
        return sql.SQL(", ").join(
            sql.Composed([sql.Identifier(*((relation,) if relation else ()), c.name), direction])
            for c in self.columns
        )

    def text_columns(self, relation: str | None = None) -> sql.Composed:
        return sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(*((relation,) if relation else ()), c.name))
            for c in self.columns
        )

    def where(self, after: Key | None, upto: Key | None) -> tuple[sql.Composable, list[str]]:
        """``key > after AND key <= upto`` (either side optional) with its parameters."""
        parts: list[sql.Composable] = []
        params: list[str] = []
        for op, key in ((">", after), ("<=", upto)):
            if key is not None:
                self._check(key)
                condition, values = key_comparison(self.columns, op, key)
                parts.append(condition)
                params.extend(values)  # type: ignore[arg-type]
        if not parts:
            return sql.SQL("true"), params
        return sql.SQL(" AND ").join(parts), params

    def _check(self, key: Key) -> None:
        if len(key) != self.width:
            raise ValueError(f"a key of {self.table.display_name} has {self.width} columns, got {len(key)}")

    def chunk_end(
        self, conn: psycopg.Connection, after: Key | None, upto: Key | None, limit: int
    ) -> Key | None:
        """The key of the ``limit``-th row after ``after`` (or the last row up to ``upto``); None if there is none.

        Reads only key columns, in index order, so it is an index(-only) scan of ``limit`` entries.
        """
        where, params = self.where(after, upto)
        query = sql.SQL(
            "SELECT {text} FROM (SELECT {cols} FROM ONLY {table} WHERE {where} ORDER BY {asc} LIMIT %s) AS page"
            " ORDER BY {desc} LIMIT 1"
        ).format(
            text=self.text_columns("page"), cols=column_list(self.columns), table=table_ident(self.table),
            where=where, asc=self.order_by(), desc=self.order_by(descending=True, relation="page"),
        )
        row = conn.execute(query, [*params, limit]).fetchone()
        return None if row is None else tuple(row)

    def exists_after(self, conn: psycopg.Connection, after: Key) -> bool:
        where, params = self.where(after, None)
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM ONLY {table} WHERE {where})").format(
            table=table_ident(self.table), where=where
        )
        row = conn.execute(query, params).fetchone()
        return bool(row and row[0])
