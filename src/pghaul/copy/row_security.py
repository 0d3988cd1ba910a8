"""Refusing a source table whose rows row-level security would filter for the role pghaul reads it as.

The readers run with ``row_security = off`` (:mod:`pghaul.copy.snapshot`), so such a table fails its COPY
rather than copying only the rows its policies let through. That failure would come in the middle of the data
phase, after other tables' rows were written; asking the catalog first refuses the run before any write.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from pghaul.errors import SafetyError
from pghaul.inspect.model import Table, qualified
from pghaul.inspect.queries import fetch

RLS_HINT = "connect as the table's owner or a role with BYPASSRLS (on Supabase: the postgres role)"


def rls_filtered_tables(conn: psycopg.Connection, tables: Iterable[Table]) -> list[str]:
    """Those of ``tables`` (as ``schema.name``, sorted) whose rows row-level security would filter for the
    role ``conn`` runs as."""
    wanted = list(tables)
    if not wanted:
        return []
    rows = fetch(conn, "rls_filtered", {"schemas": [t.schema for t in wanted], "names": [t.name for t in wanted]})
    return [qualified(row["schema"], row["name"]) for row in rows]


def check_rls_readable(src_conn: psycopg.Connection, tables: Iterable[Table]) -> None:
    """Refuse, naming each one, when row-level security would filter any of ``tables`` on the source."""
    filtered = rls_filtered_tables(src_conn, tables)
    if not filtered:
        return
    row = src_conn.execute("SELECT current_user").fetchone()
    role = row[0] if row else "?"
    raise SafetyError(
        f"row-level security would hide rows of {len(filtered)} source table(s) from the role {role}, so they "
        f"could not be copied whole: {', '.join(filtered)}",
        RLS_HINT,
    )
