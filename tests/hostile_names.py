"""A source database whose every name attacks (no tests here): quotes, semicolons, ``$$``, backslashes, newlines,
unicode, 63-byte names and longer ones PostgreSQL truncates — each carrying a statement that must never run.

Every name is created through ``psycopg.sql.Identifier`` (and every label through ``Literal``), so the database
holds exactly these names; whatever then reads them (pghaul) must quote them as well. The injected statements
create ``injected_marker`` or drop ``public.canary``: ``injection_traces`` finds either on any database of a server.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

INJECT = "; CREATE TABLE injected_marker(); --"
SCHEMA = 'Sch"ema' + INJECT
TABLE = "t'); DROP TABLE public.canary; --$$\\"
COLUMN = 'col "x"\n$$' + INJECT
INDEX = "idx'); DROP SCHEMA public CASCADE; --"
ENUM = "mood$$" + INJECT
LABELS = ("'); CREATE TABLE injected_marker(); --", "$$", "back\\slash", "new\nline", 'dq"', "é", "e\u0301", "🐘",
          "x" * 63)
POLICY = 'pol"; CREATE TABLE injected_marker(); --'
FUNCTION = "fn$$" + INJECT
VIEW = "view 🐘 ünïcode\u0301 " + "'" * 3
# Exactly 63 bytes (PostgreSQL's longest name), the last character two bytes wide.
NAME_63 = "m" * 61 + "é"
# 75 bytes: PostgreSQL keeps the first 63 (and says so in a NOTICE); the statement after the cut never existed.
NAME_LONG = "L" * 40 + INJECT
NAME_LONG_STORED = NAME_LONG.encode()[:63].decode()
# fnmatch's own characters in a name: a pattern must escape them to mean this table alone.
GLOBBY = "glob*[x]?.dot"

assert len(NAME_63.encode()) == 63 and len(NAME_LONG.encode()) > 63
assert all(len(n.encode()) <= 63 for n in (SCHEMA, TABLE, COLUMN, INDEX, ENUM, POLICY, FUNCTION, VIEW, GLOBBY))


def _id(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)


def create_hostile_database(url: str) -> None:
    """The canary, then one schema of hostile names: a table with a serial key, an enum column, an index, a policy,
    a function used as a column default, a view, a 63-byte table and a truncated one, a table named like a glob."""
    s = _id(SCHEMA)
    t = _id(SCHEMA, TABLE)
    statements = [
        sql.SQL("CREATE TABLE public.canary (id int PRIMARY KEY, note text)"),
        sql.SQL("INSERT INTO public.canary VALUES (1, 'alive'), (2, 'still alive')"),
        sql.SQL("CREATE SCHEMA {}").format(s),
        sql.SQL("CREATE TYPE {} AS ENUM ({})").format(_id(SCHEMA, ENUM), sql.SQL(", ").join(map(sql.Literal, LABELS))),
        sql.SQL("CREATE FUNCTION {}(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $fn$ SELECT x + 1 $fn$")
        .format(_id(SCHEMA, FUNCTION)),
        sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, {} text, mood {}, bumped integer DEFAULT {}(41), {} int)")
        .format(t, _id(COLUMN), _id(SCHEMA, ENUM), _id(SCHEMA, FUNCTION), _id(NAME_63)),
        sql.SQL("CREATE INDEX {} ON {} ({})").format(_id(INDEX), t, _id(COLUMN)),
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(t),
        sql.SQL("CREATE POLICY {} ON {} USING (mood IS DISTINCT FROM {})").format(_id(POLICY), t, sql.Literal("$$")),
        sql.SQL("COMMENT ON TABLE {} IS {}").format(t, sql.Literal(INJECT + " $$ \\ '")),
        sql.SQL("CREATE VIEW {} AS SELECT id, {} FROM {}").format(_id(SCHEMA, VIEW), _id(COLUMN), t),
        sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, note text)").format(_id(SCHEMA, NAME_63)),
        sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, note text)").format(_id(SCHEMA, NAME_LONG)),
        sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(_id(SCHEMA, GLOBBY)),
        sql.SQL("INSERT INTO {} ({}, mood, {}) SELECT {} || i, ({}::text[])[1 + i % {}]::{}, i"
                " FROM generate_series(1, 40) i")
        .format(t, _id(COLUMN), _id(NAME_63), sql.Literal(INJECT), sql.Literal(list(LABELS)),
                sql.Literal(len(LABELS)), _id(SCHEMA, ENUM)),
        sql.SQL("INSERT INTO {} SELECT i, {} FROM generate_series(1, 7) i").format(_id(SCHEMA, NAME_63),
                                                                                   sql.Literal(TABLE)),
        sql.SQL("INSERT INTO {} SELECT i, {} FROM generate_series(1, 5) i").format(_id(SCHEMA, NAME_LONG_STORED),
                                                                                   sql.Literal(COLUMN)),
        sql.SQL("INSERT INTO {} SELECT generate_series(1, 3)").format(_id(SCHEMA, GLOBBY)),
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def injection_traces(admin_url: str) -> list[str]:
    """Every sign, on any database of the server, that an injected statement ran: an ``injected_marker`` relation
    (the callers check the canary's rows themselves: a target that received only some tables has no canary)."""
    from psycopg.conninfo import make_conninfo

    traces = []
    with psycopg.connect(admin_url, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datallowconn").fetchall()]
    for name in names:
        with psycopg.connect(make_conninfo(admin_url, dbname=name), autocommit=True) as conn:
            found = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'injected%%'").fetchall()
            traces += [f"{name}: {r[0]} exists" for r in found]
    return traces


def canary(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT id, note FROM public.canary ORDER BY id").fetchall()


CANARY_ROWS = [(1, "alive"), (2, "still alive")]


def catalog_names(url: str) -> dict[str, list[tuple[str, ...]]]:
    """The names (and the few texts) a migration must carry exactly, read with plain catalog queries."""
    queries = {
        "relations": "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n"
                     " ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pghaul')"
                     " AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2",
        "columns": "SELECT attrelid::regclass::text, attname FROM pg_attribute a JOIN pg_class c ON c.oid = attrelid"
                   " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE attnum > 0 AND NOT attisdropped"
                   " AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pghaul')"
                   " AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2",
        "labels": "SELECT enumtypid::regtype::text, enumlabel FROM pg_enum ORDER BY 1, enumsortorder",
        "policies": "SELECT polrelid::regclass::text, polname, pg_get_expr(polqual, polrelid) FROM pg_policy"
                    " ORDER BY 2",
        "functions": "SELECT pronamespace::regnamespace::text, proname, prosrc FROM pg_proc"
                     " WHERE pronamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')"
                     " AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = pg_proc.oid AND d.deptype = 'e')"
                     " ORDER BY 2",
        "comments": "SELECT objoid::regclass::text, description FROM pg_description"
                    " WHERE classoid = 'pg_class'::regclass ORDER BY 1",
        "defaults": "SELECT adrelid::regclass::text, pg_get_expr(adbin, adrelid) FROM pg_attrdef"
                    " WHERE adrelid::regclass::text NOT LIKE 'pghaul.%' ORDER BY 1, 2",
    }
    with psycopg.connect(url, autocommit=True) as conn:
        return {kind: [tuple(map(str, r)) for r in conn.execute(q).fetchall()]  # type: ignore[arg-type]
                for kind, q in queries.items()}
