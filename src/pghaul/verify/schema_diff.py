"""The schema diff: both inspected catalogs compared kind by kind, and extension versions side by side."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from pghaul.inspect.model import Catalog, Table
from pghaul.verify.report import ExtensionCheck, SchemaDifference
from pghaul.versions import version_key

# Extensions are compared by ExtensionCheck, where a newer version on the target is not a failure; functions
# by their pg_dump statements (pghaul.verify.dump_diff), named by argument types alone as pg_dump names them,
# since argument names print with or without quotes by server version.
_COMPARED_ELSEWHERE = ("extensions", "functions")

# PostgreSQL 18 records NOT NULL as constraints of type "n"; older servers only flag the column, which
# Column.not_null compares already. Across that boundary the "n" constraints are not a difference.
_NOT_NULL_CONSTRAINTS_FROM = 180000

TableFilter = Callable[[str, str], bool]


def _keep_all(_schema: str, _table: str) -> bool:
    return True


def object_name(kind: str, key: Any) -> str:
    if kind == "functions":
        schema, name, arguments = key
        return f"{schema}.{name}({arguments})"
    if kind == "comments":
        object_type, *parts = key
        return f"{object_type} " + ".".join(p for p in parts if p)
    if isinstance(key, tuple):
        return ".".join(str(p) for p in key)
    return str(key)


def _tables_of(kind: str, obj: Any) -> tuple[tuple[str, str], ...] | None:
    """The tables an object belongs to or is built on; None for objects that stand on their own."""
    if kind == "tables":
        return ((obj.schema, obj.name),)
    if kind == "indexes":
        return ((obj.table_schema, obj.table),)
    if kind in ("constraints", "triggers", "policies"):
        return ((obj.schema, obj.table),)
    if kind == "sequences" and obj.owned_by is not None:
        return ((obj.owned_by[0], obj.owned_by[1]),)
    if kind in ("views", "materialized_views"):
        return tuple(obj.depends_on)
    if kind == "comments" and obj.object_type in ("TABLE", "COLUMN"):
        return ((obj.schema, obj.name),)
    return None


def _differing_fields(a: Any, b: Any) -> tuple[str, ...]:
    out: list[str] = []
    for f in fields(a):
        if not f.compare or getattr(a, f.name) == getattr(b, f.name):
            continue
        if isinstance(a, Table) and f.name == "columns":
            out.extend(f"column {c}" for c in _differing_columns(a, b))
        else:
            out.append(f.name)
    return tuple(out)


def _differing_columns(a: Table, b: Table) -> list[str]:
    left = {c.name: c for c in a.columns}
    right = {c.name: c for c in b.columns}
    names = [c.name for c in a.columns] + [n for n in right if n not in left]
    changed = [n for n in names if left.get(n) != right.get(n)]
    # Same columns in another order is a difference too (COPY column lists are positional in places).
    return changed or ["order"]


def diff_schemas(
    source: Catalog, target: Catalog, keep: TableFilter = _keep_all, subset: bool = False
) -> list[SchemaDifference]:
    """Every difference between the catalogs; with ``subset`` (a run limited to some tables) only the objects
    of the kept tables: their own indexes, constraints, sequences, views built on them alone, comments."""
    skip_not_null = min(source.server.version_num, target.server.version_num) < _NOT_NULL_CONSTRAINTS_FROM
    theirs_by_kind = target.definitions()
    out: list[SchemaDifference] = []
    for kind, ours in source.definitions().items():
        if kind in _COMPARED_ELSEWHERE:
            continue
        theirs = theirs_by_kind[kind]

        def wanted(obj: Any, kind: str = kind) -> bool:
            if kind == "constraints" and skip_not_null and obj.type == "n":
                return False
            if kind == "constraints" and obj.type == "f" and obj.inherited_from_parent:
                return False  # a partition's clone of its parent's foreign key: the server names it, by version
            tables = _tables_of(kind, obj)
            if tables is None:
                return not subset
            return all(keep(*t) for t in tables)

        if kind == "tables" and skip_not_null:
            ours, theirs = _without_not_null_names(ours), _without_not_null_names(theirs)
        for key, obj in ours.items():
            if not wanted(obj):
                continue
            other = theirs.get(key)
            if other is None:
                out.append(SchemaDifference(kind, object_name(kind, key), "missing on target"))
            elif other != obj:
                out.append(SchemaDifference(kind, object_name(kind, key), "differs", _differing_fields(obj, other)))
        for key, obj in theirs.items():
            if key not in ours and wanted(obj):
                out.append(SchemaDifference(kind, object_name(kind, key), "extra on target"))
    return out


def _without_not_null_names(tables: dict[Any, Table]) -> dict[Any, Table]:
    """Tables as a server before 18 describes them: NOT NULL has no name there."""
    return {
        key: dataclasses.replace(t, columns=tuple(dataclasses.replace(c, not_null_name=None) for c in t.columns))
        for key, t in tables.items()
    }


def compare_extensions(source: Catalog, target: Catalog) -> list[ExtensionCheck]:
    out: list[ExtensionCheck] = []
    for name, ext in sorted(source.extensions.items()):
        other = target.extensions.get(name)
        if other is None:
            status = "missing on target"
        elif other.version == ext.version:
            status = "same"
        elif version_key(other.version) > version_key(ext.version):
            status = "newer on target"
        else:
            status = "older on target"
        out.append(ExtensionCheck(name, ext.version, other.version if other else None, status))
    for name, other in sorted(target.extensions.items()):
        if name not in source.extensions:
            out.append(ExtensionCheck(name, None, other.version, "only on target"))
    return out
