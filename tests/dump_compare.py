"""Compare two databases the way an operator would after a migration: pg_dump's schema, every row, every sequence.

pg_dump is the reference here because it is the independent tool people trust to describe a database: a
migration is faithful when pg_dump cannot tell the target from the source. Entries are compared as a multiset
(sorted), since the order pg_dump prints objects in depends on their OIDs, which differ between servers.

Between major versions the text itself differs for the same objects: pg_dump prints views, function arguments
and other expressions as the server deparses them, and PostgreSQL 16 stopped qualifying the columns of a view
over a single table (``SELECT actors.id`` on 15 is ``SELECT id`` on 16 and later). So when the two servers'
major versions differ, the target is compared with the source's schema as the target's server prints it: the
source's pg_dump restored with psql into a scratch database beside the target (the reference a dump and restore
gives), not with the source's own text.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pghaul.dump import pg_dump_path

# pghaul's own bookkeeping on the target, which the source never has.
STATE_SCHEMA = "pghaul"

DUMP_OPTIONS = (
    "--schema-only",
    "--no-owner",
    "--no-privileges",
    f"--exclude-schema={STATE_SCHEMA}",
    "--no-large-objects",
    # Planner statistics are a property of the rows' sampling, not of the schema.
    "--no-statistics",
    "--format=plain",
)

# pg_dump's banner before each object: "-- Name: film; Type: TABLE; Schema: public; Owner: -".
_HEADER = re.compile(r"^-- (?:Data for )?Name: (?P<what>.*?); Owner: .*$")
# Session settings pg_dump prints between objects; they belong to the restore session, not to an object.
_SESSION_LINE = re.compile(r"^(SET \w+ = .*;|SELECT pg_catalog\.set_config\(.*\);)$")
# psql's guard against a hostile server (pg_dump 17.6+/18): a random key, different in every dump.
_RESTRICT_LINE = re.compile(r"^\\(un)?restrict \S+$")


def psql_path() -> str:
    return str(Path(pg_dump_path()).with_name("psql"))


def plain_schema_dump(url: str, *, server_quotes_all: bool = False) -> str:
    env = dict(os.environ)
    if server_quotes_all:
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c quote_all_identifiers=on".strip()
    done = subprocess.run(
        [pg_dump_path(), *DUMP_OPTIONS, f"--dbname={url}"],
        capture_output=True, text=True, check=False, timeout=600, env=env,
    )
    if done.returncode != 0:
        raise AssertionError(f"pg_dump failed on {url}: {done.stderr.strip()}")
    return done.stdout


def run_psql(url: str, *args: str, script: str | None = None) -> None:
    """psql on ``url``, stopping at the first error (whose message the assertion carries)."""
    done = subprocess.run(
        [psql_path(), "-X", "-q", "-v", "ON_ERROR_STOP=1", f"--dbname={url}", *args],
        input=script, capture_output=True, text=True, check=False, timeout=600,
    )
    if done.returncode != 0:
        raise AssertionError(f"psql {' '.join(args)} failed: {done.stderr.strip()[-3000:]}")


def restore_schema(source_url: str, target_url: str) -> None:
    """pg_dump's plain schema of the source, run by psql on the target: the reference of a faithful copy."""
    # Between major versions an older server prints an identifier that a newer one reserves (a parameter named
    # json, on 15 and 16) without quotes, and the newer server rejects it: the source server quotes all it prints.
    # Not pg_dump's --quote-all-identifiers, which also quotes the names pg_dump compares with its own: with it,
    # pg_dump 18 no longer recognises schema public and leaves out its removed comment (COMMENT ... IS '').
    run_psql(target_url, script=plain_schema_dump(source_url, server_quotes_all=True))


def server_major(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.info.server_version // 10000


@contextmanager
def scratch_database(beside_url: str) -> Iterator[str]:
    """An empty database on the server of ``beside_url``, dropped afterwards."""
    name = f"reference_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(beside_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield make_conninfo(beside_url, dbname=name)
    finally:
        with psycopg.connect(beside_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def split_entries(dump: str) -> list[str]:
    """One text per object pg_dump printed: its banner's name/type/schema line, then its statements."""
    entries: list[str] = []
    header: str | None = None
    body: list[str] = []

    def close() -> None:
        if header is not None:
            while body and (not body[-1].strip() or _SESSION_LINE.match(body[-1])):
                body.pop()  # what follows an object's statements belongs to the next one's preamble
            while body and not body[0].strip():
                body.pop(0)
            # An entry left empty only stood for what the options leave out (the owner of schema public).
            if body:
                entries.append("\n".join([header, *body]))

    lines = [line for line in dump.splitlines() if not _RESTRICT_LINE.match(line)]
    i = 0
    while i < len(lines):
        # A banner is three lines: "--", "-- <text>", "--"; only those naming an object start an entry.
        if lines[i] == "--" and i + 2 < len(lines) and lines[i + 2] == "--" and lines[i + 1].startswith("-- "):
            close()
            match = _HEADER.match(lines[i + 1])
            header = f"-- {match.group('what')}" if match else None
            body = []
            i += 3
            continue
        if header is not None and not lines[i].startswith("-- *not* "):
            body.append(lines[i])
        i += 1
    close()
    return entries


def schema_statements(url: str) -> list[str]:
    """pg_dump's schema of the database as a sorted list of per-object entries."""
    return sorted(split_entries(plain_schema_dump(url)))


@dataclass
class SchemaDiff:
    only_source: list[str]
    only_target: list[str]

    def __bool__(self) -> bool:
        return bool(self.only_source or self.only_target)

    def render(self, limit: int = 60) -> str:
        """Entries of the same object side by side as a unified diff, the others whole."""
        def by_name(entries: list[str]) -> dict[str, list[str]]:
            grouped: dict[str, list[str]] = defaultdict(list)
            for entry in entries:
                grouped[entry.split("\n", 1)[0]].append(entry)
            return grouped

        source, target = by_name(self.only_source), by_name(self.only_target)
        parts: list[str] = []
        for name in sorted(source.keys() & target.keys()):
            for a, b in zip(source[name], target[name], strict=False):
                diff = difflib.unified_diff(a.splitlines(), b.splitlines(), "source", "target", lineterm="", n=2)
                parts.append(f"{name} differs:\n" + "\n".join(diff))
        for name in sorted(source.keys() - target.keys()):
            parts.extend(f"missing on the target:\n{e}" for e in source[name])
        for name in sorted(target.keys() - source.keys()):
            parts.extend(f"only on the target:\n{e}" for e in target[name])
        head = (f"pg_dump schemas differ: {len(self.only_source)} entries of the source and "
                f"{len(self.only_target)} of the target have no equal on the other side")
        shown = parts[:limit]
        if len(parts) > limit:
            shown.append(f"... and {len(parts) - limit} more")
        return "\n\n".join([head, *shown])


def diff_entries(source: list[str], target: list[str]) -> SchemaDiff:
    a, b = Counter(source), Counter(target)
    return SchemaDiff(sorted((a - b).elements()), sorted((b - a).elements()))


def schema_diff(source_url: str, target_url: str) -> SchemaDiff:
    """The two databases' pg_dump schemas compared entry by entry, as printed by their own servers."""
    return diff_entries(schema_statements(source_url), schema_statements(target_url))


def expected_schema(source_url: str, target_url: str) -> list[str]:
    """The source's schema as the target's server prints it (see the module's docstring)."""
    if server_major(source_url) == server_major(target_url):
        return schema_statements(source_url)
    with scratch_database(target_url) as reference_url:
        restore_schema(source_url, reference_url)
        return schema_statements(reference_url)


def assert_same_schema_dump(source_url: str, target_url: str) -> None:
    diff = diff_entries(expected_schema(source_url, target_url), schema_statements(target_url))
    if diff:
        raise AssertionError(diff.render())


# --- rows and sequences -----------------------------------------------------------------------------------------

_USER_RELATIONS = """
SELECT n.nspname, c.relname, c.relkind, c.relispopulated
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = ANY(%s)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %s) AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def _relations(conn: psycopg.Connection, kinds: list[str]) -> dict[tuple[str, str], tuple[str, bool]]:
    rows = conn.execute(_USER_RELATIONS, [kinds, STATE_SCHEMA]).fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def _table_digest(conn: psycopg.Connection, schema: str, name: str) -> tuple[int, str | None]:
    # Byte order (COLLATE "C") so that servers with different default collations sort rows alike.
    query = sql.SQL(
        "SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE \"C\")) FROM {} AS t"
    ).format(sql.Identifier(schema, name))
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def row_differences(source_url: str, target_url: str) -> list[str]:
    """Tables (leaf tables and partitions) whose rows differ, and materialized views populated on one side only.

    Partitioned parents are left out: their rows are their partitions' rows. A materialized view's rows are not
    compared: a dump and restore refreshes a populated one (its rows are then its query's, not the source's
    possibly stale ones) and leaves an unpopulated one so, and a migration is held to the same.
    """
    problems: list[str] = []
    with psycopg.connect(source_url, autocommit=True) as src, psycopg.connect(target_url, autocommit=True) as tgt:
        source, target = _relations(src, ["r", "m"]), _relations(tgt, ["r", "m"])
        for key, (kind, populated) in source.items():
            label = ".".join(key)
            if key not in target:
                problems.append(f"{label}: missing on the target")
                continue
            if target[key][1] != populated:
                problems.append(f"{label}: populated on the source {populated}, on the target {target[key][1]}")
                continue
            if kind == "m":
                continue
            a, b = _table_digest(src, *key), _table_digest(tgt, *key)
            if a != b:
                problems.append(f"{label}: source {a[0]} rows (md5 {a[1]}), target {b[0]} rows (md5 {b[1]})")
        problems.extend(f"{'.'.join(key)}: only on the target" for key in target.keys() - source.keys())
    return problems


def table_rows_equal(source_url: str, target_url: str) -> bool:
    return not row_differences(source_url, target_url)


def _sequence_state(conn: psycopg.Connection, schema: str, name: str) -> tuple[int, bool]:
    row = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(schema, name))).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


def sequence_differences(source_url: str, target_url: str) -> list[str]:
    problems: list[str] = []
    with psycopg.connect(source_url, autocommit=True) as src, psycopg.connect(target_url, autocommit=True) as tgt:
        source, target = _relations(src, ["S"]), _relations(tgt, ["S"])
        for key in source:
            label = ".".join(key)
            if key not in target:
                problems.append(f"{label}: missing on the target")
                continue
            a, b = _sequence_state(src, *key), _sequence_state(tgt, *key)
            if a != b:
                problems.append(f"{label}: source (last_value, is_called) {a}, target {b}")
        problems.extend(f"{'.'.join(key)}: only on the target" for key in target.keys() - source.keys())
    return problems


def sequences_equal(source_url: str, target_url: str) -> bool:
    return not sequence_differences(source_url, target_url)
