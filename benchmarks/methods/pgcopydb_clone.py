"""``pgcopydb clone`` (Debian's package) on a PostgreSQL 15 pair: the specialised tool to beat."""

from __future__ import annotations

import os
import shutil

from benchmarks.methods import END_TO_END, Context, Outcome
from benchmarks.methods.commands import run_timed


def pgcopydb_problem() -> str | None:
    if shutil.which("pgcopydb") is None:
        return "pgcopydb is not on PATH (Debian: apt-get install pgcopydb postgresql-15)"
    return None


class PgcopydbClone:
    key = "pgcopydb"
    measures = END_TO_END

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.label = f"pgcopydb clone --table-jobs {workers} --index-jobs {workers}"

    def unavailable(self, ctx: Context) -> str | None:
        return pgcopydb_problem()

    def prepare(self, ctx: Context) -> None:
        pass

    def run(self, ctx: Context) -> Outcome:
        work = ctx.work_dir / "pgcopydb"
        shutil.rmtree(work, ignore_errors=True)
        jobs = str(self.workers)
        # pgcopydb runs the pg_dump/pg_restore it finds first on PATH: the source server's own version.
        env = {**os.environ, "PATH": f"{ctx.source.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        argv = ["pgcopydb", "clone", "--source", ctx.source_url, "--target", ctx.target_url, "--dir", str(work)]
        try:
            seconds = run_timed(
                [*argv, "--table-jobs", jobs, "--index-jobs", jobs], ctx.work_dir / "pgcopydb.log", env=env
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return Outcome(seconds)
