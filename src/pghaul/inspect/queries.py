"""The catalog queries, one .sql file per object kind, read from the package."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pghaul.state_schema import STATE_SCHEMA


@cache
def load(name: str) -> str:
    return resources.files("pghaul.inspect").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def fetch(conn: psycopg.Connection, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run the named catalog query and return its rows as dicts keyed by the model's field names."""
    query = sql.SQL(load(name))  # trusted text shipped with the package, not built from input
    args = {"state_schema": STATE_SCHEMA, **(params or {})}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, args if "%(" in load(name) else None)
        return cur.fetchall()
