"""What pghaul itself created on the target, so its own earlier work never reads as a conflict.

A server prints some definitions in its own words (a view's query, a rule, a SQL function's body): the same
view, created on PostgreSQL 18 from a PostgreSQL 15 source, prints differently on the two. Comparing the two
archives' text would then call pghaul's own work "another definition" on the next run, and verify would call it
a difference. So each step pghaul runs is recorded on the target, in the transaction that creates the object:
which object (pg_dump's kind, schema and name), and the md5 of the source's statement for it; once the run is
over, the
md5 of the definition as the target's archive prints it. An object whose source statement and target
definition both still hash to what was recorded is exactly what pghaul made from this source: ``exists``.
"""

from __future__ import annotations

import hashlib

import psycopg
from psycopg import sql

from pghaul.dump import Archive
from pghaul.dump.archive import normalized
from pghaul.state_schema import STATE_SCHEMA

Identity = tuple[str, str, str]
TABLE = sql.Identifier(STATE_SCHEMA, "created_objects")
CREATE_TABLE = sql.SQL(
    "CREATE TABLE IF NOT EXISTS {} (kind text, schema_name text, name text, statement_md5 text NOT NULL,"
    " definition_md5 text, created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kind, schema_name, name))"
).format(TABLE)


def digest(text: str) -> str:
    return hashlib.md5(normalized(text).encode(), usedforsecurity=False).hexdigest()


def recording(conn: psycopg.Connection) -> bool:
    """Whether the target keeps the record (pghaul's state schema is there)."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{STATE_SCHEMA}.created_objects"]).fetchone()
    return bool(row and row[0])


def record(conn: psycopg.Connection, identity: Identity, statement_md5: str) -> None:
    """Inside the step's own transaction: the object and the digest of the source's statement that made it."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (kind, schema_name, name, statement_md5) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (kind, schema_name, name) DO UPDATE SET statement_md5 = EXCLUDED.statement_md5,"
            " definition_md5 = NULL, created_at = now()"
        ).format(TABLE),
        [*identity, statement_md5],
    )


def load(conn: psycopg.Connection) -> dict[Identity, tuple[str, str | None]]:
    if not recording(conn):
        return {}
    rows = conn.execute(sql.SQL("SELECT kind, schema_name, name, statement_md5, definition_md5 FROM {}").format(TABLE))
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows.fetchall()}


def remember_definitions(conn: psycopg.Connection, archive: Archive) -> None:
    """Once a run is over: how the target prints each object pghaul created and has not described yet."""
    if not recording(conn):
        return
    printed = [(*e.identity, digest(e.defn)) for e in archive.entries]
    # One statement for all of them: over a PaaS network a round trip per object would add up.
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "UPDATE {} AS c SET definition_md5 = p.md5"
                " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS p(kind, schema_name, name, md5)"
                " WHERE c.definition_md5 IS NULL AND (c.kind, c.schema_name, c.name) = (p.kind, p.schema_name, p.name)"
            ).format(TABLE),
            [list(column) for column in zip(*printed, strict=True)] if printed else [[], [], [], []],
        )


def made_by_pghaul(
    created: dict[Identity, tuple[str, str | None]], identity: Identity, statement: str, target_definition: str
) -> bool:
    """The target's object is what pghaul made from the source's ``statement``, unchanged since (as far as
    recorded)."""
    made = created.get(identity)
    if made is None or made[0] != digest(statement):
        return False
    return made[1] is None or made[1] == digest(target_definition)
