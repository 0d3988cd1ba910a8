"""Sequence positions: after the data, every sequence on the target continues where the source's stands.

Serial, identity and standalone sequences alike get the source's ``last_value`` and ``is_called`` through
``setval``, so the application's next insert on the target never collides with a copied row. Sequences are not
transactional, so they are read after the data, never earlier than the snapshot the rows came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from pghaul.inspect.model import Catalog, Sequence


@dataclass(frozen=True)
class SequenceToSet:
    """A source sequence's position, to set on the target (verify's ``SequencePosition`` is only the value)."""

    schema: str
    name: str
    last_value: int
    is_called: bool
    # For a sequence owned by a column (serial, identity): the column, to find the target's own sequence for it.
    owned_by: tuple[str, str, str] | None = None

    @property
    def display_name(self) -> str:
        return f"{self.schema}.{self.name}"


def read_positions(src: psycopg.Connection, sequences: list[Sequence]) -> list[SequenceToSet]:
    positions = []
    for seq in sequences:
        row = src.execute(
            sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(seq.schema, seq.name))
        ).fetchone()
        assert row is not None
        positions.append(SequenceToSet(seq.schema, seq.name, int(row[0]), bool(row[1]), seq.owned_by))
    return positions


def selected_sequences(catalog: Catalog, tables: set[tuple[str, str]] | None = None) -> list[Sequence]:
    """Every sequence, except those owned by a column of a table left out of this run."""
    out = []
    for seq in catalog.sequences.values():
        if tables is not None and seq.owned_by is not None and (seq.owned_by[0], seq.owned_by[1]) not in tables:
            continue
        out.append(seq)
    return sorted(out, key=lambda s: (s.schema, s.name))


def target_sequence(position: SequenceToSet) -> sql.Composable:
    """The sequence on the target: for an owned one, whichever sequence the target's column uses (an identity
    column may have been given another name); otherwise the same qualified name."""
    if position.owned_by is None:
        return sql.Literal(sql.Identifier(position.schema, position.name).as_string())
    schema, table, column = position.owned_by
    return sql.SQL("coalesce(pg_get_serial_sequence({table}, {column}), {own})").format(
        table=sql.Literal(sql.Identifier(schema, table).as_string()),
        column=sql.Literal(column),
        own=sql.Literal(sql.Identifier(position.schema, position.name).as_string()),
    )


def setval_statement(position: SequenceToSet) -> sql.Composed:
    return sql.SQL("SELECT pg_catalog.setval({seq}::regclass, {value}, {called})").format(
        seq=target_sequence(position), value=sql.Literal(position.last_value), called=sql.Literal(position.is_called)
    )


def setval_statements(positions: list[SequenceToSet]) -> list[str]:
    """The statements as text, for the dry-run plan."""
    return [setval_statement(p).as_string() + ";" for p in positions]


def apply_positions(tgt: psycopg.Connection, positions: list[SequenceToSet]) -> int:
    """Set every position in one target transaction; returns how many were set."""
    with tgt.transaction():
        for position in positions:
            tgt.execute(setval_statement(position))
    return len(positions)
