"""The preflight stage: every check that can refuse a run, none of which writes (the rehearsal included).

Run before pghaul writes its own state, and again, without a second rehearsal, once the run holds the lock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from pghaul.copy.large_objects import refuse_foreign_objects
from pghaul.copy.replica_role import ReplicaRoleNeed, check_replica_role_allowed, replica_role_need
from pghaul.copy.row_security import check_rls_readable
from pghaul.copy.state import load_ranges, state_exists
from pghaul.copy.table_data import check_key_on_target, filled_by_pghaul, refuse_rows_not_from_pghaul, target_has_rows
from pghaul.engine.options import MigrateOptions
from pghaul.engine.rehearsal import rehearse_plan
from pghaul.errors import PghaulError, SafetyError, SchemaConflict, UsageError
from pghaul.inspect import Catalog, inspect_catalog, server_info
from pghaul.inspect.catalog import build
from pghaul.inspect.model import AvailableExtension, ServerInfo, Table
from pghaul.inspect.queries import fetch
from pghaul.plan import Plan, build_plan
from pghaul.roles import check_roles_exist, roles_needed
from pghaul.urls import describe_url
from pghaul.versions import version_key

# Extensions whose older version on the target cannot hold what the source has: a type added in a later
# version (pgvector's halfvec, sparsevec) does not exist there ("halfvec_in … does not exist").
VERSION_SENSITIVE = frozenset({"vector"})


def _where(conn: psycopg.Connection) -> str:
    return describe_url(conn.info.dsn)  # libpq's dsn never includes the password


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
class ExtensionFit:
    """Whether the target can have an extension the source uses (verify's ``ExtensionCheck`` compares what both
    servers have installed once the run is done)."""

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


def extension_checks(source: Catalog, tgt_conn: psycopg.Connection) -> list[ExtensionFit]:
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
            best = installed or max(versions, key=version_key, default="")
            if version_key(best) < version_key(ext.version):
                state = f"has {installed} installed" if installed else f"offers at most {best}"
                problem = f"the target {state} of extension {ext.name}, older than the source's {ext.version}"
        checks.append(ExtensionFit(ext.name, ext.version, installed, versions, problem))
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


# --- the checks of a run -----------------------------------------------------------------------------------------


def raise_conflicts(plan: Plan) -> None:
    if plan.conflicts:
        names = [f"{s.kind} {s.name}" for s in plan.conflicts]
        raise SchemaConflict(
            f"{len(names)} object(s) exist on the target with another definition: " + ", ".join(names[:10])
            + (" …" if len(names) > 10 else ""),
            "drop or rename them on the target (or leave their tables out with --exclude); pghaul never overwrites",
            names,
        )


def _require_target_tables(tables: list[Table], target_catalog: Catalog) -> None:
    missing = [t.display_name for t in tables if t.key not in target_catalog.tables]
    if missing:
        raise UsageError(
            f"{len(missing)} table(s) do not exist on the target: " + ", ".join(missing[:10])
            + (" …" if len(missing) > 10 else ""),
            "run without --data-only so pghaul creates the schema first",
        )


def _require_keys_where_rows_are(tgt: psycopg.Connection, tables: list[Table], target_catalog: Catalog) -> None:
    """Rows already in a target table that lacks the source's key could not be told from the copied ones; an
    empty one is safe (each chunk commits with its checkpoint), and so is one pghaul has begun filling."""
    with_state = state_exists(tgt)
    for table in tables:
        target_table = target_catalog.tables[table.key]
        if not table.primary_key or target_table.primary_key == table.primary_key:
            continue
        if target_has_rows(tgt, target_table) and not (with_state and load_ranges(tgt, table)):
            check_key_on_target(table, target_table)


def _refuse_keyless_rows_not_from_pghaul(
    tgt: psycopg.Connection, tables: list[Table], target_catalog: Catalog
) -> None:
    """A keyless table is copied whole: rows already on the target that pghaul's checkpoints do not account for
    would have to be deleted (or doubled). Refused before anything is written; pghaul's own finished copy is
    simply skipped."""
    for table in tables:
        target_table = target_catalog.tables.get(table.key)
        if table.primary_key or target_table is None:
            continue
        if target_has_rows(tgt, target_table) and not filled_by_pghaul(tgt, table):
            refuse_rows_not_from_pghaul(table)


@dataclass(frozen=True)
class Checked:
    """What the safety checks looked at, all of them passed."""

    target_catalog: Catalog
    plan: Plan
    replica: ReplicaRoleNeed


def check_before_writing(
    src: psycopg.Connection,
    tgt: psycopg.Connection,
    source_catalog: Catalog,
    options: MigrateOptions,
    rehearse: bool = True,
) -> Checked:
    """Every check that can refuse the run, none of which writes: extensions fit, no conflicting objects (data-only
    copies into them as they are), roles, row-level security, large objects, the rehearsal of every step, and for
    data-only the tables exist and their foreign keys and triggers can be held off. Run before pghaul writes its
    state, and again (without a second rehearsal) once it holds the migration lock."""
    target_catalog = inspect_catalog(tgt)
    plan = build_plan(source_catalog, target_catalog, options.run_plan_options)
    check_extensions(source_catalog, tgt)
    copy_tables = [t for t in plan.tables if t.kind == "r"]
    if not options.schema_only:
        refuse_foreign_objects(src, tgt)
        check_rls_readable(src, copy_tables)
        _refuse_keyless_rows_not_from_pghaul(tgt, copy_tables, target_catalog)
    if not options.data_only:
        raise_conflicts(plan)
        check_roles_exist(tgt, roles_needed(src, source_catalog, plan, options.plan_options))
        if rehearse:
            rehearse_plan(tgt, plan, target_catalog)
        return Checked(target_catalog, plan, ReplicaRoleNeed())
    _require_target_tables(copy_tables, target_catalog)
    _require_keys_where_rows_are(tgt, copy_tables, target_catalog)
    replica = replica_role_need(target_catalog, copy_tables)
    if replica.needed:
        check_replica_role_allowed(tgt)
    return Checked(target_catalog, plan, replica)


def refusal_before_writing(
    src: psycopg.Connection, tgt: psycopg.Connection, source_catalog: Catalog, options: MigrateOptions
) -> PghaulError | None:
    """What would stop ``migrate`` before its first write (the same checks, the rehearsal included), or None.
    Writes nothing: for a preflight page that lists problems before anyone presses start."""
    try:
        check_target_is_not_source(src, tgt)
        check_before_writing(src, tgt, source_catalog, options)
    except PghaulError as exc:
        return exc
    return None
