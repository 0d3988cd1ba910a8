"""Sequence positions after a sync: a target sequence is moved forward to the source's, never back.

The app may already have drawn numbers on the target (a rollback rehearsal, a test write); moving its sequence
back would hand those numbers out twice. So each is set only where the source's position lies ahead of the
target's in the sequence's own direction.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from pghaul.copy.sequences import SequenceToSet, setval_statement, target_sequence
from pghaul.inspect.model import Sequence
from pghaul.sync.report import SequenceSync


def _position(last_value: int, is_called: bool, increment: int) -> int:
    """The last number handed out (or, before the first call, the one before the first)."""
    return last_value if is_called else last_value - increment


def _ahead(source: SequenceToSet, target: tuple[int, bool], increment: int) -> bool:
    theirs = _position(source.last_value, source.is_called, increment)
    ours = _position(target[0], target[1], increment)
    return theirs > ours if increment > 0 else theirs < ours


def _target_position(tgt: psycopg.Connection, position: SequenceToSet) -> tuple[int, bool]:
    name = tgt.execute(sql.SQL("SELECT {}::regclass::text").format(target_sequence(position))).fetchone()
    assert name is not None
    # regclass text output is the quoted, qualified name as the server prints it.
    row = tgt.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(name[0]))).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


def advance_sequences(
    tgt: psycopg.Connection, positions: list[SequenceToSet], sequences: dict[tuple[str, str], Sequence]
) -> list[SequenceSync]:
    """Set every target sequence that stands behind its source, in one target transaction."""
    out = []
    with tgt.transaction():
        for position in positions:
            increment = sequences[(position.schema, position.name)].increment
            current = _target_position(tgt, position)
            ahead = _ahead(position, current, increment)
            if ahead:
                tgt.execute(setval_statement(position))
            out.append(SequenceSync(position.display_name, position.last_value, current[0], ahead))
    return out
