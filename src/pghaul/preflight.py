"""Safety checks that run before anything is written to the target."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from pghaul.errors import SafetyError
from pghaul.inspect import Catalog, server_info
from pghaul.inspect.catalog import build
from pghaul.inspect.model import AvailableExtension, ServerInfo
from pghaul.inspect.queries import fetch
from pghaul.urls import describe_url

# Extensions whose older version on the target cannot hold what the source has: a type added in a later
# version (pgvector's halfvec, sparsevec) does not exist there ("halfvec_in … does not exist").
VERSION_SENSITIVE = frozenset({"vector"})


def _where(conn: psycopg.Connection) -> str:
    return describe_url(conn.info.dsn)  # libpq's dsn never includes the password


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def check_target_is_not_source(src_conn: psycopg.Connection, tgt_conn: psycopg.Connection) -> None:
    """Refuse when both connections reach the same database of the same cluster."""
    source, target = server_info(src_conn), server_info(tgt_conn)
    if _same_database(source, target):
        raise SafetyError(
            f"the target {_where(tgt_conn)} is the source database itself "
            f"(same system identifier {source.system_identifier} and database {source.database!r})",
            "point the target at another database: migrating a database onto itself would destroy it",
        )


def _same_database(source: ServerInfo, target: ServerInfo) -> bool:
    return source.system_identifier == target.system_identifier and source.database == target.database


@dataclass(frozen=True)
class ExtensionCheck:
    name: str
    source_version: str
    target_installed: str | None
    target_available: tuple[str, ...]
    problem: str | None = None  # None when the target can have it

    @property
    def ok(self) -> bool:
        return self.problem is None


def _available(tgt_conn: psycopg.Connection) -> dict[str, AvailableExtension]:
    return {row["name"]: build(AvailableExtension, row) for row in fetch(tgt_conn, "available_extensions")}


def extension_checks(source: Catalog, tgt_conn: psycopg.Connection) -> list[ExtensionCheck]:
    """For each extension the source uses, whether the target has it or can create it."""
    available = _available(tgt_conn)
    checks = []
    for ext in source.extensions.values():
        on_target = available.get(ext.name)
        installed = on_target.installed_version if on_target else None
        versions = on_target.versions if on_target else ()
        problem = None
        if on_target is None:
            problem = f"the target cannot create extension {ext.name} (source has {ext.version}; target offers none)"
        elif ext.name in VERSION_SENSITIVE:
            best = installed or max(versions, key=_version_key, default="")
            if _version_key(best) < _version_key(ext.version):
                state = f"has {installed} installed" if installed else f"offers at most {best}"
                problem = f"the target {state} of extension {ext.name}, older than the source's {ext.version}"
        checks.append(ExtensionCheck(ext.name, ext.version, installed, versions, problem))
    return checks


def check_extensions(source: Catalog, tgt_conn: psycopg.Connection) -> None:
    """Refuse, before anything is written, when the target cannot have an extension the source uses."""
    problems = [c for c in extension_checks(source, tgt_conn) if not c.ok]
    if problems:
        names = ", ".join(c.name for c in problems)
        raise SafetyError(
            f"{_where(tgt_conn)}: " + "; ".join(c.problem or "" for c in problems),
            f"install or upgrade {names} on the target server (as an owner: CREATE EXTENSION / "
            "ALTER EXTENSION … UPDATE, or enable it in your provider's dashboard), then run again",
        )


def preflight_report(src_conn: psycopg.Connection, tgt_conn: psycopg.Connection, source: Catalog) -> dict[str, Any]:
    """Everything the safety checks look at, as JSON-ready data (for the HTTP page); ``ok`` says if it may go on."""
    src_info, tgt_info = server_info(src_conn), server_info(tgt_conn)
    same = _same_database(src_info, tgt_info)
    extensions = extension_checks(source, tgt_conn)
    return {
        "source": {"server": _where(src_conn), **asdict(src_info)},
        "target": {"server": _where(tgt_conn), **asdict(tgt_info)},
        "target_is_source": same,
        "extensions": [{**asdict(c), "target_available": list(c.target_available), "ok": c.ok} for c in extensions],
        "ok": not same and all(c.ok for c in extensions),
    }


def run_preflight(src_conn: psycopg.Connection, tgt_conn: psycopg.Connection, source: Catalog) -> None:
    """Both checks, in the order a user wants to hear about them."""
    check_target_is_not_source(src_conn, tgt_conn)
    check_extensions(source, tgt_conn)
