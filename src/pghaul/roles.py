"""The roles a run needs on the target: those its policies name, and with ``--owners`` / ``--privileges`` the
owners and the roles named by grants. Roles belong to a server, not a database, so pghaul never creates them:
preflight lists the missing ones before anything is written."""

from __future__ import annotations

import psycopg

from pghaul.errors import SafetyError
from pghaul.inspect.model import Catalog
from pghaul.inspect.queries import fetch
from pghaul.plan import Plan, PlanOptions
from pghaul.plan.entries import is_step


def roles_needed(
    src: psycopg.Connection, source: Catalog, plan: Plan, options: PlanOptions
) -> dict[str, list[str]]:
    """Each role the run needs, with why."""
    tables = {t.key for t in plan.tables}
    needed: dict[str, list[str]] = {}

    def need(role: str, why: str) -> None:
        reasons = needed.setdefault(role, [])
        if why not in reasons:
            reasons.append(why)

    for policy in source.policies.values():
        if (policy.schema, policy.table) in tables:
            for role in policy.roles:
                if role != "public":
                    need(role, f"named by policy {policy.name} on {policy.schema}.{policy.table}")
    if options.owners and source.dump is not None:
        for entry in source.dump.entries:
            if entry.owner and is_step(entry, options.privileges, owners=True):
                need(entry.owner, "owns objects (--owners)")
    if options.privileges:
        for row in fetch(src, "acl_roles"):
            need(row["name"], "named by grants (--privileges)")
    return needed


def check_roles_exist(tgt: psycopg.Connection, needed: dict[str, list[str]]) -> None:
    if not needed:
        return
    rows = tgt.execute("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)", [list(needed)]).fetchall()
    missing = sorted(set(needed) - {r[0] for r in rows})
    if missing:
        raise SafetyError(
            f"{len(missing)} role(s) the run needs do not exist on the target: "
            + "; ".join(f"{name} ({', '.join(needed[name])})" for name in missing),
            "create them on the target server first (CREATE ROLE …, or in your provider's dashboard), or run "
            "without --owners / --privileges; nothing was written",
        )
