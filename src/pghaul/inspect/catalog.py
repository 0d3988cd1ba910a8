"""Reading a live database's catalog into the typed model of :mod:`pghaul.inspect.model`."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from contextlib import nullcontext
from typing import Any, TypeVar

import psycopg

from pghaul import created_objects
from pghaul.dump.pg_dump import dump_schema_of
from pghaul.inspect.model import (
    AvailableExtension,
    Catalog,
    Collation,
    Column,
    Comment,
    CompositeAttribute,
    CompositeType,
    Constraint,
    Domain,
    DomainCheck,
    EnumType,
    Extension,
    Function,
    Index,
    MaterializedView,
    Policy,
    RangeType,
    Schema,
    Sequence,
    ServerInfo,
    Table,
    Trigger,
    View,
)
from pghaul.inspect.queries import fetch

T = TypeVar("T")

_PG17 = 170000

# PostgreSQL's identifiers are truncated to 63 bytes (NAMEDATALEN - 1).
_MAX_IDENTIFIER_BYTES = 63


def _frozen(value: Any) -> Any:
    """Arrays come back as lists; the frozen model needs tuples (nested ones too) to stay hashable."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def build(cls: type[T], row: dict[str, Any], **overrides: Any) -> T:
    """A model object from a row whose columns are aliased to the model's field names (extra columns ignored)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: _frozen(v) for k, v in row.items() if k in names}
    values.update(overrides)
    return cls(**values)


def server_info(conn: psycopg.Connection) -> ServerInfo:
    """Version, system identifier and database name of the server ``conn`` talks to."""
    rows = fetch(conn, "server")
    return build(ServerInfo, rows[0])


def _is_automatic_not_null_name(name: str, table: str, column: str) -> bool:
    automatic = f"{table}_{column}_not_null"
    if len(automatic.encode()) <= _MAX_IDENTIFIER_BYTES:
        return name == automatic
    # Long names are shortened (and maybe numbered) by PostgreSQL; do not try to replay its truncation rule.
    return name.endswith("_not_null")


def _columns(conn: psycopg.Connection) -> dict[tuple[str, str], list[Column]]:
    columns: dict[tuple[str, str], list[Column]] = defaultdict(list)
    for row in fetch(conn, "columns"):
        table = (row["table_schema"], row["table_name"])
        name = row["not_null_name"]
        if name is not None and _is_automatic_not_null_name(name, row["table_name"], row["name"]):
            row["not_null_name"] = None
        columns[table].append(build(Column, row))
    return columns


def inspect_tables(conn: psycopg.Connection) -> dict[tuple[str, str], Table]:
    """Only the tables (with columns, primary key and size): what listing and copying need, quicker than all."""
    columns = _columns(conn)
    tables = {}
    for row in fetch(conn, "tables"):
        table = build(Table, row, columns=tuple(columns.get((row["schema"], row["name"]), ())))
        tables[table.key] = table
    return tables


def _domains(conn: psycopg.Connection) -> dict[tuple[str, str], Domain]:
    out = {}
    for row in fetch(conn, "domains"):
        checks = tuple(DomainCheck(**c) for c in row["checks"])
        domain = build(Domain, row, checks=checks)
        out[domain.key] = domain
    return out


def _composites(conn: psycopg.Connection) -> dict[tuple[str, str], CompositeType]:
    out = {}
    for row in fetch(conn, "composites"):
        attributes = tuple(CompositeAttribute(**a) for a in row["attributes"])
        composite = build(CompositeType, row, attributes=attributes)
        out[composite.key] = composite
    return out


def _keyed(conn: psycopg.Connection, query: str, cls: type[Any]) -> dict[Any, Any]:
    objects = (build(cls, row) for row in fetch(conn, query))
    return {o.key: o for o in objects}


def inspect_catalog(conn: psycopg.Connection, with_dump: bool = True) -> Catalog:
    """Everything user-defined in the database ``conn`` is connected to.

    Skips the system schemas, pghaul's own state schema and every object that belongs to an extension.
    Run it on a session with an empty search_path (as :mod:`pghaul.connect` opens them) so every name
    in the catalog's own DDL output comes out schema-qualified. Reads in one snapshot, so the kinds agree.
    """
    with conn.transaction() if conn.autocommit else nullcontext():
        if conn.autocommit:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        catalog = Catalog(server=server_info(conn))
        catalog.extensions = _keyed(conn, "extensions", Extension)
        catalog.schemas = _keyed(conn, "schemas", Schema)
        # pg_collation's locale column was renamed in PostgreSQL 17: one query file per layout.
        collations = "collations" if catalog.server.version_num >= _PG17 else "collations_pg16"
        catalog.collations = _keyed(conn, collations, Collation)
        catalog.enums = _keyed(conn, "enums", EnumType)
        catalog.domains = _domains(conn)
        catalog.composites = _composites(conn)
        catalog.ranges = _keyed(conn, "ranges", RangeType)
        catalog.sequences = _keyed(conn, "sequences", Sequence)
        catalog.tables = inspect_tables(conn)
        catalog.constraints = _keyed(conn, "constraints", Constraint)
        catalog.indexes = _keyed(conn, "indexes", Index)
        catalog.views = _keyed(conn, "views", View)
        catalog.materialized_views = _keyed(conn, "materialized_views", MaterializedView)
        catalog.functions = _keyed(conn, "functions", Function)
        catalog.triggers = _keyed(conn, "triggers", Trigger)
        catalog.policies = _keyed(conn, "policies", Policy)
        catalog.comments = _keyed(conn, "comments", Comment)
        catalog.subscriptions = tuple(row["name"] for row in fetch(conn, "subscriptions"))
        catalog.created = created_objects.load(conn)
        catalog.available_extensions = {
            row["name"]: build(AvailableExtension, row) for row in fetch(conn, "available_extensions")
        }
    if with_dump:  # a pg_dump run: what planning and the schema diff need, not what copying rows needs
        catalog.dump = dump_schema_of(conn)
    return catalog
