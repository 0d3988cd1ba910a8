from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.servers import TestServer, start_pg15, start_pg16, start_pg18, stop


def _start(factory: Callable[[], TestServer]) -> TestServer:
    try:
        server = factory()
        with psycopg.connect(server.admin_url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # one clear line instead of hundreds of red tests
        pytest.exit(f"could not start or reach the test PostgreSQL server: {exc}", returncode=3)
    return server


@pytest.fixture(scope="session")
def pg18() -> Iterator[TestServer]:
    server = _start(start_pg18)
    yield server
    stop(server)


@pytest.fixture(scope="session")
def pg16() -> Iterator[TestServer]:
    server = _start(start_pg16)
    yield server
    stop(server)


@pytest.fixture(scope="session")
def pg15() -> Iterator[TestServer]:
    server = _start(start_pg15)
    yield server
    stop(server)


def _fresh(server: TestServer, prefix: str) -> Iterator[str]:
    url = server.create_database(prefix)
    yield url
    server.drop_database(url)


@pytest.fixture
def source_url(pg18: TestServer) -> Iterator[str]:
    """A fresh, empty database on PostgreSQL 18 to fill as the source."""
    yield from _fresh(pg18, "src")


@pytest.fixture
def target_url(pg18: TestServer) -> Iterator[str]:
    """A fresh, empty database on PostgreSQL 18 to migrate into."""
    yield from _fresh(pg18, "dst")


@pytest.fixture
def pg16_source_url(pg16: TestServer) -> Iterator[str]:
    yield from _fresh(pg16, "src16")


@pytest.fixture
def pg15_source_url(pg15: TestServer) -> Iterator[str]:
    yield from _fresh(pg15, "src15")


def run_sql(url: str, statements: str) -> None:
    """Run a script of statements (test setup only; never used by pghaul itself)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statements)  # type: ignore[arg-type]
