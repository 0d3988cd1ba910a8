"""What the fault tests and the reliability scenarios share: a source worth copying, a digest of every row read
without pghaul, and ways to end pghaul's sessions from outside (``pg_terminate_backend``, a server restart)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from pghaul.connect import APPLICATION_NAME
from tests.servers import TestServer

# Helper sessions are never pghaul's (the terminator must not end its own), and a database-level timeout a test
# sets to trouble pghaul must not trouble them.
HELPER_OPTIONS = "-c statement_timeout=0 -c lock_timeout=0 -c temp_file_limit=-1"


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, application_name="pghaul-faults", options=HELPER_OPTIONS)


def dbname(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


def fill_source(url: str, rows: int, slow_index_rows: int = 0) -> None:
    """A keyed table with a secondary index, a table without a key (where a doubled chunk would survive a primary
    key's protection), a sequence; with ``slow_index_rows``, a table whose expression index takes ~1 ms a row to
    build, so an index build can be caught in flight."""
    statements: list[tuple[str, tuple[int, ...]]] = [
        ("CREATE TABLE item (id bigint PRIMARY KEY, name text NOT NULL, n numeric, tags text[])", ()),
        ("INSERT INTO item SELECT g, md5(g::text), g / 7.0, ARRAY['t' || (g %% 5)] FROM generate_series(1, %s) g",
         (rows,)),
        ("CREATE INDEX item_name ON item (name)", ()),
        ("CREATE TABLE logline (at int, msg text)", ()),
        ("INSERT INTO logline SELECT g %% 97, 'line ' || g FROM generate_series(1, %s) g", (max(1, rows // 4),)),
        ("CREATE SEQUENCE counter", ()),
        ("SELECT setval('counter', %s)", (rows + 17,)),
    ]
    if slow_index_rows:
        statements += [
            ("CREATE FUNCTION slow_key(bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE"
             " AS $$BEGIN PERFORM pg_sleep(0.001); RETURN $1; END$$", ()),
            ("CREATE TABLE slow (id bigint PRIMARY KEY)", ()),
            ("INSERT INTO slow SELECT generate_series(1, %s)", (slow_index_rows,)),
            ("CREATE INDEX slow_by_key ON slow (slow_key(id))", ()),
        ]
    with connect(url) as conn:
        for statement, params in statements:
            conn.execute(statement, params or None)  # type: ignore[arg-type]


def digest(url: str) -> dict[str, tuple[int, str]]:
    """Each user table's row count and the md5 of its rows' text in a fixed order, plus each sequence's position:
    computed here, not by pghaul, so a bug in pghaul's own checksums cannot hide a lost or doubled row."""
    out: dict[str, tuple[int, str]] = {}
    with connect(url) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pghaul')"
            " ORDER BY 1, 2"
        ).fetchall()
        for schema, name in tables:
            query = sql.SQL("SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '')"
                            " FROM {} AS t").format(sql.Identifier(schema, name))
            count, md5 = conn.execute(query).fetchone()  # type: ignore[misc]
            out[f"{schema}.{name}"] = (int(count), str(md5))
        for (schema, name) in conn.execute(
            "SELECT schemaname, sequencename FROM pg_sequences WHERE schemaname <> 'pghaul' ORDER BY 1, 2"
        ).fetchall():
            last, called = conn.execute(
                sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(schema, name))
            ).fetchone()  # type: ignore[misc]
            out[f"sequence {schema}.{name}"] = (int(last), str(called))
    return out


def terminate_pghaul(admin_url: str, databases: list[str], query_like: str | None = None, one: bool = False,
                     state: str = "active", running_for: float = 0.0) -> int:
    """End pghaul's sessions on ``databases`` (those in ``state`` whose query matches ``query_like`` and has run
    ``running_for`` seconds, when given; one of them at random with ``one``); how many ended."""
    condition = sql.SQL("")
    params: list[object] = [databases, APPLICATION_NAME]
    if query_like is not None:
        condition = sql.SQL(" AND state = %s AND query ILIKE %s AND now() - query_start >= make_interval(secs => %s)")
        params += [state, query_like, running_for]
    chosen = sql.SQL("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND application_name = %s"
                     " AND pid <> pg_backend_pid()") + condition
    if one:
        chosen += sql.SQL(" ORDER BY random() LIMIT 1")
    query = sql.SQL("SELECT pg_terminate_backend(pid) FROM ({}) AS chosen").format(chosen)
    with connect(admin_url) as conn:
        return sum(1 for (ended,) in conn.execute(query, params).fetchall() if ended)


def restart(server: TestServer, mode: str = "fast") -> None:
    """``pg_ctl restart``: the server's own start-up options again, its output to its log (a pipe left to the new
    server would never close, and the call would never return)."""
    cluster = server.handle
    pgdata = cluster.pgdata  # type: ignore[union-attr]
    cluster._run(server.binary("pg_ctl"), "-D", str(pgdata), "-w", "-t", "60",  # type: ignore[union-attr]
                 "-l", str(pgdata / "log"), "-m", mode, "restart")


class Watcher:
    """A thread that polls every ``interval`` seconds and runs ``act`` until it returns a number above zero (or
    ``times`` times such), then stops; ``hits`` counts what ``act`` reported."""

    def __init__(self, act: Callable[[], int], times: int = 1, interval: float = 0.005) -> None:
        self.act = act
        self.times = times
        self.interval = interval
        self.hits = 0
        self.rounds = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pghaul-faults-watcher", daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.is_set() and self.rounds < self.times:
                found = self.act()
                if found:
                    self.hits += found
                    self.rounds += 1
                time.sleep(self.interval)
        except BaseException as exc:  # seen by the test, which fails on it
            self.error = exc
