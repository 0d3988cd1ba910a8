"""The deterministic 1% change the sync benchmark writes to the source with plain SQL between two syncs.

Each round changes 1% of the rows of every table (at least three): a third updated, a third deleted, a third
inserted, at keys spread evenly over the whole key range (every hundredth key or so, not one block at the end),
vectors included: the updates of ``persistent_memories`` replace the ``embedding`` column. Round 2 uses keys
half a step away from round 1's, so it never touches what round 1 changed.

The dataset's keys are dense (1..rows), so the keys the inserts use are freed beforehand on the sync section's
own copy of the source (``punch_holes``, untimed, before its migrate): inserts land between existing rows, as
they do in a table with gaps, instead of all after the last key.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from benchmarks.dataset import MEMORIES_TABLE, MIXED_TABLE, SCHEMA, Scale, TableSpec, table_specs

CHANGED_FRACTION = 0.01
MIN_CHANGES = 3  # one of each kind, however small the table
ROUNDS = (1, 2)
# Where in each step of the key range a round's keys fall: round 2 half a step after round 1.
_ROUND_OFFSET = {1: 0.25, 2: 0.75}

_DELETE = sql.SQL("DELETE FROM {table} WHERE id = ANY(%s)")
_INSERT_MIXED = sql.SQL("""
INSERT INTO {table} (id, name, payload, happened_at, amount, tags)
SELECT k, 'inserted in round ' || %(round)s || ': ' || md5(k::text),
       jsonb_build_object('kind', 'insert', 'round', %(round)s, 'user', mod(k, 9973)),
       timestamptz '2024-01-01 00:00:00+00' + k * interval '17 seconds',
       mod(k * 7919, 100000000) / 100.0,
       ARRAY['inserted', 'round' || %(round)s]
FROM unnest(%(keys)s::bigint[]) AS k
""")
_UPDATE_MIXED = sql.SQL(
    "UPDATE {table} SET name = name || ' (updated in round ' || %(round)s || ')', amount = amount + 1 "
    "WHERE id = ANY(%(keys)s)"
)
# A vector that is a function of the key and the round: deterministic, and unlike the random one it replaces.
_VECTOR_OF = sql.SQL(
    "(SELECT array_agg(sin({key} * 0.37 + d * 1.3 + %(round)s)::real) FROM generate_series(1, 384) AS d)"
)
_INSERT_MEMORIES = sql.SQL("""
INSERT INTO {table} (id, user_id, content, metadata, created_at{embedding_column})
SELECT k, mod(k, 5000), 'memory inserted in round ' || %(round)s || ': ' || md5(k::text),
       jsonb_build_object('source', 'insert', 'round', %(round)s),
       timestamptz '2024-01-01 00:00:00+00' + k * interval '61 seconds'{embedding_value}
FROM unnest(%(keys)s::bigint[]) AS k
""")
_UPDATE_MEMORIES_EMBEDDING = sql.SQL("UPDATE {table} SET embedding = {vector}::vector(384) WHERE id = ANY(%(keys)s)")
_UPDATE_MEMORIES_CONTENT = sql.SQL(
    "UPDATE {table} SET content = content || ' (updated in round ' || %(round)s || ')' WHERE id = ANY(%(keys)s)"
)


@dataclass(frozen=True)
class TableChange:
    """One table's share of a round: the keys inserted, updated and deleted."""

    table: str  # as sync reports it: schema.name
    inserts: tuple[int, ...]
    updates: tuple[int, ...]
    deletes: tuple[int, ...]

    @property
    def counts(self) -> dict[str, int]:
        return {"inserted": len(self.inserts), "updated": len(self.updates), "deleted": len(self.deletes)}


@dataclass(frozen=True)
class ChangeRound:
    round: int
    tables: tuple[TableChange, ...]

    @property
    def rows(self) -> int:
        return sum(sum(t.counts.values()) for t in self.tables)

    def counts(self) -> dict[str, dict[str, int]]:
        return {t.table: t.counts for t in self.tables}

    def describe(self) -> str:
        return "; ".join(
            f"{t.table} {len(t.inserts):,} inserted, {len(t.updates):,} updated, {len(t.deletes):,} deleted"
            for t in self.tables
        )


def original_rows(scale: Scale) -> dict[str, int]:
    """Rows of each table as the dataset builds them, keys 1..rows."""
    return {MIXED_TABLE: scale.mixed_rows, MEMORIES_TABLE: scale.memories_rows}


def table_change(spec: TableSpec, rows: int, round_: int) -> TableChange:
    """Every ``rows / changes``-th key, starting at the round's offset, dealt out update, delete, insert in turn."""
    changes = max(MIN_CHANGES, round(rows * CHANGED_FRACTION))
    step = rows / changes
    keys = [1 + int((i + _ROUND_OFFSET[round_]) * step) for i in range(changes)]
    return TableChange(reported_name(spec), tuple(keys[2::3]), tuple(keys[0::3]), tuple(keys[1::3]))


def reported_name(spec: TableSpec) -> str:
    """The table's name as sync's report gives it."""
    return f"{SCHEMA}.{spec.name}"


def change_round(scale: Scale, with_vectors: bool, round_: int) -> ChangeRound:
    rows = original_rows(scale)
    return ChangeRound(round_, tuple(table_change(s, rows[s.name], round_) for s in table_specs(with_vectors)))


def holes(scale: Scale, with_vectors: bool) -> dict[str, tuple[int, ...]]:
    """Per table name, the keys that every round's inserts will use: absent from the source before the first."""
    out: dict[str, list[int]] = {}
    for round_ in ROUNDS:
        for spec, change in zip(table_specs(with_vectors), change_round(scale, with_vectors, round_).tables,
                                strict=True):
            out.setdefault(spec.name, []).extend(change.inserts)
    return {name: tuple(sorted(keys)) for name, keys in out.items()}


def punch_holes(url: str, scale: Scale, with_vectors: bool) -> None:
    """Free the inserts' keys (untimed, once, on the sync section's template of the source), then VACUUM.

    INDEX_CLEANUP OFF: the heap is tidied and analysed without the slow HNSW vacuum; the index entries of the
    removed rows stay and lead nowhere, which no read here depends on."""
    freed = holes(scale, with_vectors)
    with psycopg.connect(url, autocommit=True) as conn:
        for spec in table_specs(with_vectors):
            keys = list(freed[spec.name])
            _expect(conn.execute(_DELETE.format(table=spec.identifier), [keys]).rowcount, len(keys), spec, "freed")
        conn.execute("VACUUM (ANALYZE, INDEX_CLEANUP OFF)")
        conn.execute("CHECKPOINT")


def apply_round(url: str, change: ChangeRound, with_vectors: bool) -> None:
    """Write one round to the source in one transaction, checking every statement changed what it should."""
    specs = {reported_name(s): s for s in table_specs(with_vectors)}
    with psycopg.connect(url) as conn, conn.transaction():
        for table in change.tables:
            spec = specs[table.table]
            params = {"round": change.round}
            inserted = conn.execute(_insert(spec, with_vectors), {**params, "keys": list(table.inserts)}).rowcount
            _expect(inserted, len(table.inserts), spec, "inserted")
            updated = conn.execute(_update(spec, with_vectors), {**params, "keys": list(table.updates)}).rowcount
            _expect(updated, len(table.updates), spec, "updated")
            deleted = conn.execute(_DELETE.format(table=spec.identifier), [list(table.deletes)]).rowcount
            _expect(deleted, len(table.deletes), spec, "deleted")


def _insert(spec: TableSpec, with_vectors: bool) -> sql.Composed:
    if spec.name == MIXED_TABLE:
        return _INSERT_MIXED.format(table=spec.identifier)
    vector = sql.SQL(", {}").format(_VECTOR_OF.format(key=sql.Identifier("k"))) if with_vectors else sql.SQL("")
    column = sql.SQL(", embedding") if with_vectors else sql.SQL("")
    return _INSERT_MEMORIES.format(table=spec.identifier, embedding_column=column, embedding_value=vector)


def _update(spec: TableSpec, with_vectors: bool) -> sql.Composed:
    if spec.name == MIXED_TABLE:
        return _UPDATE_MIXED.format(table=spec.identifier)
    if with_vectors:
        vector = _VECTOR_OF.format(key=sql.Identifier("id"))
        return _UPDATE_MEMORIES_EMBEDDING.format(table=spec.identifier, vector=vector)
    return _UPDATE_MEMORIES_CONTENT.format(table=spec.identifier)


def _expect(rowcount: int, wanted: int, spec: TableSpec, what: str) -> None:
    if rowcount != wanted:
        raise RuntimeError(f"{spec.name}: {rowcount} rows {what} on the source, {wanted} planned")
