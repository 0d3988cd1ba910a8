"""The typed catalog: one frozen dataclass per object kind, each keyed by its qualified name.

Two catalogs compare with ``==``; a schema diff is a comparison of the dicts in :class:`Catalog`.
Fields that describe size or statistics rather than definition are excluded from comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pghaul.dump.archive import Archive

QualifiedName = tuple[str, str]


def qualified(schema: str, name: str) -> str:
    """``schema.name`` for messages and JSON; not for SQL (SQL uses psycopg.sql.Identifier)."""
    return f"{schema}.{name}"


@dataclass(frozen=True)
class Extension:
    name: str
    version: str
    schema: str
    # Extensions this one requires (created first).
    requires: tuple[str, ...] = field(default=(), compare=False)

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True)
class AvailableExtension:
    """An extension the server could create (pg_available_extension_versions): a server fact, not a definition."""

    name: str
    default_version: str | None
    versions: tuple[str, ...]
    installed_version: str | None = None


@dataclass(frozen=True)
class Schema:
    name: str

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True)
class Collation:
    """A user-defined collation (CREATE COLLATION); columns and domains may use it."""

    schema: str
    name: str
    provider: str  # c = libc, i = icu, b = builtin (PostgreSQL 17+)
    deterministic: bool
    lc_collate: str | None  # libc
    lc_ctype: str | None  # libc
    locale: str | None  # icu and builtin

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True)
class EnumType:
    schema: str
    name: str
    labels: tuple[str, ...]

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True)
class DomainCheck:
    name: str
    definition: str  # pg_get_constraintdef: "CHECK (VALUE > 0)"
    validated: bool = True


@dataclass(frozen=True)
class Domain:
    schema: str
    name: str
    base_type: str  # format_type of the base type, schema-qualified
    not_null: bool
    default: str | None
    collation: str | None  # qualified collation name when it differs from the base type's
    checks: tuple[DomainCheck, ...]
    # Other user types the base type is (so they are created first).
    depends_on: tuple[QualifiedName, ...] = field(default=(), compare=False)

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True)
class CompositeAttribute:
    name: str
    type: str
    collation: str | None


@dataclass(frozen=True)
class CompositeType:
    schema: str
    name: str
    attributes: tuple[CompositeAttribute, ...]
    # Other user types its attributes use (so they are created first).
    depends_on: tuple[QualifiedName, ...] = field(default=(), compare=False)

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True)
class RangeType:
    schema: str
    name: str
    subtype: str
    subtype_opclass: str | None
    collation: str | None
    canonical: str | None
    subtype_diff: str | None
    multirange_name: str | None

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True)
class Sequence:
    schema: str
    name: str
    data_type: str
    start: int
    increment: int
    min_value: int
    max_value: int
    cache: int
    cycle: bool
    owned_by: tuple[str, str, str] | None  # (schema, table, column)
    # Identity sequences are created by their column's GENERATED … AS IDENTITY clause, not on their own.
    identity: bool = False

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(atttypid, atttypmod), schema-qualified
    not_null: bool
    default: str | None  # pg_get_expr(adbin); None for generated columns (see generation_expression)
    collation: str | None  # qualified name, only when it differs from the type's default
    identity: str = ""  # "" | "a" (ALWAYS) | "d" (BY DEFAULT)
    identity_sequence: tuple[str, str] | None = None  # the implicit sequence, for its options
    generated: str = ""  # "" | "s" (stored) | "v" (virtual, PostgreSQL 18)
    generation_expression: str | None = None
    is_local: bool = True  # False when inherited from a parent and not redeclared
    storage: str | None = None  # only when it differs from the type's default
    statistics_target: int | None = None  # only when set explicitly
    compression: str | None = None  # only when set explicitly
    # PostgreSQL 18 names NOT NULL constraints; kept only when not the automatic "<table>_<column>_not_null".
    not_null_name: str | None = None
    # The schema of the type's comparison operators when not pg_catalog (isbn, citext): keys compare with them.
    operator_schema: str | None = field(default=None, compare=False)

    @property
    def is_generated(self) -> bool:
        return self.generated != ""


@dataclass(frozen=True)
class Constraint:
    """A table constraint: p(rimary key), u(nique), c(heck), x (exclusion), f(oreign key), n(ot null, PG 18)."""

    schema: str
    table: str
    name: str
    type: str
    definition: str  # pg_get_constraintdef, includes DEFERRABLE / NOT VALID
    columns: tuple[str, ...] = ()
    references: QualifiedName | None = None  # for foreign keys
    is_local: bool = True  # False when inherited from a parent (it comes back with the parent's)
    validated: bool = True
    # Constraints that live on a partition because the partitioned parent has them are not created again.
    inherited_from_parent: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.table, self.name)


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    kind: str = "r"  # r = ordinary, p = partitioned, f = foreign (not copied)
    persistence: str = "p"  # p = permanent, u = unlogged
    partition_key: str | None = None  # pg_get_partkeydef, for partitioned tables
    partition_of: QualifiedName | None = None  # parent, for partitions
    partition_bound: str | None = None  # "FOR VALUES …" or "DEFAULT"
    inherits: tuple[QualifiedName, ...] = ()  # parents, for classic inheritance
    options: tuple[str, ...] = ()  # reloptions, e.g. "fillfactor=70"
    access_method: str | None = None  # only when not heap
    rls_enabled: bool = False
    rls_forced: bool = False
    replica_identity: str = "d"
    primary_key: tuple[str, ...] = ()
    primary_key_name: str | None = None
    # Not part of the definition: how big it is right now.
    rows_estimated: int = field(default=0, compare=False)
    size_bytes: int = field(default=0, compare=False)

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)

    @property
    def display_name(self) -> str:
        return qualified(self.schema, self.name)

    @property
    def is_partitioned(self) -> bool:
        return self.kind == "p"

    @property
    def is_partition(self) -> bool:
        return self.partition_of is not None

    @property
    def copy_columns(self) -> tuple[Column, ...]:
        """Columns whose values are copied: generated columns are computed by the target instead."""
        return tuple(c for c in self.columns if not c.is_generated)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class Index:
    """An index that is not the implementation of a constraint (those come with their constraint)."""

    schema: str
    name: str
    table_schema: str
    table: str
    definition: str  # pg_get_indexdef: "CREATE INDEX … USING hnsw (embedding vector_cosine_ops) WITH (…)"
    method: str  # btree, gin, gist, hnsw, ivfflat, …
    is_unique: bool = False
    # Index on a partition attached to an index on the partitioned parent: created by the parent's.
    parent_index: QualifiedName | None = None
    tablespace: str | None = None

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)

    @property
    def is_vector(self) -> bool:
        return self.method in ("hnsw", "ivfflat")


@dataclass(frozen=True)
class View:
    schema: str
    name: str
    definition: str  # pg_get_viewdef
    options: tuple[str, ...] = ()  # security_barrier, check_option, security_invoker
    columns: tuple[str, ...] = ()
    depends_on: tuple[QualifiedName, ...] = field(default=(), compare=False)

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True)
class MaterializedView:
    schema: str
    name: str
    definition: str
    populated: bool
    options: tuple[str, ...] = ()
    access_method: str | None = None
    depends_on: tuple[QualifiedName, ...] = field(default=(), compare=False)

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True)
class Function:
    schema: str
    name: str
    identity_arguments: str  # pg_get_function_identity_arguments
    kind: str  # f = function, p = procedure, a = aggregate, w = window
    definition: str  # pg_get_functiondef (CREATE OR REPLACE …)
    language: str = "sql"
    # Functions whose signature uses a table's row type must wait for that table.
    depends_on_tables: tuple[QualifiedName, ...] = field(default=(), compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.name, self.identity_arguments)


@dataclass(frozen=True)
class Trigger:
    schema: str
    table: str
    name: str
    definition: str  # pg_get_triggerdef
    enabled: str = "O"  # O = origin (default), D = disabled, R = replica, A = always

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.table, self.name)


@dataclass(frozen=True)
class Policy:
    schema: str
    table: str
    name: str
    permissive: bool
    command: str  # ALL, SELECT, INSERT, UPDATE, DELETE
    roles: tuple[str, ...]
    using: str | None
    with_check: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.table, self.name)


@dataclass(frozen=True)
class Comment:
    """COMMENT ON <object_type> <object>: tables, columns, views, types, functions, indexes, …"""

    object_type: str  # TABLE, COLUMN, VIEW, MATERIALIZED VIEW, INDEX, SEQUENCE, TYPE, DOMAIN, FUNCTION, SCHEMA, …
    schema: str
    name: str  # object name; for a column the table's name
    sub_name: str = ""  # the column, or a function's identity arguments
    text: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.object_type, self.schema, self.name, self.sub_name)


@dataclass(frozen=True)
class ServerInfo:
    version_num: int  # server_version_num, e.g. 180006
    version: str  # server_version, e.g. "18.6"
    system_identifier: str
    database: str
    encoding: str = "UTF8"


@dataclass
class Catalog:
    """Everything inspection found in one database, each kind a dict keyed by qualified name."""

    server: ServerInfo
    extensions: dict[str, Extension] = field(default_factory=dict)
    schemas: dict[str, Schema] = field(default_factory=dict)
    collations: dict[QualifiedName, Collation] = field(default_factory=dict)
    enums: dict[QualifiedName, EnumType] = field(default_factory=dict)
    domains: dict[QualifiedName, Domain] = field(default_factory=dict)
    composites: dict[QualifiedName, CompositeType] = field(default_factory=dict)
    ranges: dict[QualifiedName, RangeType] = field(default_factory=dict)
    sequences: dict[QualifiedName, Sequence] = field(default_factory=dict)
    tables: dict[QualifiedName, Table] = field(default_factory=dict)
    constraints: dict[tuple[str, str, str], Constraint] = field(default_factory=dict)
    indexes: dict[QualifiedName, Index] = field(default_factory=dict)
    views: dict[QualifiedName, View] = field(default_factory=dict)
    materialized_views: dict[QualifiedName, MaterializedView] = field(default_factory=dict)
    functions: dict[tuple[str, str, str], Function] = field(default_factory=dict)
    triggers: dict[tuple[str, str, str], Trigger] = field(default_factory=dict)
    policies: dict[tuple[str, str, str], Policy] = field(default_factory=dict)
    comments: dict[tuple[str, str, str, str], Comment] = field(default_factory=dict)
    # What the server could install, for planning CREATE EXTENSION and for the safety checks.
    available_extensions: dict[str, AvailableExtension] = field(default_factory=dict)
    # Subscriptions of this database, by name: not copied (the plan says so).
    subscriptions: tuple[str, ...] = ()
    # pg_dump's archive of the same database: every object's statement, kind and dependencies.
    dump: Archive | None = None
    # On a target: what pghaul created there (pghaul.created_objects), by pg_dump's kind, schema and name.
    created: dict[tuple[str, str, str], tuple[str, str | None]] = field(default_factory=dict)

    KINDS = (
        "extensions",
        "schemas",
        "collations",
        "enums",
        "domains",
        "composites",
        "ranges",
        "sequences",
        "tables",
        "constraints",
        "indexes",
        "views",
        "materialized_views",
        "functions",
        "triggers",
        "policies",
        "comments",
    )

    def objects(self, kind: str) -> dict[Any, Any]:
        return getattr(self, kind)

    def definitions(self) -> dict[str, dict[Any, Any]]:
        """Every kind's dict, for comparing two catalogs without their server facts."""
        return {kind: self.objects(kind) for kind in self.KINDS}

    def copyable_tables(self) -> list[Table]:
        """Tables that hold their own rows: partitioned parents hold none (their partitions do)."""
        return [t for t in self.tables.values() if t.kind == "r"]
