"""Sequence positions: the target must stand exactly where the source stood when read."""

from __future__ import annotations

import psycopg
from psycopg import sql

from pghaul.inspect.model import Sequence, qualified
from pghaul.verify.report import SequenceCheck, SequencePosition


def read_position(conn: psycopg.Connection, sequence: Sequence) -> SequencePosition:
    # Reading the sequence relation itself works on every supported version and does not advance it.
    row = conn.execute(
        sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(sequence.schema, sequence.name))
    ).fetchone()
    assert row is not None
    return SequencePosition(int(row[0]), bool(row[1]))


def check_sequence(
    source: psycopg.Connection, target: psycopg.Connection, sequence: Sequence, on_target: bool
) -> SequenceCheck:
    name = qualified(sequence.schema, sequence.name)
    try:
        source_position = read_position(source, sequence)
    except psycopg.Error as exc:
        return SequenceCheck(name, None, None, error=f"cannot read on the source: {_first_line(exc)}")
    if not on_target:
        return SequenceCheck(name, source_position, None, error="missing on target")
    try:
        target_position = read_position(target, sequence)
    except psycopg.Error as exc:
        return SequenceCheck(name, source_position, None, error=f"cannot read on the target: {_first_line(exc)}")
    return SequenceCheck(name, source_position, target_position)


def _first_line(exc: psycopg.Error) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
