"""Whether follow is possible, and every reason it is not, each with what to do: read before anything is written.

Follow needs more than reading the source (``follow/connections.py``): a logical replication slot and a
publication there, a subscription on the target, and the target's server reaching the source's over the network.
Everything below is a pure read of both catalogs, except the reachability probe (``follow/probe.py``), which the
catalogs cannot answer: it asks the target's server to connect, inside a transaction that is always rolled back.

Blockers make follow impossible; the caller then migrates without it and catches up with ``pghaul sync``, showing
the reasons. Caveats hold whenever follow runs: what logical replication does not carry, and how pghaul makes up
for it at cutover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row

from pghaul.errors import SafetyError
from pghaul.follow.connections import has_password
from pghaul.follow.names import FollowNames
from pghaul.inspect.model import Table

if TYPE_CHECKING:
    from pghaul.engine.options import MigrateOptions


class FollowBlocker(StrEnum):
    """A reason follow is not possible."""

    WAL_LEVEL = "wal-level"  # the source does not write logical WAL
    SOURCE_IS_STANDBY = "source-is-standby"  # a read replica cannot hold a publication
    REPLICATION_PRIVILEGE = "replication-privilege"  # the source role may not open a replication connection
    CREATE_ON_SOURCE = "create-on-source"  # CREATE PUBLICATION needs CREATE on the source database
    TABLE_OWNERSHIP = "table-ownership"  # publishing a table needs its ownership
    SUBSCRIPTION_PRIVILEGE = "subscription-privilege"  # CREATE SUBSCRIPTION on the target
    CREATE_ON_TARGET = "create-on-target"  # CREATE SUBSCRIPTION needs CREATE on the target database (16+)
    SUBSCRIPTION_PASSWORD = "subscription-password"  # a non-superuser's subscription must use a password
    REPLICATION_SLOTS = "replication-slots"  # max_replication_slots used up on the source
    WAL_SENDERS = "wal-senders"  # max_wal_senders used up on the source
    APPLY_WORKERS = "apply-workers"  # the target has no room for another subscription
    REPLICA_IDENTITY = "replica-identity"  # UPDATE/DELETE on the source would fail once the table is published
    UNLOGGED_TABLES = "unlogged-tables"  # not written to the WAL: never replicated
    SOURCE_UNREACHABLE = "source-unreachable"  # the target's server could not connect to the source


class FollowCaveat(StrEnum):
    """What logical replication does not carry while follow runs, and how pghaul makes up for it."""

    DDL = "ddl"
    SEQUENCES = "sequences"
    LARGE_OBJECTS = "large-objects"
    WAL_LIMIT = "wal-limit"  # max_slot_wal_keep_size may invalidate the slot if the target falls far behind


@dataclass(frozen=True)
class FollowReason:
    code: FollowBlocker | FollowCaveat
    message: str
    hint: str
    objects: tuple[str, ...] = ()  # the tables (or roles) concerned, when there are some

    def to_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, "hint": self.hint, "objects": list(self.objects)}


@dataclass(frozen=True)
class FollowPreflight:
    name: str  # the slot, publication and subscription follow uses (``follow/names.py``)
    blockers: tuple[FollowReason, ...]
    caveats: tuple[FollowReason, ...]
    probed: bool  # whether the target's server was asked to reach the source (not when a blocker stood first)

    @property
    def possible(self) -> bool:
        return not self.blockers

    def to_dict(self) -> dict[str, Any]:
        return {"possible": self.possible, "name": self.name, "probed": self.probed,
                "blockers": [b.to_dict() for b in self.blockers], "caveats": [c.to_dict() for c in self.caveats]}

    def error(self) -> FollowNotPossible:
        return FollowNotPossible(self)


FALLBACK = "without follow, migrate copies as of one snapshot and `pghaul sync` then catches up (no replication)"


class FollowNotPossible(SafetyError):
    """``migrate`` with follow refused before writing anything: ``preflight`` lists every reason."""

    def __init__(self, preflight: FollowPreflight) -> None:
        reasons = "; ".join(b.message for b in preflight.blockers)
        hints = "; ".join(dict.fromkeys(b.hint for b in preflight.blockers))
        super().__init__(f"follow is not possible: {reasons}", f"{hints}; or {FALLBACK}")
        self.preflight = preflight  # every blocker with its objects, for a shell to list


SOURCE_SQL = """
SELECT pg_catalog.current_setting('wal_level') AS wal_level,
       pg_catalog.pg_is_in_recovery() AS standby,
       r.rolname AS role, r.rolsuper AS superuser,
       r.rolreplication OR EXISTS (SELECT FROM pg_catalog.pg_roles AS g WHERE g.rolname = 'rds_replication'
                                   AND pg_catalog.pg_has_role(r.oid, g.oid, 'MEMBER')) AS replication,
       pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') AS may_create,
       pg_catalog.current_setting('max_replication_slots')::int AS max_slots,
       (SELECT count(*) FROM pg_catalog.pg_replication_slots) AS slots,
       EXISTS (SELECT FROM pg_catalog.pg_replication_slots WHERE slot_name = %(name)s) AS own_slot,
       pg_catalog.current_setting('max_wal_senders')::int AS max_senders,
       (SELECT count(*) FROM pg_catalog.pg_stat_replication) AS senders,
       pg_catalog.current_setting('max_slot_wal_keep_size') AS wal_keep,
       EXISTS (SELECT FROM pg_catalog.pg_largeobject_metadata) AS large_objects
  FROM pg_catalog.pg_roles AS r
 WHERE r.rolname = current_user
"""

# Per selected table: whether PostgreSQL can publish its UPDATEs and DELETEs (a replica identity: the primary key
# by default, a chosen unique index, or FULL), whether it is unlogged, and whether this role owns it (publishing
# a table needs its ownership, or a superuser).
TABLES_SQL = """
SELECT n.nspname AS schema, c.relname AS name, c.relpersistence AS persistence,
       CASE c.relreplident
         WHEN 'f' THEN true
         WHEN 'n' THEN false
         WHEN 'i' THEN EXISTS (SELECT FROM pg_catalog.pg_index AS i WHERE i.indrelid = c.oid AND i.indisreplident)
         ELSE EXISTS (SELECT FROM pg_catalog.pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary)
       END AS identity,
       pg_catalog.pg_has_role(c.relowner, 'USAGE') AS owned
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  JOIN unnest(%(schemas)s::text[], %(names)s::text[]) AS t(schema, name)
    ON t.schema = n.nspname AND t.name = c.relname
 ORDER BY 1, 2
"""

# The target: who may subscribe, and whether there is room for one more subscription (an apply worker, and a
# replication origin: max_active_replication_origins from 18, max_replication_slots before).
TARGET_SQL = """
SELECT r.rolsuper AS superuser,
       pg_catalog.current_setting('server_version_num')::int AS version,
       EXISTS (SELECT FROM pg_catalog.pg_roles AS g WHERE g.rolname = 'pg_create_subscription'
               AND pg_catalog.pg_has_role(r.oid, g.oid, 'USAGE')) AS may_subscribe,
       pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') AS may_create,
       pg_catalog.current_setting('max_logical_replication_workers')::int AS max_workers,
       coalesce(pg_catalog.current_setting('max_active_replication_origins', true),
                pg_catalog.current_setting('max_replication_slots'))::int AS max_origins,
       (SELECT count(s.oid) FROM pg_catalog.pg_subscription AS s) AS subscriptions,
       (SELECT count(s.oid) FROM pg_catalog.pg_subscription AS s WHERE s.subenabled) AS enabled_subscriptions,
       EXISTS (SELECT FROM pg_catalog.pg_subscription AS s WHERE s.subname = %(name)s
               AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()))
         AS own_subscription
  FROM pg_catalog.pg_roles AS r
 WHERE r.rolname = current_user
"""


def _one(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None  # the session's own role always exists
    return row


def _source_reasons(s: dict[str, Any]) -> list[FollowReason]:
    out = []
    if s["wal_level"] != "logical":
        out.append(FollowReason(
            FollowBlocker.WAL_LEVEL, f"the source's wal_level is {s['wal_level']}, not logical",
            "set wal_level = logical on the source and restart it (managed platforms: the logical replication "
            "switch or flag, e.g. rds.logical_replication = 1, cloudsql.logical_decoding = on)"))
    if s["standby"]:
        out.append(FollowReason(
            FollowBlocker.SOURCE_IS_STANDBY, "the source is a standby (read replica): it cannot hold a publication",
            "point the source URL at the primary"))
    if not (s["superuser"] or s["replication"]):
        out.append(FollowReason(
            FollowBlocker.REPLICATION_PRIVILEGE,
            f"the source role {s['role']} has neither the REPLICATION attribute nor superuser",
            f"ALTER ROLE {s['role']} WITH REPLICATION as an administrator (RDS: GRANT rds_replication TO "
            f"{s['role']}), or connect as a role that has it", (s["role"],)))
    if not s["may_create"]:
        out.append(FollowReason(
            FollowBlocker.CREATE_ON_SOURCE,
            f"the source role {s['role']} may not CREATE in the source database (needed for CREATE PUBLICATION)",
            f"GRANT CREATE ON DATABASE <source database> TO {s['role']}, or connect as the database owner",
            (s["role"],)))
    return out


def _capacity_reasons(s: dict[str, Any]) -> list[FollowReason]:
    out = []
    if not s["own_slot"] and s["slots"] >= s["max_slots"]:
        out.append(FollowReason(
            FollowBlocker.REPLICATION_SLOTS,
            f"the source's replication slots are all used ({s['slots']} of max_replication_slots "
            f"{s['max_slots']})",
            "drop a slot nobody uses (SELECT pg_drop_replication_slot(name) on the source), or raise "
            "max_replication_slots and restart the source"))
    if s["senders"] >= s["max_senders"]:
        out.append(FollowReason(
            FollowBlocker.WAL_SENDERS,
            f"the source's WAL senders are all busy ({s['senders']} of max_wal_senders {s['max_senders']})",
            "raise max_wal_senders on the source and restart it, or stop a replication client"))
    return out


def _caveats(s: dict[str, Any], whole_database: bool) -> list[FollowReason]:
    out = [
        FollowReason(FollowCaveat.DDL, "schema changes (DDL) on the source are not replicated",
                     "change no table on the source until the cutover; a change stops replication of that table "
                     "and the cutover's verify names it"),
        FollowReason(FollowCaveat.SEQUENCES, "sequence positions are not replicated",
                     "the cutover sets every sequence from the source once writes are paused"),
    ]
    if whole_database and s["large_objects"]:
        out.append(FollowReason(
            FollowCaveat.LARGE_OBJECTS, "large objects are not replicated",
            "migrate copies them in the copy's snapshot; the cutover brings over what changed since (as sync does)"))
    if s["wal_keep"] not in ("-1", ""):
        out.append(FollowReason(
            FollowCaveat.WAL_LIMIT,
            f"the source keeps at most max_slot_wal_keep_size = {s['wal_keep']} of WAL for a slot",
            "if the target falls further behind (a long copy under heavy writes) the slot is invalidated and "
            "follow must start again: raise the limit for the migration, or watch the lag in the status"))
    return out


def _table_reasons(src: psycopg.Connection, tables: Sequence[Table], role: str) -> list[FollowReason]:
    if not tables:
        return []
    with src.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(TABLES_SQL, {"schemas": [t.schema for t in tables],
                                        "names": [t.name for t in tables]}).fetchall()
    out = []
    unlogged = tuple(f"{r['schema']}.{r['name']}" for r in rows if r["persistence"] == "u")
    no_identity = tuple(f"{r['schema']}.{r['name']}" for r in rows if not r["identity"] and r["persistence"] != "u")
    not_owned = tuple(f"{r['schema']}.{r['name']}" for r in rows if not r["owned"])
    if no_identity:
        out.append(FollowReason(
            FollowBlocker.REPLICA_IDENTITY,
            f"{len(no_identity)} table(s) have no primary key or usable replica identity: once published, every "
            "UPDATE and DELETE on them would fail on the source",
            "give each a primary key, or ALTER TABLE … REPLICA IDENTITY FULL (or USING INDEX a unique index), or "
            "leave them out of the run (--exclude)", no_identity))
    if unlogged:
        out.append(FollowReason(
            FollowBlocker.UNLOGGED_TABLES,
            f"{len(unlogged)} unlogged table(s) are not written to the WAL, so their changes cannot be replicated",
            "leave them out of the run (--exclude), or ALTER TABLE … SET LOGGED", unlogged))
    if not_owned:
        out.append(FollowReason(
            FollowBlocker.TABLE_OWNERSHIP,
            f"the source role {role} does not own {len(not_owned)} table(s): a publication may only name tables "
            "its creator owns",
            "connect as their owner (or a member of the owning role), or a superuser", not_owned))
    return out


def _target_reasons(t: dict[str, Any], role: str, source_url: str) -> list[FollowReason]:
    out = []
    if not t["superuser"] and not t["may_subscribe"]:
        needs = "superuser or membership in pg_create_subscription" if t["version"] >= 160000 else "superuser"
        out.append(FollowReason(
            FollowBlocker.SUBSCRIPTION_PRIVILEGE, f"the target role {role} may not create a subscription: it needs "
            f"{needs}",
            f"GRANT pg_create_subscription TO {role} as an administrator of the target (PostgreSQL 16+), or "
            "connect as a superuser", (role,)))
    elif not t["superuser"] and not t["may_create"]:
        out.append(FollowReason(
            FollowBlocker.CREATE_ON_TARGET,
            f"the target role {role} may not CREATE in the target database (needed for CREATE SUBSCRIPTION)",
            f"GRANT CREATE ON DATABASE <target database> TO {role}", (role,)))
    if not t["superuser"] and not has_password(source_url):
        out.append(FollowReason(
            FollowBlocker.SUBSCRIPTION_PASSWORD,
            "the source URL has no password: a subscription owned by a role that is not a superuser must log in "
            "to the source with one",
            "give the source URL (or the follow source URL) a password, and let the source ask for it"))
    if not t["own_subscription"] and (t["subscriptions"] >= t["max_origins"]
                                      or t["enabled_subscriptions"] >= t["max_workers"]):
        out.append(FollowReason(
            FollowBlocker.APPLY_WORKERS,
            f"the target has no room for another subscription ({t['subscriptions']} subscription(s); "
            f"max_logical_replication_workers {t['max_workers']}, replication origins {t['max_origins']})",
            "drop a subscription nobody uses, or raise max_logical_replication_workers and "
            "max_active_replication_origins (max_replication_slots before PostgreSQL 18) and restart the target"))
    return out


def check_follow(
    src: psycopg.Connection, tgt: psycopg.Connection, tables: Sequence[Table], names: FollowNames,
    subscription_url: str, whole_database: bool,
) -> FollowPreflight:
    """Every reason follow is not possible, from the catalogs of both servers (pure reads), and the caveats.
    ``subscription_url`` is the source as the target's server will reach it; ``tables`` the tables to publish."""
    s = _one(src, SOURCE_SQL, {"name": names.slot})
    t = _one(tgt, TARGET_SQL, {"name": names.subscription})
    target_role = str(tgt.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
    blockers = (_source_reasons(s) + _capacity_reasons(s) + _table_reasons(src, tables, s["role"])
                + _target_reasons(t, target_role, subscription_url))
    return FollowPreflight(names.name, tuple(blockers), tuple(_caveats(s, whole_database)), probed=False)


def follow_preflight(
    source_url: str, target_url: str, options: MigrateOptions, *, probe: bool = True
) -> FollowPreflight:
    """What ``migrate`` with follow would find, for a shell's preflight: every blocker and caveat for the tables
    the run would copy, and (``probe``) whether the target's server reaches the source. Writes nothing to
    either server."""
    from pghaul.connect import connect_source, connect_target
    from pghaul.follow.names import follow_names
    from pghaul.follow.probe import probe_reachability
    from pghaul.inspect import inspect_catalog
    from pghaul.plan import build_plan

    url = options.subscription_url(source_url)
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        plan = build_plan(inspect_catalog(src), inspect_catalog(tgt), options.plan_options)
        names = follow_names(tgt)
        found = check_follow(src, tgt, [t for t in plan.tables if t.kind == "r"], names, url,
                             not (options.include or options.exclude))
        return probe_reachability(found, tgt, url, names) if probe else found
