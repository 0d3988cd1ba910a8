"""What the follow tests compare and set up: replication objects on both servers, what a refused run must not have
written, roles. (The servers themselves are ``tests/logical_servers.py``'s fixtures.)"""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.servers import TestServer


def replication_objects(url: str, server_wide: bool = True) -> tuple[list[str], list[str], list[str]]:
    """The replication slots, publications and subscriptions there are: of the whole server (slots and
    subscriptions are the server's), or of ``url``'s database only."""
    mine = "" if server_wide else " WHERE database = current_database()"
    own = "" if server_wide else (" WHERE subdbid = (SELECT oid FROM pg_database"
                                  " WHERE datname = current_database())")
    with psycopg.connect(url, autocommit=True) as conn:
        slots = [r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots" + mine + " ORDER BY 1")]
        publications = [r[0] for r in conn.execute("SELECT pubname FROM pg_publication ORDER BY 1")]
        subscriptions = [r[0] for r in conn.execute("SELECT subname FROM pg_subscription" + own + " ORDER BY 1")]
    return slots, publications, subscriptions


def written_state(*urls: str) -> list[object]:
    """Everything follow or a migration could have written: replication objects, pghaul's schema, user tables."""
    out: list[object] = []
    for url in urls:
        out.append(replication_objects(url))
        with psycopg.connect(url, autocommit=True) as conn:
            out.append(conn.execute(
                "SELECT to_regnamespace('pghaul') IS NOT NULL,"
                " (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace)").fetchone())
    return out


def new_role(server: TestServer, prefix: str, attributes: str = "LOGIN") -> str:
    """A role on the whole cluster (roles are not per database); left for the throwaway cluster to take away."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} " + attributes).format(sql.Identifier(name)))  # type: ignore[operator]
    return name


def as_role(url: str, role: str, password: str | None = None) -> str:
    params: dict[str, str] = {"user": role}
    if password:
        params["password"] = password
    return make_conninfo(url, **params)


def drop_replication(url: str) -> None:
    """What a failed test may have left in a database: subscriptions (a database that has one cannot be dropped)
    and logical slots (whose WAL senders are ended first), so the next test starts clean."""
    with psycopg.connect(url, autocommit=True) as conn:
        for (name,) in conn.execute("SELECT subname FROM pg_subscription WHERE subdbid ="
                                    " (SELECT oid FROM pg_database WHERE datname = current_database())").fetchall():
            ident = sql.Identifier(name)
            conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
            conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident))
            conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))
        for _ in range(50):
            slots = conn.execute("SELECT slot_name, active_pid FROM pg_replication_slots"
                                 " WHERE database = current_database()").fetchall()
            if not slots:
                return
            for name, pid in slots:
                if pid is not None:
                    conn.execute("SELECT pg_terminate_backend(%s)", [pid])
                else:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", [name])
            time.sleep(0.1)

# --- an application writing to the source ---------------------------------------------------------------------------

APP_SCHEMA = """
CREATE TABLE account (id bigserial PRIMARY KEY, name text NOT NULL, balance numeric NOT NULL DEFAULT 0);
CREATE TABLE entry (account_id bigint NOT NULL REFERENCES account (id) ON DELETE CASCADE, seq integer NOT NULL,
                    amount numeric, PRIMARY KEY (account_id, seq));
CREATE TABLE tag (name text PRIMARY KEY, note text);
CREATE TABLE audit (at timestamptz NOT NULL DEFAULT now(), what text);  -- no key: replicated by its full rows
ALTER TABLE audit REPLICA IDENTITY FULL;
INSERT INTO account (name, balance) SELECT 'account ' || g, g FROM generate_series(1, %(accounts)s) g;
INSERT INTO entry SELECT a, s, a * s FROM generate_series(1, %(accounts)s) a, generate_series(1, 2) s;
INSERT INTO tag SELECT 'tag ' || g, NULL FROM generate_series(1, 300) g;
INSERT INTO audit (what) SELECT 'seed ' || g FROM generate_series(1, 300) g;
SELECT lo_from_bytea(0, 'a large object written before the copy');
CREATE TABLE reading (id bigint NOT NULL, day integer NOT NULL, value numeric, PRIMARY KEY (id, day))
  PARTITION BY RANGE (day);
CREATE TABLE reading_early PARTITION OF reading FOR VALUES FROM (0) TO (50);
CREATE TABLE reading_late PARTITION OF reading FOR VALUES FROM (50) TO (100);
INSERT INTO reading SELECT g, g %% 100, g FROM generate_series(1, %(accounts)s) g;
"""


def fill_app(url: str, accounts: int = 3000) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in APP_SCHEMA.replace("%(accounts)s", str(int(accounts))).replace("%%", "%").split(";\n"):
            if statement.strip():
                conn.execute(statement)  # type: ignore[call-overload]


class Writer:
    """The app: small transactions on the source from its own thread — inserts (a sequence moving), updates,
    deletes cascading through a foreign key, upserts, writes to a keyless table, a large object — until stopped."""

    def __init__(self, url: str, accounts: int = 3000, pause: float = 0.005) -> None:
        self.url = url
        self.accounts = accounts
        self.pause = pause
        self.committed = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="app-writer", daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_for(self, transactions: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        start = self.committed
        while self.committed < start + transactions:
            assert not self.errors, self.errors
            assert time.monotonic() < deadline, f"the writer did not commit {transactions} transactions"
            time.sleep(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self.errors, self.errors
        return self.committed

    def _run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                i = 0
                while not self._stop.is_set():
                    i += 1
                    with conn.transaction():
                        self._round(conn, i)
                    self.committed += 1
                    time.sleep(self.pause)
        except BaseException as exc:  # handed to the test by stop()
            self.errors.append(exc)

    def _round(self, conn: psycopg.Connection, i: int) -> None:
        n = self.accounts
        new = conn.execute("INSERT INTO account (name) VALUES (%s) RETURNING id", [f"new {i}"]).fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO entry VALUES (%s, 1, %s)", [new, i])
        conn.execute("UPDATE account SET balance = balance + 1 WHERE id = %s", [i * 13 % n + 1])
        conn.execute("UPDATE entry SET amount = amount - 1 WHERE account_id = %s", [i * 17 % n + 1])
        conn.execute("DELETE FROM account WHERE id = %s", [i * 7 % n + 1])
        conn.execute("INSERT INTO tag VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET note = excluded.note",
                     [f"tag {i % 400}", str(i)])
        conn.execute("INSERT INTO audit (what) VALUES (%s)", [f"write {i}"])
        conn.execute("DELETE FROM audit WHERE what = %s", [f"seed {i % 300 + 1}"])
        conn.execute("INSERT INTO reading VALUES (%s, %s, %s)", [10_000_000 + i, i % 100, i])
        # Moves a row from one partition to the other on the source: a delete and an insert on the leaves.
        conn.execute("UPDATE reading SET day = (day + 50) %% 100, value = value + 1 WHERE id = %s", [i * 11 % n + 1])
        if i % 50 == 0:
            conn.execute("SELECT lo_from_bytea(0, %s::bytea)", [f"large object {i}".encode()])


def large_objects(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [(int(r[0]), r[1]) for r in conn.execute(
            "SELECT oid, md5(lo_get(oid)) FROM pg_largeobject_metadata ORDER BY 1")]


def sequence_position(url: str, name: str = "account_id_seq") -> tuple[int, bool]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(name))).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])
