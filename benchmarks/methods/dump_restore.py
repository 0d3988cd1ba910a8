"""``pg_dump -Fd -j N`` into a directory, then ``pg_restore -j N``: the parallel dump users reach for."""

from __future__ import annotations

import shutil

from benchmarks.methods import END_TO_END, Context, Outcome
from benchmarks.methods.commands import run_timed


class DumpRestore:
    key = "dump-restore"
    measures = END_TO_END

    def __init__(self, workers: int) -> None:
        self.label = f"pg_dump -Fd -j{workers} + pg_restore -j{workers}"

    def unavailable(self, ctx: Context) -> str | None:
        return None

    def prepare(self, ctx: Context) -> None:
        pass

    def run(self, ctx: Context) -> Outcome:
        dump_dir = ctx.work_dir / "dump"
        shutil.rmtree(dump_dir, ignore_errors=True)
        jobs = str(ctx.workers)
        try:
            dump = run_timed(
                [ctx.source.binary("pg_dump"), "-Fd", "-j", jobs, "-f", str(dump_dir), "-d", ctx.source_url],
                ctx.work_dir / "pg_dump.log",
            )
            restore = run_timed(
                [ctx.target.binary("pg_restore"), "-j", jobs, "--exit-on-error", "-d", ctx.target_url, str(dump_dir)],
                ctx.work_dir / "pg_restore.log",
            )
        finally:
            shutil.rmtree(dump_dir, ignore_errors=True)
        return Outcome(dump + restore, {"dump seconds": dump, "restore seconds": restore})
