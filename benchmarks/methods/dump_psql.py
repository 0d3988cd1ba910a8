"""Plain ``pg_dump | psql``: one stream of SQL, single-threaded, what most migration guides show."""

from __future__ import annotations

from benchmarks.methods import END_TO_END, Context, Outcome
from benchmarks.methods.commands import pipe_timed


class DumpPsql:
    key = "dump-psql"
    label = "pg_dump | psql"
    measures = END_TO_END

    def unavailable(self, ctx: Context) -> str | None:
        return None

    def prepare(self, ctx: Context) -> None:
        pass

    def run(self, ctx: Context) -> Outcome:
        seconds = pipe_timed(
            [ctx.source.binary("pg_dump"), "-d", ctx.source_url],
            [ctx.target.binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", ctx.target_url],
            ctx.work_dir / "dump_psql.log",
        )
        return Outcome(seconds)
