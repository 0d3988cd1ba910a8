"""The HTTP job: `pghaul serve` killed (SIGKILL) and restarted at random moments, at least twenty times over one
migration driven through the admin API as the page drives it; the migration ends verified, and counts and digests
read independently from both databases find nothing lost or doubled.

Each round: a fresh source (the sample app database with its HNSW index, a 320,000-row table, a table without a
primary key, large objects) and an empty target on a PostgreSQL 18 server of the scenario's own. The job starts
with the API's ``maxRate`` (0.5 MB/s), which holds the copy to at least a minute, so twenty kills at random moments
of up to 2 s each land before it ends (in preflight, pre-data and data). Then a few more kills without the cap at
random moments (index builds and checks run in the data phase), and a few aimed at the later phases (post-data,
sequences, verify): once db-status shows one, after a random moment. After each restart, once db-status shows the
job stopped, POST db-migrate-all again, as the page's Resume button does. A job that fails with anything but
"interrupted" is counted in ``job_errors`` (and as a mismatch): a kill must never leave a state the next run trips
over.

Run alone: ``./run reliability --only serve_kills [--rounds N] [--seed S]``.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.servers import TestServer

NAME = "serve_kills"
DESCRIPTION = "pghaul serve SIGKILLed and restarted >= 20 times per migration, driven through the API as the page"
DEFAULT_ROUNDS = 3
CAPPED_KILLS = 20
CAPPED_DELAY = (0.1, 2.0)
CAP_MB = 0.5
UNCAPPED_KILLS = 3
UNCAPPED_DELAY = (0.2, 1.5)
# Then kills aimed at the short later phases: once db-status shows one of the set, after a random moment of up to
# 0.3 s (a set, not one phase: the poll may miss a phase shorter than its interval).
LATE_AIMS = [{"post-data", "sequences", "verify"}, {"verify"}, {"sequences", "verify"}, {"verify"}]
LATE_DELAY = (0.0, 0.3)

FILL = """
    CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, body text);
    INSERT INTO events SELECT g, '2026-01-01'::timestamptz + g * interval '1 second', repeat(md5(g::text), 2)
      FROM generate_series(1, 320000) g;
    CREATE INDEX ON events (at);
    CREATE TABLE keyless (n int, t text);
    INSERT INTO keyless SELECT g % 1000, md5(g::text) FROM generate_series(1, 20000) g;
    SELECT lo_from_bytea(0, convert_to(repeat('large object ' || g, 40000), 'UTF8')) FROM generate_series(1, 4) g;
    ANALYZE;
"""


def run(rounds: int, seed: int, log: Callable[[str], None]) -> dict[str, int | float | str]:
    from tests.servers import start_pg18, stop

    rng = random.Random(seed)
    server = start_pg18()
    totals: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    least_kills = None
    try:
        for number in range(1, rounds + 1):
            log(f"round {number}/{rounds}")
            figures, seen = _round(server, rng, log)
            totals.update(figures)
            phases.update(seen)
            least_kills = figures["kills"] if least_kills is None else min(least_kills, figures["kills"])
    finally:
        stop(server)
    return {
        "runs": rounds, "kills": totals["kills"], "least_kills_in_a_run": least_kills or 0,
        "resumes": totals["starts"] - rounds, "rows_checked": totals["rows"], "tables_checked": totals["tables"],
        "large_objects_checked": totals["large_objects"], "sequences_checked": totals["sequences"],
        "job_errors": totals["job_errors"], "not_verified": totals["not_verified"],
        "mismatches": totals["mismatches"] + totals["job_errors"] + totals["not_verified"] + totals["too_few_kills"],
        "kills_by_phase": ", ".join(f"{p} {n}" for p, n in sorted(phases.items())),
        "seconds": round(totals["seconds"], 1),
    }


def _round(server: TestServer, rng: random.Random, log: Callable[[str], None]) -> tuple[Counter[str], Counter[str]]:
    from tests.conftest import run_sql
    from tests.serve_kills import Driver, KillRun, ServeProcess, compare_databases, new_secret

    from pghaul.sample import fill_sample_database

    source_url = server.create_database("src")
    target_url = server.create_database("dst")
    try:
        fill_sample_database(source_url, users=100, memories_per_user=10)
        run_sql(source_url, FILL)
        secret = new_secret()
        serve = ServeProcess(source_url, target_url, secret)
        driver = Driver(serve, secret, rng, log, body={"maxRate": CAP_MB}, batch_size=5000, timeout=900)
        result = KillRun()
        started = time.monotonic()
        serve.start()
        try:
            driver.kill_cycles(result, CAPPED_KILLS, CAPPED_DELAY)
            driver.body = None  # as the page sends it: no body; the later phases come sooner
            driver.kill_cycles(result, UNCAPPED_KILLS, UNCAPPED_DELAY)
            driver.kill_in_phases(result, LATE_AIMS, LATE_DELAY)
            driver.finish(result)
        finally:
            serve.stop()
        result.seconds = time.monotonic() - started
        compared = compare_databases(source_url, target_url)
        for line in compared.mismatches[:20]:
            log(f"  MISMATCH {line}")
        log(f"  {result.kills} kills, {result.starts} starts, {result.state}, verified {result.verified}, "
            f"{compared.rows:,} rows in {compared.tables} tables compared, {len(compared.mismatches)} mismatches")
        figures = Counter({
            "kills": result.kills, "starts": result.starts, "rows": compared.rows, "tables": compared.tables,
            "large_objects": compared.large_objects, "sequences": compared.sequences,
            "mismatches": len(compared.mismatches), "job_errors": len(result.job_errors),
            "not_verified": 0 if result.state == "done" and result.verified else 1,
            "too_few_kills": 1 if result.kills < CAPPED_KILLS else 0,
        })
        figures["seconds"] = int(result.seconds)
        return figures, result.phases
    finally:
        server.drop_database(source_url)
        server.drop_database(target_url)

