"""The source session really is read-only: checked after connecting, not assumed from the start-up options.

The pooler is simulated honestly by a proxy on the wire (tests/pg_proxy.py) that drops the start-up ``options``
parameter, as some poolers do: the session then starts writable and must make itself read-only. A second proxy
also swallows the session's own attempt (as a pooler that loses session settings would): pghaul must refuse.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from pghaul.connect import SOURCE_SESSION_OPTIONS, connect_source
from pghaul.errors import SafetyError
from pghaul.http import create_app
from pghaul.http.pools import Pools
from tests.conftest import run_sql
from tests.pg_proxy import startup_proxy
from tests.test_http_helpers import AUTH, make_settings
from tests.test_source_never_written import dump

WRITES = ("CREATE TABLE public.written_by_pghaul (n int)", "INSERT INTO public.items VALUES (99, 'written')")


@pytest.fixture
def source(source_url: str) -> str:
    run_sql(source_url, "CREATE TABLE public.items (id int PRIMARY KEY, label text);"
                        "INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 5) g;")
    return source_url


@pytest.fixture
def dropping(source: str) -> Iterator[str]:
    """The source's URL through a pooler that drops the start-up options."""
    with startup_proxy(source, drop_options=True) as proxy:
        url = proxy.url(source)
        # The simulation is real: options sent at start-up do not arrive.
        with psycopg.connect(url, options=SOURCE_SESSION_OPTIONS) as conn:
            assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("off",)
        yield url


def _refuses_writes(conn: psycopg.Connection) -> None:
    assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
    # The other start-up settings are back too: the catalog prints qualified names only with an empty path.
    assert conn.execute("SELECT current_setting('search_path')").fetchone() == ("",)
    for statement in WRITES:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(statement)  # type: ignore[arg-type]
        if not conn.autocommit:
            conn.rollback()


def test_a_source_session_whose_options_were_dropped_is_made_read_only(source: str, dropping: str) -> None:
    before = dump(source)
    for autocommit in (True, False):  # request-sized work, and the readers inside their snapshot
        with connect_source(dropping, autocommit=autocommit) as conn:
            _refuses_writes(conn)
    assert dump(source) == before


def test_the_request_pool_s_source_sessions_are_read_only_behind_such_a_pooler(
    source: str, dropping: str, target_url: str
) -> None:
    before = dump(source)
    pools = Pools(dropping, target_url, 2, 5)
    pools.open()
    try:
        with pools.source() as first, pools.source() as second:  # two sessions, each configured
            _refuses_writes(first)
            _refuses_writes(second)
    finally:
        pools.close()
    with TestClient(create_app(make_settings(dropping, target_url))) as client:
        listed = client.get("/api/admin/db-tables", headers=AUTH)
        assert listed.status_code == 200, listed.text
        assert [t["name"] for t in listed.json()["tables"]] == ["items"]
    assert dump(source) == before


def test_a_source_session_that_cannot_be_made_read_only_is_refused(source: str, target_url: str) -> None:
    before = dump(source)
    with startup_proxy(source, drop_options=True, swallow_read_only=True) as proxy:
        url = proxy.url(source)
        with pytest.raises(SafetyError, match="not read-only and could not be made so") as refused:
            connect_source(url)
        assert "session mode" in refused.value.hint
        with TestClient(create_app(make_settings(url, target_url))) as client:
            response = client.get("/api/admin/db-tables", headers=AUTH)
            assert response.status_code == 409, response.text
            assert "not read-only" in response.json()["error"]
    assert dump(source) == before
    with psycopg.connect(target_url) as conn:  # nothing reached the target either
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone() \
            == (0,)
