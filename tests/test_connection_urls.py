"""Connection URLs that are wrong, or lead somewhere hard: malformed, a closed port, a host that never answers, a
wrong password, TLS wanted on one side and not the other, a transaction-mode pooler (PgBouncer-style: refused with
the reason), key=value strings. Through the CLI (one error line with its hint, exit code not 0, no traceback), the
admin API (a JSON error) and the engine (a ``PghaulError``) — and the password never appears in any of them.

Unreachable hosts are played on loopback only (this machine's network rules): a closed port, and a listener that
accepts and never answers (what a host dropping packets looks like to a client with a connect timeout).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from pghaul.cli import app
from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import PghaulError
from pghaul.http import create_app
from pghaul.settings import Settings
from tests.hostile_servers import TLS_PASSWORD, TLS_USER, free_port, tls_only_server, transaction_pooler
from tests.pg_proxy import startup_proxy
from tests.servers import DEBIAN_PG15_BIN, TestServer
from tests.test_http_helpers import AUTH, SECRET

PASSWORD = "Pw-Distinct-Secret-8842"


@dataclass(frozen=True)
class BadUrl:
    label: str
    url: str
    reason: str  # words the one error line must contain
    code: int = 1  # the CLI's exit code


@pytest.fixture(scope="module")
def blackhole() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield int(listener.getsockname()[1])
    listener.close()
    for sock in held:
        sock.close()


def malformed() -> list[BadUrl]:
    not_valid = "not a valid PostgreSQL connection string"
    return [
        BadUrl("not a URL", f"not a url {PASSWORD}", not_valid, 2),
        BadUrl("other scheme", f"mysql://alice:{PASSWORD}@127.0.0.1/app", not_valid, 2),
        BadUrl("port not a number", f"postgresql://alice:{PASSWORD}@127.0.0.1:port/app",
               'invalid integer value "port"'),
        BadUrl("unclosed IPv6 bracket", f"postgresql://alice:{PASSWORD}@[::1/app", "']' is missing", 2),
        BadUrl("unknown parameter", f"postgresql://alice:{PASSWORD}@127.0.0.1/app?colour=blue", "after '?'", 2),
        BadUrl("key=value, unterminated quote", f"host=127.0.0.1 password='{PASSWORD} dbname=app", "quote", 2),
        # libpq's own message would quote the token, the password in it: pghaul says what is wrong without it.
        BadUrl("bad %-escape in the password", f"postgresql://alice:{PASSWORD}%zz@127.0.0.1/app", "%25", 2),
        BadUrl("bad sslmode", f"postgresql://alice:{PASSWORD}@127.0.0.1:{free_port()}/app?sslmode=sometimes",
               "sslmode"),
    ]


def unreachable(blackhole: int) -> list[BadUrl]:
    return [
        BadUrl("closed port", f"postgresql://alice:{PASSWORD}@127.0.0.1:{free_port()}/app", "Connection refused"),
        BadUrl("closed port, key=value", f"host=127.0.0.1 port={free_port()} user=alice password={PASSWORD} dbname=a",
               "Connection refused"),
        BadUrl("no answer", f"postgresql://alice:{PASSWORD}@127.0.0.1:{blackhole}/app?connect_timeout=2",
               "timeout expired"),
    ]


def _cli(*args: str, process: bool = False) -> tuple[int, str, str]:
    """The command in this process (quick), or as its own process (what a person runs: nothing else in between)."""
    if not process:
        done = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return done.exit_code, done.stdout, done.stderr
    ran = subprocess.run([sys.executable, "-m", "pghaul", *args], capture_output=True, text=True, timeout=120,
                         check=False)
    return ran.returncode, ran.stdout, ran.stderr


def assert_cli_refuses(bad: BadUrl, *args: str, password: str = PASSWORD, process: bool = False) -> str:
    code, out, err = _cli(*args, process=process)
    assert code == bad.code, (bad.label, code, out, err)
    assert "Traceback" not in out + err and password not in out + err, (bad.label, out, err)
    error = " ".join(err.split())  # the terminal width may wrap the line; its words are what count
    assert error.startswith("error: ") and bad.reason.lower() in error.lower(), (bad.label, err)
    assert "hint: " in error, (bad.label, err)
    return error


def assert_api_refuses(bad: BadUrl, source: str, target: str, password: str = PASSWORD,
                       paths: tuple[str, ...] = ("/api/admin/db-tables", "/api/admin/db-preflight")) -> None:
    settings = Settings(database_url=source, new_database_url=target, migration_secret=SECRET,
                        allow_db_migration=True)
    with TestClient(create_app(settings)) as client:
        for path in paths:
            reply = client.get(path, headers=AUTH)
            assert 400 <= reply.status_code < 600, (bad.label, path, reply.text)
            body = reply.json()
            assert body["success"] is False and password not in reply.text, (bad.label, reply.text)
            assert bad.reason.lower() in (body["error"] + " " + body.get("hint", "")).lower(), (bad.label, body)


def assert_engine_refuses(bad: BadUrl, source: str, target: str, password: str = PASSWORD) -> None:
    with pytest.raises(PghaulError) as caught:
        migrate(source, target, MigrateOptions())
    shown = str(caught.value) + repr(caught.value.details)
    assert password not in shown and bad.reason.lower() in shown.lower(), (bad.label, shown)


def each_way(bad: BadUrl, good: str, password: str = PASSWORD) -> None:
    """The bad URL as the source and as the target, through every shell."""
    assert_cli_refuses(bad, "tables", "--source", bad.url, password=password)
    assert_cli_refuses(bad, "verify", "--source", good, "--target", bad.url, password=password)
    assert_api_refuses(bad, bad.url, good, password)
    assert_engine_refuses(bad, bad.url, good, password)
    assert_engine_refuses(bad, good, bad.url, password)


def test_malformed_urls(source_url: str) -> None:
    for bad in malformed():
        each_way(bad, source_url)
    first = malformed()[0]
    assert_cli_refuses(first, "migrate", "--source", first.url, "--target", source_url, "--yes", process=True)


def test_unreachable_servers(source_url: str, blackhole: int) -> None:
    closed, closed_kv, silent = unreachable(blackhole)
    for bad in (closed, closed_kv):
        each_way(bad, source_url)
    assert_cli_refuses(closed, "migrate", "--source", source_url, "--target", closed.url, "--yes", process=True)
    # A host that never answers costs its connect timeout each time: once per shell, the three at once.
    with ThreadPoolExecutor(3) as pool:
        waits = [pool.submit(assert_cli_refuses, silent, "tables", "--source", silent.url, process=True),
                 pool.submit(assert_api_refuses, silent, silent.url, source_url, paths=("/api/admin/db-tables",)),
                 pool.submit(assert_engine_refuses, silent, source_url, silent.url)]
        for wait in waits:
            wait.result()


def test_a_missing_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert_cli_refuses(BadUrl("empty", "", "DATABASE_URL", 2), "tables", "--source", "")


def test_key_value_strings_work_like_urls(pg18: TestServer, source_url: str, target_url: str) -> None:
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.kv (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO public.kv SELECT i, 'n' || i FROM generate_series(1, 30) i")
    # The test servers trust local connections: the password is ignored by the server, present everywhere else.
    source, target = (make_conninfo(u, password=PASSWORD, connect_timeout="5") for u in (source_url, target_url))
    assert "=" in source and "://" not in source
    code, out, err = _cli("migrate", "--source", source, "--target", target, "--yes", "--no-verify")
    assert code == 0, out + err
    assert PASSWORD not in out + err
    assert migrate(source, target, MigrateOptions()).ok  # a second run: everything there already, verified


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[TestServer, str]]:
    if not (DEBIAN_PG15_BIN / "postgres").exists() or shutil.which("openssl") is None:
        pytest.skip(f"needs Debian's PostgreSQL 15 in {DEBIAN_PG15_BIN} and openssl (`./run test` installs both)")
    with tls_only_server() as (server, url):
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {TLS_USER} LOGIN SUPERUSER PASSWORD '{TLS_PASSWORD}'")  # test constants
            conn.execute(f"CREATE DATABASE tls_app OWNER {TLS_USER}")
        yield server, make_conninfo(url, dbname="tls_app")


def test_tls_only_server(tls_server: tuple[TestServer, str], target_url: str) -> None:
    _, url = tls_server
    wrong = BadUrl("wrong password", make_conninfo(url, sslmode="require", password=PASSWORD),
                   "password authentication failed")
    each_way(wrong, target_url)
    for bad in (BadUrl("TLS refused by the URL", make_conninfo(url, sslmode="disable"), "sslmode=require"),
                BadUrl("certificate not checkable", make_conninfo(url, sslmode="verify-full"), "sslrootcert")):
        each_way(bad, target_url, password=TLS_PASSWORD)
    # Over TLS with the right password: it works, and the password shows nowhere.
    code, out, err = _cli("tables", "--source", make_conninfo(url, sslmode="require"))
    assert code == 0 and TLS_PASSWORD not in out + err, out + err


def test_tls_required_by_the_url_on_a_server_without_it(source_url: str, target_url: str) -> None:
    with startup_proxy(source_url) as proxy:  # answers "no" to a TLS request, as a server without TLS does
        bad = BadUrl("sslmode=require, no TLS", make_conninfo(proxy.url(source_url), sslmode="require",
                                                               password=PASSWORD), "does not support SSL")
        each_way(bad, target_url)


def test_a_transaction_pooler_is_refused_with_the_reason(source_url: str, target_url: str) -> None:
    before = _state(target_url)
    with transaction_pooler(source_url) as pooled_source, transaction_pooler(target_url) as pooled_target:
        bad_source = BadUrl("source through a transaction pooler", pooled_source.url(source_url, password=PASSWORD),
                            "transaction mode")
        bad_target = BadUrl("target through a transaction pooler", pooled_target.url(target_url, password=PASSWORD),
                            "transaction mode")
        assert_cli_refuses(bad_source, "tables", "--source", bad_source.url, process=True)
        assert_cli_refuses(bad_target, "verify", "--source", source_url, "--target", bad_target.url)
        assert_cli_refuses(bad_target, "migrate", "--source", source_url, "--target", bad_target.url, "--yes")
        assert_api_refuses(bad_source, bad_source.url, target_url)
        assert_engine_refuses(bad_source, bad_source.url, target_url)
        assert_engine_refuses(bad_target, source_url, bad_target.url)
    assert _state(target_url) == before  # refused before anything was written (pghaul's schema included)


def test_a_pooler_refusing_startup_options_says_so(source_url: str, target_url: str) -> None:
    with transaction_pooler(source_url, refuse_options=True) as pooler:
        bad = BadUrl("pooler refusing options", pooler.url(source_url, password=PASSWORD),
                     "ignore_startup_parameters")
        each_way(bad, target_url)


def _state(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
            " ORDER BY 1, 2").fetchall()
