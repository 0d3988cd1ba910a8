"""What changed in the tables' shape on the source since the target was made, and whether sync may carry it.

Carried: a new table (created and copied the way ``migrate`` does it) and a new column that may hold NULL
(added with its type, collation and default; its values come with the rows). Everything else that makes a
table's rows mean something else on the two sides (a dropped or renamed column, a changed type, a new column
that may not be NULL, a changed primary key) is refused before anything is written: sync would have to guess,
and guessing loses data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from pghaul.copy.keyset import table_ident
from pghaul.errors import SafetyError
from pghaul.inspect.model import Catalog, Column, QualifiedName, Table


@dataclass(frozen=True)
class NewColumn:
    table: Table  # the source's definition
    column: Column

    @property
    def name(self) -> str:
        return f"{self.table.display_name}.{self.column.name}"


@dataclass
class SchemaChanges:
    new_tables: list[Table] = field(default_factory=list)
    new_columns: list[NewColumn] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _column_refusals(source: Table, target: Table) -> list[str]:
    name, out = source.display_name, []
    source_columns = {c.name: c for c in source.columns}
    for column in target.columns:
        if column.name not in source_columns:
            out.append(f"column {name}.{column.name} is on the target but no longer on the source (dropped or renamed)")
        elif source_columns[column.name].type != column.type:
            out.append(f"column {name}.{column.name} changed type: {column.type} on the target, "
                       f"{source_columns[column.name].type} on the source")
        elif source_columns[column.name].is_generated != column.is_generated:
            out.append(f"column {name}.{column.name} is generated on one side only")
    if source.primary_key != target.primary_key:
        out.append(f"table {name} has primary key ({', '.join(source.primary_key) or 'none'}) on the source and "
                   f"({', '.join(target.primary_key) or 'none'}) on the target")
    return out


def _new_column_refusal(table: Table, column: Column) -> str | None:
    where = f"new column {table.display_name}.{column.name}"
    if column.is_generated or column.identity:
        return f"{where} is generated or an identity column: add it on the target yourself, then sync"
    if column.not_null:
        return f"{where} is NOT NULL: sync carries only new columns that may hold NULL"
    return None


def find_changes(source: Catalog, target: Catalog, selected: dict[QualifiedName, Table]) -> SchemaChanges:
    changes = SchemaChanges()
    for key, table in sorted(selected.items()):
        if table.kind not in ("r", "p"):
            continue
        on_target = target.tables.get(key)
        if on_target is None:
            changes.new_tables.append(table)
            continue
        changes.refused.extend(_column_refusals(table, on_target))
        present = {c.name for c in on_target.columns}
        for column in table.columns:
            if column.name in present or (not column.is_local and (table.inherits or table.partition_of)):
                continue  # an inherited column comes with its parent's ALTER
            refusal = _new_column_refusal(table, column)
            if refusal:
                changes.refused.append(refusal)
            else:
                changes.new_columns.append(NewColumn(table, column))
    return changes


def refuse_unsafe(changes: SchemaChanges) -> None:
    if changes.refused:
        more = len(changes.refused) - 20
        shown = changes.refused[:20] + ([f"… and {more} more"] if more > 0 else [])
        raise SafetyError(
            f"the source's tables changed in ways sync does not carry, so nothing was synced: {'; '.join(shown)}",
            "make the same change on the target (or migrate that table again into an empty target), then sync; "
            "or leave those tables out with --exclude",
        )


def add_column(tgt: psycopg.Connection, new: NewColumn) -> None:
    """The column as the source defines it, in one target transaction. The default is set after the column
    exists, so the target's existing rows are not rewritten: their values come from the source with the rows."""
    column, table = new.column, table_ident(new.table)
    collate = sql.SQL(" COLLATE {}").format(sql.SQL(column.collation)) if column.collation else sql.SQL("")
    with tgt.transaction():
        # Types, collations and defaults are the source catalog's own printed definitions (trusted DDL text).
        # Not ONLY: partitions and child tables get the column with their parent, as they did on the source.
        tgt.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}{}").format(
            table, sql.Identifier(column.name), sql.SQL(column.type), collate))  # type: ignore[arg-type]
        if column.default is not None:
            tgt.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                table, sql.Identifier(column.name), sql.SQL(column.default)))  # type: ignore[arg-type]
