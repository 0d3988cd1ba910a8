"""The few statements pghaul writes itself; every other object's statement comes from pg_dump's archive.

Names are composed with psycopg.sql.Identifier and values with sql.Literal, rendered without a connection.
Every function returns complete statements, each ending with ";".
"""

from __future__ import annotations

from psycopg import sql

from pghaul.inspect.model import AvailableExtension, Extension, MaterializedView

Q = sql.SQL
I = sql.Identifier  # noqa: E741 — reads like the SQL it builds
L = sql.Literal


def render(*statements: sql.Composable) -> str:
    return "\n".join(s.as_string(None) + ";" for s in statements)


def extension(ext: Extension, available: AvailableExtension | None) -> str:
    stmt = Q("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}").format(I(ext.name), I(ext.schema))
    # A target that ships only a newer version gets its default (the safety check refuses an older one).
    if available is None or ext.version in available.versions:
        stmt = Q("{} VERSION {}").format(stmt, L(ext.version))
    return render(stmt)


def with_table_access_method(method: str, statement: str) -> str:
    """pg_dump keeps a table's access method beside its statement, to be set for the session that runs it."""
    return render(Q("SET LOCAL default_table_access_method = {}").format(I(method))) + "\n" + statement


def set_access_method(schema: str, table: str, method: str) -> str:
    return render(Q("ALTER TABLE {} SET ACCESS METHOD {}").format(I(schema, table), I(method)))


def refresh(m: MaterializedView) -> str:
    return render(Q("REFRESH MATERIALIZED VIEW {}").format(I(m.schema, m.name)))
