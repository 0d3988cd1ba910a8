"""The old system's method: keyset pages of 1000 rows read from the source, each written with one
``INSERT … ON CONFLICT DO NOTHING`` on the target, one page after the other."""

from __future__ import annotations

import time

import psycopg
from psycopg import sql
from psycopg.types.string import TextLoader

from benchmarks.dataset import TableSpec, table_specs
from benchmarks.methods import Context, Outcome
from benchmarks.methods.pre_created import OnPreCreatedTables

BATCH_ROWS = 1000


class KeysetInsert(OnPreCreatedTables):
    key = "keyset-insert"
    label = f"keyset batches of {BATCH_ROWS} + INSERT … ON CONFLICT DO NOTHING"

    def run(self, ctx: Context) -> Outcome:
        started = time.perf_counter()
        with (
            psycopg.connect(ctx.source_url, autocommit=True) as src,
            psycopg.connect(ctx.target_url, autocommit=True) as tgt,
        ):
            # jsonb as its text: what is read is written back unchanged, as the old system's JSON API did.
            src.adapters.register_loader("jsonb", TextLoader)
            for spec in table_specs(ctx.with_vectors):
                _copy_table(src, tgt, spec)
        return Outcome(time.perf_counter() - started)


def _copy_table(src: psycopg.Connection, tgt: psycopg.Connection, spec: TableSpec) -> None:
    key_at = spec.columns.index(spec.key)
    first_page = sql.SQL("SELECT {cols} FROM {table} ORDER BY {key} LIMIT %s").format(
        cols=spec.column_list, table=spec.identifier, key=sql.Identifier(spec.key)
    )
    next_page = sql.SQL("SELECT {cols} FROM {table} WHERE {key} > %s ORDER BY {key} LIMIT %s").format(
        cols=spec.column_list, table=spec.identifier, key=sql.Identifier(spec.key)
    )
    inserts: dict[int, sql.Composed] = {}
    last_key = None
    while True:
        if last_key is None:
            rows = src.execute(first_page, [BATCH_ROWS]).fetchall()
        else:
            rows = src.execute(next_page, [last_key, BATCH_ROWS]).fetchall()
        if not rows:
            return
        statement = inserts.get(len(rows))
        if statement is None:
            statement = inserts[len(rows)] = _insert_statement(spec, len(rows))
        tgt.execute(statement, [value for row in rows for value in row])
        last_key = rows[-1][key_at]
        if len(rows) < BATCH_ROWS:
            return


def _insert_statement(spec: TableSpec, rows: int) -> sql.Composed:
    one_row = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() for _ in spec.columns))
    return sql.SQL("INSERT INTO {table} ({cols}) VALUES {values} ON CONFLICT DO NOTHING").format(
        table=spec.identifier, cols=spec.column_list, values=sql.SQL(", ").join([one_row] * rows)
    )
