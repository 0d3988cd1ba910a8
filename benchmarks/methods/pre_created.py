"""The data-phase methods copy into tables created beforehand, untimed, with their primary keys only."""

from __future__ import annotations

import psycopg

from benchmarks.dataset import create_tables
from benchmarks.methods import Context


def pre_create_tables(ctx: Context) -> None:
    with psycopg.connect(ctx.target_url, autocommit=True) as conn:
        create_tables(conn, ctx.with_vectors, with_indexes=False)
