"""The data-phase methods copy into tables created beforehand, untimed, with their primary keys only."""

from __future__ import annotations

import psycopg

from benchmarks.dataset import create_tables
from benchmarks.methods import DATA_PHASE, Context


def pre_create_tables(ctx: Context) -> None:
    with psycopg.connect(ctx.target_url, autocommit=True) as conn:
        create_tables(conn, ctx.with_vectors, with_indexes=False)


class OnPreCreatedTables:
    """A data-phase method: runs anywhere, into the tables made by ``pre_create_tables`` (untimed)."""

    measures = DATA_PHASE

    def unavailable(self, ctx: Context) -> str | None:
        return None

    def prepare(self, ctx: Context) -> None:
        pre_create_tables(ctx)
