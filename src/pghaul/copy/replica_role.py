"""Data-only copies into a schema that already has its foreign keys and triggers.

A full migration adds foreign keys and triggers after the data. A data-only run writes into the target's
finished schema instead, in no particular table order, so its sessions run with ``session_replication_role =
replica``: foreign keys (internal triggers) are not checked and ordinary triggers do not fire, as when a
replication subscriber applies rows. The rows come from a source that enforced those keys when it wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from pghaul.errors import SafetyError
from pghaul.inspect.model import Catalog, QualifiedName, Table

SET_REPLICA_ROLE = sql.SQL("SET session_replication_role = replica")


@dataclass(frozen=True)
class ReplicaRoleNeed:
    """What on the target would act on the copied rows: foreign keys and enabled user triggers."""

    foreign_keys: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    # ENABLE ALWAYS / ENABLE REPLICA triggers fire in replica mode too: the user asked for that explicitly.
    still_firing: tuple[str, ...] = field(default=())

    @property
    def needed(self) -> bool:
        return bool(self.foreign_keys or self.triggers)


def _with_ancestors(catalog: Catalog, keys: set[QualifiedName]) -> set[QualifiedName]:
    """A partition or child table is bound by its parents' foreign keys and triggers too."""
    out = set(keys)
    todo = list(keys)
    while todo:
        table = catalog.tables.get(todo.pop())
        if table is None:
            continue
        parents = ([table.partition_of] if table.partition_of else []) + list(table.inherits)
        for parent in parents:
            if parent not in out:
                out.add(parent)
                todo.append(parent)
    return out


def replica_role_need(target: Catalog, tables: list[Table]) -> ReplicaRoleNeed:
    """Foreign keys touching the copied tables (either end: a table without a key is emptied and refilled)
    and enabled user triggers on them, as the target's catalog has them."""
    related = _with_ancestors(target, {t.key for t in tables})
    foreign_keys = sorted(
        f"{c.schema}.{c.table}.{c.name}"
        for c in target.constraints.values()
        if c.type == "f" and ((c.schema, c.table) in related or c.references in related)
    )
    triggers = [t for t in target.triggers.values() if (t.schema, t.table) in related and t.enabled != "D"]
    return ReplicaRoleNeed(
        tuple(foreign_keys),
        tuple(sorted(f"{t.schema}.{t.table}.{t.name}" for t in triggers)),
        tuple(sorted(f"{t.schema}.{t.table}.{t.name}" for t in triggers if t.enabled in ("A", "R"))),
    )


def check_replica_role_allowed(tgt: psycopg.Connection) -> None:
    """Refuse, before any row is written, when this role may not set session_replication_role.

    Trying it (in a transaction that is rolled back) answers for superusers, ``GRANT SET ON PARAMETER`` (15+)
    and providers' own arrangements alike.
    """
    try:
        with tgt.transaction(force_rollback=True):
            tgt.execute("SET LOCAL session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege as exc:
        user = tgt.info.user
        raise SafetyError(
            f"the target's tables have foreign keys or triggers, and role {user!r} may not set "
            f"session_replication_role, which --data-only needs to copy rows into them ({exc.diag.message_primary})",
            "run a full migration without --data-only, which builds foreign keys and triggers after the data, "
            f"or ask for permission to set session_replication_role (GRANT SET ON PARAMETER session_replication_role "
            f"TO {user}, PostgreSQL 15+)",
        ) from exc
